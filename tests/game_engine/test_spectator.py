"""Spectators: a player id with the spectator prefix watches the whole match."""

from __future__ import annotations

import numpy as np

from game_engine.arena import Arena, ArenaSettings
from game_engine.engine import Engine, EngineSettings
from game_engine.events import Input, Join, Leave


def test_a_spectator_sees_everything_takes_no_slot_and_cannot_act() -> None:
    eng = Engine(Arena(ArenaSettings(max_players=2, view_radius=10.0)))
    eng.submit(Join("m", "a", "c1"))
    eng.submit(Join("m", "watch-1", "c2"))
    eng.submit(Join("m", "b", "c3"))  # the match of 2 still has room: the spectator took none
    for _ in range(3):
        eng.tick()
    assert eng.counters["join.admitted"] == 2
    assert eng.counters["join.spectator"] == 1
    eng.submit(Input("m", "watch-1", "c2", 1, {"move": [1.0, 0.0]}))
    eng.tick()
    assert eng.counters["input.rejected.spectator"] == 1
    frame = eng.frames()[0]
    players = {p.player_id: p for p in frame.players}
    watcher = players["watch-1"]
    assert watcher.spectator and watcher.entity_id == -1
    assert watcher.ack_seq == 1  # refused inputs are still acknowledged
    assert bool(np.all(frame.visible(watcher)))
    # A player with a small view radius does not see everything.
    assert not players["a"].spectator
    assert frame.meta["max_speed"] == ArenaSettings().max_speed


def test_a_match_with_only_spectators_ends_as_empty() -> None:
    eng = Engine(Arena(), EngineSettings(tick_rate=30.0, empty_timeout=0.1))
    eng.submit(Join("m", "a", "c1"))
    eng.submit(Join("m", "watch-1", "c2"))
    eng.tick()
    eng.submit(Leave("m", "a", "c1"))
    ended = []
    for _ in range(10):
        ended.extend(eng.tick().ended)
    assert [mid for mid, _ in ended] == ["m"]
    assert ended[0][1]["reason"] == "empty"
