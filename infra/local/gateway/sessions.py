"""The WebSocket side of the gateway: $connect, the message loop, $disconnect.

Theory of operation, per connection:

1. The upgrade request arrives at ``/{stage}``. The table (``ConnectionTable.connect``)
   must let it start: the source's failed handshakes, the new-connection quota and the
   account throttle (else 429). The connection gets its id and enters the
   table as CONNECTING (posts to it answer 410).
2. The $connect route runs, holding the upgrade: the REQUEST authorizer (401/403/500),
   then the integration (its non-2xx status, 502 for a Lambda error, 500 for a service
   error). Only then is the 101 sent, with a subprotocol only if the integration echoed
   one in ``Sec-WebSocket-Protocol``. The connection is OPEN.
3. Each text message must pass ``ConnectionTable.message`` (the connection's own rate,
   then an account token; else dropped or a throttle frame), is routed
   (:mod:`.routing`) and goes to its integration: AWS service and MOCK integrations are
   awaited in order; Lambda and HTTP integrations run as tasks, at most
   ``max_inflight_per_connection`` per connection (then reading pauses: TCP backpressure).
   AWS service integrations (tickwire's Kinesis routes) are the per-message hot path and
   run inline in the read loop, on the connection's own task: no task, future or timer
   per message. Policy: a slow service holds up only that connection's next messages
   (its TCP window fills); every other connection reads and routes on its own task. The
   integration timeout still applies: a watchdog cancels a call past its deadline, and
   the client gets the "Internal server error" frame.
   When every message route's integration answers at once (an in-process backend such
   as the embedded Kinesis, ``Integrations.immediate``), a read that holds only whole
   short text frames is handled in the socket's read callback itself
   (:class:`_LimitedParser`), never reaching aiohttp's parser, queue or the read loop's
   task; anything else (a control frame, a partial or long frame, a read while the
   loop still has messages queued) takes the read loop, so a connection's messages
   keep their order.
   Binary frames close with 1003, oversized frames/messages with 1009, invalid UTF-8
   with 1007.
4. When the socket is closed (either side), the connection is CLOSED and leaves the table,
   and $disconnect runs in the background with disconnectStatusCode/Reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any

from aiohttp import WebSocketError, WSMsgType, web

from infra.internals import InternalsChanged, require_aiohttp_frame_parser

from .authorizer import authorize
from .connection import Connection, ConnectionEvent, ConnectionState
from .connections import DROPPED, FIRST_DROP, FLOODING
from .errors import ConfigurationError, IntegrationError
from .events import (
    PER_MESSAGE_IDS,
    RequestInfo,
    authorizer_event,
    authorizer_strings,
    connect_event,
    disconnect_event,
    forwarded_headers,
    identity_of,
    message_event,
    message_template_context,
    request_context,
    template_context,
)
from .frames import (
    SHORT_PAYLOAD,
    FrameScanner,
    FrameTooBig,
    encode_server_frame,
    small_text_frames,
)
from .guard import Episode
from .iam import ConnectVerifier, iam_identity
from .ids import new_connection_id, new_request_id
from .metering import metered_units
from .model import CONNECT_ROUTE, DISCONNECT_ROUTE, Integration, Route
from .routing import select_route
from .throttle import FORBIDDEN, TokenBucket, route_gates
from .validation import RequestValidator, bad_request_frame

if TYPE_CHECKING:
    from .server import Gateway

__all__ = ["CloseReason", "WebSocketSessions"]

log = logging.getLogger(__name__)
require_aiohttp_frame_parser(__name__)  # _install_frame_limit's aiohttp internals


_TEXT = int(WSMsgType.TEXT)
_PONG = int(WSMsgType.PONG)
# A flooder's episode of dropped messages ends after this long without a drop.
_FLOOD_GAP_S = 1.0
# aiohttp's writer awaits a drain once this many bytes were written; effectively never.
_NO_WRITER_DRAIN = 1 << 62


class CloseReason:
    """disconnectStatusCode / disconnectReason values (observed on AWS where noted)."""

    NO_STATUS = (1005, "Client-side close frame status not set")  # observed
    DELETED = (1000, "Connection Closed Normally")  # observed
    GOING_AWAY = (1001, "Going away")
    ABNORMAL = (1006, "Connection was closed abnormally")
    BINARY = (1003, "Binary frames are not supported")
    TOO_BIG = (1009, "Message too big")
    INTERNAL = (1011, "Internal server error")
    INVALID_TEXT = (1007, "Invalid UTF-8 text message")


class _LimitedParser:
    """Sits in front of aiohttp's WebSocket parser and enforces the per-frame limit.

    With ``take`` (the gateway handles messages in the read callback), a read of whole
    short text frames at a frame boundary, while aiohttp has nothing queued for the read
    loop, goes to ``take`` instead (it answers False when the connection is not OPEN)."""

    __slots__ = ("_failed", "_inner", "_queue", "_scanner", "_short", "_take")

    def __init__(
        self,
        inner: Any,
        queue: Any,
        scanner: FrameScanner,
        take: Callable[[list[str]], bool] | None = None,
        short: int = SHORT_PAYLOAD,
    ) -> None:
        self._inner = inner
        self._queue = queue
        self._scanner = scanner
        self._failed = False
        self._take = take
        self._short = short

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return False, b""
        take = self._take
        if take is not None and not self._queue._buffer and self._scanner.at_boundary:
            texts = small_text_frames(data, self._short)
            if texts is not None and take(texts):
                return False, b""
        try:
            self._scanner.feed(data)
        except FrameTooBig as exc:
            self._failed = True
            self._queue.set_exception(WebSocketError(1009, str(exc)))
            return False, b""
        result: tuple[bool, bytes] = self._inner.feed_data(data)
        return result

    def feed_eof(self) -> None:
        self._inner.feed_eof()


def _multi(items: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in items:
        out.setdefault(key, []).append(value)
    return out


def _listener(request: web.Request) -> tuple[int, str]:
    """The port and scheme the client reached (X-Forwarded-Port/-Proto)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if isinstance(sockname, tuple) else 0
    return port, "https" if request.secure else "http"


def _error_frame(message: str, conn: Connection, request_id: str) -> str:
    # Observed format, spacing included.
    return (
        f'{{"message": "{message}", "connectionId":"{conn.connection_id}", '
        f'"requestId":"{request_id}"}}'
    )


class WebSocketSessions:
    """Handles ``GET /{stage}`` upgrades for a :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        api = gateway.api
        self.connect_route: Route | None = api.route(CONNECT_ROUTE)
        self.disconnect_route: Route | None = api.route(DISCONNECT_ROUTE)
        self._validators: dict[str, RequestValidator] = {}
        self._iam: ConnectVerifier | None = None  # AWS_IAM $connect, made at first use
        # per route: API key and route throttle checks (absent: nothing to check)
        self._gates = route_gates(api)
        self._api_keys = next((g.api_keys for g in self._gates.values() if g.api_keys), None)
        # every message route answers at once (None: not yet known; _all_immediate)
        self._immediate_routes: bool | None = None

    # -- $connect ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        gw = self.gw
        settings = gw.settings
        metrics = gw.metrics
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"message": "Upgrade Required"}, status=426)
        source_ip = request.remote or "127.0.0.1"
        table = gw.table
        if table.connect(source_ip) is not None:
            return self._refuse(429, "Too Many Requests")
        headers = _multi(request.headers.items())
        if self.connect_route is not None:  # only $connect's event and authorizer read them
            headers = forwarded_headers(headers, source_ip, *_listener(request))
        query = _multi(request.query.items())
        conn = Connection(
            connection_id=new_connection_id(),
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent", ""),
            headers={k: v[-1] for k, v in headers.items()},
        )
        table.add(conn)
        opened = False
        status: int | None = None
        try:
            status, message, protocol, reply = await self._run_connect(conn, headers, query)
            table.connected(source_ip, status)
            if status != 200 or gw.stopping:
                return self._refuse(
                    status if status != 200 else 503, message or "Service Unavailable"
                )
            ws = web.WebSocketResponse(
                protocols=(protocol,) if protocol else (),
                max_msg_size=settings.max_message_bytes + 1,
                autoping=False,  # pings answered and pongs noted in _read_loop
                heartbeat=None,
                compress=False,
                timeout=settings.shutdown_timeout_s,
                # Never wait for a slow reader inside a send: the gateway's own check of the
                # transport buffer (client_buffer_bytes -> 429) is the bound instead.
                writer_limit=_NO_WRITER_DRAIN,
            )
            await ws.prepare(request)
            self._install_frame_limit(request, ws, conn)
            conn.ws = ws
            conn.transport = request.transport
            conn.inflight = asyncio.Semaphore(settings.max_inflight_per_connection)
            conn.handle(ConnectionEvent.OPENED)
            conn.touch()
            self._guard(conn)
            opened = True
            metrics.connections_opened += 1
            if reply is not None:  # a two-way $connect route's response
                self._send_now(conn, reply)
            await self._read_loop(conn, ws)
            return ws
        finally:
            if status is None:  # the client left during its $connect
                table.connected(source_ip, None)
            if not opened:
                table.discard(conn)
            else:
                self._finish(conn)

    def _guard(self, conn: Connection) -> None:
        """The protections of the others that apply to a new connection (guard.py)."""
        settings = self.gw.settings
        if settings.connection_message_rate_per_s:
            conn.inbound = TokenBucket(
                settings.connection_message_rate_per_s, settings.connection_message_burst
            )
            conn.flooding = Episode(_FLOOD_GAP_S)
        if settings.slow_reader_bytes and settings.slow_reader_close_after_s:
            conn.backlog = Episode()
        if settings.ping_interval_s:
            # The first ping at once: a client that never reads is known within
            # pong_timeout_s, before it costs the game much.
            self.gw.ping(conn, conn.last_active_mono)

    def _refuse(self, status: int, message: str) -> web.Response:
        self.gw.metrics.connects_refused[status] += 1
        return web.json_response({"message": message}, status=status)

    def _install_frame_limit(
        self, request: web.Request, ws: web.WebSocketResponse, conn: Connection
    ) -> None:
        protocol = request.protocol
        inner = getattr(ws, "_parser", None)
        queue = getattr(ws, "_reader", None)
        if (
            inner is None
            or queue is None
            or getattr(protocol, "_payload_parser", None) is not inner
        ):
            # Never serve without the 32 KB frame limit (the import-time check missed this).
            raise InternalsChanged("aiohttp internals changed: cannot enforce the frame limit")
        settings = self.gw.settings
        scanner = FrameScanner(settings.max_frame_bytes, settings.max_message_bytes)
        take = None
        if self._all_immediate():
            take = lambda texts: self._take(conn, texts)  # noqa: E731
        short = min(SHORT_PAYLOAD, settings.max_frame_bytes, settings.max_message_bytes)
        protocol._payload_parser = _LimitedParser(inner, queue, scanner, take, short)

    async def _run_connect(
        self, conn: Connection, headers: dict[str, list[str]], query: dict[str, list[str]]
    ) -> tuple[int, str, str | None, str | None]:
        """(status, message, subprotocol, the route response to send once open)."""
        route = self.connect_route
        if route is None:
            self._read_api_key(conn, headers)
            return 200, "", None, None
        gw = self.gw
        info = RequestInfo.new()
        ctx = request_context(
            gw.api,
            conn,
            info,
            route_key=CONNECT_ROUTE,
            event_type="CONNECT",
            domain_name=gw.domain_name,
        )
        if route.authorization_type == "CUSTOM" and route.authorizer is not None:
            decision = await authorize(
                gw.runtime,
                route.authorizer,
                authorizer_event(gw.api, ctx, headers, query),
                headers,
                query,
                timeout_s=gw.settings.integration_timeout_s,
                max_context_bytes=gw.settings.max_authorizer_context_bytes,
            )
            if decision.status != 200:
                return decision.status, decision.message, None, None
            conn.authorizer = decision.authorizer
            conn.template_authorizer = authorizer_strings(decision.authorizer or {})
            ctx["authorizer"] = conn.authorizer
        elif route.authorization_type == "AWS_IAM":
            if self._iam is None:
                self._iam = ConnectVerifier(
                    gw.settings.sigv4_secrets, gw.state_dir, gw.runtime.extra_env
                )
            access_key, reason = self._iam.verify(f"/{gw.api.stage.name}", headers, query)
            if access_key is None:
                log.info("$connect: IAM signature refused: %s", reason)
                return 403, "Forbidden", None, None
            conn.iam = iam_identity(access_key, gw.api.account_id)
            ctx["identity"] = identity_of(conn)
        if self._read_api_key(conn, headers):
            ctx["identity"] = identity_of(conn)
        gate = self._gates.get(CONNECT_ROUTE)
        refusal = None if gate is None else gate.check(conn.api_key)
        if refusal is not None:
            return (403 if refusal == FORBIDDEN else 429), refusal, None, None
        if route.integration is None:
            return 200, "", None, None
        integration = route.integration
        try:
            result = await gw.integrations.call(
                integration,
                event=connect_event(ctx, headers, query),
                template_context=template_context(ctx),
                body="",
                # $input.params() and route.request.* parameters read the upgrade request
                request_params={
                    "header": {k: v[-1] for k, v in headers.items()},
                    "querystring": {k: v[-1] for k, v in query.items()},
                },
            )
        except IntegrationError as exc:
            log.info("$connect integration failed: %s", exc)
            return exc.status, "Internal server error", None, None
        except ConfigurationError as exc:
            log.error("$connect: %s", exc)
            return 500, "Internal server error", None, None
        if not 200 <= result.status < 300:
            return result.status, "Forbidden" if result.status == 403 else "", None, None
        echoed = next(
            (v for k, v in result.headers.items() if k.lower() == "sec-websocket-protocol"), None
        )
        requested = [
            p.strip() for h in headers.get("Sec-WebSocket-Protocol", []) for p in h.split(",")
        ]
        protocol = echoed.strip() if echoed and echoed.strip() in requested else None
        return 200, "", protocol, result.body if route.two_way else None

    def _read_api_key(self, conn: Connection, headers: dict[str, list[str]]) -> bool:
        """Reads the connection's API key (once, for its life; after the authorizer, whose
        ``usageIdentifierKey`` may name it). False when the API has no key routes."""
        if self._api_keys is None:
            return False
        conn.api_key = self._api_keys.select(headers, conn.authorizer)
        return True

    # -- messages ---------------------------------------------------------------------

    def _all_immediate(self) -> bool:
        """Does every message route's integration answer at once (or have none)? Then
        messages may be handled in the read callback (:class:`_LimitedParser`)."""
        if self._immediate_routes is None:
            gw = self.gw
            self._immediate_routes = all(
                route.integration is None or gw.integrations.immediate(route.integration)
                for key, route in gw.api.routes.items()
                if key not in (CONNECT_ROUTE, DISCONNECT_ROUTE)
            )
        return self._immediate_routes

    def _take(self, conn: Connection, texts: list[str]) -> bool:
        """Messages read whole in the read callback: handled here, in order, unless the
        connection is not OPEN (then False: the read loop has them, as any other read)."""
        if conn.state is not ConnectionState.OPEN:
            return False
        self.gw.metrics.messages_in_callback += len(texts)
        for text in texts:
            try:
                waiting = self._on_text(conn, text)
            except Exception:  # a bug must not take the socket's reader down with it
                log.exception("message on %s failed", conn.connection_id)
                gw = self.gw
                gw.track(asyncio.create_task(gw.close_connection(conn, *CloseReason.INTERNAL)))
                return True
            if waiting is not None:  # (never, with every route immediate)
                waiting.close()
                raise AssertionError("a message route that does not answer at once")
        return True

    def _on_text(self, conn: Connection, text: str) -> Coroutine[Any, Any, None] | None:
        """One text message: metering, admission, route selection and its integration.
        Done here when the route's integration answers at once; else the coroutine that
        finishes it, which the read loop awaits before its next message."""
        gw = self.gw
        metrics = gw.metrics
        conn.last_active_mono = now = monotonic()  # conn.touch(), inline
        metrics.messages_in += 1
        size = len(text)
        if size < 8192:
            metrics.bytes_in += size
            metrics.units_in += 1
        else:
            nbytes = len(text.encode())
            metrics.bytes_in += nbytes
            metrics.units_in += metered_units(nbytes)
        verdict = gw.table.message(conn, now)
        if verdict:  # not PASS
            self._refused(conn, verdict)
            return None
        route = self._select(conn, text)
        if route is None:
            return None
        integration = route.integration
        if integration is None:
            return None
        if integration.integration_type != "AWS":
            return self._dispatch(conn, route, integration, text)
        # AWS service integration (Kinesis PutRecord for tickwire): the per-message hot
        # path, with no task of its own
        ctx = self._message_context(conn, route.key, integration)
        if not self._all_immediate():
            return self._call_aws(conn, route, integration, ctx, text)
        try:
            result = gw.integrations.call_aws_now(integration, ctx, text, want_body=route.two_way)
        except (IntegrationError, ConfigurationError) as exc:
            self._integration_failed(conn, route, exc, ctx["requestId"] or new_request_id())
            return None
        if route.two_way and result.body is not None:
            self._send_now(conn, result.body)
        return None

    async def _call_aws(
        self,
        conn: Connection,
        route: Route,
        integration: Integration,
        ctx: dict[str, Any],
        text: str,
    ) -> None:
        """An AWS service integration that may wait (a service over the network): awaited
        by the connection's read loop, under the integration timeout."""
        try:
            result = await self.gw.integrations.call_aws(
                integration, ctx, text, want_body=route.two_way
            )
        except (IntegrationError, ConfigurationError) as exc:
            # (a requestId the templates never read is not made: a fresh one)
            self._integration_failed(conn, route, exc, ctx["requestId"] or new_request_id())
            return
        if route.two_way and result.body is not None:
            self._send_now(conn, result.body)

    async def _read_loop(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        gw = self.gw
        metrics = gw.metrics
        while True:
            msg = await ws.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                waiting = self._on_text(conn, msg.data)
                if waiting is not None:
                    await waiting
            elif kind is WSMsgType.BINARY:
                conn.touch()
                metrics.messages_in += 1
                metrics.bytes_in += len(msg.data)
                metrics.units_in += metered_units(len(msg.data))
                await gw.close_connection(conn, *CloseReason.BINARY)
            elif kind is WSMsgType.PING:
                gw.write_control(conn, encode_server_frame(msg.data, _PONG))
            elif kind is WSMsgType.PONG:
                conn.pong_mono = monotonic()
                conn.ping_sent_mono = None
            elif kind is WSMsgType.CLOSE:
                if conn.close_code is None:
                    code = msg.data or CloseReason.NO_STATUS[0]
                    reason = msg.extra if msg.data else CloseReason.NO_STATUS[1]
                    conn.close_code, conn.close_reason = code, reason or ""
            elif kind is WSMsgType.ERROR:
                if conn.close_code is None:
                    error = msg.data
                    code = error.code if isinstance(error, WebSocketError) else 1006
                    reason = {1009: CloseReason.TOO_BIG[1], 1007: CloseReason.INVALID_TEXT[1]}.get(
                        code, str(error)
                    )
                    conn.close_code, conn.close_reason = code, reason
            elif kind in (WSMsgType.CLOSED, WSMsgType.CLOSING):
                return

    def _refused(self, conn: Connection, verdict: int) -> None:
        """A message the table did not let through (ConnectionTable.message): answered
        with the throttle frame (the account throttle; the first drop of a flooding
        episode), or the flooder closed, or nothing."""
        gw = self.gw
        if verdict == FLOODING:
            gw.policy_close(conn, "message_rate")
        elif verdict != DROPPED:
            if verdict == FIRST_DROP:
                gw.metrics.error_frames[gw.settings.throttled_message] += 1
            self._send_now(
                conn, _error_frame(gw.settings.throttled_message, conn, new_request_id())
            )

    def _select(self, conn: Connection, text: str) -> Route | None:
        """The route a message goes to, or None when it was answered with an error frame
        (Forbidden: no route; Bad request body: the route's model refuses it)."""
        gw = self.gw
        route_key = select_route(gw.selector, text, gw.route_keys)
        if route_key is None:
            gw.metrics.error_frames["Forbidden"] += 1
            self._send_now(conn, _error_frame("Forbidden", conn, new_request_id()))
            return None
        route = gw.api.routes[route_key]
        gates = self._gates
        if gates and route_key in gates:
            refusal = gates[route_key].check(conn.api_key)
            if refusal is not None:  # no valid API key (Forbidden) or throttled
                if refusal != FORBIDDEN:
                    gw.metrics.throttled["message"] += 1
                    refusal = gw.settings.throttled_message
                gw.metrics.error_frames[refusal] += 1
                self._send_now(conn, _error_frame(refusal, conn, new_request_id()))
                return None
        if route.request_models:
            validator = self._validators.get(route_key)
            if validator is None:
                validator = self._validators[route_key] = RequestValidator(route)
            if not validator.valid(text):
                gw.metrics.error_frames["Bad request body"] += 1
                self._send_now(conn, bad_request_frame(conn.connection_id, new_request_id()))
                return None
        return route

    async def _dispatch(
        self, conn: Connection, route: Route, integration: Integration, text: str
    ) -> None:
        """A message for a MOCK, Lambda or HTTP integration (AWS ones: ``_read_loop``)."""
        gw = self.gw
        if integration.integration_type == "MOCK":
            await self._run_message(conn, route, integration, text)
            return
        inflight = conn.inflight
        assert inflight is not None
        await inflight.acquire()
        task = asyncio.create_task(self._run_message(conn, route, integration, text))
        gw.track(task)
        task.add_done_callback(lambda _t: inflight.release())

    async def _run_message(
        self, conn: Connection, route: Route, integration: Integration, text: str
    ) -> None:
        gw = self.gw
        info = RequestInfo.new()
        proxy = integration.integration_type == "AWS_PROXY"
        ctx = request_context(
            gw.api,
            conn,
            info,
            route_key=route.key,
            event_type="MESSAGE",
            domain_name=gw.domain_name,
            message_id=new_request_id(),
            template=not proxy,
        )
        try:
            result = await gw.integrations.call(
                integration,
                event=message_event(ctx, text) if proxy else {},
                template_context={} if proxy else ctx,
                body=text,
            )
        except (IntegrationError, ConfigurationError) as exc:
            self._integration_failed(conn, route, exc, info.request_id)
            return
        if route.two_way and result.body is not None:
            await self.send_text(conn, result.body)

    def _message_context(
        self, conn: Connection, route_key: str, integration: Integration
    ) -> dict[str, Any]:
        """``$context`` for one message on a template route: the connection's fixed
        fields are built once per route (``Connection.message_contexts``), with the
        ``$context`` fields the route's templates read."""
        entry = conn.message_contexts.get(route_key)
        if entry is None:
            gw = self.gw
            base = request_context(
                gw.api,
                conn,
                RequestInfo("", "", 0),
                route_key=route_key,
                event_type="MESSAGE",
                domain_name=gw.domain_name,
                message_id="",
                template=True,
            )
            fields = gw.integrations.context_fields(integration)
            entry = conn.message_contexts[route_key] = (base, fields)
        base, fields = entry
        if fields is not None and fields.isdisjoint(PER_MESSAGE_IDS):
            # (tickwire's record templates) no id and no requestTime to make: the epoch only
            ctx = base.copy()
            ctx["requestTimeEpoch"] = int(time.time() * 1000)
            return ctx
        return message_template_context(base, int(time.time() * 1000), new_request_id, fields)

    def _integration_failed(
        self, conn: Connection, route: Route, exc: Exception, request_id: str
    ) -> None:
        log.info("route %s: integration failed: %s", route.key, exc)
        self.gw.metrics.error_frames["Internal server error"] += 1
        self._send_now(conn, _error_frame("Internal server error", conn, request_id))

    async def send_text(self, conn: Connection, text: str) -> None:
        """Send a gateway-made frame (error frames, route responses) to a client."""
        self._send_now(conn, text)

    def _send_now(self, conn: Connection, text: str) -> None:
        if conn.state is not ConnectionState.OPEN:
            return
        data = text.encode()
        # Through the gateway's queue, so it keeps its order with posted frames.
        self.gw.queue_frame(conn, encode_server_frame(data, _TEXT))
        metrics = self.gw.metrics
        metrics.messages_out += 1
        nbytes = len(data)
        metrics.bytes_out += nbytes
        metrics.units_out += metered_units(nbytes)

    # -- $disconnect --------------------------------------------------------------------

    def _finish(self, conn: Connection) -> None:
        gw = self.gw
        closed = gw.table.closed(conn, monotonic(), CloseReason.ABNORMAL)
        if closed is None:
            return
        code, reason = closed
        route = self.disconnect_route
        if route is not None and route.integration is not None:
            gw.track(
                asyncio.create_task(
                    self._run_disconnect(conn, route, route.integration, code, reason)
                )
            )

    async def _run_disconnect(
        self, conn: Connection, route: Route, integration: Integration, code: int, reason: str
    ) -> None:
        gw = self.gw
        info = RequestInfo.new()
        ctx = request_context(
            gw.api,
            conn,
            info,
            route_key=DISCONNECT_ROUTE,
            event_type="DISCONNECT",
            domain_name=gw.domain_name,
        )
        tctx: Mapping[str, Any] = template_context(
            {**ctx, "disconnectStatusCode": code, "disconnectReason": reason}
        )
        try:
            await gw.integrations.call(
                integration,
                event=disconnect_event(ctx, code, reason),
                template_context=tctx,
                body="",
            )
        except (IntegrationError, ConfigurationError) as exc:
            # The return value and errors of $disconnect are ignored (best-effort on AWS).
            log.info("$disconnect integration failed: %s", exc)
