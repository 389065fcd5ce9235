"""Helpers for the broadcaster tests: frames built from plain arrays (the ``build`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from broadcaster.client_state import WorldView
from broadcaster.codec import Header, peek_header
from game_engine.frame import MatchFrame, PlayerSlot
from infra.local.gateway import Gateway, GatewaySettings
from infra.local.gateway.model import Stage, WebSocketApi


def make_frame(
    tick: int,
    ids: Any,
    x: Any,
    y: Any,
    *,
    players: tuple[PlayerSlot, ...] = (),
    hp: Any = None,
    radius: float = 1e9,
    meta: dict[str, Any] | None = None,
    match_id: str = "m1",
) -> MatchFrame:
    ids_a = np.asarray(ids, dtype=np.uint32)
    n = ids_a.shape[0]
    fields = {"hp": np.asarray(hp if hp is not None else np.full(n, 100), dtype=np.uint8)}
    return MatchFrame(
        match_id=match_id,
        tick=tick,
        ids=ids_a,
        kind=np.ones(n, np.uint8),
        x=np.asarray(x, dtype=np.float32),
        y=np.asarray(y, dtype=np.float32),
        fields=fields,
        players=players,
        view_radius=radius,
        meta=meta or {"arena": [1000, 1000]},
    )


def player(
    pid: str = "p1",
    conn: str = "c1",
    entity: int = -1,
    ack: int = 0,
    vx: float = 0.0,
    vy: float = 0.0,
) -> PlayerSlot:
    return PlayerSlot(pid, conn, entity, ack, vx, vy)


class Build:
    """Test helpers handed out by the ``build`` fixture (importlib mode: no conftest imports)."""

    frame = staticmethod(make_frame)
    player = staticmethod(player)


@pytest.fixture(scope="session")
def build() -> type[Build]:
    return Build


# -- a real local gateway with real WebSocket clients --------------------------------------


class Client:
    """A real WebSocket client of the gateway that applies every message to a WorldView."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, connection_id: str) -> None:
        self.ws = ws
        self.connection_id = connection_id
        self.world = WorldView()
        self.headers: list[Header] = []
        self.errors: list[BaseException] = []
        self.raw: list[bytes] = []
        self.changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.BINARY:
                continue
            self.raw.append(msg.data)
            try:
                self.headers.append(peek_header(msg.data))
                self.world.apply(msg.data)
            except Exception as exc:  # recorded, asserted on by the tests
                self.errors.append(exc)
            async with self.changed:
                self.changed.notify_all()

    async def wait_tick(self, tick: int, within_s: float = 30.0) -> None:
        async def reached() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: self.world.tick >= tick or bool(self.errors))

        await asyncio.wait_for(reached(), within_s)
        assert not self.errors, self.errors

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_gateway(settings: GatewaySettings | None = None) -> AsyncIterator[Gateway]:
    api = WebSocketApi(
        name="bcast",
        route_selection_expression="$request.body.action",
        routes={},
        stage=Stage(name="local"),
    )
    gateway = Gateway(api, settings or GatewaySettings())
    await gateway.start("127.0.0.1", 0)
    try:
        yield gateway
    finally:
        await gateway.stop()


async def connect(session: aiohttp.ClientSession, gateway: Gateway) -> Client:
    ws = await session.ws_connect(gateway.ws_url, max_msg_size=0)
    # An unrouted action gets AWS's Forbidden frame, which names the connection id.
    await ws.send_str('{"action": "__whoami__"}')
    msg = await ws.receive(timeout=30)
    return Client(ws, str(json.loads(msg.data)["connectionId"]))


async def connect_raw_slow_reader(gateway: Gateway) -> tuple[socket.socket, str]:
    """A client that completes the upgrade, learns its id, then never reads again (its
    receive buffer is tiny, so the gateway's send buffer fills and posts answer 429)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", gateway.port))
    await loop.sock_sendall(
        sock,
        (
            f"GET /local HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await loop.sock_recv(sock, 4096)
    payload = b'{"action": "__whoami__"}'
    mask = b"\x01\x02\x03\x04"
    frame = (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    await loop.sock_sendall(sock, frame)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    while b"}" not in buf:
        buf += await loop.sock_recv(sock, 4096)
    text = buf[buf.index(b"{") : buf.rindex(b"}") + 1].decode()
    return sock, str(json.loads(text)["connectionId"])


class Live:
    """Gateway helpers handed out by the ``live`` fixture."""

    gateway = staticmethod(running_gateway)
    connect = staticmethod(connect)
    slow_reader = staticmethod(connect_raw_slow_reader)


@pytest.fixture(scope="session")
def live() -> type[Live]:
    return Live
