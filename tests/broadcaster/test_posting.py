"""Every outcome of a post (delivered, 410, 413, 429, 403, unknown, a broken Connections),
posted inline (eager connections) and in tasks: what the client then holds, what the
broadcaster counts, and which phase the connection is in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from broadcaster.client_state import WorldView
from broadcaster.codec import Header, peek_header
from broadcaster.connection import Phase
from broadcaster.errors import (
    ConnectionGone,
    Forbidden,
    PayloadTooLarge,
    PostError,
    PostFailed,
    Throttled,
)
from broadcaster.fanout import Broadcaster, BroadcastSettings
from broadcaster.views import MatchTable


class Wire:
    """Connections whose delivered messages are applied to a WorldView per connection (the
    reference decoder); the chosen posts are answered with an error instead of delivered.
    ``answers[(connection, n)]`` makes the n-th post to that connection (1-based) fail."""

    def __init__(self, answers: dict[tuple[str, int], Callable[[str], Any]]):
        self.answers = answers
        self.posts: dict[str, int] = defaultdict(int)
        self.worlds: dict[str, WorldView] = defaultdict(WorldView)
        self.headers: dict[str, list[Header]] = defaultdict(list)

    async def post(self, connection_id: str, data: bytes) -> None:
        self.deliver(connection_id, data)

    def deliver(self, connection_id: str, data: bytes) -> None:
        self.posts[connection_id] += 1
        answer = self.answers.get((connection_id, self.posts[connection_id]))
        if answer is not None:
            raise answer(connection_id)
        self.headers[connection_id].append(peek_header(data))
        self.worlds[connection_id].apply(data)

    async def close(self) -> None:
        return None


class InlineWire(Wire):
    """Wire with a synchronous ``post_now``: the broadcaster posts inline (as with the
    in-process gateway and the engine link)."""

    def post_now(self, connection_id: str, data: bytes) -> None:
        self.deliver(connection_id, data)


def _frames(build: Any, ticks: int) -> list[Any]:
    rng = np.random.default_rng(5)
    ids = np.arange(1, 21)
    x, y = rng.uniform(0, 300, 20), rng.uniform(0, 300, 20)
    out = []
    for tick in range(1, ticks + 1):
        x, y = x + rng.uniform(-9, 9, 20), y + rng.uniform(-9, 9, 20)
        slots = (build.player("pa", "a", entity=1, ack=tick), build.player("pb", "b", entity=2))
        out.append(build.frame(tick, ids, x, y, players=slots, hp=rng.integers(90, 101, 20)))
    return out


def _broken(connection_id: str) -> Exception:
    return RuntimeError("a bug in a Connections implementation")


async def _run(
    build: Any, eager: bool, answer: Callable[[str], Any] | None, ticks: int = 6
) -> tuple[Broadcaster, Wire, list[tuple[str, str, str]], list[Any]]:
    """Six send ticks to players a and b; a's 3rd post gets ``answer``."""
    wire = (InlineWire if eager else Wire)({} if answer is None else {("a", 3): answer})
    gone: list[tuple[str, str, str]] = []
    settings = BroadcastSettings(backoff_base_s=0.0)  # no wait before the next tick
    bc = Broadcaster(wire, settings, on_gone=lambda *ids: gone.append(ids))
    await bc.start()
    frames = _frames(build, ticks)
    try:
        for frame in frames:
            bc.publish([frame])
            assert await bc.drain(10)
    finally:
        await bc.stop()
    return bc, wire, gone, frames


def _assert_exact(wire: Wire, cid: str, frame: Any, bc: Broadcaster) -> None:
    table = MatchTable.from_frame(frame, bc.settings.position_scale)
    slot = next(s for s in frame.players if s.connection_id == cid)
    view = table.view(slot)
    world = wire.worlds[cid]
    assert world.tick == frame.tick
    np.testing.assert_array_equal(world.ids, view.ids)
    got = np.stack([world.columns[k] for k in table.names], axis=1)
    assert np.abs(got - view.values).max() <= bc.settings.position_tolerance


modes = pytest.mark.parametrize("eager", [True, False], ids=["inline", "task"])


@modes
async def test_delivered_posts_give_a_full_state_then_deltas(build: Any, eager: bool) -> None:
    bc, wire, gone, frames = await _run(build, eager, None)
    for cid in ("a", "b"):
        assert [h.full for h in wire.headers[cid]] == [True] + [False] * 5
        _assert_exact(wire, cid, frames[-1], bc)
        assert bc._conns[cid].phase is Phase.LIVE
    assert bc.stats.sent == bc.stats.messages == 12 and bc.stats.full_states == 2
    assert bc.stats.latency.count == 12 and not gone and bc.stats.errors == 0


@modes
async def test_410_forgets_the_connection_and_reports_it_once(build: Any, eager: bool) -> None:
    bc, wire, gone, frames = await _run(build, eager, ConnectionGone)
    assert gone == [("m1", "pa", "a")]
    assert wire.posts["a"] == 3  # never posted again though the frames still list it
    assert "a" not in bc._conns and "a" not in bc.stats.players and bc.stats.gone == 1
    assert len(wire.headers["b"]) == 6
    _assert_exact(wire, "b", frames[-1], bc)


@modes
async def test_429_is_not_delivered_and_the_next_delta_covers_it(build: Any, eager: bool) -> None:
    bc, wire, _, frames = await _run(build, eager, Throttled)
    heads = wire.headers["a"]
    assert [h.tick for h in heads] == [1, 2, 4, 5, 6]
    assert [h.full for h in heads] == [True, False, False, False, False]
    assert heads[2].base_tick == 2  # against what was delivered, not what was posted
    assert bc.stats.throttled == 1 and bc.stats.players["a"].throttled == 1
    assert bc.stats.errors == 0 and bc._conns["a"].phase is Phase.LIVE
    _assert_exact(wire, "a", frames[-1], bc)


@modes
@pytest.mark.parametrize("answer", [PayloadTooLarge, Forbidden, PostFailed, _broken])
async def test_other_failures_resync_with_a_full_state(
    build: Any, eager: bool, answer: Callable[[str], PostError]
) -> None:
    bc, wire, gone, frames = await _run(build, eager, answer)
    heads = wire.headers["a"]
    assert [h.tick for h in heads] == [1, 2, 4, 5, 6]
    assert [h.full for h in heads] == [True, False, True, False, False]
    assert bc.stats.errors == 1 and bc.stats.players["a"].errors == 1
    assert bc.stats.full_states == 3 and not gone
    assert bc._conns["a"].phase is Phase.LIVE
    _assert_exact(wire, "a", frames[-1], bc)
    _assert_exact(wire, "b", frames[-1], bc)
