"""The views of a whole send tick equal the per-match views, and batched deltas over
them equal the per-player deltas, byte for byte."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.batch import diff_rows
from broadcaster.codec import encode_update_body
from broadcaster.delta import diff
from broadcaster.rows import BatchRows
from broadcaster.tick import signature, tick_views
from broadcaster.views import MatchTable, Snapshot
from game_engine.frame import PlayerSlot


def _frames(
    build: Any, rng: np.random.Generator, tick: int, worlds: list[dict[str, Any]]
) -> list[Any]:
    out = []
    for m, w in enumerate(worlds):
        out.append(
            build.frame(
                tick,
                w["ids"],
                w["x"],
                w["y"],
                hp=w["hp"],
                players=w["slots"],
                radius=w["radius"],
                match_id=f"m{m}",
            )
        )
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    matches=st.integers(1, 5),
    steps=st.integers(2, 5),
    tolerance=st.sampled_from([0, 1]),
)
def test_tick_views_and_batched_deltas_equal_per_match_ones(
    build: Any, seed: int, matches: int, steps: int, tolerance: int
) -> None:
    rng = np.random.default_rng(seed)
    worlds = []
    for m in range(matches):
        n = int(rng.integers(0, 30))
        ids = rng.choice(5_000, size=n, replace=False)
        slots = tuple(
            PlayerSlot(
                f"p{i}",
                f"c{m}-{i}",
                int(ids[i]) if i < n and rng.random() < 0.8 else -1,
                i,
                float(rng.uniform(-300, 300)),
                float(rng.uniform(-300, 300)),
                spectator=bool(rng.random() < 0.15),
            )
            for i in range(int(rng.integers(0, 6)))
        )
        worlds.append(
            {
                "ids": ids,
                "x": rng.uniform(-300, 300, n),
                "y": rng.uniform(-300, 300, n),
                "hp": rng.integers(0, 256, n),
                "slots": slots,
                "radius": float(rng.choice([1e9, 200.0, 0.0])),
            }
        )
    bases: dict[str, Snapshot | None] = {}
    prev: BatchRows | None = None
    from_batch: dict[str, int] = {}  # connection -> its row in the last batch
    reused = 0
    tick = 1
    for _ in range(steps):
        tick += int(rng.integers(1, 3))
        for w in worlds:
            n = w["ids"].shape[0]
            w["x"] = w["x"] + rng.uniform(-30, 30, n)
            w["y"] = w["y"] + rng.uniform(-30, 30, n)
            w["hp"] = np.where(rng.random(n) < 0.1, rng.integers(0, 256, n), w["hp"])
        frames = _frames(build, rng, tick, worlds)
        assert len({signature(f) for f in frames}) == 1
        listed = [(fi, s) for fi, f in enumerate(frames) for s in f.players]
        views = tick_views(frames, [fi for fi, _ in listed], [s for _, s in listed], 4)
        assert sum(views.counts) == views.ids.shape[0]
        at = 0
        expected = []
        for (fi, slot), n_rows in zip(listed, views.counts, strict=True):
            table = MatchTable.from_frame(frames[fi], 4)
            view = table.view(slot)
            np.testing.assert_array_equal(views.ids[at : at + n_rows], view.ids)
            np.testing.assert_array_equal(views.values[at : at + n_rows], view.values)
            assert views.names == table.names
            at += n_rows
            expected.append(diff(bases.get(slot.connection_id), view, table, tolerance))
        have = [j for j, (_, s) in enumerate(listed) if bases.get(s.connection_id) is not None]
        if have:
            sub = np.isin(views.owner, have)
            remap = np.full(len(listed), -1, np.intp)
            remap[have] = np.arange(len(have))
            cids = [listed[j][1].connection_id for j in have]
            given_bases: list[Snapshot] | None = [bases[c] for c in cids]  # type: ignore[misc]
            if (
                prev is not None
                and prev.players == len(have)
                and [from_batch.get(c) for c in cids] == list(range(len(have)))
            ):
                given_bases = None  # the steady state: the last batch's baselines
                reused += 1
            bodies, prev = diff_rows(
                remap[views.owner[sub]],
                [views.counts[j] for j in have],
                views.ids[sub],
                views.values[sub],
                given_bases,
                [views.ticks[j] for j in have],
                views.names,
                views.dtypes,
                tolerance,
                prev,
            )
            baselines = [prev.baseline(k) for k in range(prev.players)]
            from_batch = {c: k for k, c in enumerate(cids)}
            for j, body, baseline in zip(have, bodies, baselines, strict=True):
                update, want = expected[j]
                assert b"\x94" + body == encode_update_body(update)
                np.testing.assert_array_equal(baseline.values, want.values)
                np.testing.assert_array_equal(baseline.ids, want.ids)
                assert baseline.tick == want.tick and baseline.gap == want.gap
                assert (baseline.vel is None) == (want.vel is None)
                if want.vel is not None:
                    np.testing.assert_array_equal(baseline.vel, want.vel)
                expected[j] = (update, baseline)  # next step: the batch's own baseline
        for (_, slot), (_, baseline) in zip(listed, expected, strict=True):
            bases[slot.connection_id] = baseline
    # from the third step on, every listed player holds the last batch's baseline
    assert reused >= 1 or steps < 3 or not any(w["slots"] for w in worlds)


def test_reserved_field_names_are_refused(build: Any) -> None:
    frame = build.frame(1, [1], [0.0], [0.0])
    bad = frame.__class__(
        **{**{k: getattr(frame, k) for k in frame.__slots__}, "fields": {"x": frame.fields["hp"]}}
    )
    with pytest.raises(ValueError, match="reserved"):
        signature(bad)
