"""The page's decoder (``/static/protocol.js``) against the Python reference
(``broadcaster.client_state.WorldView``) on real messages: a recording of what the embedded
stack's broadcaster sent a player while two players moved and fired (adds, removals,
deltas with motion prediction), replayed message by message in Chromium."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from broadcaster.client_state import WorldView
from tickwire.client import GameClient

pytestmark = pytest.mark.browser

WAIT = 30.0


async def record(game: Any) -> list[bytes]:
    seen: list[bytes] = []
    a = await GameClient.connect(
        game.ws_url, game.token("rec", "a"), on_message=lambda c, data: seen.append(data)
    )
    b = await GameClient.connect(game.ws_url, game.token("rec", "b"), decode=False)
    try:
        await a.wait_for(lambda c: len(c.world) >= 2, WAIT)
        moves = [(1.0, 0.0), (0.0, 1.0), (-0.6, -0.8), (0.0, -1.0)]
        for i in range(16):
            await a.send_input(moves[i % 4], aim=moves[(i + 1) % 4], fire=True)
            await b.send_input(moves[(i + 2) % 4], aim=moves[i % 4], fire=i % 2 == 0)
            await asyncio.sleep(0.1)
        await a.wait_for(lambda c: c.ack_seq >= 16, WAIT)
    finally:
        await a.close()
        await b.close()
    return seen


async def test_js_world_matches_python_world(game: Any, browser: Any) -> None:
    messages = await record(game)
    assert len(messages) > 20
    expected = []
    world = WorldView()
    for data in messages:
        world.apply(data)
        expected.append(
            {
                "tick": world.tick,
                "ack": world.ack_seq,
                "self": world.self_id,
                "ents": {str(k): v for k, v in world.entities().items()},
            }
        )
    page = await browser.new_page()
    await page.goto(game.http_url + "/config.json")
    got = await page.evaluate(
        """async (messages) => {
          const protocol = await import('/static/protocol.js');
          const world = new protocol.World();
          const out = [];
          for (const b64 of messages) {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            world.apply(bytes);
            const ents = world.entities();
            const plain = {};
            for (const [id, e] of ents) plain[String(id)] = e;
            out.push({ tick: world.tick, ack: world.ackSeq, self: world.selfId, ents: plain });
          }
          return out;
        }""",
        [base64.b64encode(m).decode() for m in messages],
    )
    kinds = {e["kind"] for step in expected for e in step["ents"].values()}
    assert kinds == {0, 1}, "the recording should hold players and projectiles"
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"message {i} differs"
