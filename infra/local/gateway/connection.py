"""One client connection and its lifecycle.

States and the only allowed transitions::

    CONNECTING --(handshake done)--> OPEN --(server closes)--> CLOSING --> CLOSED
         |                            |
         +--(refused)--> CLOSED       +--(client closes / drops)--> CLOSED

A connection is in the gateway's table from the moment its id exists ($connect) until it is
CLOSED; ``@connections`` calls succeed only when it is OPEN (410 otherwise, as on AWS).
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .guard import Episode
from .model import ApiKey
from .throttle import TokenBucket

__all__ = ["Connection", "ConnectionState", "IllegalTransition"]


class ConnectionState(enum.Enum):
    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


_ALLOWED: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.CONNECTING: frozenset({ConnectionState.OPEN, ConnectionState.CLOSED}),
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSING, ConnectionState.CLOSED}),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A lifecycle step the state table does not allow (a bug in the gateway)."""


@dataclass(eq=False, slots=True)
class Connection:
    connection_id: str
    source_ip: str
    user_agent: str
    headers: dict[str, str]
    connected_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    connected_mono: float = field(default_factory=time.monotonic)
    last_active_mono: float = 0.0
    state: ConnectionState = ConnectionState.CONNECTING
    # {principalId, **context} from the $connect authorizer; None without one.
    authorizer: dict[str, Any] | None = None
    # The same, values as strings: what templates see as $context.authorizer.
    template_authorizer: dict[str, str] | None = None
    # The API key the $connect request presented (ApiKeySelectionExpression), if valid.
    api_key: ApiKey | None = None
    # The IAM caller of an AWS_IAM $connect (requestContext.identity's IAM members).
    iam: dict[str, str] | None = None
    ws: web.WebSocketResponse | None = None
    transport: asyncio.BaseTransport | None = None
    # Why the server closed it (for $disconnect's disconnectStatusCode/Reason).
    close_code: int | None = None
    close_reason: str = ""
    inflight: asyncio.Semaphore | None = None
    # Frames queued in this loop iteration, written together by the gateway's flush.
    pending: list[bytes] | None = None
    pending_bytes: int = 0
    # The protections of the others (guard.py; None: that policy is off): this
    # connection's message bucket, its episode of dropped messages, its episode of unsent
    # data above the high-water mark; when the last ping went unanswered and the last pong.
    inbound: TokenBucket | None = None
    flooding: Episode | None = None
    backlog: Episode | None = None
    ping_sent_mono: float | None = None
    pong_mono: float = 0.0
    # Per route key: the fixed part of this connection's MESSAGE $context (built once),
    # with the $context fields the route's templates read (None: any).
    message_contexts: dict[str, tuple[dict[str, Any], frozenset[str] | None]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.last_active_mono = self.connected_mono

    def transition(self, new: ConnectionState) -> None:
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.connection_id}: {self.state.name} -> {new.name}")
        self.state = new

    def touch(self) -> None:
        """Data moved in either direction: resets the idle timeout."""
        self.last_active_mono = time.monotonic()

    @property
    def last_active_ms(self) -> int:
        return self.connected_at_ms + int((self.last_active_mono - self.connected_mono) * 1000)

    def age_s(self, now_mono: float | None = None) -> float:
        return (time.monotonic() if now_mono is None else now_mono) - self.connected_mono
