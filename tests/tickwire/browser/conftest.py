"""Fixtures for the browser end-to-end test.

``game`` is the whole stack: ``tickwire.embedded.EmbeddedGame`` (gateway + stream +
engine + broadcaster + the page's routes on one port) when it exists. Until then it is
:class:`MiniGame`: the real local gateway and the real page routes, with a small game
behind the ``input`` route (one circle per connection, moving at the reference game's
speed by the last ``move``), sending ``broadcaster.codec`` full states through
``Gateway.post_to_connection`` at 20 Hz.

``browser_page`` launches Debian's chromium through Playwright (never a downloaded
browser) with an empty profile; tests are skipped with the reason when it is absent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = os.environ.get("TICKWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does) to run this test"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def protocol_js_missing() -> str | None:
    from tickwire.web import STATIC_FILES

    path = STATIC_FILES["protocol.js"][0]
    if not path.is_file():
        return f"{path} (the broadcaster's JS decoder the page imports) is absent"
    return None


TEMPLATE = (
    '{"StreamName": "actions", "PartitionKey": "$context.connectionId", '
    '"Data": "$util.base64Encode($input.body)"}'
)
META = {"width": 1600.0, "height": 1600.0, "walls": [[500.0, 500.0, 700.0, 540.0]],
        "player_radius": 16.0, "tick_rate": 30.0, "max_hp": 100, "max_speed": 240.0}  # fmt: skip


@dataclass
class Blob:
    eid: int
    x: float
    y: float
    move: tuple[float, float] = (0.0, 0.0)
    ack: int = 0


class MiniGame:
    """The page's stand-in backend until EmbeddedGame lands (see the module docstring)."""

    def __init__(self, port: int = 0) -> None:
        from infra.local.gateway import Gateway, GatewaySettings
        from infra.local.gateway.model import Integration, Route, WebSocketApi
        from tickwire.web import routes

        api = WebSocketApi(
            name="mini",
            routes={
                "input": Route(
                    "input",
                    Integration(
                        "AWS",
                        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
                        request_templates={"$default": TEMPLATE},
                        template_selection_expression="\\$default",
                    ),
                )
            },
        )
        self.port = port
        self.blobs: dict[str, Blob] = {}
        self.gateway = Gateway(
            api,
            GatewaySettings(lambda_prewarm=False),
            {"kinesis": self},
            extra_routes=routes(lambda match, player: f"{match}.{player}", self._ws_url),
        )
        self._task: asyncio.Task[None] | None = None
        self.tick = 0

    def _ws_url(self, request: Any) -> str:
        return self.gateway.ws_url

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        record = json.loads(body)
        data = json.loads(base64.b64decode(record["Data"]))
        blob = self._blob(record["PartitionKey"])
        if data["seq"] > blob.ack:
            blob.ack = data["seq"]
            mx, my = data["move"]
            blob.move = (float(mx), float(my))
        return 200, b'{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}'

    def _blob(self, cid: str) -> Blob:
        if cid not in self.blobs:
            n = len(self.blobs)
            self.blobs[cid] = Blob(n + 1, 300.0 + 120 * n, 300.0 + 60 * n)
        return self.blobs[cid]

    async def _loop(self) -> None:
        from broadcaster.codec import Block, Header, Update, encode
        from infra.local.gateway.errors import GatewayError

        while True:
            await asyncio.sleep(1 / 30)
            self.tick += 1
            for cid in list(self.gateway.connections):
                self._blob(cid)
            for cid in list(self.blobs):
                if cid not in self.gateway.connections:
                    del self.blobs[cid]
            for b in self.blobs.values():
                b.x = min(max(b.x + b.move[0] * 8.0, 16.0), 1584.0)
                b.y = min(max(b.y + b.move[1] * 8.0, 16.0), 1584.0)
            if self.tick % 3 == 0:  # send on two ticks of three: 20 Hz state at 30 Hz ticks
                continue
            blobs = list(self.blobs.values())
            block = Block(
                np.array([b.eid for b in blobs], np.uint32),
                {"kind": np.zeros(len(blobs), np.uint8),
                 "x": np.array([round(b.x * 16) for b in blobs], np.int32),
                 "y": np.array([round(b.y * 16) for b in blobs], np.int32),
                 "hp": np.full(len(blobs), 100, np.uint8),
                 "angle": np.zeros(len(blobs), np.uint8),
                 "score": np.zeros(len(blobs), np.uint16)},
            )  # fmt: skip
            for cid, b in list(self.blobs.items()):
                header = Header(self.tick, b.ack, 0, 1, True, False, 0, b.eid, 16)
                with contextlib.suppress(GatewayError):
                    await self.gateway.post_to_connection(
                        cid, encode(header, Update(adds=block, meta=META))
                    )

    async def __aenter__(self) -> MiniGame:
        await self.gateway.start(port=self.port)
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.gateway.stop()

    @property
    def ws_url(self) -> str:
        return self.gateway.ws_url

    @property
    def http_url(self) -> str:
        return self.gateway.url


def embedded_game_class() -> Any:
    try:
        from tickwire.embedded import EmbeddedGame
    except ImportError:
        return None
    return EmbeddedGame


@pytest.fixture
async def game(unused_port: int) -> AsyncIterator[Any]:
    embedded = embedded_game_class()
    if embedded is None:
        async with MiniGame(port=unused_port) as mini:
            yield mini
        return
    from game_engine.arena import ArenaSettings

    # Players spawn at random spots of a 1600 x 1600 arena: a view radius covering all of
    # it makes "the page sees the bot" independent of where the two spawned.
    async with embedded(port=unused_port, arena=ArenaSettings(view_radius=2400.0)) as running:
        yield running


async def _launch(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    profile = tmp_path / "chromium-profile"  # an empty user data dir per test
    profile.mkdir()
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 760},
        )
        try:
            yield context
        finally:
            await context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    """A browser context for tests of the page's own modules (no decoder needed)."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    async for context in _launch(tmp_path):
        yield context


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """A browser context for playing the page (needs protocol.js too)."""
    reason = chromium_missing() or protocol_js_missing()
    if reason:
        pytest.skip(reason)
    async for context in _launch(tmp_path):
        yield context
