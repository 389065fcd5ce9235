"""The message bodies of many players at once: deltas, and full states as deltas from nothing.

:func:`diff_rows` computes, for every player of a send tick, exactly what
:func:`broadcaster.delta.diff` followed by :func:`broadcaster.codec.encode` computes player
by player (the reference model; tests compare the bytes and the baselines), with the NumPy
work done once over all the players' rows concatenated. A player without a baseline gets a
full state: every row it sees as adds, and the match meta.

1. baselines: the arrays the last batch left (the steady state), or the players'
   baselines concatenated (:func:`_baselines_from`, :func:`_baselines_of`);
2. matching: each row keyed by ``player << 32 | id`` (both sides ascending), one
   ``searchsorted`` for all players (:func:`_match`);
3. prediction, errors, threshold flags, landed positions and displacements for every kept
   row at once (:func:`_predict`); per-player counts by ``bincount`` (:func:`_count`);
4. the wire bytes of corrections, other columns' changes, removals and adds, once per
   batch (:func:`_corrections`, :func:`_column_changes`, :func:`_adds`), with the masks of
   all players packed at once;
5. per player, slices of those bytes (:func:`_bodies`): in one NumPy buffer for the players
   that have nothing but corrections to say, a few concatenations for the others.

The players' next baselines stay in the arrays of a :class:`BatchRows`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from broadcaster.columns import (
    KEY_ID,
    KEY_XY,
    NIL,
    SIGNED_DTYPES,
    SIGNED_KEYS,
    UNSIGNED_DTYPES,
    UNSIGNED_KEYS,
    bin_of,
    encode_levels,
    map_head,
    masks,
    pack,
    signed_levels,
    unsigned_levels,
    wire_code,
    xy_bodies,
)
from broadcaster.views import MatchTable, Snapshot

__all__ = ["BatchRows", "diff_match", "diff_rows"]

_QUIET = NIL * 4  # no adds, removals, changes or meta
_ZERO_VEL = np.zeros((0, 2), np.int64)

IntArray = npt.NDArray[np.intp]


def _zero_vel(n: int) -> npt.NDArray[np.int64]:
    global _ZERO_VEL
    if _ZERO_VEL.shape[0] < n:
        _ZERO_VEL = np.zeros((max(n, 2 * _ZERO_VEL.shape[0], 64), 2), np.int64)
    return _ZERO_VEL[:n]


def _starts(counts: npt.NDArray[np.intp]) -> list[int]:
    """The first index of each player's run, given the run lengths."""
    return (np.cumsum(counts) - counts).tolist()  # type: ignore[no-any-return]


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
    tick_list: list[int]  # the same, as ints
    gaps: list[int]  # per player, the baseline's gap
    starts: list[int]  # per player, its first row
    ends: list[int]
    moving: list[int]  # per player, nonzero when some displacement is

    @property
    def players(self) -> int:
        return len(self.gaps)

    def baseline(self, j: int) -> Snapshot:
        s, e = self.starts[j], self.ends[j]
        vel = self.vel[s:e] if self.moving[j] else None
        values = self.values[s:e].copy()
        values[:, :2] = self.xy[s:e]
        return Snapshot(self.tick_list[j], self.ids[s:e], values, vel, self.gaps[j])


# -- 1. baselines ------------------------------------------------------------------------


class _Baselines(NamedTuple):
    """The baselines of a batch's players, concatenated (rows grouped by player)."""

    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]
    xy: npt.NDArray[np.int64]  # rows x 2: the positions the clients hold
    vel: npt.NDArray[np.int64]  # rows x 2: their last displacements
    owner: IntArray
    keys: npt.NDArray[np.int64]  # owner << 32 | id, ascending
    gaps: list[int]  # per player: ticks since its baseline (1 for a full state)
    last_gaps: list[int]  # per player: the gap its displacements were measured over


def _baselines_from(prev: BatchRows, ticks: npt.NDArray[np.int64]) -> _Baselines:
    """The steady state: every player holds its row of the last batch."""
    gaps = np.maximum(ticks - prev.ticks, 0).tolist()
    return _Baselines(
        prev.ids, prev.values, prev.xy, prev.vel, prev.owner, prev.keys, gaps, prev.gaps
    )


def _baselines_of(bases: Sequence[Snapshot | None], ticks: list[int], ncols: int) -> _Baselines:
    """The players' baselines concatenated; None: no baseline (a full state)."""
    held = [b for b in bases if b is not None]
    counts = [0 if b is None else b.ids.shape[0] for b in bases]
    if not held:
        ids: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
        values: npt.NDArray[np.int64] = np.zeros((0, ncols), np.int64)
        vel = _zero_vel(0)
    else:
        ids = np.concatenate([b.ids for b in held]) if len(held) > 1 else held[0].ids
        values = np.concatenate([b.values for b in held])
        vel = np.concatenate(
            [b.vel if b.vel is not None else _zero_vel(b.ids.shape[0]) for b in held]
        )
    owner = np.repeat(np.arange(len(bases), dtype=np.intp), counts)
    # a full state's baseline gap is 1 (docs/protocol.md, "Motion prediction")
    gaps = [1 if b is None else max(t - b.tick, 0) for t, b in zip(ticks, bases, strict=True)]
    last_gaps = [1 if b is None else max(b.gap, 1) for b in bases]
    keys = (owner.astype(np.int64) << 32) | ids.astype(np.int64)
    xy = np.ascontiguousarray(values[:, :2])
    return _Baselines(ids, values, xy, vel, owner, keys, gaps, last_gaps)


# -- 2. matching current rows with baseline rows -----------------------------------------


class _Matched(NamedTuple):
    found: npt.NDArray[np.bool_]  # per current row: the player holds it already
    kept: IntArray  # the current rows found
    base_rows: IntArray  # their rows in the baselines
    kept_owner: IntArray  # their players
    added_owner: IntArray  # the players of the current rows not found
    gone: npt.NDArray[np.bool_]  # per baseline row: no longer in view


def _match(ckey: npt.NDArray[np.int64], bkey: npt.NDArray[np.int64], owner: IntArray) -> _Matched:
    nb = bkey.shape[0]
    if nb:
        pos = np.searchsorted(bkey, ckey)
        np.minimum(pos, nb - 1, out=pos)
        found = bkey[pos] == ckey
    else:
        pos = np.zeros(ckey.shape[0], np.intp)
        found = np.zeros(ckey.shape[0], np.bool_)
    kept = np.flatnonzero(found)
    base_rows = pos[kept]
    gone = np.ones(nb, np.bool_)
    gone[base_rows] = False
    return _Matched(found, kept, base_rows, owner[kept], owner[~found], gone)


# -- 3. motion prediction ----------------------------------------------------------------


class _Motion(NamedTuple):
    err_xy: npt.NDArray[np.int64]  # kept rows x 2: true - predicted position
    off: npt.NDArray[np.bool_]  # per kept row: off by more than the tolerance (corrected)
    held_xy: npt.NDArray[np.int64]  # every current row x 2: what the client holds after
    vel: npt.NDArray[np.int64]  # every current row x 2: its displacement (0 when new)
    moving: npt.NDArray[np.bool_]  # per kept row: its displacement is not zero


def _predict(
    cur_vals: npt.NDArray[np.int64], base: _Baselines, m: _Matched, tolerance: int
) -> _Motion:
    """Both sides move every kept row by its last displacement scaled to the gap; the
    rows off by more than ``tolerance`` are corrected (docs/protocol.md)."""
    # positions as contiguous rows x 2; the other columns are exact, no prediction
    cur_xy = np.ascontiguousarray(cur_vals[:, :2])
    old_xy = base.xy[m.base_rows]
    new_xy = cur_xy[m.kept]
    vel = base.vel[m.base_rows]
    if base.gaps == base.last_gaps:
        # the common case: every player's gap is the one its displacements were taken
        # over, so the prediction is the displacement itself (floor(d * g / g) = d)
        pred_xy = old_xy + vel
    else:
        gap_row = np.asarray(base.gaps, np.int64)[m.kept_owner][:, None]
        last_row = np.asarray(base.last_gaps, np.int64)[m.kept_owner][:, None]
        pred_xy = old_xy + (vel * gap_row) // last_row
    err_xy = new_xy - pred_xy
    flags = np.abs(err_xy) > tolerance
    off = flags[:, 0] | flags[:, 1]
    landed = np.where(off[:, None], new_xy, pred_xy)
    moved = landed - old_xy
    cur_xy[m.kept] = landed
    new_vel = np.zeros((cur_vals.shape[0], 2), np.int64)
    new_vel[m.kept] = moved
    moving = (moved[:, 0] != 0) | (moved[:, 1] != 0)
    return _Motion(err_xy, off, cur_xy, new_vel, moving)


# -- per-player counts -------------------------------------------------------------------


class _Counts(NamedTuple):
    kept: IntArray  # per player: rows kept from its baseline
    kept_list: list[int]
    off: IntArray  # per player: rows corrected
    off_list: list[int]
    moving: list[int]  # per player: rows with a displacement
    gone: list[int]  # per player: rows removed
    added: list[int]  # per player: rows added
    bit: IntArray  # per kept row: its index among its player's kept rows (mask bit)
    width: int  # the most rows any player kept (mask width)


def _count(m: _Matched, motion: _Motion, base: _Baselines, n: int) -> _Counts:
    kept = np.bincount(m.kept_owner, minlength=n)
    off = np.bincount(m.kept_owner[motion.off], minlength=n)
    kept_start = np.zeros(n, np.intp)
    np.cumsum(kept[:-1], out=kept_start[1:])
    bit = np.arange(m.kept_owner.shape[0], dtype=np.intp) - kept_start[m.kept_owner]
    kept_list = kept.tolist()
    return _Counts(
        kept,
        kept_list,
        off,
        off.tolist(),
        np.bincount(m.kept_owner[motion.moving], minlength=n).tolist(),
        np.bincount(base.owner[m.gone], minlength=n).tolist(),
        np.bincount(m.added_owner, minlength=n).tolist(),
        bit,
        max(kept_list) if kept_list else 0,
    )


# -- 4. the wire bytes of each part of the bodies ----------------------------------------


class _Corrections(NamedTuple):
    """The ``xy`` changes: every corrected row's error, in each dtype some player needs."""

    levels: list[int]  # per player: index into SIGNED_DTYPES
    data: list[bytes]  # by level: the errors of every corrected row, x and y interleaved
    start: list[int]  # per player: its first corrected row
    masks: bytes  # per player, ``stride`` bytes (only when some player has a partial mask)
    stride: int


def _corrections(m: _Matched, motion: _Motion, c: _Counts, n: int) -> _Corrections | None:
    if not any(c.off_list):
        return None
    sent = motion.err_xy[motion.off]
    levels = signed_levels(sent, m.kept_owner[motion.off], n)
    data = encode_levels(sent.reshape(-1), levels, SIGNED_DTYPES)
    partial = bool(np.any((c.off > 0) & (c.off < c.kept)))
    mask_bytes, stride = masks(motion.off, c.bit, m.kept_owner, n, c.width) if partial else (b"", 0)
    return _Corrections(levels, data, _starts(c.off), mask_bytes, stride)


class _ColumnChange(NamedTuple):
    """New values of one other column, for the kept rows where it changed."""

    key: bytes  # msgpack of the name, then the array marker of [mask, dtype, values]
    counts: list[int]  # per player: rows changed
    start: list[int]  # per player: its first changed row in ``raw``
    code: bytes  # msgpack of the dtype code
    raw: bytes
    itemsize: int
    masks: bytes
    stride: int


def _column_changes(
    other: npt.NDArray[np.bool_],
    new_rest: npt.NDArray[np.int64],
    m: _Matched,
    c: _Counts,
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
) -> list[_ColumnChange]:
    """``other``: kept rows x the columns after the positions, True where changed."""
    n = len(c.kept_list)
    out: list[_ColumnChange] = []
    for col in np.flatnonzero(other.any(axis=0)).tolist():
        k = col + 2
        sel = other[:, col]
        counts = np.bincount(m.kept_owner[sel], minlength=n)
        dt = dtypes[k]
        raw = new_rest[sel, col].astype(dt.newbyteorder("<")).tobytes()
        mask_bytes, stride = masks(sel, c.bit, m.kept_owner, n, c.width)
        key = pack(names[k]) + b"\x93"
        out.append(
            _ColumnChange(
                key,
                counts.tolist(),
                _starts(counts),
                pack(wire_code(dt)),
                raw,
                dt.itemsize,
                mask_bytes,
                stride,
            )
        )
    return out


class _Adds(NamedTuple):
    """Every column of the rows new to a player's view."""

    head: bytes  # the map header: id and every column
    start: list[int]  # per player: its first added row
    id_levels: list[int]  # per player: index into UNSIGNED_DTYPES
    id_data: list[bytes]  # by level
    positions: list[tuple[bytes, list[int], list[bytes]]]  # x, y: key, levels, data
    rest: list[tuple[bytes, bytes, int, bytes]]  # the others: key, code, itemsize, raw


def _adds(
    cur_ids: npt.NDArray[np.uint32],
    cur_vals: npt.NDArray[np.int64],
    m: _Matched,
    c: _Counts,
    layout: tuple[tuple[str, ...], tuple[np.dtype[Any], ...]],
) -> _Adds | None:
    """``layout``: the column names and their wire dtypes."""
    if not any(c.added):
        return None
    names, dtypes = layout
    n = len(c.added)
    new = ~m.found
    add_owner = m.added_owner
    ids = cur_ids[new].astype(np.int64)
    vals = cur_vals[new]
    id_levels = unsigned_levels(ids, add_owner, n)
    # positions: per player the narrowest signed dtype; the rest: the frame's dtype
    positions = []
    for k in (0, 1):
        levels = signed_levels(vals[:, k], add_owner, n)
        positions.append(
            (pack(names[k]) + b"\x92", levels, encode_levels(vals[:, k], levels, SIGNED_DTYPES))
        )
    rest = []
    for k in range(2, vals.shape[1]):
        dt = dtypes[k]
        raw = vals[:, k].astype(dt.newbyteorder("<")).tobytes()
        rest.append((pack(names[k]) + b"\x92", pack(wire_code(dt)), dt.itemsize, raw))
    return _Adds(
        map_head(1 + vals.shape[1]),
        _starts(np.asarray(c.added, np.intp)),
        id_levels,
        encode_levels(ids, id_levels, UNSIGNED_DTYPES),
        positions,
        rest,
    )


# -- 5. per player: the body from slices of those bytes ----------------------------------


def _xy_change(j: int, xy: _Corrections, off: int, kept: int) -> bytes:
    """``"xy": [mask, dtype, corrections]`` of player ``j`` (``off`` rows corrected)."""
    lv = xy.levels[j]
    size = 2 << lv
    at = xy.start[j]
    data = xy.data[lv][at * size : (at + off) * size]
    if off == kept:
        mask = NIL
    else:
        mask = bin_of(xy.masks[j * xy.stride : j * xy.stride + (kept + 7) // 8])
    return KEY_XY + mask + SIGNED_KEYS[lv] + bin_of(data)


def _column_change(j: int, ch: _ColumnChange, kept: int) -> bytes:
    """``name: [mask, dtype, values]`` of player ``j`` (some of its rows changed)."""
    rows = ch.counts[j]
    at, isz = ch.start[j], ch.itemsize
    if rows == kept:
        mask = NIL
    else:
        mask = bin_of(ch.masks[j * ch.stride : j * ch.stride + (kept + 7) // 8])
    return ch.key + mask + ch.code + bin_of(ch.raw[at * isz : (at + rows) * isz])


def _added(j: int, adds: _Adds, rows: int) -> bytes:
    """The column block of player ``j``'s ``rows`` added rows."""
    at = adds.start[j]
    il = adds.id_levels[j]
    isz = 1 << il
    cols = [
        adds.head,
        KEY_ID,
        UNSIGNED_KEYS[il],
        bin_of(adds.id_data[il][at * isz : (at + rows) * isz]),
    ]
    for key, levels, data in adds.positions:
        lv = levels[j]
        isz = 1 << lv
        cols += (key, SIGNED_KEYS[lv], bin_of(data[lv][at * isz : (at + rows) * isz]))
    for key, code, isz, raw in adds.rest:
        cols += (key, code, bin_of(raw[at * isz : (at + rows) * isz]))
    return b"".join(cols)


class _Parts(NamedTuple):
    """Everything :func:`_bodies` slices, per batch."""

    counts: _Counts
    xy: _Corrections | None
    columns: list[_ColumnChange]
    column_rows: list[int]  # per player: kept rows with some other column changed
    removed: bytes  # the ids removed, every player's, as little-endian u32
    removed_start: list[int]
    adds: _Adds | None
    metas: Sequence[bytes] | None  # per player: its meta (NIL in a delta), or None: all NIL


def _busy(p: _Parts, n: int) -> list[bool]:
    """Per player: has it more to say than position corrections?"""
    c = p.counts
    busy = np.asarray(c.added, np.intp) + np.asarray(c.gone, np.intp)
    if p.columns:
        busy += np.asarray(p.column_rows, np.intp)
    if p.metas is not None:
        busy += np.fromiter((meta != NIL for meta in p.metas), np.intp, n)
    return (busy > 0).tolist()  # type: ignore[no-any-return]


def _busy_body(j: int, p: _Parts) -> bytes:
    """``adds, removed, changes, meta`` of player ``j``."""
    c = p.counts
    kept = c.kept_list[j]
    parts = []
    off = c.off_list[j]
    if off:
        assert p.xy is not None
        parts.append(_xy_change(j, p.xy, off, kept))
    if p.column_rows[j]:
        for ch in p.columns:
            if ch.counts[j]:
                parts.append(_column_change(j, ch, kept))
    changes = map_head(len(parts)) + b"".join(parts) if parts else NIL
    removed = NIL
    if c.gone[j]:
        at = p.removed_start[j]
        removed = bin_of(p.removed[at * 4 : (at + c.gone[j]) * 4])
    adds = NIL
    if c.added[j]:
        assert p.adds is not None
        adds = _added(j, p.adds, c.added[j])
    meta = NIL if p.metas is None else p.metas[j]
    return adds + removed + changes + meta


def _bodies(p: _Parts, n: int) -> list[bytes]:
    """Every player's body; the ones with nothing but corrections assembled at once."""
    c = p.counts
    busy = _busy(p, n)
    quiet_start = quiet_end = [0] * n
    quiet = b""
    xy = p.xy
    if xy is not None:
        simple = np.flatnonzero(~np.asarray(busy, np.bool_) & (c.off > 0))
        if simple.shape[0]:
            quiet, qs, qe = xy_bodies(
                simple,
                c.off,
                c.kept,
                np.asarray(xy.levels, np.intp),
                np.asarray(xy.start, np.intp),
                xy.data,
                xy.masks,
                xy.stride,
            )
            starts_arr = np.zeros(n, np.intp)
            ends_arr = np.zeros(n, np.intp)
            starts_arr[simple] = qs
            ends_arr[simple] = qe
            quiet_start, quiet_end = starts_arr.tolist(), ends_arr.tolist()
    off_list = c.off_list
    return [
        _busy_body(j, p)
        if busy[j]
        else (quiet[quiet_start[j] : quiet_end[j]] if off_list[j] else _QUIET)
        for j in range(n)
    ]


# -- the batch ---------------------------------------------------------------------------


def _no_rows(
    keys: npt.NDArray[np.int64], ids: npt.NDArray[np.uint32], values: npt.NDArray[np.int64]
) -> BatchRows:
    none = np.zeros(0, np.intp)
    xy = np.ascontiguousarray(values[:, :2])
    return BatchRows(
        keys, ids, values, xy, _zero_vel(0), none, none.astype(np.int64), [], [], [], [], []
    )


def diff_match(
    table: MatchTable,
    players: Sequence[int],
    bases: Sequence[Snapshot | None],
    tolerance: int = 0,
) -> tuple[list[bytes], list[Snapshot]]:
    """For each ``players[j]`` (an index into ``table.frame.players``) with baseline
    ``bases[j]`` (same columns as the table, or None): the encoded body of
    ``diff(bases[j], table.view(slot), table, tolerance)`` and the baseline it returns.
    A body is the msgpack of ``adds, removed, changes, meta`` one after another (what
    follows the header in a one-part message; ``b"\\x94" + body`` is what
    :func:`broadcaster.codec.encode_update_body` returns)."""
    if not players:
        return [], []
    snap = table.snapshot
    vis = table.visible[np.asarray(players, np.intp)]
    owner, visible_rows = np.nonzero(vis)
    meta = pack(dict(table.frame.meta))
    bodies, made = diff_rows(
        owner,
        np.count_nonzero(vis, axis=1).tolist(),
        snap.ids[visible_rows],
        snap.values[visible_rows],
        bases,
        [snap.tick] * len(players),
        table.names,
        table.dtypes,
        tolerance,
        metas=[meta if b is None else NIL for b in bases],
    )
    return bodies, [made.baseline(j) for j in range(made.players)]


def diff_rows(
    owner: IntArray,
    cur_list: list[int],
    cur_ids: npt.NDArray[np.uint32],
    cur_vals: npt.NDArray[np.int64],
    bases: Sequence[Snapshot | None] | None,
    ticks: list[int],
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
    tolerance: int,
    prev: BatchRows | None = None,
    metas: Sequence[bytes] | None = None,
) -> tuple[list[bytes], BatchRows]:
    """The bodies of players of any matches: player ``j``'s current view is the
    ``cur_list[j]`` rows of ``cur_ids``/``cur_vals`` owned by ``j`` (rows grouped by
    player, ascending; ids ascending within a player), at tick ``ticks[j]``, with columns
    ``names`` (wire dtypes ``dtypes``).

    ``bases[j]``: the player's baseline (same columns), or None for a full state, whose
    body then ends with ``metas[j]`` (the packed match meta; ``metas`` None: every meta
    is nil). ``bases`` None: the baselines are exactly ``prev``'s, player ``j`` holding
    ``prev.baseline(j)`` (every player of the last batch delivered, none added: the steady
    state); they are then not gathered again.

    Returns the bodies and the new baselines (:class:`BatchRows`)."""
    count = len(ticks)
    ckey = (owner.astype(np.int64) << 32) | cur_ids.astype(np.int64)
    if count == 0:
        return [], _no_rows(ckey, cur_ids, cur_vals)
    ticks_arr = np.asarray(ticks, np.int64)
    if bases is None:
        if prev is None or prev.players != count:
            raise ValueError("bases None needs the previous batch of as many players")
        base = _baselines_from(prev, ticks_arr)
    else:
        if len(bases) != count:
            raise ValueError(f"{len(bases)} baselines for {count} players")
        base = _baselines_of(bases, ticks, cur_vals.shape[1])
    m = _match(ckey, base.keys, owner)
    motion = _predict(cur_vals, base, m, tolerance)
    c = _count(m, motion, base, count)
    new_rest = cur_vals[m.kept, 2:]
    other = new_rest != base.values[m.base_rows, 2:]
    columns = _column_changes(other, new_rest, m, c, names, dtypes) if other.shape[0] else []
    column_rows = [0] * count
    if columns:
        column_rows = np.bincount(m.kept_owner[other.any(axis=1)], minlength=count).tolist()
    removed = base.ids[m.gone].astype("<u4").tobytes() if any(c.gone) else b""
    parts = _Parts(
        c,
        _corrections(m, motion, c, count),
        columns,
        column_rows,
        removed,
        _starts(np.asarray(c.gone, np.intp)),
        _adds(cur_ids, cur_vals, m, c, (names, dtypes)),
        metas,
    )
    bodies = _bodies(parts, count)
    ends = list(itertools.accumulate(cur_list))
    rows = BatchRows(
        ckey,
        cur_ids,
        cur_vals,
        motion.held_xy,
        motion.vel,
        owner,
        ticks_arr,
        list(ticks),
        [g if g > 1 else 1 for g in base.gaps],
        [0, *ends[:-1]],
        ends,
        c.moving,
    )
    return bodies, rows
