"""The rows of a batch: what each player holds, which rows it keeps, how they moved.

The first half of :func:`broadcaster.batch.diff_rows`, for every player of a send tick at
once (rows grouped by player, ids ascending within a player):

- :class:`BatchRows`: the baselines one batch leaves (what each connection holds once its
  message is delivered), as arrays; :func:`baselines_from` takes them as the next batch's
  baselines (the steady state), :func:`baselines_of` concatenates players' baselines;
- :func:`match`: which current rows each player holds already (kept), which it holds
  no longer (gone), which are new (added);
- :func:`predict_motion`: the displacement both sides predict for every kept row, the
  rows whose prediction is off by more than the tolerance, where every row lands;
- :func:`count_rows`: per-player counts of all that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from broadcaster.views import Snapshot

__all__ = [
    "Baselines",
    "BatchRows",
    "BoolArray",
    "Counts",
    "IntArray",
    "Matched",
    "Motion",
    "baselines_from",
    "baselines_of",
    "count_rows",
    "match",
    "predict_motion",
    "predicted",
    "row_items",
    "run_starts",
    "zero_vel",
]

_ZERO_VEL = np.zeros((0, 2), np.int64)

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def zero_vel(n: int) -> npt.NDArray[np.int64]:
    """``n`` rows of zero displacement: a view of one shared array, never written."""
    global _ZERO_VEL
    if _ZERO_VEL.shape[0] < n:
        _ZERO_VEL = np.zeros((max(n, 2 * _ZERO_VEL.shape[0], 64), 2), np.int64)
    return _ZERO_VEL[:n]


class BatchRows(NamedTuple):
    """The baselines one :func:`diff_rows` call made, as arrays (rows grouped by player):
    what the next call needs of them, already gathered; :meth:`baseline` makes one
    player's :class:`Snapshot` when something else needs it."""

    keys: npt.NDArray[np.int64]  # player << 32 | id per row
    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]  # the frame's values (positions: see xy)
    xy: npt.NDArray[np.int64]  # rows x 2, the positions the clients hold
    vel: npt.NDArray[np.int64]  # rows x 2, zeros where a baseline has vel None
    owner: IntArray
    ticks: npt.NDArray[np.int64]  # per player
    gaps: npt.NDArray[np.int64]  # per player, the baseline's gap
    ends: IntArray  # per player, the end of its rows (they start where the last ended)
    moving: IntArray  # per player, nonzero when some displacement is

    @property
    def players(self) -> int:
        return int(self.gaps.shape[0])

    def baseline(self, j: int) -> Snapshot:
        s, e = (int(self.ends[j - 1]) if j else 0), int(self.ends[j])
        vel = self.vel[s:e] if self.moving[j] else None
        values = self.values[s:e].copy()
        values[:, :2] = self.xy[s:e]
        return Snapshot(int(self.ticks[j]), self.ids[s:e], values, vel, int(self.gaps[j]))


# -- 1. baselines ------------------------------------------------------------------------


class Baselines(NamedTuple):
    """The baselines of a batch's players, concatenated (rows grouped by player)."""

    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]
    xy: npt.NDArray[np.int64]  # rows x 2: the positions the clients hold
    vel: npt.NDArray[np.int64]  # rows x 2: their last displacements
    owner: IntArray
    keys: npt.NDArray[np.int64]  # owner << 32 | id, ascending
    gaps: npt.NDArray[np.int64]  # per player: ticks since its baseline (1: a full state)
    last_gaps: npt.NDArray[np.int64]  # per player: the gap its displacements were taken over


def baselines_from(prev: BatchRows, ticks: npt.NDArray[np.int64]) -> Baselines:
    """The steady state: every player holds its row of the last batch."""
    gaps = np.maximum(ticks - prev.ticks, 0)
    return Baselines(
        prev.ids, prev.values, prev.xy, prev.vel, prev.owner, prev.keys, gaps, prev.gaps
    )


def baselines_of(
    bases: Sequence[Snapshot | None], ticks: npt.NDArray[np.int64], ncols: int
) -> Baselines:
    """The players' baselines concatenated; None: no baseline (a full state)."""
    held = [b for b in bases if b is not None]
    counts = [0 if b is None else b.ids.shape[0] for b in bases]
    if not held:
        ids: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
        values: npt.NDArray[np.int64] = np.zeros((0, ncols), np.int64)
        vel = zero_vel(0)
    else:
        ids = np.concatenate([b.ids for b in held]) if len(held) > 1 else held[0].ids
        values = np.concatenate([b.values for b in held])
        vel = np.concatenate(
            [b.vel if b.vel is not None else zero_vel(b.ids.shape[0]) for b in held]
        )
    owner = np.repeat(np.arange(len(bases), dtype=np.intp), counts)
    # a full state's baseline gap is 1 (docs/protocol.md, "Motion prediction")
    base_ticks = np.array([0 if b is None else b.tick for b in bases], np.int64)
    full = np.array([b is None for b in bases], np.bool_)
    gaps = np.where(full, 1, np.maximum(ticks - base_ticks, 0))
    last_gaps = np.array([1 if b is None else max(b.gap, 1) for b in bases], np.int64)
    keys = (owner.astype(np.int64) << 32) | ids.astype(np.int64)
    xy = np.ascontiguousarray(values[:, :2])
    return Baselines(ids, values, xy, vel, owner, keys, gaps, last_gaps)


# -- 2. matching current rows with baseline rows -----------------------------------------


class Matched(NamedTuple):
    found: npt.NDArray[np.bool_]  # per current row: the player holds it already
    kept: IntArray  # the current rows found
    base_rows: IntArray  # their rows in the baselines
    kept_owner: IntArray  # their players
    added_owner: IntArray  # the players of the current rows not found
    gone: npt.NDArray[np.bool_]  # per baseline row: no longer in view


def match(ckey: npt.NDArray[np.int64], bkey: npt.NDArray[np.int64], owner: IntArray) -> Matched:
    """Both key arrays are ascending and unique: one stable sort of the two together (a
    merge of two sorted runs) puts each current row found right after its baseline row."""
    nb, nc = bkey.shape[0], ckey.shape[0]
    both = np.concatenate([bkey, ckey])
    order = np.argsort(both, kind="stable")
    pair = both[order[1:]] == both[order[:-1]]  # (baseline row, current row) pairs
    base_rows = order[:-1][pair]
    kept = order[1:][pair] - nb  # ascending, as the keys are
    found = np.zeros(nc, np.bool_)
    found[kept] = True
    gone = np.ones(nb, np.bool_)
    gone[base_rows] = False
    return Matched(found, kept, base_rows, owner[kept], owner[~found], gone)


def row_items(a: npt.NDArray[np.int64]) -> npt.NDArray[np.void]:
    """An int64 rows x 2 array (C-contiguous) as one 16-byte item per row: indexing rows
    of it is several times faster than indexing rows of the 2-D array."""
    return a.view(np.dtype((np.void, 16))).reshape(-1)


# -- 3. motion prediction ----------------------------------------------------------------


def predicted(
    vel: npt.NDArray[np.int64],
    gaps: npt.NDArray[np.int64],
    last_gaps: npt.NDArray[np.int64],
    owner: IntArray,
) -> npt.NDArray[np.int64]:
    """``floor(vel * gap / last_gap)`` per row (``owner``: the row's player), the
    displacement both sides predict (:func:`broadcaster.delta.predict`)."""
    if np.array_equal(gaps, last_gaps):
        # every player's gap is the one its displacements were taken over
        return vel
    gap, last = int(gaps[0]), int(last_gaps[0])
    if (gaps == gap).all() and (last_gaps == last).all():
        # one gap for the whole batch (its players' baselines are all of one tick): at
        # 30 Hz ticks and 20 Hz sends, gaps of 1 and 2 alternate
        return vel * gap if last == 1 else (vel * gap) // last
    gap_row = np.repeat(gaps[owner], 2)
    last_row = np.repeat(last_gaps[owner], 2)
    return ((vel.reshape(-1) * gap_row) // last_row).reshape(-1, 2)


class Motion(NamedTuple):
    err_xy: npt.NDArray[np.int64]  # kept rows x 2: true - predicted position
    off: npt.NDArray[np.bool_]  # per kept row: off by more than the tolerance (corrected)
    held_xy: npt.NDArray[np.int64]  # every current row x 2: what the client holds after
    vel: npt.NDArray[np.int64]  # every current row x 2: its displacement (0 when new)
    moving: npt.NDArray[np.bool_]  # per kept row: its displacement is not zero


def predict_motion(
    cur_vals: npt.NDArray[np.int64], base: Baselines, m: Matched, tolerance: int
) -> Motion:
    """Both sides move every kept row by its last displacement scaled to the gap; the
    rows off by more than ``tolerance`` are corrected (docs/protocol.md)."""
    # positions as contiguous rows x 2; the other columns are exact, no prediction
    cur_xy = np.ascontiguousarray(cur_vals[:, :2])
    old_xy = np.take(base.xy, m.base_rows, axis=0)
    new_xy = np.take(cur_xy, m.kept, axis=0)
    vel = np.take(base.vel, m.base_rows, axis=0)
    pred_xy = old_xy + predicted(vel, base.gaps, base.last_gaps, m.kept_owner)
    err_xy = new_xy - pred_xy
    flags = np.abs(err_xy) > tolerance
    off = flags[:, 0] | flags[:, 1]
    landed = pred_xy  # the prediction, but where it is off: the true position
    row_items(landed)[off] = row_items(new_xy)[off]
    moved = landed - old_xy
    row_items(cur_xy)[m.kept] = row_items(landed)
    new_vel = np.zeros((cur_vals.shape[0], 2), np.int64)
    row_items(new_vel)[m.kept] = row_items(moved)
    moving = (moved[:, 0] != 0) | (moved[:, 1] != 0)
    return Motion(err_xy, off, cur_xy, new_vel, moving)


# -- 4. per-player counts ---------------------------------------------------------------


class Counts(NamedTuple):
    kept: IntArray  # per player: rows kept from its baseline
    off: IntArray  # per player: rows corrected
    moving: IntArray  # per player: rows with a displacement
    gone: IntArray  # per player: rows removed
    added: IntArray  # per player: rows added
    bit: IntArray  # per kept row: its index among its player's kept rows (mask bit)
    width: int  # the most rows any player kept (mask width)


def count_rows(m: Matched, motion: Motion, base: Baselines, n: int) -> Counts:
    """Per player of the ``n``: rows kept, corrected, moving, gone and added."""
    kept = np.bincount(m.kept_owner, minlength=n)
    kept_start = np.zeros(n, np.intp)
    np.cumsum(kept[:-1], out=kept_start[1:])
    bit = np.arange(m.kept_owner.shape[0], dtype=np.intp) - kept_start[m.kept_owner]
    return Counts(
        kept,
        np.bincount(m.kept_owner[motion.off], minlength=n),
        np.bincount(m.kept_owner[motion.moving], minlength=n),
        np.bincount(base.owner[m.gone], minlength=n),
        np.bincount(m.added_owner, minlength=n),
        bit,
        int(kept.max()) if n else 0,
    )


def run_starts(counts: IntArray) -> IntArray:
    """The first index of each player's run, given the run lengths."""
    return np.cumsum(counts) - counts
