"""The local API Gateway: WebSocket API, ``@connections`` and ``/metrics`` on one port.

Lifecycle: ``Gateway(api, settings)`` builds the aiohttp application; ``start()`` binds
the plain listener (and the TLS one when ``tls_port`` is given), ``run()`` waits until
``stop()``; ``stop()`` closes every connection with 1001, waits (bounded) for close
handshakes and $disconnect integrations, stops the Lambda workers and logs the metering
summary. A second ``stop()`` is harmless.

The in-process send path :meth:`Gateway.post_to_connection` makes exactly the checks of
``POST /@connections/{id}`` (account throttle, 410, 413, full client buffer 429) and
meters the same way; the HTTP handler calls it.

Frames to a client are queued per connection and written with one ``transport.write``
per event-loop iteration (write coalescing: a burst of posts to one connection costs one
system call, not one each); order is kept, and a server-side close flushes first.

Backpressure: each connection's unsent bytes are bounded by
``settings.client_buffer_bytes``: past it, posts answer 429 instead of queueing. A send
never waits on a slow reader (frames go to the transport without aiohttp's drain). Client messages to Lambda/HTTP integrations are bounded per connection
(``max_inflight_per_connection``). $disconnect tasks are tracked and awaited on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .connection import Connection, ConnectionEvent, ConnectionState
from .connections import BUFFERED, PING, PING_TIMEOUT, ConnectionTable
from .errors import (
    ConfigurationError,
    GoneException,
    LimitExceededException,
)
from .frames import encode_server_frame
from .guard import POLICY_CLOSES
from .integrations import Integrations
from .lambdas import LambdaRuntime
from .management import ManagementApi, is_sigv4_authorization
from .metering import Metering
from .model import WebSocketApi
from .routing import compile_selection_expression
from .services import AwsServiceBackend
from .sessions import CloseReason, WebSocketSessions
from .settings import GatewaySettings
from .throttle import TokenBucket
from .tls import LocalCA, load_or_create_ca

__all__ = ["Gateway"]

log = logging.getLogger(__name__)

_TEXT = int(WSMsgType.TEXT)
_BINARY = int(WSMsgType.BINARY)
_PING_FRAME = encode_server_frame(b"", int(WSMsgType.PING))
_OPEN = ConnectionState.OPEN


class Gateway:
    """An API Gateway WebSocket API served locally. See the module docstring."""

    def __init__(
        self,
        api: WebSocketApi,
        settings: GatewaySettings | None = None,
        aws_services: Mapping[str, AwsServiceBackend] | None = None,
        extra_routes: Iterable[web.AbstractRouteDef] = (),
        *,
        state_dir: Path | None = None,
    ) -> None:
        self.api = api
        self.settings = settings = settings or GatewaySettings()
        self.state_dir = state_dir
        self.account_bucket = TokenBucket(settings.account_rate_per_s, settings.account_burst)
        # (the stage's DefaultRouteSettings/RouteSettings throttles are per route, checked
        # after routing: throttle.route_gates, in WebSocketSessions)
        stage = api.stage
        self.metrics = Metering(live=self._live_connections)
        # the connections and the @connections rules (pure); this class does the I/O
        self.table = ConnectionTable(self.account_bucket, self.metrics, settings)
        self.connections: dict[str, Connection] = self.table.connections
        self.runtime = LambdaRuntime(
            workers_per_function=settings.lambda_workers_per_function,
            region=api.region,
            account_id=api.account_id,
        )
        self.integrations = Integrations(
            self.runtime,
            aws_services or {},
            default_timeout_s=settings.integration_timeout_s,
            stage_variables=stage.stage_variables,
        )
        self.selector = compile_selection_expression(api.route_selection_expression)
        self.route_keys = frozenset(api.routes)
        self.stopping = False
        self.ca: LocalCA | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._tls_port: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._dirty: list[Connection] = []  # connections with queued frames
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()
        self._sessions = WebSocketSessions(self)
        self._management = ManagementApi(self)
        self._app = self._build_app(list(extra_routes))
        self._buffer_limit = settings.client_buffer_bytes
        # unsent bytes past which a connection is backlogged (the slow-reader policy),
        # else past which posts answer 429
        self._high_water = min(settings.slow_reader_bytes, self._buffer_limit) or (
            self._buffer_limit
        )

    # -- application ----------------------------------------------------------------------

    def _build_app(self, extra_routes: list[web.AbstractRouteDef]) -> web.Application:
        stage = "/" + self.api.stage.name
        for route in extra_routes:
            path = getattr(route, "path", None) or getattr(route, "prefix", None) or ""
            if path == stage or path.startswith(stage + "/") or path == "/metrics":
                raise ConfigurationError(f"extra route {path!r} would shadow the gateway's paths")
        # Bodies past the post limit never reach memory whole (413 from the handler).
        app = web.Application(client_max_size=self.settings.max_post_bytes + 1)
        # @connections first: the hot path resolves on the first resource tried.
        # (aiohttp matches the decoded path, so /%40connections/ lands here too.)
        app.router.add_route("*", "/{stage}/@connections/{id}", self._management.handle)
        app.router.add_get(stage, self._sessions.handle)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_routes(extra_routes)
        app.router.add_get("/{stage}", self._unknown_stage)
        return app

    async def _metrics_handler(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.prometheus_text(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def _unknown_stage(self, _request: web.Request) -> web.Response:
        return web.json_response({"message": "Forbidden"}, status=403)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 8080, tls_port: int | None = None
    ) -> None:
        """Bind and serve. ``port=0``/``tls_port=0`` pick free ports (see the URL properties)."""
        if self._runner is not None:
            raise RuntimeError("Gateway already started")
        settings = self.settings
        self._host = host
        self._loop = asyncio.get_running_loop()
        if tls_port is not None:
            self.ca = load_or_create_ca(self.state_dir)
            # Handlers that build https://{domainName}/{stage} trust the local CA.
            self.runtime.extra_env["AWS_CA_BUNDLE"] = str(self.ca.bundle_path)
        runner = web.AppRunner(
            self._app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=settings.shutdown_timeout_s,
            # From accept to a complete request: closes half-open handshakes (slowloris).
            keepalive_timeout=settings.handshake_timeout_s,
        )
        await runner.setup()
        self._runner = runner
        try:
            plain = self._bind(host, port)
            self._port = plain.getsockname()[1]
            await web.SockSite(runner, plain, backlog=settings.listen_backlog).start()
            if tls_port is not None:
                assert self.ca is not None
                secure = self._bind(host, tls_port)
                self._tls_port = secure.getsockname()[1]
                await web.SockSite(
                    runner,
                    secure,
                    ssl_context=self.ca.server_context(),
                    backlog=settings.listen_backlog,
                ).start()
        except BaseException:
            await runner.cleanup()
            self._runner = None
            raise
        self._reaper = asyncio.create_task(self._reap(), name="gateway-reaper")
        if settings.lambda_prewarm:
            for function in self._functions():
                self.track(asyncio.create_task(self.runtime.prewarm(function)))
        log.info("gateway listening on %s (stage %s)", self.ws_url, self.api.stage.name)

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def _functions(self) -> list[Any]:
        seen: list[Any] = []
        for route in self.api.routes.values():
            for function in (
                route.integration.function if route.integration else None,
                route.authorizer.function if route.authorizer else None,
            ):
                if function is not None and all(function is not f for f in seen):
                    seen.append(function)
        return seen

    async def run(self) -> None:
        """Wait until :meth:`stop` is called."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Close every connection with 1001 and shut down, bounded by the shutdown timeout."""
        if self.stopping:
            await self._stopped.wait()
            return
        self.stopping = True
        try:
            if self._reaper is not None:
                self._reaper.cancel()
                # wait() does not swallow a cancellation of stop() itself (a bounded stop).
                await asyncio.wait([self._reaper])
            closing = [
                self.close_connection(c, *CloseReason.GOING_AWAY)
                for c in list(self.connections.values())
                if c.state is _OPEN
            ]
            timeout = self.settings.shutdown_timeout_s
            if closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.gather(*closing, return_exceptions=True), timeout
                    )
            if self._runner is not None:
                await self._runner.cleanup()
            if self._tasks:
                _, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
                for task in pending:
                    task.cancel()
            await self.integrations.stop()
            await self.runtime.stop()
            if self._port is not None:
                log.info("gateway stopped: %s", self.metrics.summary())
        finally:
            self._stopped.set()

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep a background task referenced until it finishes (awaited on stop)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self) -> None:
        """Acts on what each sweep of the table finds due (ConnectionTable.sweep): API
        Gateway's idle and duration closes, the liveness and slow-reader policies."""
        settings = self.settings
        code = settings.timeout_close_code
        while True:
            await asyncio.sleep(settings.reaper_interval_s)
            now = time.monotonic()
            for conn, what in self.table.sweep(now):
                if what is BUFFERED:
                    self._check_backlog(conn, now)
                elif what is PING:
                    self.ping(conn, now)
                elif what is PING_TIMEOUT:
                    self.policy_close(conn, "ping_timeout")
                else:
                    self.track(asyncio.create_task(self.close_connection(conn, code, "Going away")))

    def ping(self, conn: Connection, now: float) -> None:
        """Send a ping; the liveness policy expects its pong within ``pong_timeout_s``."""
        conn.ping_sent_mono = now
        self.write_control(conn, _PING_FRAME)

    def write_control(self, conn: Connection, frame: bytes) -> None:
        """Write a ping or pong now. Not through the frame queue: control frames are not
        data, so they neither reset the idle timeout nor count as messages."""
        transport = conn.transport
        if transport is not None and not transport.is_closing():
            transport.write(frame)  # type: ignore[attr-defined]

    def _check_backlog(self, conn: Connection, now: float) -> bool:
        """The slow-reader policy: False when ``conn`` was closed for it."""
        backlog = conn.backlog
        transport = conn.transport
        if backlog is None or transport is None:
            return True
        if transport.get_write_buffer_size() <= self._high_water:  # type: ignore[attr-defined]
            backlog.clear()
            return True
        if backlog.hit(now) < self.settings.slow_reader_close_after_s:
            return True
        self.policy_close(conn, "slow_reader")
        return False

    def policy_close(self, conn: Connection, policy: str) -> None:
        """Close ``conn`` for one of guard.POLICY_CLOSES, counted in policy_closes.

        A flooder reads: it gets the close frame and a second to answer it. A client
        that does not read (ping timeout, slow reader) would never see the frame behind
        its backlog: its socket is aborted at once (the client sees a reset), which
        costs the loop one call instead of a close handshake that can only time out;
        $disconnect still reports the policy's code and reason."""
        code, reason = POLICY_CLOSES[policy]
        if not self._begin_close(conn, code, reason):
            return
        self.metrics.policy_closes[policy] += 1
        log.info("closing %s: %s (%s)", conn.connection_id, reason, policy)
        if policy == "message_rate":
            self.track(asyncio.create_task(self._close_handshake(conn, code, reason, 1.0)))
        elif conn.transport is not None:
            conn.transport.abort()  # type: ignore[attr-defined]

    # -- URLs -----------------------------------------------------------------------------

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("Gateway not started")
        return self._port

    @property
    def port(self) -> int:
        return self._require_port()

    @property
    def tls_port(self) -> int | None:
        return self._tls_port

    @property
    def url(self) -> str:
        """``http://host:port`` of the plain listener."""
        return f"http://{self._host}:{self._require_port()}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._require_port()}/{self.api.stage.name}"

    @property
    def management_url(self) -> str:
        """The SDK's ``endpoint_url`` for the plain listener: ``http://host:port/{stage}``."""
        return f"{self.url}/{self.api.stage.name}"

    @property
    def wss_url(self) -> str | None:
        if self._tls_port is None:
            return None
        return f"wss://{self._host}:{self._tls_port}/{self.api.stage.name}"

    @property
    def tls_management_url(self) -> str | None:
        if self._tls_port is None:
            return None
        return f"https://{self._host}:{self._tls_port}/{self.api.stage.name}"

    @property
    def domain_name(self) -> str:
        """``requestContext.domainName``: the TLS listener's ``host:port`` when TLS is on,
        so ``https://{domainName}/{stage}`` reaches this gateway."""
        port = self._tls_port if self._tls_port is not None else self._port
        return f"{self._host}:{port}"

    @property
    def ca_bundle(self) -> Path | None:
        return self.ca.bundle_path if self.ca is not None else None

    # -- @connections ---------------------------------------------------------------------

    async def post_to_connection(self, connection_id: str, data: bytes) -> None:
        """PostToConnection in-process: the same checks and metering as the HTTP POST.

        Raises GoneException (410), PayloadTooLargeException (413) or
        LimitExceededException (429: account throttle, or the client's buffer is full).
        """
        self.post_now(connection_id, data)

    def post_now(self, connection_id: str, data: bytes) -> None:
        """:meth:`post_to_connection` without a coroutine: it never waits (the frame is
        queued and written at the end of this loop iteration), so callers that post many
        messages at once (the engine link) call it directly."""
        conn = self.table.post(connection_id, data)
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise GoneException(f"Connection {connection_id} is gone")
        if conn.pending_bytes > self._buffer_limit:
            self.flush(conn)  # a big batch goes to the socket now, as unbatched sends would
        if transport.get_write_buffer_size() > self._high_water:  # type: ignore[attr-defined]
            self._backlogged(conn)
        elif conn.backlog is not None and conn.backlog.since is not None:
            conn.backlog.clear()
        self.queue_frame(conn, self.table.frame(data))

    def _backlogged(self, conn: Connection) -> None:
        """A post to a connection with unsent data past the high-water mark: 410 when the
        slow-reader policy closes it now, 429 past ``client_buffer_bytes``."""
        if not self._check_backlog(conn, time.monotonic()):
            raise GoneException(f"Connection {conn.connection_id} is gone")
        transport = conn.transport
        assert transport is not None
        if transport.get_write_buffer_size() > self._buffer_limit:  # type: ignore[attr-defined]
            self.metrics.throttled["buffer"] += 1
            raise LimitExceededException("Client buffer is full")

    def queue_frame(self, conn: Connection, frame: bytes) -> None:
        """Queue an encoded frame for ``conn``; written at the end of this loop iteration."""
        pending = conn.pending
        if pending is None:
            conn.pending = [frame]
            dirty = self._dirty
            dirty.append(conn)
            if len(dirty) == 1:
                self._loop.call_soon(self.flush_all)
        else:
            pending.append(frame)
        conn.pending_bytes += len(frame)

    def flush_all(self) -> None:
        """Write every connection's queued frames now. Runs at the end of the loop
        iteration that queued them; a caller that queued many (a send tick's slice of
        posts) calls it at once, so one iteration never holds more than its own slice's
        writes (two slices' writes in one iteration held the loop ~5 ms at 400 players)."""
        dirty = self._dirty
        if not dirty:
            return
        self._dirty = []
        now = time.monotonic()
        for conn in dirty:
            conn.last_active_mono = now  # data sent: resets the idle timer
            self.flush(conn)

    def flush(self, conn: Connection) -> None:
        """Write ``conn``'s queued frames now (one system call)."""
        pending = conn.pending
        if pending is None:
            return
        conn.pending = None
        conn.pending_bytes = 0
        transport = conn.transport
        if transport is None or transport.is_closing():
            return  # the connection is going: its frames go with it, as on AWS
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))  # type: ignore[attr-defined]

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        """GetConnection: connectedAt, identity, lastActiveAt (410 unless OPEN)."""
        return self.table.info(self.table.admit(connection_id))

    async def delete_connection(self, connection_id: str) -> None:
        """DeleteConnection: answers at once; the client sees close 1000 (410 unless OPEN)."""
        conn = self.table.admit(connection_id)
        self.track(asyncio.create_task(self.close_connection(conn, *CloseReason.DELETED)))

    async def close_connection(
        self, conn: Connection, code: int, reason: str, within: float | None = None
    ) -> None:
        """Server-side close of an OPEN connection; $disconnect reports ``code``/``reason``.
        The close handshake takes at most ``within`` seconds (default: the shutdown
        timeout), then the socket is aborted."""
        if self._begin_close(conn, code, reason):
            await self._close_handshake(conn, code, reason, within)

    def _begin_close(self, conn: Connection, code: int, reason: str) -> bool:
        """OPEN -> CLOSING (posts answer 410 from now on); False when not OPEN."""
        if conn.state is not _OPEN or conn.ws is None:
            return False
        conn.handle(ConnectionEvent.CLOSING)
        conn.close_code, conn.close_reason = code, reason
        self.flush(conn)  # frames posted before the close reach the client first
        return True

    async def _close_handshake(
        self, conn: Connection, code: int, reason: str, within: float | None
    ) -> None:
        assert conn.ws is not None
        try:
            # Bounded: a client that reads nothing cannot hold the close (or stop()) up.
            await asyncio.wait_for(
                conn.ws.close(code=code, message=reason.encode()),
                self.settings.shutdown_timeout_s if within is None else within,
            )
        except (ConnectionError, RuntimeError, TimeoutError):
            transport = conn.transport
            if transport is not None:
                transport.abort()  # type: ignore[attr-defined]

    def signed(self, headers: Mapping[str, list[str]]) -> bool:
        """Does a request carry a SigV4 ``Authorization`` for execute-api (AWS_IAM routes)?"""
        values = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        return bool(values) and is_sigv4_authorization(values[-1] if values else None)

    def _live_connections(self) -> tuple[int, int]:
        return self.table.live(time.monotonic())
