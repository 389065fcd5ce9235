"""One client connection and its lifecycle.

States and the only allowed transitions (:data:`CONNECTION`, an
:class:`infra.lifecycle.TransitionTable`; events in brackets)::

    CONNECTING --[OPENED]--> OPEN --[CLOSING]--> CLOSING --[GONE]--> CLOSED
         |                    |
         +--[GONE]--> CLOSED  +--[GONE] (the client closed or dropped)--> CLOSED

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

from infra.lifecycle import IllegalTransition, TransitionTable

from .guard import Episode
from .model import ApiKey
from .throttle import TokenBucket

__all__ = ["CONNECTION", "Connection", "ConnectionEvent", "ConnectionState", "IllegalTransition"]


class ConnectionState(enum.Enum):
    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class ConnectionEvent(enum.Enum):
    OPENED = "opened"  # the handshake completed ($connect allowed it)
    CLOSING = "closing"  # the server started closing (DeleteConnection, a policy, a stop)
    GONE = "gone"  # refused, or the socket is closed (by either side, or dropped)


CONNECTION: TransitionTable[ConnectionState, ConnectionEvent] = TransitionTable(
    "gateway connection",
    {
        (ConnectionState.CONNECTING, ConnectionEvent.OPENED): ConnectionState.OPEN,
        (ConnectionState.CONNECTING, ConnectionEvent.GONE): ConnectionState.CLOSED,
        (ConnectionState.OPEN, ConnectionEvent.CLOSING): ConnectionState.CLOSING,
        (ConnectionState.OPEN, ConnectionEvent.GONE): ConnectionState.CLOSED,
        (ConnectionState.CLOSING, ConnectionEvent.GONE): ConnectionState.CLOSED,
    },
)


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

    def handle(self, event: ConnectionEvent) -> None:
        """Apply ``event`` (:data:`CONNECTION`); :class:`IllegalTransition` if not allowed.
        (``state`` stays a plain attribute: the hot paths compare it directly.)"""
        self.state = CONNECTION.next(self.state, event, self.connection_id)

    def touch(self) -> None:
        """Data moved in either direction: resets the idle timeout."""
        self.last_active_mono = time.monotonic()

    @property
    def last_active_ms(self) -> int:
        return self.connected_at_ms + int((self.last_active_mono - self.connected_mono) * 1000)

    def age_s(self, now_mono: float | None = None) -> float:
        return (time.monotonic() if now_mono is None else now_mono) - self.connected_mono
