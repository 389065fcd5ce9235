"""Views and deltas: a WorldView fed the server's messages holds exactly what the player
can see, for any sequence of states, views and frame limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.client_state import WorldView
from broadcaster.codec import Header
from broadcaster.delta import diff, smallest_signed
from broadcaster.errors import ProtocolError
from broadcaster.parts import split_update
from broadcaster.views import MatchTable, Snapshot


@st.composite
def world_states(
    draw: Any, max_entities: int = 60
) -> tuple[list[int], list[float], list[float], list[int]]:
    """A set of entities: unique ids, positions in [-2000, 2000], hp."""
    ids = draw(st.lists(st.integers(0, 5000), unique=True, max_size=max_entities))
    coord = st.floats(-2000, 2000, allow_nan=False, width=32)
    n = len(ids)
    xs = draw(st.lists(coord, min_size=n, max_size=n))
    ys = draw(st.lists(coord, min_size=n, max_size=n))
    hps = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n))
    return ids, xs, ys, hps


def _send(
    world: WorldView,
    base: Snapshot | None,
    cur: Snapshot,
    table: MatchTable,
    limit: int = 32 * 1024,
    tolerance: int = 0,
) -> tuple[list[bytes], Snapshot]:
    header = Header(
        cur.tick,
        0,
        0,
        1,
        base is None,
        False,
        base.tick if base is not None else 0,
        -1,
        table.scale,
    )
    update, baseline = diff(base, cur, table, tolerance)
    msgs = split_update(header, update, limit)
    for m in msgs:
        world.apply(m)
    # the client holds exactly the baseline the server keeps for it ...
    _assert_world_is(world, baseline, table)
    # ... which is the player's view, positions within the tolerance
    np.testing.assert_array_equal(baseline.ids, cur.ids)
    assert np.abs(baseline.values - cur.values).max(initial=0) <= tolerance
    return msgs, baseline


def _assert_world_is(world: WorldView, cur: Snapshot, table: MatchTable) -> None:
    np.testing.assert_array_equal(world.ids, cur.ids)
    got = np.stack([world.columns[n] for n in table.names], axis=1) if cur.size else cur.values
    np.testing.assert_array_equal(got, cur.values)
    assert world.tick == cur.tick


@settings(max_examples=150, deadline=None)
@given(
    states=st.lists(world_states(), min_size=1, max_size=6),
    gaps=st.lists(st.integers(0, 4), min_size=6, max_size=6),
    radius=st.sampled_from([1e9, 300.0, 50.0]),
    limit=st.sampled_from([200, 1000, 32 * 1024]),
    tolerance=st.sampled_from([0, 1, 5]),
)
def test_deltas_rebuild_exactly_what_the_player_sees(
    build: Any, states: list[Any], gaps: list[int], radius: float, limit: int, tolerance: int
) -> None:
    world, base = WorldView(), None
    who = build.player(vx=0.0, vy=0.0)
    tick = 1
    for (ids, xs, ys, hps), gap in zip(states, gaps, strict=False):
        frame = build.frame(tick, ids, xs, ys, hp=hps, radius=radius, players=(who,))
        table = MatchTable.from_frame(frame, 16)
        cur = table.view(who)
        msgs, base = _send(world, base, cur, table, limit, tolerance)
        assert all(len(m) <= limit for m in msgs)
        tick += gap


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 3), st.floats(-40, 40), st.floats(-40, 40), st.booleans()),
        min_size=2,
        max_size=12,
    ),
    tolerance=st.sampled_from([0, 1, 4]),
)
def test_prediction_with_changing_velocities_and_gaps_stays_within_tolerance(
    build: Any, steps: list[tuple[int, float, float, bool]], tolerance: int
) -> None:
    rng = np.random.default_rng(len(steps))
    n = 30
    x, y = rng.uniform(-500, 500, n), rng.uniform(-500, 500, n)
    vx, vy = rng.uniform(-30, 30, n), rng.uniform(-30, 30, n)
    world, base, tick = WorldView(), None, 1
    who = build.player()
    for gap, ax, ay, turn in steps:
        if turn:  # some entities change velocity
            vx[: n // 3] += ax
            vy[: n // 3] += ay
        x, y = x + vx * gap, y + vy * gap
        tick += gap
        table = MatchTable.from_frame(build.frame(tick, np.arange(n), x, y), 16)
        _, base = _send(world, base, table.view(who), table, tolerance=tolerance)


def test_steady_velocity_costs_nothing_after_the_first_delta(build: Any) -> None:
    n = 50
    ids = np.arange(n)
    # velocities and positions on the 1/16 grid: displacements are exact in quanta
    x0, y0 = np.arange(n) * 10.0, np.arange(n) * 5.0 + 100
    v = (np.arange(n) - n // 2) * 0.5625
    world, base = WorldView(), None
    who = build.player()
    sizes = []
    for tick, gap in zip((1, 2, 4, 5, 7, 8), (0, 1, 2, 1, 2, 1), strict=True):
        del gap
        table = MatchTable.from_frame(build.frame(tick, ids, x0 + v * tick, y0 - v * tick), 16)
        msgs, base = _send(world, base, table.view(who), table)
        sizes.append(len(msgs[0]))
    # full state, the delta that learns the velocities, then header-only messages
    # (header 35 bytes + four nils), whatever the tick gap
    assert sizes[2:] == [39] * 4 and sizes[1] > 39
    assert world.tick == 8 and np.allclose(world.x, x0 + v * 8)


def test_own_entity_is_always_visible_and_radius_filters_the_rest(build: Any) -> None:
    me = build.player(entity=5, vx=0.0, vy=0.0)
    frame = build.frame(
        1, [5, 6, 7], [900.0, 10.0, 500.0], [900.0, 0.0, 0.0], radius=100.0, players=(me,)
    )
    snap = MatchTable.from_frame(frame, 16).view(me)
    assert snap.ids.tolist() == [5, 6]


def test_steady_state_moving_entities_cost_about_two_bytes_each(build: Any) -> None:
    rng = np.random.default_rng(7)
    n = 200
    ids = np.arange(n)
    x, y = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    t1 = MatchTable.from_frame(build.frame(1, ids, x, y), 16)
    t2 = MatchTable.from_frame(
        build.frame(2, ids, x + rng.uniform(-5, 5, n), y + rng.uniform(-5, 5, n)), 16
    )
    who = build.player()
    upd, _ = diff(t1.view(who), t2.view(who), t2)
    assert set(upd.changes) == {"xy"} and upd.adds is None and upd.removed is None
    assert upd.changes["xy"].values.dtype == np.int8
    msg = split_update(Header(2, 0, 0, 1, False, False, 1, -1, 16), upd)[0]
    assert len(msg) - 35 <= 2.1 * n  # 35: the fixed header


def test_nothing_changed_gives_an_empty_update(build: Any) -> None:
    frame = build.frame(1, [1, 2], [1.0, 2.0], [3.0, 4.0])
    table = MatchTable.from_frame(frame, 16)
    snap = table.view(build.player())
    assert diff(snap, snap, table)[0].is_empty()


def test_world_rejects_delta_against_another_tick_and_delta_before_full(build: Any) -> None:
    frame1 = build.frame(1, [1], [1.0], [1.0])
    t1 = MatchTable.from_frame(frame1, 16)
    t2 = MatchTable.from_frame(build.frame(2, [1], [2.0], [1.0]), 16)
    delta = split_update(
        Header(2, 0, 0, 1, False, False, 1, -1, 16),
        diff(t1.view(build.player()), t2.view(build.player()), t2)[0],
    )[0]
    with pytest.raises(ProtocolError):
        WorldView().apply(delta)
    world = WorldView()
    world.apply(
        split_update(
            Header(5, 0, 0, 1, True, False, 0, -1, 16), diff(None, t1.view(build.player()), t1)[0]
        )[0]
    )
    with pytest.raises(ProtocolError, match="tick 1, world is at tick 5"):
        world.apply(delta)
    assert world.tick == 5


def test_smallest_signed_picks_the_narrowest_dtype(build: Any) -> None:
    assert smallest_signed(np.array([-128, 127])).dtype == np.int8
    assert smallest_signed(np.array([-129, 1])).dtype == np.int16
    assert smallest_signed(np.array([1 << 20])).dtype == np.int32
    assert smallest_signed(np.array([1 << 40])).dtype == np.int64


def test_entities_dict_gives_world_units(build: Any) -> None:
    frame = build.frame(1, [4], [1.5], [-2.25], hp=[42])
    table = MatchTable.from_frame(frame, 16)
    world = WorldView()
    _send(world, None, table.view(build.player()), table)
    assert world.entities() == {4: {"kind": 1, "x": 1.5, "y": -2.25, "hp": 42}}
    assert world.meta == {"arena": [1000, 1000]}
