"""The asyncio game client: one player's WebSocket connection to a tickwire gateway.

Lifecycle (the table :data:`tickwire.client.lifecycle.CLIENT`; :attr:`GameClient.state`)::

    connect() ──▶ OPEN ──(server close, 2 h limit, idle close, network error)──▶ RECONNECTING
                   ▲                                                               │
                   └──────────── handshake ok (a full state follows) ◀────────────┘
    close() from any state ──▶ CLOSED        retries exhausted ──▶ FAILED (``failure`` set)
    a message with ENDED, then the server's close ──▶ ENDED (``ended``, no reconnect)
    a message with REPLACED (the player connected again elsewhere), then the server's
    close ──▶ REPLACED (``replaced``, no reconnect: it would take the newer one's place)

The receive loop reads every frame: binary frames are state messages (``docs/protocol.md``);
their header's ``ack_seq`` is applied to the :class:`InputLog` (latency samples) and, unless
the client was made with ``decode=False`` (bots that only need acks), the message is decoded
into a :class:`broadcaster.client_state.WorldView`. Text frames are the gateway's answers
(``{"message": "Forbidden", ...}``) and are counted, kept last-one-only.

Reconnects use :class:`Backoff` (exponential, full jitter); the token provider is called
for every attempt, so an expired token is re-minted. A new connection is a new join: the
server sends a full state, which replaces the world view.

Backpressure: the client never queues outgoing inputs. ``send_input`` writes at once when
a connection is open; while the client reconnects it waits for the new connection, up to
``ClientSettings.send_wait`` seconds (then :class:`NotConnected`; 0: raise at once), so the
simplest bot loop (``while True: await client.send_input(...)``) rides out a gateway
restart. An input whose write fails is sent again, with the same seq, on the next
connection (the engine skips a seq it already applied). Incoming messages are handled as they arrive, with no queue;
waiters (:meth:`wait_for`) see the latest state only. Latency samples are kept in a
bounded deque (``latency_samples``) and can also go to an ``on_latency`` callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from broadcaster.client_state import WorldView
from broadcaster.codec import peek_header
from broadcaster.errors import ProtocolError
from infra.backoff import Backoff
from infra.lifecycle import Lifecycle
from tickwire.client.errors import ClientClosed, ConnectFailed, NotConnected
from tickwire.client.inputs import InputLog, encode_input, validate_input
from tickwire.client.lifecycle import CLIENT, FINAL, ClientEvent, ClientState
from tickwire.client.prediction import Reconciler, StepFunction

__all__ = ["ClientSettings", "ClientStats", "GameClient", "TokenProvider"]

log = logging.getLogger("tickwire.client")

TokenProvider = Callable[[], "str | Awaitable[str]"]

# A message is at most 128 KB on API Gateway (quotas table); tickwire's are <= 32 KB.
# The receive limit leaves room for the largest AWS allows, no more.
MAX_MESSAGE_BYTES = 131_072
# Handshake statuses worth retrying: throttled or a server-side fault. 401/403 are retried
# only once, with a fresh token, when a token provider is given.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    backoff: Backoff = field(default_factory=Backoff)
    # Unacknowledged inputs kept for prediction and latency (see inputs.py).
    max_pending: int = 300
    # Latency samples kept in memory (the newest); pass on_latency to keep them all.
    latency_samples: int = 10_000
    # Handshake timeout in seconds (AWS holds the upgrade until $connect finishes; its
    # integration timeout is 29 s).
    connect_timeout: float = 30.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    # How long send_input waits for a reconnect before raising NotConnected (0: never
    # waits). Backoff's default windows add up to about a minute before giving up.
    send_wait: float = 60.0


@dataclass(slots=True)
class ClientStats:
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    bytes: int = 0
    text_frames: int = 0
    bad_messages: int = 0
    last_text: str | None = None
    last_close_code: int | None = None
    latencies: deque[float] = field(default_factory=deque)


def _with_token(url: str, token: str) -> str:
    return str(URL(url).update_query(token=token))


class GameClient:
    """One player's connection. Make it with :meth:`connect`; end it with :meth:`close`."""

    def __init__(
        self,
        url: str,
        token: str | TokenProvider,
        *,
        settings: ClientSettings | None = None,
        decode: bool = True,
        session: aiohttp.ClientSession | None = None,
        on_message: Callable[[GameClient, bytes], None] | None = None,
        on_latency: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        step: StepFunction[tuple[float, float]] | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or ClientSettings()
        self._token = token
        self._own_session = session is None
        self._session = session
        self._on_message = on_message
        self._on_latency = on_latency
        self._rng = rng or random.Random()
        self._clock = clock
        self.inputs = InputLog(max_pending=self.settings.max_pending)
        # Prediction of the own entity's position (needs decode=True): see prediction.py.
        self.reconciler: Reconciler[tuple[float, float]] | None = (
            Reconciler(step) if step is not None and decode else None
        )
        self.stats = ClientStats(latencies=deque(maxlen=self.settings.latency_samples))
        self.world: WorldView | None = _new_world() if decode else None
        self.tick = -1
        self.self_id = -1
        self._lifecycle = Lifecycle(CLIENT, ClientState.CONNECTING)
        # Why connecting failed for good (state FAILED).
        self.failure: BaseException | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[bool] | None = None
        self._message_event = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, token: str | TokenProvider, **kwargs: Any) -> GameClient:
        """Open a connection to ``url`` (``ws://host:port/stage``) with ``token``.

        ``token`` is a JWT string or a provider called (sync or async) on every connect and
        reconnect. Raises :class:`ConnectFailed` when the handshake is refused for good.
        """
        client = cls(url, token, **kwargs)
        try:
            await client._open(first=True)
        except BaseException as exc:
            client._give_up(exc)
            await client._close_session()
            raise
        client._task = asyncio.get_running_loop().create_task(client._run())
        return client

    @property
    def state(self) -> ClientState:
        return self._lifecycle.state

    @property
    def ended(self) -> bool:
        """The match is over: its last message (header flag ENDED, docs/protocol.md) came."""
        return self.state is ClientState.ENDING or self.state is ClientState.ENDED

    @property
    def replaced(self) -> bool:
        """The server closed (or is closing) this connection for a newer one of the player."""
        return self.state is ClientState.REPLACING or self.state is ClientState.REPLACED

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def ack_seq(self) -> int:
        """The highest input seq the server has acknowledged."""
        return self.inputs.ack_seq

    async def close(self) -> None:
        """Close the connection (code 1000) and stop reconnecting. Safe to call twice."""
        self._lifecycle.handle(ClientEvent.CLOSE)
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            # Wait for the receive task without swallowing a cancellation of close() itself.
            await asyncio.wait({self._task})
            self._task = None
        await self._close_session()
        self._wake()

    async def __aenter__(self) -> GameClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- sending -----------------------------------------------------------------------

    async def send_input(
        self, move: Sequence[float], aim: Sequence[float] | None = None, fire: bool = False
    ) -> int:
        """Send one input with the next seq; return that seq.

        While the client reconnects, waits for the new connection (at most
        ``settings.send_wait`` seconds). Raises :class:`InputError` for a malformed input
        (no seq used), :class:`NotConnected` when no connection came within the wait,
        :class:`ConnectFailed` when the client gave up reconnecting, :class:`ClientClosed`
        after :meth:`close` or the match's end.
        """
        self._raise_if_final()
        inp = validate_input(move, aim, fire)
        deadline = asyncio.get_running_loop().time() + self.settings.send_wait
        failed: aiohttp.ClientWebSocketResponse | None = None
        item = None
        while True:
            ws = await self._open_connection(deadline, not_this=failed)
            if item is None:  # the seq is taken once, whichever connection carries it
                item = self.inputs.record(inp, self._clock())
            try:
                await ws.send_str(encode_input(item.seq, inp))
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.info("input %d not written (%s); waiting for a reconnect", item.seq, exc)
                failed = ws
                continue
            return item.seq

    async def _open_connection(
        self, deadline: float, *, not_this: aiohttp.ClientWebSocketResponse | None = None
    ) -> aiohttp.ClientWebSocketResponse:
        """The open connection, waiting for a reconnect until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        while True:
            ws = self._ws
            if ws is not None and not ws.closed and ws is not not_this:
                return ws
            self._raise_if_final()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NotConnected("no open connection (reconnecting)")
            waiting = self._message_event
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await waiting.wait()

    def predicted_position(self) -> tuple[float, float] | None:
        """The own entity's position predicted for now: the last acknowledged server
        position plus the pending inputs replayed (None without a ``step`` or before the
        own entity was seen)."""
        if self.reconciler is None:
            return None
        return self.reconciler.predict(self.inputs.pending, self._clock())

    # -- waiting -----------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[GameClient], bool], within: float) -> None:
        """Wait until ``predicate(self)`` holds after some message; raise TimeoutError
        after ``within`` seconds, :class:`ConnectFailed` if the client gave up
        reconnecting, :class:`ClientClosed` once closed."""
        async with asyncio.timeout(within):
            while not predicate(self):
                self._raise_if_final()
                if (self.ended or self.replaced) and not self.connected:
                    raise ClientClosed(self._finished())
                await self._message_event.wait()

    def _raise_if_final(self) -> None:
        """What a client in a final state raises: :class:`ClientClosed` once closed, ended
        or replaced; its ``failure`` once it gave up connecting."""
        state = self.state
        if state not in FINAL:
            return
        if state is ClientState.CLOSED:
            raise ClientClosed("client is closed")
        if state is ClientState.FAILED:
            raise self.failure or ConnectFailed("gave up connecting")
        raise ClientClosed(self._finished())

    def _finished(self) -> str:
        return "replaced by a newer connection" if self.replaced else "the match ended"

    def _give_up(self, failure: BaseException) -> None:
        """Connecting failed for good (state FAILED), unless close() came first."""
        if self.state is not ClientState.CLOSED:
            self.failure = failure
            self._lifecycle.handle(ClientEvent.GAVE_UP)

    def _wake(self) -> None:
        self._message_event.set()
        self._message_event = asyncio.Event()

    # -- connection handling -----------------------------------------------------------

    async def _token_now(self) -> str:
        if isinstance(self._token, str):
            return self._token
        value = self._token()
        if inspect.isawaitable(value):
            value = await value
        return str(value)

    async def _open(self, *, first: bool) -> None:
        """Connect, retrying with backoff; raise ConnectFailed when retries run out."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        backoff = self.settings.backoff
        attempt = 0
        auth_retry_used = False
        while True:
            try:
                token = await self._token_now()
                async with asyncio.timeout(self.settings.connect_timeout):
                    self._ws = await self._session.ws_connect(
                        _with_token(self.url, token),
                        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                        max_msg_size=self.settings.max_message_bytes,
                        autoping=True,
                    )
            except aiohttp.WSServerHandshakeError as exc:
                status = exc.status
                fixable = status in (401, 403) and not isinstance(self._token, str)
                if status in (401, 403) and (not fixable or auth_retry_used):
                    raise ConnectFailed(f"handshake refused: {status}", status=status) from exc
                if status in (401, 403):
                    auth_retry_used = True
                elif status not in RETRYABLE_STATUSES:
                    raise ConnectFailed(f"handshake refused: {status}", status=status) from exc
                failure: BaseException = exc
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                failure = exc
            else:
                self._lifecycle.handle(ClientEvent.CONNECTED)
                self.stats.connects += 1
                if not first:
                    self.stats.reconnects += 1
                    self.inputs.new_connection()
                return
            attempt += 1
            if backoff.exhausted(attempt) or self.state is ClientState.CLOSED:
                last = getattr(failure, "status", None)
                raise ConnectFailed(f"could not connect: {failure!r}", status=last) from failure
            delay = backoff.delay(attempt - 1, self._rng)
            log.info("connect failed (%r); retrying in %.2fs", failure, delay)
            await asyncio.sleep(delay)

    async def _run(self) -> None:
        """Receive until closed; reconnect after every remote close."""
        try:
            while True:
                ws = self._ws
                assert ws is not None
                await self._receive(ws)
                self.stats.last_close_code = ws.close_code
                if self.state is ClientState.CLOSED:
                    break
                self._ws = None
                if self._lifecycle.handle(ClientEvent.DROPPED) in FINAL:
                    # The match is over (its last message had ENDED set): a reconnect would
                    # only join a new match under the same id; or this player connected
                    # again elsewhere (REPLACED), which a reconnect would kick out.
                    log.info("%s; not reconnecting", "replaced" if self.replaced else "match ended")
                    break
                log.info("connection closed (code %s); reconnecting", ws.close_code)
                self._wake()
                try:
                    await self._open(first=False)
                except ConnectFailed as exc:
                    self._give_up(exc)
                    log.warning("giving up reconnecting: %s", exc)
                    break
                self._wake()  # senders waiting for a connection go on
        finally:
            self._wake()

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                self._on_binary(msg.data)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                self.stats.text_frames += 1
                self.stats.last_text = msg.data
                log.debug("gateway text frame: %s", msg.data[:200])
                self._wake()
            elif msg.type is aiohttp.WSMsgType.ERROR:
                log.info("websocket error: %r", ws.exception())
                break

    def _on_binary(self, data: bytes) -> None:
        now = self._clock()
        try:
            header = peek_header(data)
            if self.world is not None:
                self.world.apply(data)
        except ProtocolError as exc:
            # A message this client cannot apply (a delta against a tick it does not hold,
            # bytes it cannot read): count it, and reconnect, since a new connection starts
            # with a full state (docs/protocol.md, "Full states and deltas").
            self.stats.bad_messages += 1
            log.warning("undecodable state message (%s); reconnecting for a full state", exc)
            if self._ws is not None:
                self._resync = asyncio.get_running_loop().create_task(self._ws.close())
            return
        self.stats.messages += 1
        self.stats.bytes += len(data)
        if header.replaced:
            # This player connected again elsewhere; the server is closing this one, and
            # reconnecting would take the newer connection's place. Close our side too
            # (a server without DeleteConnection would leave it to the idle timeout).
            self._lifecycle.handle(ClientEvent.SUPERSEDED)
            if self._ws is not None:
                self._resync = asyncio.get_running_loop().create_task(self._ws.close())
            return
        self.tick = header.tick
        self.self_id = header.self_id
        if header.ended:
            self._lifecycle.handle(ClientEvent.MATCH_ENDED)
        if self.reconciler is not None and self.world is not None:
            own = self.world.own()
            if own is not None:
                self.reconciler.on_server_state((own["x"], own["y"]), header.ack_seq)
        for sample in self.inputs.acknowledge(header.ack_seq, now):
            self.stats.latencies.append(sample)
            if self._on_latency is not None:
                self._on_latency(sample)
        if self._on_message is not None:
            self._on_message(self, data)
        self._wake()

    async def _close_session(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


def _new_world() -> WorldView:
    return WorldView()
