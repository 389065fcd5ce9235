"""The event shapes API Gateway hands to integrations (pure builders).

Lambda proxy events for CONNECT, MESSAGE and DISCONNECT, the REQUEST authorizer's input,
and the ``$context`` variables of mapping templates, with AWS's field names and formats
(``requestTime`` like ``19/Jan/2023:21:13:26 +0000``, epoch milliseconds elsewhere).

As in the events AWS delivers, every ``requestContext`` has the same keys whatever the
event type: the whole ``identity`` object (members AWS has no value for are null),
``messageId`` null outside MESSAGE events and ``disconnectStatusCode``/``disconnectReason``
null outside DISCONNECT ones, so handler code reading ``event[...]["x"]`` behaves as on AWS.
``requestId`` and ``extendedRequestId`` are one id, as AWS gives them to WebSocket APIs.
The upgrade request's headers gain what API Gateway's front end adds
(:func:`forwarded_headers`), once per connection.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .connection import Connection
from .ids import new_request_id
from .model import WebSocketApi

__all__ = [
    "PER_MESSAGE_IDS",
    "RequestInfo",
    "authorizer_event",
    "authorizer_strings",
    "connect_event",
    "disconnect_event",
    "forwarded_headers",
    "identity_of",
    "message_event",
    "message_template_context",
    "request_context",
    "template_context",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_last_time: tuple[int, str] = (-1, "")


def format_request_time(epoch_ms: int) -> str:
    """``19/Jan/2023:21:13:26 +0000`` (cached for the current second: once per message)."""
    global _last_time
    second = epoch_ms // 1000
    cached_second, text = _last_time
    if second == cached_second:
        return text
    t = time.gmtime(second)
    text = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    _last_time = (second, text)
    return text


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """One request through the gateway: ids and time."""

    request_id: str
    extended_request_id: str
    epoch_ms: int

    @classmethod
    def new(cls) -> RequestInfo:
        # AWS gives a WebSocket request one id: $context.requestId == extendedRequestId.
        request_id = new_request_id()
        return cls(request_id, request_id, int(time.time() * 1000))


# The identity members of a WebSocket requestContext, in AWS's order; those API Gateway
# has no value for (Cognito, IAM caller) are null, not absent.
_IDENTITY_MEMBERS = (
    "cognitoIdentityPoolId",
    "cognitoIdentityId",
    "principalOrgId",
    "cognitoAuthenticationType",
    "userArn",
    "userAgent",
    "accountId",
    "caller",
    "sourceIp",
    "accessKey",
    "cognitoAuthenticationProvider",
    "user",
)


def identity_of(conn: Connection) -> dict[str, Any]:
    """``requestContext.identity`` of a connection's events."""
    identity: dict[str, Any] = dict.fromkeys(_IDENTITY_MEMBERS)
    identity["userAgent"] = conn.user_agent
    identity["sourceIp"] = conn.source_ip
    if conn.api_key is not None:  # $context.identity.apiKey/apiKeyId (API key routes)
        identity["apiKey"] = conn.api_key.value
        identity["apiKeyId"] = conn.api_key.key_id
    if conn.iam is not None:  # accessKey, accountId, caller, user, userArn (AWS_IAM)
        identity.update(conn.iam)
    return identity


def request_context(
    api: WebSocketApi,
    conn: Connection,
    request: RequestInfo,
    *,
    route_key: str,
    event_type: str,
    domain_name: str,
    message_id: str | None = None,
    template: bool = False,
) -> dict[str, Any]:
    """The ``requestContext`` of a proxy event, or with ``template=True`` the ``$context``
    of a mapping template (authorizer values as strings). The authorizer mapping is the
    connection's own (shared, never mutated)."""
    # AWS's key order; messageId and disconnect* are null where they do not apply
    # (disconnect_event fills the latter).
    ctx: dict[str, Any] = {
        "routeKey": route_key,
        "disconnectStatusCode": None,
        "messageId": message_id,
        "eventType": event_type,
        "extendedRequestId": request.extended_request_id,
        "requestTime": format_request_time(request.epoch_ms),
        "messageDirection": "IN",
        "disconnectReason": None,
        "stage": api.stage.name,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": request.epoch_ms,
        "identity": identity_of(conn),
        "requestId": request.request_id,
        "domainName": domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }
    if conn.authorizer is not None:
        ctx["authorizer"] = conn.template_authorizer if template else conn.authorizer
    return ctx


# The per-message $context fields besides requestTimeEpoch (see message_template_context).
PER_MESSAGE_IDS = frozenset({"extendedRequestId", "requestTime", "requestId", "messageId"})


def message_template_context(
    base: dict[str, Any],
    epoch_ms: int,
    new_id: Callable[[], str],
    fields: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A MESSAGE ``$context`` for one message from ``base``, the connection's
    ``request_context(..., template=True)`` for the route: only the per-message fields
    change (same keys, same order as building it afresh); nested mappings are shared.
    With ``fields`` (what the route's templates read), per-message fields outside it keep
    ``base``'s placeholders: no template can see them, so their ids are not made."""
    ctx = base.copy()
    if fields is None or "extendedRequestId" in fields or "requestId" in fields:
        ctx["extendedRequestId"] = ctx["requestId"] = new_id()  # one id, as on AWS
    if fields is None or "requestTime" in fields:
        ctx["requestTime"] = format_request_time(epoch_ms)
    ctx["requestTimeEpoch"] = epoch_ms
    if fields is None or "messageId" in fields:
        ctx["messageId"] = new_id()
    return ctx


def _query_fields(query: Mapping[str, list[str]]) -> dict[str, Any]:
    if not query:
        return {}
    return {
        "queryStringParameters": {k: v[-1] for k, v in query.items()},
        "multiValueQueryStringParameters": {k: list(v) for k, v in query.items()},
    }


def _header_fields(headers: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        "headers": {k: v[-1] for k, v in headers.items()},
        "multiValueHeaders": {k: list(v) for k, v in headers.items()},
    }


def connect_event(
    context: dict[str, Any], headers: Mapping[str, list[str]], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    return {
        **_header_fields(headers),
        **_query_fields(query),
        "requestContext": context,
        "isBase64Encoded": False,
    }


def message_event(context: dict[str, Any], body: str) -> dict[str, Any]:
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(context: dict[str, Any], status_code: int, reason: str) -> dict[str, Any]:
    """A DISCONNECT event. Its headers are not the upgrade request's: AWS sends the API's
    ``Host`` and the members below, empty (as events captured on AWS show)."""
    context = {**context, "disconnectStatusCode": status_code, "disconnectReason": reason}
    headers = {
        "Host": [context["domainName"]],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    }
    return {**_header_fields(headers), "requestContext": context, "isBase64Encoded": False}


def _trace_id(epoch_s: int) -> str:
    """An X-Ray trace id, ``Root=1-{epoch hex}-{96 random bits hex}`` (X-Ray's format)."""
    return f"Root=1-{epoch_s:08x}-{os.urandom(12).hex()}"


def forwarded_headers(
    headers: Mapping[str, list[str]], source_ip: str, port: int, proto: str
) -> dict[str, list[str]]:
    """The upgrade request's headers as API Gateway passes them to the authorizer and the
    $connect integration: with ``X-Forwarded-For`` (the client's address appended to any
    it sent), ``X-Forwarded-Port``/``X-Forwarded-Proto`` (the listener the client reached:
    443/https on AWS) and ``X-Amzn-Trace-Id`` (kept when the client sent one). Built once
    per connection."""
    out = dict(headers)
    lowered = {k.lower(): k for k in out}
    forwarded_for = lowered.get("x-forwarded-for")
    if forwarded_for is not None:
        out[forwarded_for] = [f"{out[forwarded_for][-1]}, {source_ip}"]
    else:
        out["X-Forwarded-For"] = [source_ip]
    for name, value in (("X-Forwarded-Port", str(port)), ("X-Forwarded-Proto", proto)):
        out.pop(lowered.get(name.lower(), name), None)
        out[name] = [value]
    if "x-amzn-trace-id" not in lowered:
        out["X-Amzn-Trace-Id"] = [_trace_id(int(time.time()))]
    return out


def authorizer_event(
    api: WebSocketApi,
    context: dict[str, Any],
    headers: Mapping[str, list[str]],
    query: Mapping[str, list[str]],
) -> dict[str, Any]:
    arn = (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage.name}/$connect"
    )
    return {
        "type": "REQUEST",
        "methodArn": arn,
        **_header_fields(headers),
        **_query_fields(query),
        "stageVariables": dict(api.stage.stage_variables),
        "requestContext": context,
    }


def template_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """``$context`` for mapping templates from a proxy request context: authorizer values
    as strings (AWS passes authorizer context to templates as strings)."""
    out = dict(context)
    auth = context.get("authorizer")
    if auth is not None:
        out["authorizer"] = authorizer_strings(auth)
    return out


def authorizer_strings(auth: Mapping[str, Any]) -> dict[str, str]:
    return {k: _as_template_string(v) for k, v in auth.items()}


def _as_template_string(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
