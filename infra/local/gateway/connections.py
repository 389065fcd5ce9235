"""The gateway's connections and the rules of the ``@connections`` API (pure: no sockets).

As moto separates a service's model from its HTTP layer, :class:`ConnectionTable` holds
the connections by id and makes every decision of a management call:

- the preamble every call shares: a token of the account throttle (else 429
  ``LimitExceededException``), then the connection, which must be OPEN (else 410
  ``GoneException``: unknown, closing, closed, or still in its $connect);
- PostToConnection: at most ``max_post_bytes`` (else 413), the frame type the payload
  goes as, and the metering of what is sent;
- GetConnection's answer;
- who may start a handshake (:meth:`connect`: the per-source failure limit, then the
  new-connection and account quotas) and what a client message may do
  (:meth:`message`: the connection's own rate, its flood episode, the account throttle);
- what a sweep finds each connection due (:meth:`sweep`): API Gateway's idle and
  duration closes, and the liveness policy's pings and late pongs (guard.py);
- the table's own bookkeeping: a connection enters at its $connect (:meth:`add`), leaves
  when refused (:meth:`discard`) or closed (:meth:`closed`: the close code and reason
  $disconnect reports, the closes and connection minutes metered), and the open ones'
  connection minutes so far (:meth:`live`).

The I/O side (:class:`~.server.Gateway`) hands it ids and bytes, gets back a
:class:`~.connection.Connection` or a raised :class:`~.errors.ApiError`, and writes; what
only a socket knows (a closing transport, a full client buffer) it checks itself. The HTTP
side (:mod:`.management`) maps verbs and renders errors.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from aiohttp import WSMsgType

from .connection import Connection, ConnectionEvent, ConnectionState
from .errors import GoneException, LimitExceededException, PayloadTooLargeException
from .frames import encode_server_frame
from .guard import SourceFailures
from .metering import Metering, metered_units
from .settings import GatewaySettings, PostFrameType
from .throttle import TokenBucket

__all__ = [
    "BUFFERED",
    "DROPPED",
    "EXPIRED",
    "FIRST_DROP",
    "FLOODING",
    "PASS",
    "PING",
    "PING_TIMEOUT",
    "THROTTLED",
    "ConnectionTable",
    "post_opcode",
]

# What a client message may do (ConnectionTable.message):
PASS = 0  # be routed
DROPPED = 1  # nothing: past the connection's own rate, dropped before routing
FIRST_DROP = 2  # the same, the first of an episode: answered with the throttle frame
FLOODING = 3  # the same, for flood_close_after_s: the connection is closed (message_rate)
THROTTLED = 4  # nothing: the account throttle, answered with the throttle frame
# Statuses of a $connect the authorizer (or IAM, or an API key) refused.
_REFUSED = frozenset({401, 403})

# What a sweep finds an OPEN connection due (ConnectionTable.sweep):
EXPIRED = "expired"  # idle, or past its duration: closed 1001 (API Gateway's quotas)
PING = "ping"  # a ping to send
PING_TIMEOUT = "ping_timeout"  # its pong is late: closed (guard.POLICY_CLOSES)
BUFFERED = "buffered"  # the slow-reader policy: its unsent bytes to look at

_TEXT = int(WSMsgType.TEXT)
_BINARY = int(WSMsgType.BINARY)
_OPEN = ConnectionState.OPEN


def post_opcode(data: bytes, kind: PostFrameType) -> int:
    """The WebSocket opcode a posted payload goes as: ``auto`` is text when the bytes are
    valid UTF-8 (AWS's behaviour is unconfirmed), binary otherwise."""
    if kind != "auto":
        return _TEXT if kind == "text" else _BINARY
    first = data[0] if data else 0
    if 0x80 <= first < 0xC2 or first > 0xF4:
        return _BINARY  # cannot start UTF-8 (msgpack maps/arrays start here)
    if data.isascii():
        return _TEXT
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return _BINARY
    return _TEXT


def _iso(epoch_ms: int) -> str:
    moment = _dt.datetime.fromtimestamp(epoch_ms / 1000, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


class ConnectionTable:
    """Connections by id, and the ``@connections`` rules (see the module docstring)."""

    __slots__ = (
        "_account",
        "_connects",
        "_failures",
        "_frame_type",
        "_max_post",
        "_metrics",
        "_settings",
        "connections",
    )

    def __init__(self, account: TokenBucket, metrics: Metering, settings: GatewaySettings) -> None:
        self.connections: dict[str, Connection] = {}
        self._account = account
        self._metrics = metrics
        self._settings = settings
        self._max_post = settings.max_post_bytes
        self._frame_type: PostFrameType = settings.post_frame_type
        self._connects = TokenBucket(settings.new_connections_per_s, settings.new_connections_burst)
        self._failures = (
            SourceFailures(
                settings.failed_connects_per_source_per_s,
                settings.failed_connects_per_source_burst,
                settings.failed_connect_sources,
            )
            if settings.failed_connects_per_source_per_s
            else None
        )

    # -- clients ---------------------------------------------------------------------

    def connect(self, source: str) -> str | None:
        """May a handshake from ``source`` start? None, or the throttle that refuses it
        (429), counted: ``connect_source`` (the source's failures; checked first, so a
        storm of bad tokens spends nothing of the quotas) or ``connect`` (the
        new-connection quota, then the account throttle)."""
        failures = self._failures
        if failures is not None and not failures.begin(source):
            self._metrics.throttled["connect_source"] += 1
            return "connect_source"
        if not self._connects.take() or not self._account.take():
            if failures is not None:
                failures.end(source, failed=False)
            self._metrics.throttled["connect"] += 1
            return "connect"
        return None

    def connected(self, source: str, status: int | None) -> None:
        """The handshake :meth:`connect` let through is over: its $connect status, None
        when the client left first."""
        if self._failures is not None:
            self._failures.end(source, failed=status in _REFUSED)

    def message(self, conn: Connection, now_mono: float) -> int:
        """What a client message may do (PASS, DROPPED, FIRST_DROP, FLOODING, THROTTLED):
        the connection's own rate first (a flooder spends nothing of the account's),
        then the account throttle. Counted in ``throttled``."""
        inbound = conn.inbound
        if inbound is not None and not inbound.take():
            self._metrics.throttled["connection"] += 1
            flooding = conn.flooding
            assert flooding is not None
            held = flooding.hit(now_mono)
            if held == 0.0:
                return FIRST_DROP
            return FLOODING if held >= self._settings.flood_close_after_s else DROPPED
        if not self._account.take():
            self._metrics.throttled["message"] += 1
            return THROTTLED
        return PASS

    def admit(self, connection_id: str) -> Connection:
        """Every call's preamble: the account throttle (429), then the OPEN connection
        (410)."""
        if not self._account.take():
            self._metrics.throttled["management"] += 1
            raise LimitExceededException("Rate exceeded")
        conn = self.connections.get(connection_id)
        if conn is None or conn.state is not _OPEN:
            raise GoneException(f"Connection {connection_id} is gone")
        return conn

    def post(self, connection_id: str, data: bytes) -> Connection:
        """PostToConnection's checks before the socket's own: 429, 410, then 413."""
        conn = self.admit(connection_id)
        if len(data) > self._max_post:
            raise PayloadTooLargeException(f"Payload of {len(data)} bytes exceeds {self._max_post}")
        return conn

    def refuse_length(self, length: int | None) -> None:
        """A POST whose declared length is past the limit: 413 before its body is read
        (the call still counts against the account throttle)."""
        if length is not None and length > self._max_post:
            self._account.take()
            raise PayloadTooLargeException(f"Payload of {length} bytes exceeds {self._max_post}")

    def frame(self, data: bytes) -> bytes:
        """The frame a post sends, metered as one message out."""
        metrics = self._metrics
        size = len(data)
        metrics.messages_out += 1
        metrics.bytes_out += size
        metrics.units_out += metered_units(size)
        return encode_server_frame(data, post_opcode(data, self._frame_type))

    # -- the table ---------------------------------------------------------------------

    def add(self, conn: Connection) -> None:
        """A connection whose $connect runs: in the table (posts to it answer 410 until it
        is OPEN)."""
        self.connections[conn.connection_id] = conn

    def discard(self, conn: Connection) -> None:
        """A connection whose $connect was refused or abandoned: out, CLOSED."""
        self.connections.pop(conn.connection_id, None)
        if conn.state is not ConnectionState.CLOSED:
            conn.handle(ConnectionEvent.GONE)

    def closed(
        self, conn: Connection, now_mono: float, abnormal: tuple[int, str]
    ) -> tuple[int, str] | None:
        """An open connection's socket closed: out, CLOSED, metered. The close code and
        reason (``abnormal`` when no close frame said one); None if it was closed before."""
        if conn.state is ConnectionState.CLOSED:
            return None
        conn.handle(ConnectionEvent.GONE)
        self.connections.pop(conn.connection_id, None)
        if conn.close_code is None:
            code, reason = abnormal
        else:
            code, reason = conn.close_code, conn.close_reason
        self._metrics.connection_closed(conn.age_s(now_mono))
        self._metrics.closes[code] += 1
        return code, reason

    def sweep(self, now_mono: float) -> list[tuple[Connection, str]]:
        """The OPEN connections due something now, each with what (EXPIRED, PING,
        PING_TIMEOUT, BUFFERED); at most one of the first three per connection."""
        settings = self._settings
        idle, longest = settings.idle_timeout_s, settings.max_connection_duration_s
        ping_every, pong_within = settings.ping_interval_s, settings.pong_timeout_s
        due: list[tuple[Connection, str]] = []
        for conn in self.connections.values():
            if conn.state is not _OPEN:
                continue
            if (
                now_mono - conn.last_active_mono >= idle
                or now_mono - conn.connected_mono >= longest
            ):
                due.append((conn, EXPIRED))
                continue
            if ping_every:
                sent = conn.ping_sent_mono
                if sent is None:
                    if now_mono - conn.pong_mono >= ping_every:
                        due.append((conn, PING))
                elif now_mono - sent >= pong_within:
                    due.append((conn, PING_TIMEOUT))
                    continue
            backlog = conn.backlog
            if backlog is not None and backlog.since is not None:
                # only a connection a post found over the high-water mark (post_now
                # starts the episode): the rest have nothing unsent worth a look
                due.append((conn, BUFFERED))
        return due

    def live(self, now_mono: float) -> tuple[int, int]:
        """Open connections, and their connection minutes so far (each rounded up)."""
        ages = [now_mono - c.connected_mono for c in self.connections.values() if c.state is _OPEN]
        return len(ages), sum(max(1, math.ceil(age / 60.0)) for age in ages)

    # -- GetConnection -------------------------------------------------------------------

    @staticmethod
    def info(conn: Connection) -> dict[str, Any]:
        """GetConnection's answer: connectedAt, identity, lastActiveAt."""
        return {
            "connectedAt": _iso(conn.connected_at_ms),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "lastActiveAt": _iso(conn.last_active_ms),
        }
