"""Headless Chromium plays the page: join, press keys, see the player move; spectate.

Runs against the whole stack (``game`` fixture, see conftest.py) and saves the page as
``docs/screenshot.png`` for the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from tickwire.client import GameClient

pytestmark = pytest.mark.browser

# The README's picture is retaken only when asked (TICKWIRE_SCREENSHOT=1), so a test run
# never changes a tracked file; otherwise the screenshot goes to the test's temp dir.
README_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshot.png"
WAIT_MS = 30_000  # generous: the machine is shared and slow


async def own(page: Any) -> dict[str, float]:
    pos: dict[str, float] = await page.evaluate("window.__tickwire.own")
    return pos


async def hold(page: Any, key: str, ms: int) -> None:
    await page.keyboard.down(key)
    await asyncio.sleep(ms / 1000)
    await page.keyboard.up(key)


async def bot(game: Any, match: str, stop: asyncio.Event) -> None:
    """A Python player walking in a square, so the page has someone else to draw."""
    token = await asyncio.to_thread(_token_for, game, match, "bot-1")
    client = await GameClient.connect(game.ws_url, token, decode=False)
    async with client:
        moves = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]
        i = 0
        while not stop.is_set():
            await client.send_input(moves[i % 4], aim=moves[(i + 1) % 4], fire=i % 3 == 0)
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.4)


def _token_for(game: Any, match: str, player: str) -> str:
    import json
    import urllib.parse
    import urllib.request

    q = urllib.parse.urlencode({"match": match, "player": player})
    with urllib.request.urlopen(f"{game.http_url}/token?{q}", timeout=10) as resp:
        return str(json.load(resp)["token"])


async def test_join_move_and_screenshot(game: Any, browser: Any, tmp_path: Path) -> None:
    stop = asyncio.Event()
    other = asyncio.create_task(bot(game, "e2e", stop))
    try:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(game.http_url + "/")
        await page.wait_for_function(
            "window.__tickwire && window.__tickwire.ready", timeout=WAIT_MS
        )
        await page.fill("#match", "e2e")
        await page.fill("#player", "alice")
        await page.click("#play")
        await page.wait_for_function(
            "window.__tickwire.mode === 'playing' && window.__tickwire.own !== null",
            timeout=WAIT_MS,
        )
        await page.focus("#view")
        start = await own(page)

        await hold(page, "d", 700)  # right
        await page.wait_for_function(
            f"window.__tickwire.own.x > {start['x']} + 20", timeout=WAIT_MS
        )
        mid = await own(page)
        await hold(page, "ArrowDown", 700)  # down
        await page.wait_for_function(f"window.__tickwire.own.y > {mid['y']} + 20", timeout=WAIT_MS)

        # Aim with the mouse and fire: the server acknowledges the inputs.
        box = await page.locator("#view").bounding_box()
        assert box is not None
        await page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
        await page.mouse.down()
        await asyncio.sleep(0.3)
        await page.mouse.up()
        seq = await page.evaluate("window.__tickwire.seq")
        await page.wait_for_function(f"window.__tickwire.ack >= {seq}", timeout=WAIT_MS)

        # The bot is drawn too, and the live figures are filled in.
        await page.wait_for_function("window.__tickwire.players >= 2", timeout=WAIT_MS)
        await page.wait_for_function(
            "window.__tickwire.messagesPerSecond > 0 && window.__tickwire.latencyMs !== null",
            timeout=WAIT_MS,
        )
        info = await page.evaluate("window.__tickwire")
        assert info["tickRate"] > 0
        assert info["errors"] == 0
        assert errors == []
        shot = README_SCREENSHOT if os.environ.get("TICKWIRE_SCREENSHOT") else tmp_path / "page.png"
        await page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        stop.set()
        await other


async def test_spectate_sees_players_without_playing(game: Any, browser: Any) -> None:
    stop = asyncio.Event()
    other = asyncio.create_task(bot(game, "watched", stop))
    try:
        page = await browser.new_page()
        await page.goto(game.http_url + "/?match=watched&spectate")
        await page.wait_for_function(
            "window.__tickwire.mode === 'spectating' && window.__tickwire.players >= 1",
            timeout=WAIT_MS,
        )
        await asyncio.sleep(0.5)
        # A spectator sends no inputs.
        assert await page.evaluate("window.__tickwire.seq") == 0
        assert (await page.evaluate("window.__tickwire.player")).startswith("watch-")
    finally:
        stop.set()
        await other


async def test_page_reconnects_and_keeps_playing(game: Any, browser: Any) -> None:
    page = await browser.new_page()
    await page.goto(game.http_url + "/?match=again&player=carol&play")
    await page.wait_for_function(
        "window.__tickwire.mode === 'playing' && window.__tickwire.own !== null",
        timeout=WAIT_MS,
    )
    # The server ends the connection (DeleteConnection; on AWS also the 2-hour limit).
    (cid,) = [
        cid
        for cid, conn in game.gateway.connections.items()
        if (conn.authorizer or {}).get("playerId") == "carol"
    ]
    await game.gateway.delete_connection(cid)
    await page.wait_for_function(
        "window.__tickwire.reconnects === 1 && window.__tickwire.mode === 'playing'",
        timeout=WAIT_MS,
    )
    await page.focus("#view")
    seq = await page.evaluate("window.__tickwire.seq")
    await hold(page, "w", 400)
    await page.wait_for_function(
        f"window.__tickwire.seq > {seq} && window.__tickwire.ack >= window.__tickwire.seq",
        timeout=WAIT_MS,
    )
    assert cid not in game.gateway.connections
