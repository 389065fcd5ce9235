"""The batched bodies (full states and deltas) equal the per-player ones, byte for byte."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.batch import diff_match
from broadcaster.codec import encode_update_body
from broadcaster.columns import signed_levels, unsigned_levels
from broadcaster.delta import diff, predict, smallest_signed, smallest_unsigned
from broadcaster.rows import predicted
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
    speed=st.sampled_from([0.0, 0.5, 8.0, 300.0, 40_000.0]),
    churn=st.sampled_from([0.0, 0.2]),
    id_range=st.sampled_from([200, 10_000, 2**32 - 1]),
)
def test_batched_deltas_equal_per_player_deltas(
    build: Any,
    seed: int,
    players: int,
    n: int,
    steps: int,
    tolerance: int,
    speed: float,
    churn: float,
    id_range: int,
) -> None:
    """Every player: same bytes, same baseline, whether it gets a full state or a delta
    whose view is steady, gains or loses entities (radius, churn of ids), or needs wide
    dtypes."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(id_range, size=n, replace=False)
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
        if churn:
            # some entities leave the match and new ones arrive (projectiles)
            leave = np.flatnonzero(rng.random(n) < churn)
            fresh = np.setdiff1d(rng.choice(id_range, size=2 * n + 2, replace=False), ids)
            k = min(leave.shape[0], fresh.shape[0])
            ids[leave[:k]] = rng.permutation(fresh)[:k]
            x[leave[:k]] = rng.uniform(-500, 500, k)
            y[leave[:k]] = rng.uniform(-500, 500, k)
        hp = np.where(rng.random(n) < 0.2, rng.integers(0, 256, n), hp)
        frame = build.frame(tick, ids, x, y, hp=hp, players=slots, radius=radius)
        table = MatchTable.from_frame(frame, 4)
        curs = [table.view(p, i) for i, p in enumerate(slots)]
        # players without a baseline get full states in the same batch
        bodies, baselines = diff_match(table, range(players), bases, tolerance)
        for i in range(players):
            update, baseline = diff(bases[i], curs[i], table, tolerance)
            assert b"\x94" + bodies[i] == encode_update_body(update)
            _same(baselines[i], baseline)
            bases[i] = baseline


def test_no_players_no_work(build: Any) -> None:
    table = MatchTable.from_frame(build.frame(2, [1, 2], [0.0, 1.0], [0.0, 1.0]), 4)
    assert diff_match(table, [], []) == ([], [])


def test_large_views_take_wide_msgpack_headers_and_still_match(build: Any) -> None:
    """20,000 rows per player: u4 ids over 64 KB (bin32), masks over 255 bytes and
    corrections in bin16, hundreds of removals and adds; same bytes as the reference."""
    rng = np.random.default_rng(7)
    n = 20_000
    ids = rng.choice(2**30, size=n, replace=False)
    x, y = rng.uniform(-3000, 3000, n), rng.uniform(-3000, 3000, n)
    slots = (build.player("p0", "c0"), build.player("p1", "c1", vx=2000.0, vy=2000.0))
    bases: list[Snapshot | None] = [None, None]
    wide = 0
    for tick in range(2, 6):
        turned = rng.random(n) < 0.3
        x[turned] += rng.uniform(-40, 40, int(turned.sum()))
        ids[rng.choice(n, 400, replace=False)] = rng.choice(2**30, 400) + 2**30  # churn
        hp = rng.integers(0, 256, n)
        frame = build.frame(tick, ids, x, y, hp=hp, players=slots, radius=3500.0)
        table = MatchTable.from_frame(frame, 4)
        bodies, baselines = diff_match(table, [0, 1], bases, 1)
        for i, slot in enumerate(slots):
            update, baseline = diff(bases[i], table.view(slot, i), table, 1)
            if update.adds is not None and len(update.adds) > 0x10000 // 4:
                wide += 1  # its ids need a bin32
            assert b"\x94" + bodies[i] == encode_update_body(update)
            _same(baselines[i], baseline)
            bases[i] = baseline
    assert wide >= 1


@pytest.mark.parametrize(
    ("gaps", "last_gaps"),
    [
        ([1] * 5, [1] * 5),
        ([2] * 5, [1] * 5),
        ([1] * 5, [2] * 5),
        ([3, 1, 2, 5, 1], [2, 1, 3, 1, 4]),
    ],
)
def test_predicted_displacements_are_the_reference_ones(
    gaps: list[int], last_gaps: list[int]
) -> None:
    """One gap for the batch, or one per player (players merged over different ticks)."""
    rng = np.random.default_rng(3)
    owner = np.repeat(np.arange(5), [3, 0, 4, 2, 1])
    vel = rng.integers(-300, 300, (owner.shape[0], 2))
    got = predicted(vel, np.array(gaps), np.array(last_gaps), owner)
    for j in range(5):
        np.testing.assert_array_equal(
            got[owner == j], predict(vel[owner == j], gaps[j], last_gaps[j])
        )


@pytest.mark.parametrize("fields", [0, 1, 2, 3, 7, 9])
def test_any_number_of_fields_matches_the_reference(build: Any, fields: int) -> None:
    """Changes of the columns after the positions (kind, then the rules' fields) are
    found whatever their number."""
    rng = np.random.default_rng(fields)
    n = 50
    ids = np.arange(1, n + 1)
    x, y = rng.uniform(-100, 100, n), rng.uniform(-100, 100, n)
    values = {f"f{i}": rng.integers(0, 200, n).astype(np.uint8) for i in range(fields)}
    slots = (build.player("p0", "c0"), build.player("p1", "c1", vx=90.0, vy=90.0))
    bases: list[Snapshot | None] = [None, None]
    for tick in range(2, 7):
        x = x + rng.uniform(-5, 5, n)
        for col in values.values():
            flip = rng.random(n) < 0.1
            col[flip] = rng.integers(0, 200, int(flip.sum()))
        frame = dataclasses.replace(
            build.frame(tick, ids, x, y, players=slots, radius=120.0),
            fields={k: v.copy() for k, v in values.items()},
        )
        table = MatchTable.from_frame(frame, 4)
        bodies, baselines = diff_match(table, [0, 1], bases, 0)
        for i, slot in enumerate(slots):
            update, baseline = diff(bases[i], table.view(slot, i), table, 0)
            assert b"\x94" + bodies[i] == encode_update_body(update)
            _same(baselines[i], baseline)
            bases[i] = baseline


_EDGES = [0, 1, 127, 128, 255, 256, 32767, 32768, 65535, 65536, 2**31 - 1, 2**31, 2**32]


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(0, 5), min_size=1, max_size=8),
    data=st.data(),
    pairs=st.booleans(),
)
def test_levels_are_the_per_player_narrowest_dtypes(
    counts: list[int], data: st.DataObject, pairs: bool
) -> None:
    """Every player's level is the dtype smallest_signed / smallest_unsigned picks for its
    values alone (rows x 2 for positions), whatever the range; and the levels listed as
    present are exactly the players' levels (a player without rows at level 0)."""
    rows = sum(counts)
    edge = st.sampled_from([*_EDGES, 2**62])
    signed_value = st.one_of(edge, edge.map(lambda v: -v), edge.map(lambda v: -v - 1))
    signed_value |= st.integers(-(2**63), 2**63 - 1)
    owner = np.repeat(np.arange(len(counts), dtype=np.intp), counts)
    shape = (rows, 2) if pairs else (rows,)
    size = rows * (2 if pairs else 1)
    drawn = data.draw(st.lists(signed_value, min_size=size, max_size=size))
    sv = np.array(drawn, np.int64).reshape(shape)
    levels, present = signed_levels(sv, owner, len(counts))
    for j in range(len(counts)):
        mine = sv[owner == j].reshape(-1)
        assert np.dtype(smallest_signed(mine).dtype).itemsize == 1 << int(levels[j])
    assert present == sorted(set(levels.tolist()))
    uv = np.array(data.draw(st.lists(st.sampled_from(_EDGES), min_size=rows, max_size=rows)))
    ulevels, upresent = unsigned_levels(uv.astype(np.int64), owner, len(counts))
    for j in range(len(counts)):
        mine = uv[owner == j].astype(np.int64)
        assert np.dtype(smallest_unsigned(mine).dtype).itemsize == 1 << int(ulevels[j])
    assert upresent == sorted(set(ulevels.tolist()))
