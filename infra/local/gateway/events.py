"""The event shapes API Gateway hands to integrations (pure builders).

Lambda proxy events for CONNECT, MESSAGE and DISCONNECT, the REQUEST authorizer's input,
and the ``$context`` variables of mapping templates, with AWS's field names and formats
(``requestTime`` like ``19/Jan/2023:21:13:26 +0000``, epoch milliseconds elsewhere).
"""

from __future__ import annotations

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
        return cls(new_request_id(), new_request_id(), int(time.time() * 1000))


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
    ctx: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request.extended_request_id,
        "requestTime": format_request_time(request.epoch_ms),
        "messageDirection": "IN",
        "stage": api.stage.name,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": request.epoch_ms,
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "requestId": request.request_id,
        "domainName": domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }
    if message_id is not None:
        ctx["messageId"] = message_id
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
    if fields is None or "extendedRequestId" in fields:
        ctx["extendedRequestId"] = new_id()
    if fields is None or "requestTime" in fields:
        ctx["requestTime"] = format_request_time(epoch_ms)
    ctx["requestTimeEpoch"] = epoch_ms
    if fields is None or "requestId" in fields:
        ctx["requestId"] = new_id()
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
    context = {**context, "disconnectStatusCode": status_code, "disconnectReason": reason}
    return {"requestContext": context, "isBase64Encoded": False}


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
