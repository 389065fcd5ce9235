"""Deltas for many players of one match at once: the steady state, batched.

Most players at most send ticks see the same entities as in the last message they were
delivered. For them :func:`diff_steady` computes exactly what :func:`broadcaster.delta.diff`
computes player by player (tests compare the encoded bytes and the baselines), but with
the NumPy work done once over all their rows concatenated: prediction, errors, threshold
flags, per-player reductions (``reduceat``). What is left per player is slicing and
building the small ``Change`` objects, so the per-player cost is a few NumPy calls
instead of some twenty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from broadcaster.codec import Change, Update
from broadcaster.delta import _thresholds
from broadcaster.views import MatchTable, Snapshot

__all__ = ["diff_steady", "is_steady"]

_SIGNED = (
    (-(2**7), 2**7 - 1, np.int8),
    (-(2**15), 2**15 - 1, np.int16),
    (-(2**31), 2**31 - 1, np.int32),
)


def is_steady(base: Snapshot | None, cur: Snapshot) -> bool:
    """Can ``diff_steady`` take this pair: a baseline with the same ids, columns, rows?"""
    return (
        base is not None
        and cur.ids.shape[0] > 0
        and base.ids.shape[0] == cur.ids.shape[0]
        and base.values.shape[1] == cur.values.shape[1]
        and base.ids.tobytes() == cur.ids.tobytes()
    )


def _signed_dtype(lo: int, hi: int) -> Any:
    for low, high, dt in _SIGNED:
        if low <= lo and hi <= high:
            return dt
    return np.int64


def diff_steady(
    table: MatchTable, pairs: Sequence[tuple[Snapshot, Snapshot]], tolerance: int = 0
) -> list[tuple[Update, Snapshot]]:
    """``[diff(base, cur, table, tolerance) for base, cur in pairs]`` for steady pairs
    (every pair must satisfy :func:`is_steady`)."""
    if not pairs:
        return []
    lens = np.fromiter((c.ids.shape[0] for _, c in pairs), np.intp, len(pairs))
    starts = np.zeros(len(pairs), np.intp)
    np.cumsum(lens[:-1], out=starts[1:])
    old = np.concatenate([b.values for b, _ in pairs])
    new = np.concatenate([c.values for _, c in pairs])
    gaps = [max(c.tick - b.tick, 0) for b, c in pairs]
    if any(b.vel is not None for b, _ in pairs):
        vel = np.concatenate(
            [
                b.vel if b.vel is not None else np.zeros((c.ids.shape[0], 2), np.int64)
                for b, c in pairs
            ]
        )
        g = np.repeat(np.array(gaps, np.int64), lens)[:, None]
        last = np.repeat(np.array([max(b.gap, 1) for b, _ in pairs], np.int64), lens)[:, None]
        pred = old.copy()
        pred[:, :2] += (vel * g) // last
    else:
        pred = old
    error = new - pred
    flags = np.abs(error) > _thresholds(old.shape[1], tolerance)
    counts = np.add.reduceat(flags, starts, axis=0).tolist()  # per player, per column
    off = flags[:, 0] | flags[:, 1]
    n_off = np.add.reduceat(off, starts).tolist()
    landed = np.where(off[:, None], new[:, :2], pred[:, :2])
    moved = landed - old[:, :2]
    moving = np.logical_or.reduceat((moved != 0).any(axis=1), starts).tolist()
    values = new.copy()
    values[:, :2] = landed
    xy = np.where(off[:, None], error[:, :2], 0)
    lo = np.minimum.reduceat(xy.min(axis=1), starts).tolist()
    hi = np.maximum.reduceat(xy.max(axis=1), starts).tolist()
    names, dtypes = table.names, table.dtypes
    out: list[tuple[Update, Snapshot]] = []
    for j, (_, cur) in enumerate(pairs):
        s = int(starts[j])
        n = cur.ids.shape[0]
        e = s + n
        changes: dict[str, Change] = {}
        if n_off[j]:
            dt = _signed_dtype(lo[j], hi[j])
            if n_off[j] == n:
                changes["xy"] = Change(None, error[s:e, :2].reshape(-1).astype(dt))
            else:
                mask = off[s:e]
                changes["xy"] = Change(mask, error[s:e][mask, :2].reshape(-1).astype(dt))
        row = counts[j]
        for k in range(2, len(row)):
            if not row[k]:
                continue
            if row[k] == n:
                changes[names[k]] = Change(None, new[s:e, k].astype(dtypes[k]))
            else:
                col: npt.NDArray[np.bool_] = flags[s:e, k]
                changes[names[k]] = Change(col, new[s:e][col, k].astype(dtypes[k]))
        baseline = Snapshot(
            cur.tick, cur.ids, values[s:e], moved[s:e] if moving[j] else None, max(gaps[j], 1)
        )
        out.append((Update(changes=changes), baseline))
    return out
