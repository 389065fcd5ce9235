"""Deltas: what a connection needs, given what it was last sent.

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

Applying the update to the baseline with :class:`broadcaster.world.WorldView` gives the
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


def smallest_signed(values: npt.NDArray[np.int64]) -> npt.NDArray[np.integer[Any]]:
    """``values`` in the narrowest signed dtype that holds them all."""
    if values.shape[0] == 0:
        return values.astype(np.int8)
    lo, hi = int(values.min()), int(values.max())
    for dt in _SIGNED:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return values.astype(dt)
    return values


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
    """
    if base is None or base.values.shape[1] != cur.values.shape[1]:
        # No baseline, or the rules changed the set of fields: only a full state will do.
        return full_state(cur, table)
    n_cur = cur.ids.shape[0]
    if base.ids.shape == cur.ids.shape and np.array_equal(base.ids, cur.ids):
        base_rows: Any = slice(None)
        kept: Any = slice(None)
        removed = adds = None
        n_kept = n_cur
    else:
        nb = base.ids.shape[0]
        if nb:
            pos = np.minimum(np.searchsorted(base.ids, cur.ids), nb - 1)
            found = base.ids[pos] == cur.ids
        else:
            pos = np.zeros(n_cur, np.intp)
            found = np.zeros(n_cur, np.bool_)
        gone = np.ones(nb, np.bool_)
        gone[pos[found]] = False
        removed = base.ids[gone] if gone.any() else None
        adds = _block(cur, ~found, table) if not found.all() else None
        base_rows, kept = pos[found], found
        n_kept = int(np.count_nonzero(found))
    gap = max(cur.tick - base.tick, 0)
    vel = np.zeros((n_cur, 2), np.int64)
    values = cur.values
    changes: dict[str, Change] = {}
    if n_kept:
        old, new = base.values[base_rows], cur.values[kept]
        pos_cols = list(POSITION_INDEX)
        held = old[:, pos_cols]  # what the client holds
        predicted = held if base.vel is None else held + predict(base.vel[base_rows], gap, base.gap)
        error = new[:, pos_cols] - predicted
        off = (np.abs(error) > tolerance).any(axis=1)
        if off.any():
            changes["xy"] = Change(
                None if off.all() else off, smallest_signed(error[off].reshape(-1))
            )
        landed = predicted.copy()
        landed[off] = new[off][:, pos_cols]
        vel[kept] = landed - held
        if tolerance and not off.all():
            values = cur.values.copy()
            rows = np.flatnonzero(kept) if not isinstance(kept, slice) else np.arange(n_cur)
            values[rows[:, None], pos_cols] = landed
        others = [k for k in range(new.shape[1]) if k not in POSITION_INDEX]
        changed = new[:, others] != old[:, others]
        for j in np.flatnonzero(changed.any(axis=0)).tolist():
            k = others[j]
            col_changed = changed[:, j]
            mask = None if col_changed.all() else col_changed
            sel: Any = slice(None) if mask is None else mask
            changes[table.names[k]] = Change(mask, new[sel, k].astype(table.dtypes[k]))
    baseline = Snapshot(cur.tick, cur.ids, values, vel if vel.any() else None, max(gap, 1))
    return Update(adds=adds, removed=removed, changes=changes), baseline
