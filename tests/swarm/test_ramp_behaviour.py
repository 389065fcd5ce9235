"""Ramp schedule and behaviours (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarm.behaviour import Chase, Idle, Wander, make_behaviour
from swarm.bot import encode_input
from swarm.config import SwarmConfig
from swarm.errors import ConfigError
from swarm.ramp import plan_ramp


@given(st.integers(1, 5000), st.floats(0, 60), st.integers(1, 8))
def test_ramp_never_exceeds_the_cap_across_processes(bots: int, ramp: float, procs: int) -> None:
    r = plan_ramp(bots, ramp, 500.0, procs)
    assert len(r.offsets) == bots
    assert r.rate * procs <= 500.0 + 1e-9
    gaps = [b - a for a, b in zip(r.offsets, r.offsets[1:], strict=False)]
    assert all(g >= procs / 500.0 - 1e-9 for g in gaps)


def test_ramp_spreads_over_the_requested_time_when_under_the_cap() -> None:
    r = plan_ramp(100, 10.0, 500.0)
    assert r.rate == 10.0 and r.seconds == pytest.approx(9.9)
    # 2000 bots in 1 s would be 2000/s: stretched to 4 s at 500/s
    assert plan_ramp(2000, 1.0, 500.0).seconds == pytest.approx(1999 / 500)


def test_ramp_rejects_nonsense() -> None:
    with pytest.raises(ConfigError):
        plan_ramp(10, -1, 500)
    with pytest.raises(ConfigError):
        plan_ramp(10, 1, 0)


def test_wander_is_p7s_profile() -> None:
    rng = random.Random(1)
    moves = [Wander().next_input(rng, 0.0) for _ in range(500)]
    assert all(m is not None and -1 <= m.move[0] <= 1 and -1 <= m.move[1] <= 1 for m in moves)
    assert len({m.move for m in moves if m}) == 500  # a fresh direction every input


def test_chase_bots_of_a_match_converge_on_one_waypoint() -> None:
    a = Chase("m1", random.Random(1))
    b = Chase("m1", random.Random(2))
    assert a.waypoint(3.0) == b.waypoint(3.0)
    assert Chase("m2", random.Random(1)).waypoint(3.0) != a.waypoint(3.0)
    fired = False
    for i in range(400):
        t = i * 0.1
        inp = a.next_input(random.Random(0), t)
        assert inp is not None
        assert inp.fire or abs(inp.move[0] ** 2 + inp.move[1] ** 2 - 1) < 1e-6
        fired |= inp.fire
    assert fired  # it reached the waypoint (by dead reckoning) and fired


def test_idle_sends_nothing_and_mix_draws_every_behaviour() -> None:
    assert Idle().next_input(random.Random(), 0.0) is None
    rng = random.Random(5)
    names = {make_behaviour("mix", match="m", rng=rng).name for _ in range(200)}
    assert names == {"wander", "chase", "idle"}
    with pytest.raises(ConfigError):
        make_behaviour("dance", match="m", rng=rng)


def test_input_frame_is_the_contract_json() -> None:
    import json

    body = json.loads(encode_input(7, (0.5, -1.0), (1.0, 0.0), True))
    assert body == {
        "action": "input",
        "seq": 7,
        "move": [0.5, -1.0],
        "aim": [1.0, 0.0],
        "fire": True,
    }


def test_config_assigns_each_bot_a_match_and_process() -> None:
    c = SwarmConfig(url="ws://127.0.0.1:1/x", bots=10, matches=3, duration_s=1, procs=2, secret="s")
    assert sorted([*c.bots_of(0), *c.bots_of(1)]) == list(range(10))
    assert {c.match_of(i) for i in range(10)} == {c.match_of(0), c.match_of(1), c.match_of(2)}
    assert len({c.player_of(i) for i in range(10)}) == 10
    for bad in (
        dict(url="http://x"),
        dict(matches=11),
        dict(secret=None),
        dict(procs=11),
        dict(input_hz=1000),
        dict(behaviour="x"),
        dict(duration_s=0),
    ):
        kw = dict(url="ws://h/s", bots=10, matches=3, duration_s=1.0, secret="s")
        kw.update(bad)
        with pytest.raises(ConfigError):
            SwarmConfig(**kw)  # type: ignore[arg-type]
