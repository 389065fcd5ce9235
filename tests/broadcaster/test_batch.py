"""The batched steady-state deltas equal the per-player ones, byte for byte."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.batch import diff_steady, is_steady
from broadcaster.codec import encode_update_body
from broadcaster.delta import diff
from broadcaster.views import MatchTable, Snapshot


def _same(a: Snapshot, b: Snapshot) -> None:
    assert a.tick == b.tick and a.gap == b.gap
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.values, b.values)
    va = np.zeros((a.ids.shape[0], 2)) if a.vel is None else a.vel
    vb = np.zeros((b.ids.shape[0], 2)) if b.vel is None else b.vel
    np.testing.assert_array_equal(va, vb)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    players=st.integers(1, 8),
    n=st.integers(1, 40),
    steps=st.integers(2, 6),
    tolerance=st.sampled_from([0, 1, 3]),
    speed=st.sampled_from([0.0, 0.5, 8.0, 300.0]),
)
def test_batched_steady_deltas_equal_per_player_deltas(
    build: Any, seed: int, players: int, n: int, steps: int, tolerance: int, speed: float
) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.choice(10_000, size=n, replace=False)
    x, y = rng.uniform(-500, 500, n), rng.uniform(-500, 500, n)
    vx, vy = rng.uniform(-speed, speed, n), rng.uniform(-speed, speed, n)
    hp = rng.integers(0, 256, n)
    slots = tuple(
        build.player(
            f"p{i}", f"c{i}", vx=float(rng.uniform(-500, 500)), vy=float(rng.uniform(-500, 500))
        )
        for i in range(players)
    )
    radius = float(rng.choice([1e9, 400.0]))
    bases: list[Snapshot | None] = [None] * players
    tick = 1
    for _ in range(steps):
        tick += int(rng.integers(1, 4))
        turn = rng.random(n) < 0.4
        vx[turn] = rng.uniform(-speed, speed, int(turn.sum()))
        x, y = x + vx, y + vy
        hp = np.where(rng.random(n) < 0.2, rng.integers(0, 256, n), hp)
        frame = build.frame(tick, ids, x, y, hp=hp, players=slots, radius=radius)
        table = MatchTable.from_frame(frame, 4)
        curs = [table.view(p, i) for i, p in enumerate(slots)]
        steady = [i for i in range(players) if is_steady(bases[i], curs[i])]
        batched = diff_steady(table, [(bases[i], curs[i]) for i in steady], tolerance)  # type: ignore[misc]
        for i in range(players):
            update, baseline = diff(bases[i], curs[i], table, tolerance)
            if i in steady:
                got_update, got_baseline = batched[steady.index(i)]
                assert encode_update_body(got_update) == encode_update_body(update)
                _same(got_baseline, baseline)
            bases[i] = baseline


def test_is_steady_needs_the_same_ids_and_rows(build: Any) -> None:
    frame = build.frame(2, [1, 2], [0.0, 1.0], [0.0, 1.0])
    table = MatchTable.from_frame(frame, 4)
    snap = table.view(build.player())
    assert is_steady(snap, snap)
    assert not is_steady(None, snap)
    other = MatchTable.from_frame(build.frame(2, [1, 3], [0.0, 1.0], [0.0, 1.0]), 4)
    assert not is_steady(snap, other.view(build.player()))
    empty = MatchTable.from_frame(build.frame(2, [], [], []), 4).view(build.player())
    assert not is_steady(empty, empty)
    assert diff_steady(table, []) == []
