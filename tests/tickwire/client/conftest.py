"""A small real game server for client tests: aiohttp WebSocket on 127.0.0.1.

It speaks the real wire formats (JSON inputs in, ``broadcaster.codec`` messages out) so
the client is tested over a real socket against real bytes; only the game behind it is
tiny: each player is one entity that moves by its last ``move`` every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiohttp import WSCloseCode, web

from broadcaster.codec import Block, Header, Update, encode

SCALE = 16


@dataclass
class Player:
    entity_id: int
    x: float = 100.0
    y: float = 100.0
    move: tuple[float, float] = (0.0, 0.0)
    ack: int = 0
    seqs: list[int] = field(default_factory=list)


class StateServer:
    """Accepts ``ws://127.0.0.1:{port}/local?token=T`` for tokens in ``tokens``."""

    def __init__(self, port: int, tick_s: float = 0.02, speed: float = 50.0) -> None:
        self.port = port
        self.tick_s = tick_s
        self.speed = speed
        self.tokens: dict[str, str] = {}  # token -> player id
        self.players: dict[str, Player] = {}
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.connects = 0
        self.refuse_next: list[int] = []  # statuses for the next handshakes
        self.tick = 0
        self.frames_sent = 0
        self.hold_inputs = False  # record inputs but neither apply nor acknowledge them
        self._runner: web.AppRunner | None = None
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/local"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/local", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._loop_task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for ws in list(self.sockets.values()):
            await ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()

    async def kick(self, player: str) -> None:
        """Close the player's connection with 1001, as AWS does after 2 hours."""
        ws = self.sockets.pop(player)
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Going away")

    async def end_match(self, player: str) -> None:
        """Send the player the match's last message (ENDED), then close as a server would."""
        ws = self.sockets.pop(player)
        me = self.players[player]
        header = Header(self.tick, me.ack, 0, 1, True, True, 0, me.entity_id, SCALE)
        await ws.send_bytes(encode(header, Update()))
        await ws.close(code=WSCloseCode.OK)

    async def replace(self, player: str, close: bool = True) -> None:
        """Tell the player's connection it was replaced (REPLACED), then close it with
        1000, as tickwire's broadcaster and DeleteConnection do (``close=False``: a
        server that cannot delete connections leaves it to the client)."""
        ws = self.sockets.pop(player)
        header = Header(0, 0, 0, 1, False, False, 0, -1, SCALE, replaced=True)
        await ws.send_bytes(encode(header, Update()))
        if close:
            await ws.close(code=WSCloseCode.OK)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_next:
            raise _status(self.refuse_next.pop(0))
        player_id = self.tokens.get(request.query.get("token", ""))
        if player_id is None:
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connects += 1
        player = self.players.setdefault(player_id, Player(entity_id=len(self.players) + 1))
        self.sockets[player_id] = ws
        # A new connection gets a full state first, as tickwire's broadcaster does on join.
        await self._send(player_id, ws, full=True)
        async for msg in ws:
            body = json.loads(msg.data)
            if body.get("action") != "input":
                await ws.send_str('{"message": "Forbidden", "connectionId":"x", "requestId":"y"}')
                continue
            player.seqs.append(body["seq"])
            if body["seq"] > player.ack and not self.hold_inputs:
                player.move = (float(body["move"][0]), float(body["move"][1]))
                player.ack = body["seq"]
        if self.sockets.get(player_id) is ws:
            del self.sockets[player_id]
        return ws

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self.tick += 1
            for p in self.players.values():
                p.x += p.move[0] * self.speed * self.tick_s
                p.y += p.move[1] * self.speed * self.tick_s
            for pid, ws in list(self.sockets.items()):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._send(pid, ws, full=True)

    async def _send(self, player_id: str, ws: web.WebSocketResponse, *, full: bool) -> None:
        ps = list(self.players.values())
        me = self.players[player_id]
        block = Block(
            np.array([p.entity_id for p in ps], np.uint32),
            {
                "kind": np.zeros(len(ps), np.uint8),
                "x": np.array([round(p.x * SCALE) for p in ps], np.int32),
                "y": np.array([round(p.y * SCALE) for p in ps], np.int32),
            },
        )
        header = Header(self.tick, me.ack, 0, 1, full, False, 0, me.entity_id, SCALE)
        await ws.send_bytes(encode(header, Update(adds=block, meta={"w": 1000} if full else None)))
        self.frames_sent += 1


def _status(code: int) -> web.HTTPException:
    return {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        429: web.HTTPTooManyRequests,
        502: web.HTTPBadGateway,
    }[code]()


@pytest.fixture
async def server(unused_port: int) -> AsyncIterator[StateServer]:
    srv = StateServer(unused_port)
    srv.tokens = {"tok-a": "alice", "tok-b": "bob"}
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
