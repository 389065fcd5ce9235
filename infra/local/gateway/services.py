"""AWS service integrations (IntegrationType ``AWS``): where the rendered request goes.

The gateway renders the route's request template and hands the result to the backend
registered for the service named in the integration URI
(``arn:aws:apigateway:{region}:{service}:action/{Action}`` or ``...:{service}:path/{path}``).
The embedded Kinesis stream plugs in here, and :mod:`infra.local.aws` gives a backend for
any other service (:class:`AwsRequestBackend`: it also takes ``path/`` URIs and the
headers and query string that ``RequestParameters`` map); until one is given,
:class:`RecordingService` keeps what it was sent.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError

__all__ = [
    "AwsRequestBackend",
    "AwsServiceBackend",
    "ImmediateBackend",
    "RecordedCall",
    "RecordingService",
    "ServiceRequest",
    "ServiceTarget",
    "parse_integration_uri",
    "parse_service_uri",
]

_URI = re.compile(r"^arn:aws:apigateway:([^:]*):([^:]+):action/(.+)$")
_ANY_URI = re.compile(r"^arn:aws[a-z-]*:apigateway:([^:]*):([^:]+):(action|path)/(.*)$")


@runtime_checkable
class AwsServiceBackend(Protocol):
    """One AWS service as the gateway calls it.

    ``call`` gets the action (``PutRecord``) and the rendered request body, and answers
    (HTTP status, response body). A non-2xx status or an exception becomes the
    "Internal server error" frame (a refused handshake on $connect).
    """

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]: ...


@runtime_checkable
class ImmediateBackend(Protocol):
    """A backend in the gateway's own process that answers some actions without waiting
    (the embedded Kinesis's PutRecord). A message routed to such an action is handled
    whole where the gateway reads it, with no task switch (``Integrations.call_aws_now``)."""

    def answers_now(self, action: str) -> bool: ...

    def call_now(self, action: str, body: bytes) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class ServiceRequest:
    """One rendered integration request: ``action`` (an ``action/`` URI) or ``path``
    (a ``path/`` URI), plus the headers and query string ``RequestParameters`` map."""

    action: str | None = None
    path: str | None = None
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@runtime_checkable
class AwsRequestBackend(Protocol):
    """A backend that takes whole requests (``path/`` URIs, mapped headers and query)."""

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]: ...

    async def request(self, request: ServiceRequest) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class ServiceTarget:
    """What an ``AWS`` integration URI names: ``action`` or ``path`` (the other is None),
    and the query string the URI itself carries (``action/SendMessage?QueueUrl=...``)."""

    region: str
    service: str
    action: str | None
    path: str | None
    query: tuple[tuple[str, str], ...] = ()


def parse_integration_uri(uri: str) -> ServiceTarget:
    """``arn:aws:apigateway:{region}:{subdomain.service|service}:{action|path}/...``;
    raises ``ConfigurationError`` for anything else (a Lambda function ARN, a URL)."""
    m = _ANY_URI.match(uri)
    if m is None or not m.group(4):
        raise ConfigurationError(f"unsupported AWS integration URI {uri!r}")
    region, service, kind, rest = m.groups()
    rest, _, query = rest.partition("?")
    pairs = tuple(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if kind == "action":
        return ServiceTarget(region, service, rest, None, pairs)
    return ServiceTarget(region, service, None, rest, pairs)


@dataclass(frozen=True, slots=True)
class RecordedCall:
    service: str
    action: str
    body: bytes
    request: ServiceRequest | None = None  # a whole request (path URI, mapped parameters)

    def json(self) -> object:
        return json.loads(self.body)


class RecordingService:
    """Records every call (the newest ``max_calls``) and answers 200 ``{}``.

    Backpressure: the record is a bounded deque; the oldest calls are dropped.
    """

    def __init__(self, service: str = "kinesis", max_calls: int = 10_000) -> None:
        self.service = service
        self.calls: deque[RecordedCall] = deque(maxlen=max_calls)

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        self.calls.append(RecordedCall(self.service, action, body))
        return 200, b"{}"

    async def request(self, request: ServiceRequest) -> tuple[int, bytes]:
        target = request.action or request.path or ""
        self.calls.append(RecordedCall(self.service, target, request.body, request))
        return 200, b"{}"


def parse_service_uri(uri: str) -> tuple[str, str, str]:
    """``arn:aws:apigateway:us-east-1:kinesis:action/PutRecord`` -> (region, service, action)."""
    m = _URI.match(uri)
    if m is None:
        raise ConfigurationError(f"unsupported AWS integration URI {uri!r}")
    region, service, action = m.groups()
    return region, service, action
