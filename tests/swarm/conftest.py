"""A small real game server for swarm tests: aiohttp on 127.0.0.1.

It speaks the real wire formats: JWT tokens on the query string (HS256, aud/iss as the
authorizer checks them), JSON input frames in, ``broadcaster.codec`` state messages out
at a fixed rate, each carrying the player's last received ``seq`` as its ack. A
``/token`` endpoint mints tokens for ``--token-url`` runs. Only the game is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from aiohttp import WSCloseCode, WSMsgType, web

from broadcaster.codec import Header, Update, encode

SECRET = "swarm-test-secret-of-at-least-32-bytes"


def mint(match: str, player: str, secret: str = SECRET) -> str:
    return jwt.encode(
        {
            "sub": player,
            "match": match,
            "aud": "tickwire",
            "iss": "tickwire",
            "exp": int(time.time()) + 600,
        },
        secret,
        algorithm="HS256",
    )


class AckServer:
    """``ws://127.0.0.1:{port}/local?token=T``; state at ``send_hz`` with tick = send count."""

    def __init__(self, port: int, send_hz: float = 20.0) -> None:
        self.port, self.send_hz = port, send_hz
        self.secret = SECRET
        self.acks: dict[web.WebSocketResponse, int] = {}
        self.players: dict[web.WebSocketResponse, tuple[str, str]] = {}
        self.inputs = 0
        self.bad_inputs = 0
        self.connects = 0
        self.refused = 0
        self.tick = 0
        self.sent = 0
        self.refuse_status: int | None = None  # refuse every handshake with this status
        self.close_after: float | None = None  # close each socket with 1011 after N s
        self.ack = True  # False: never acknowledge (state still flows)
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/local"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/local", self._ws)
        app.router.add_get("/token", self._token)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for ws in list(self.acks):
            await ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        q = request.query
        if "match" not in q or "player" not in q:
            return web.json_response({"message": "match and player required"}, status=400)
        return web.json_response({"token": mint(q["match"], q["player"])})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_status is not None:
            self.refused += 1
            return web.Response(status=self.refuse_status, text="refused")
        try:
            claims = jwt.decode(
                request.query.get("token", ""),
                SECRET,
                algorithms=["HS256"],
                audience="tickwire",
                issuer="tickwire",
            )
        except jwt.InvalidTokenError:
            self.refused += 1
            return web.Response(status=401, text="Unauthorized")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connects += 1
        self.acks[ws] = 0
        self.players[ws] = (claims["match"], claims["sub"])
        closer = None
        if self.close_after is not None:
            closer = asyncio.get_running_loop().call_later(
                self.close_after, lambda: asyncio.ensure_future(ws.close(code=1011))
            )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    body = json.loads(msg.data)
                    seq = int(body["seq"])
                    assert body["action"] == "input" and len(body["move"]) == 2
                except (ValueError, KeyError, TypeError, AssertionError):
                    self.bad_inputs += 1
                    continue
                self.inputs += 1
                if self.ack:
                    self.acks[ws] = max(self.acks[ws], seq)
        finally:
            if closer is not None:
                closer.cancel()
            self.acks.pop(ws, None)
        return ws

    async def _loop(self) -> None:
        period = 1.0 / self.send_hz
        start = time.perf_counter()
        while True:
            self.tick += 1
            for ws, ack in list(self.acks.items()):
                if ws.closed:
                    continue
                header = Header(self.tick, ack, 0, 1, False, False, self.tick - 1, 1, 16)
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_bytes(encode(header, Update()))
                    self.sent += 1
            delay = start + self.tick * period - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))


@pytest.fixture
async def ack_server(unused_port: int) -> AsyncIterator[AckServer]:
    server = AckServer(unused_port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
