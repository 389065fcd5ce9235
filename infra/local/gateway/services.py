"""AWS service integrations (IntegrationType ``AWS``): where the rendered request goes.

The gateway renders the route's request template and hands the result to the backend
registered for the service named in the integration URI
(``arn:aws:apigateway:{region}:{service}:action/{Action}``). The embedded Kinesis stream
plugs in here; until one is given, :class:`RecordingService` keeps what it was sent.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError

__all__ = ["AwsServiceBackend", "RecordedCall", "RecordingService", "parse_service_uri"]

_URI = re.compile(r"^arn:aws:apigateway:([^:]*):([^:]+):action/(.+)$")


@runtime_checkable
class AwsServiceBackend(Protocol):
    """One AWS service as the gateway calls it.

    ``call`` gets the action (``PutRecord``) and the rendered request body, and answers
    (HTTP status, response body). A non-2xx status or an exception becomes the
    "Internal server error" frame (a refused handshake on $connect).
    """

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]: ...


@dataclass(frozen=True, slots=True)
class RecordedCall:
    service: str
    action: str
    body: bytes

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


def parse_service_uri(uri: str) -> tuple[str, str, str]:
    """``arn:aws:apigateway:us-east-1:kinesis:action/PutRecord`` -> (region, service, action)."""
    m = _URI.match(uri)
    if m is None:
        raise ConfigurationError(f"unsupported AWS integration URI {uri!r}")
    region, service, action = m.groups()
    return region, service, action
