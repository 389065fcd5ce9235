"""Deltas: what a connection needs, given what it was last sent.

``diff(base, cur, table)`` is pure. With no baseline (first send, or a resync after a post
whose outcome is unknown) it returns a full state: every visible entity as adds, plus the
match meta. Otherwise:

- ``removed``: ids in the baseline that are not visible now;
- ``changes``: for ids in both, each column whose value changed, with a bit mask over the
  kept ids in ascending order (omitted when every row changed); position columns carry the
  difference of quantised values in the smallest signed dtype that holds them (int8 for a
  moving entity in steady state: 2 bytes per entity plus 2 mask bits), other columns their
  new value in the frame's own dtype;
- ``adds``: ids visible now and absent from the baseline, with every column.

Applying the result to the baseline with :class:`broadcaster.world.WorldView` gives ``cur``
exactly (tests check this with Hypothesis).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from broadcaster.codec import Block, Change, Update
from broadcaster.views import POSITION_COLUMNS, MatchTable, Snapshot

__all__ = ["diff", "full_state", "smallest_signed"]

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


def _block(snap: Snapshot, rows: Any, table: MatchTable) -> Block:
    vals = snap.values[rows]
    return Block(
        snap.ids[rows],
        {
            name: vals[:, k].astype(dt)
            for k, (name, dt) in enumerate(zip(table.names, table.dtypes, strict=True))
        },
    )


def full_state(cur: Snapshot, table: MatchTable) -> Update:
    return Update(adds=_block(cur, slice(None), table), meta=dict(table.frame.meta))


def diff(base: Snapshot | None, cur: Snapshot, table: MatchTable) -> Update:
    """The update that turns ``base`` into ``cur`` (a full state when ``base`` is None)."""
    if base is None:
        return full_state(cur, table)
    if base.values.shape[1] != cur.values.shape[1]:
        # The rules changed the set of fields: only a full state can say that.
        return full_state(cur, table)
    if base.ids.shape == cur.ids.shape and np.array_equal(base.ids, cur.ids):
        old, new = base.values, cur.values
        removed = adds = None
    else:
        nb = base.ids.shape[0]
        if nb:
            pos = np.minimum(np.searchsorted(base.ids, cur.ids), nb - 1)
            found = base.ids[pos] == cur.ids
        else:
            pos = np.zeros(cur.ids.shape[0], np.intp)
            found = np.zeros(cur.ids.shape[0], np.bool_)
        gone = np.ones(nb, np.bool_)
        gone[pos[found]] = False
        removed = base.ids[gone] if gone.any() else None
        adds = _block(cur, ~found, table) if not found.all() else None
        old, new = base.values[pos[found]], cur.values[found]
    changes: dict[str, Change] = {}
    if old.shape[0]:
        delta = new - old
        changed = delta != 0
        for k in np.flatnonzero(changed.any(axis=0)).tolist():
            name = table.names[k]
            col_changed = changed[:, k]
            mask = None if col_changed.all() else col_changed
            rows: Any = slice(None) if mask is None else mask
            if name in POSITION_COLUMNS:
                values = smallest_signed(delta[rows, k])
            else:
                values = new[rows, k].astype(table.dtypes[k])
            changes[name] = Change(mask, values)
    return Update(adds=adds, removed=removed, changes=changes)
