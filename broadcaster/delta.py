"""Deltas, one player at a time: the reference model of a player's update.

The broadcaster computes the updates of a whole send tick at once
(:func:`broadcaster.batch.diff_rows`); this module says the same thing player by player,
and the tests hold the batch to it byte for byte (``diff`` then ``codec.encode``).

``diff(base, cur, table)`` is pure and returns the update and the connection's next
baseline (what the client holds once it applied the update). With no baseline (first
send, or a resync after a post whose outcome is unknown) the update is a full state:
every visible entity as adds, plus the match meta. Otherwise:

- ``removed``: ids in the baseline that are not visible now;
- ``changes``: for ids in both, each column whose value changed, with a bit mask over the
  kept ids in ascending order (omitted when every row changed). Positions are predicted:
  both sides move every kept entity by its last displacement scaled to this message's
  tick gap (``floor(d * gap / last_gap)``), and the ``xy`` change carries only the
  corrections (true - predicted, x and y interleaved) of the entities that are off by
  more than ``tolerance``, in the smallest signed dtype that holds them. An entity moving
  at a steady velocity (a projectile, a player holding its input) costs nothing at all.
  Other columns carry their new value in the frame's own dtype.
- ``adds``: ids visible now and absent from the baseline, with every column (their
  displacement starts at zero).

Applying the update to the baseline with :class:`broadcaster.client_state.WorldView` gives the
returned baseline exactly, which is ``cur`` with positions within ``tolerance`` (exactly
``cur`` at tolerance 0); tests check both with Hypothesis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from broadcaster.codec import Block, Change, Update
from broadcaster.views import POSITION_INDEX, MatchTable, Snapshot

__all__ = ["diff", "full_state", "predict", "smallest_signed", "smallest_unsigned"]

_SIGNED = (np.dtype("i1"), np.dtype("i2"), np.dtype("i4"), np.dtype("i8"))


_SIGNED_BOUNDS = tuple((int(np.iinfo(dt).min), int(np.iinfo(dt).max), dt) for dt in _SIGNED)


def smallest_signed(values: npt.NDArray[np.int64]) -> npt.NDArray[np.integer[Any]]:
    """``values`` in the narrowest signed dtype that holds them all."""
    if values.shape[0] == 0:
        return values.astype(np.int8)
    lo, hi = int(values.min()), int(values.max())
    for low, high, dt in _SIGNED_BOUNDS:
        if low <= lo and hi <= high:
            return values.astype(dt)
    return values


_THRESHOLDS: dict[tuple[int, int], npt.NDArray[np.int64]] = {}


def _thresholds(columns: int, tolerance: int) -> npt.NDArray[np.int64]:
    """Per column, how far a value may be off before it is sent: ``tolerance`` for the
    two position columns, 0 for the others."""
    key = (columns, tolerance)
    thr = _THRESHOLDS.get(key)
    if thr is None:
        thr = np.zeros(columns, np.int64)
        thr[:2] = tolerance
        _THRESHOLDS[key] = thr
    return thr


def predict(vel: npt.NDArray[np.int64], gap: int, last_gap: int) -> npt.NDArray[np.int64]:
    """The displacement both sides expect over ``gap`` ticks (floor division, as in JS's
    ``Math.floor``)."""
    return (vel * gap) // max(last_gap, 1)


def smallest_unsigned(values: npt.NDArray[Any]) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Non-negative ``values`` in the narrowest unsigned dtype that holds them all."""
    top = int(values.max()) if values.shape[0] else 0
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max:
            return values.astype(dt)
    return values.astype(np.uint64)


def _block(snap: Snapshot, rows: Any, table: MatchTable) -> Block:
    vals = snap.values[rows]
    cols = {}
    for k, (name, dt) in enumerate(zip(table.names, table.dtypes, strict=True)):
        # positions in the narrowest dtype (int16 for an arena under 8,192 quanta a side)
        cols[name] = smallest_signed(vals[:, k]) if k in POSITION_INDEX else vals[:, k].astype(dt)
    return Block(smallest_unsigned(snap.ids[rows]), cols)


def full_state(cur: Snapshot, table: MatchTable) -> tuple[Update, Snapshot]:
    baseline = Snapshot(cur.tick, cur.ids, cur.values, None, 1)
    return Update(adds=_block(cur, slice(None), table), meta=dict(table.frame.meta)), baseline


def diff(
    base: Snapshot | None, cur: Snapshot, table: MatchTable, tolerance: int = 0
) -> tuple[Update, Snapshot]:
    """The update that turns ``base`` into ``cur`` (a full state when ``base`` is None),
    and the baseline the connection has once it is delivered.

    ``tolerance`` (quanta): an entity whose predicted position is within it of the true one
    on both axes gets no correction; the client then holds the prediction (the baseline
    records exactly that), so its error never exceeds ``tolerance``. 0: exact.

    This runs once per player per send tick: it keeps the NumPy calls few (the steady
    state, where the player sees the same ids as last time, indexes nothing).
    """
    if base is None or base.values.shape[1] != cur.values.shape[1]:
        # No baseline, or the rules changed the set of fields: only a full state will do.
        return full_state(cur, table)
    n_cur = cur.ids.shape[0]
    same = base.ids.shape[0] == n_cur and base.ids.tobytes() == cur.ids.tobytes()
    if same:
        removed = adds = None
        old, new, base_vel = base.values, cur.values, base.vel
        kept_rows: Any = slice(None)
    else:
        nb = base.ids.shape[0]
        if nb:
            pos = np.minimum(np.searchsorted(base.ids, cur.ids), nb - 1)
            found = base.ids[pos] == cur.ids
        else:
            pos = np.zeros(n_cur, np.intp)
            found = np.zeros(n_cur, np.bool_)
        gone = np.ones(nb, np.bool_)
        base_rows = pos[found]
        gone[base_rows] = False
        removed = base.ids[gone] if gone.any() else None
        adds = _block(cur, ~found, table) if not found.all() else None
        kept_rows = np.flatnonzero(found)
        old, new = base.values[base_rows], cur.values[kept_rows]
        base_vel = None if base.vel is None else base.vel[base_rows]
    gap = max(cur.tick - base.tick, 0)
    values = cur.values
    changes: dict[str, Change] = {}
    vel: npt.NDArray[np.int64] | None = None
    if old.shape[0]:
        # One matrix for every column: position errors against the prediction, and the
        # other columns' differences; then one threshold test (tolerance for positions,
        # any change for the rest).
        if base_vel is None:
            pred = old
        else:
            pred = old.copy()
            pred[:, :2] += (base_vel * gap) // max(base.gap, 1)
        error = new - pred
        flags = np.abs(error) > _thresholds(old.shape[1], tolerance)
        column_changed = flags.any(axis=0).tolist()
        true = new[:, :2]
        if column_changed[0] or column_changed[1]:
            off = flags[:, 0] | flags[:, 1]
            n_off = int(np.count_nonzero(off))
        else:
            off, n_off = None, 0
        if n_off == old.shape[0]:
            changes["xy"] = Change(None, smallest_signed(error[:, :2].reshape(-1)))
            landed = true
        elif n_off:
            changes["xy"] = Change(off, smallest_signed(error[off, :2].reshape(-1)))
            landed = pred[:, :2].copy()
            landed[off] = true[off]
        else:
            landed = pred[:, :2]
        if landed is not true:
            # the client holds the prediction for the rows left uncorrected
            values = cur.values.copy()
            values[kept_rows, :2] = landed
        moved = landed - old[:, :2]
        if same:
            vel = moved
        else:
            vel = np.zeros((n_cur, 2), np.int64)
            vel[kept_rows] = moved
        for k in range(2, len(column_changed)):
            if not column_changed[k]:
                continue
            col_changed = flags[:, k]
            if col_changed.all():
                changes[table.names[k]] = Change(None, new[:, k].astype(table.dtypes[k]))
            else:
                changes[table.names[k]] = Change(
                    col_changed, new[col_changed, k].astype(table.dtypes[k])
                )
    if vel is not None and not vel.any():
        vel = None
    baseline = Snapshot(cur.tick, cur.ids, values, vel, max(gap, 1))
    return Update(adds=adds, removed=removed, changes=changes), baseline
