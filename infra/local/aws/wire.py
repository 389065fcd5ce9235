"""An API Gateway ``AWS`` integration's request, sent to the service over its wire protocol.

API Gateway names the target two ways (``IntegrationUri``):

- ``arn:aws:apigateway:{region}:{service}:action/{Action}``: the action's protocol comes
  from the service's model (botocore's): JSON 1.0/1.1 services (DynamoDB, Step Functions,
  Kinesis, EventBridge, SQS) get ``POST /`` with ``X-Amz-Target: {prefix}.{Action}``;
  query services (SNS, STS) get ``Action`` and ``Version`` in the query string and the
  rendered template as the form body; REST services (Lambda, S3) get the operation's
  method and URI, filled from the rendered JSON's members as the model locates them.
  A JSON service whose rendered request is a form (``Action=SendMessage&...``, or a
  ``Content-Type`` request parameter saying so) is sent as a query request: SQS still
  takes those, and that is how API Gateway samples for SQS are written.
- ``arn:aws:apigateway:{region}:{service}:path/{path}``: the rendered body goes to
  ``{endpoint}/{path}`` with the integration's method and mapped headers.

Every request is SigV4-signed for the service's signing name and the run's region, with
the endpoints' credentials (the embedded server's access key, or the process's own).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
from yarl import URL

from infra.local.aws.endpoints import AwsEndpoints, service_model
from infra.local.gateway.errors import ConfigurationError
from infra.local.gateway.services import ServiceRequest

__all__ = ["WireService", "WireServices"]

_JSON_TYPE = "application/x-amz-json-{}"
_FORM = "application/x-www-form-urlencoded"
_URI_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")


class WireService:
    """Calls one service (``dynamodb``, ``sqs``, ``states``...) at its endpoint.

    ``call(action, body)`` is the :class:`~infra.local.gateway.services.AwsServiceBackend`
    form (an ``action/`` URI without mapped parameters); ``request`` the full one.
    Backpressure: one aiohttp connection pool per service (aiohttp's default limit, 100
    connections), so concurrent integrations beyond that wait for a connection."""

    def __init__(self, service: str, endpoints: AwsEndpoints) -> None:
        self.service = service
        self.endpoints = endpoints
        self.model = service_model(service)  # raises for a service botocore does not know
        metadata = self.model.metadata
        self.protocol: str = metadata["protocol"]
        self.signing_name: str = metadata.get("signingName") or metadata["endpointPrefix"]
        self.base_url = (
            endpoints.url_for(service)
            or f"https://{metadata['endpointPrefix']}.{endpoints.region}.amazonaws.com"
        ).rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        return await self.request(ServiceRequest(action=action, body=body))

    async def request(self, request: ServiceRequest) -> tuple[int, bytes]:
        method, url, headers, body = self.build(request)
        headers = self._sign(method, url, headers, body)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(
            method, URL(url, encoded=True), data=body, headers=headers, auto_decompress=True
        ) as response:
            return response.status, await response.read()

    def build(self, request: ServiceRequest) -> tuple[str, str, dict[str, str], bytes]:
        """(method, URL, headers, body) of the HTTP request, before signing."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query)
        body = request.body
        if request.path is not None:
            url = f"{self.base_url}/{request.path.lstrip('/')}"
            return request.method, _with_query(url, query), headers, body
        action = request.action or ""
        formish = _FORM in headers.get("content-type", "") or (
            body.strip() != b"" and not body.lstrip().startswith(b"{")
        )
        if self.protocol in ("query", "ec2") or (self.protocol == "json" and formish):
            if b"Action=" not in body:
                query.setdefault("Action", action)
            query.setdefault("Version", str(self.model.metadata["apiVersion"]))
            headers.setdefault("content-type", _FORM + "; charset=utf-8")
            return "POST", _with_query(self.base_url + "/", query), headers, body
        if self.protocol == "json":
            metadata = self.model.metadata
            headers["x-amz-target"] = f"{metadata['targetPrefix']}.{action}"
            headers["content-type"] = _JSON_TYPE.format(metadata.get("jsonVersion", "1.0"))
            return "POST", _with_query(self.base_url + "/", query), headers, body or b"{}"
        return self._rest(action, headers, query, body)

    def _rest(
        self, action: str, headers: dict[str, str], query: dict[str, str], body: bytes
    ) -> tuple[str, str, dict[str, str], bytes]:
        """A REST service's operation: its members placed where the model says (path
        labels, query string, headers); the rest, or the payload member, is the body."""
        operation = self.model.operation_model(action)
        members: dict[str, Any] = json.loads(body) if body.strip() else {}
        shape = operation.input_shape
        payload_name = shape.serialization.get("payload") if shape is not None else None
        path = str(operation.http["requestUri"])
        remaining: dict[str, Any] = {}
        for name, value in members.items():
            member = shape.members.get(name) if shape is not None else None
            where = member.serialization.get("location") if member is not None else None
            wire = member.serialization.get("name", name) if member is not None else name
            if where == "uri":
                path = _fill_label(path, wire, str(value))
            elif where == "querystring":
                query[wire] = str(value)
            elif where == "header":
                headers[wire.lower()] = str(value)
            else:
                remaining[name] = value
        if payload_name is not None:
            value = remaining.get(payload_name, b"")
            data = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        else:
            data = json.dumps(remaining).encode() if remaining else b""
        path, _, fixed_query = path.partition("?")
        for pair in filter(None, fixed_query.split("&")):
            key, _, value = pair.partition("=")
            query.setdefault(key, value)
        headers.setdefault("content-type", "application/json")
        method = str(operation.http["method"])
        return method, _with_query(self.base_url + path, query), headers, data

    def _sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        from botocore.auth import S3SigV4Auth, SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        signer = S3SigV4Auth if self.signing_name == "s3" else SigV4Auth
        signer(
            self.endpoints.frozen_credentials(), self.signing_name, self.endpoints.region
        ).add_auth(request)
        return dict(request.headers.items())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _fill_label(path: str, name: str, value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) != name:
            return match.group(0)
        # a greedy label ({Key+}) keeps its slashes
        return urllib.parse.quote(value, safe="/" if match.group(2) else "")

    return _URI_LABEL.sub(replace, path)


def _with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return f"{url}{'&' if '?' in url else '?'}{encoded}"


class _UnknownService:
    def __init__(self, service: str) -> None:
        self.service = service

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        raise ConfigurationError(f"unknown AWS service {self.service!r} in the integration URI")

    async def request(self, request: ServiceRequest) -> tuple[int, bytes]:
        return await self.call("", b"")


class WireServices(Mapping[str, Any]):
    """AWS service backends for a gateway: ``fixed`` ones first (the embedded Kinesis
    streams), else a :class:`WireService` made on first use for any service botocore
    knows (an unknown name is a missing key: the integration answers the error frame)."""

    def __init__(self, endpoints: AwsEndpoints, fixed: Mapping[str, Any] | None = None) -> None:
        self.endpoints = endpoints
        self.fixed = dict(fixed or {})
        self._made: dict[str, WireService] = {}

    def __getitem__(self, service: str) -> Any:
        if service in self.fixed:
            return self.fixed[service]
        made = self._made.get(service)
        if made is None:
            from botocore.exceptions import UnknownServiceError

            try:
                made = self._made[service] = WireService(service, self.endpoints)
            except UnknownServiceError:
                # a backend that fails each call: the route answers the error frame
                return _UnknownService(service)
        return made

    def __iter__(self) -> Iterator[str]:
        return iter({**self.fixed, **self._made})

    def __len__(self) -> int:
        return len({**self.fixed, **self._made})

    def __bool__(self) -> bool:
        # never "empty": it has a backend for every service, made on first use (callers
        # writing ``services or {}`` must keep it)
        return True

    async def aclose(self) -> None:
        """Close the HTTP sessions of the services made here."""
        for service in self._made.values():
            await service.close()
