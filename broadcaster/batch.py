"""The message bodies of many players at once: deltas, and full states as deltas from nothing.

:func:`diff_rows` computes, for every player of a send tick, exactly what
:func:`broadcaster.delta.diff` followed by :func:`broadcaster.codec.encode` computes player
by player (the reference model; tests compare the bytes and the baselines), with the NumPy
work done once over all the players' rows concatenated. A player without a baseline gets a
full state: every row it sees as adds, and the match meta.

1. what each player holds, which rows it keeps and how they moved
   (:mod:`broadcaster.rows`: baselines, matching, motion prediction, counts);
2. the wire bytes of corrections, other columns' changes, removals and adds, once per
   batch (:func:`_corrections`, :func:`_column_changes`, :func:`_adds`), with the masks of
   all players packed at once;
3. every player's body laid out from pieces of those bytes and copied into one buffer at
   once (:func:`_bodies`, :class:`broadcaster.pieces.Pieces`): no Python work per player
   but taking its slice.

The players' next baselines stay in the arrays of a :class:`~broadcaster.rows.BatchRows`.
"""

from __future__ import annotations

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
    encode_levels,
    map_head,
    masks,
    pack,
    signed_levels,
    unsigned_levels,
    wire_code,
)
from broadcaster.pieces import Pieces
from broadcaster.rows import (
    BatchRows,
    BoolArray,
    Counts,
    IntArray,
    Matched,
    Motion,
    baselines_from,
    baselines_of,
    count_rows,
    match,
    predict_motion,
    row_items,
    run_starts,
    zero_vel,
)
from broadcaster.views import MatchTable, Snapshot

__all__ = ["diff_match", "diff_rows"]


# -- the wire bytes of each part of the bodies ----------------------------------------


class _Levelled(NamedTuple):
    """Values of every player's rows, each player's in the narrowest dtype its values
    need: the bytes in every dtype some player needs, joined."""

    data: bytes
    at: IntArray  # per player: where its values start in ``data``
    itemsize: IntArray  # per player: bytes per value

    def of(self, players: IntArray) -> _Levelled:
        """The same values, for ``players`` only (indexes into the per-player arrays)."""
        return _Levelled(self.data, self.at[players], self.itemsize[players])


def _levelled(
    values: npt.NDArray[np.int64],
    owner: IntArray,
    start: IntArray,
    dtypes: tuple[np.dtype[Any], ...],
    signed: bool,
) -> tuple[_Levelled, IntArray]:
    """``values`` (rows grouped by player, ``start[j]`` the first row of player ``j``;
    1-D, or rows x 2 for positions) and the level (index into ``dtypes``) of each player."""
    n = start.shape[0]
    level, present = (signed_levels if signed else unsigned_levels)(values, owner, n)
    data = encode_levels(values.reshape(-1), present, dtypes)
    width = values.shape[1] if values.ndim == 2 else 1
    if present == [0]:  # the common case: every player's values in the narrowest dtype
        return _Levelled(data[0], start * width, np.ones(n, np.intp)), level
    base = np.cumsum([0] + [len(d) for d in data])[:-1]
    itemsize = np.left_shift(1, level)
    return _Levelled(b"".join(data), base[level] + start * itemsize * width, itemsize), level


class _Corrections(NamedTuple):
    """The ``xy`` changes: every corrected row's error (x and y)."""

    values: _Levelled
    level: IntArray  # per player: index into SIGNED_DTYPES
    masks: bytes  # per player, ``stride`` bytes (only when some player has a partial mask)
    stride: int


def _corrections(m: Matched, motion: Motion, c: Counts, n: int) -> _Corrections | None:
    if not np.count_nonzero(c.off):
        return None
    sent = row_items(motion.err_xy)[motion.off].view(np.int64).reshape(-1, 2)
    values, level = _levelled(
        sent, m.kept_owner[motion.off], run_starts(c.off), SIGNED_DTYPES, True
    )
    partial = bool(np.any((c.off > 0) & (c.off < c.kept)))
    mask_bytes, stride = masks(motion.off, c.bit, m.kept_owner, n, c.width) if partial else (b"", 0)
    return _Corrections(values, level, mask_bytes, stride)


class _ColumnChange(NamedTuple):
    """New values of one other column, for the kept rows where it changed."""

    key: bytes  # msgpack of the name, then the array marker of [mask, dtype, values]
    counts: IntArray  # per player: rows changed
    start: IntArray  # per player: its first changed row in ``raw``
    code: bytes  # msgpack of the dtype code
    raw: bytes
    itemsize: int
    masks: bytes
    stride: int


def _rows_with_any(flags: npt.NDArray[np.bool_]) -> IntArray:
    """The rows of ``flags`` (rows x w, each row's w bytes contiguous) with a True."""
    width = flags.shape[1]
    if width in (1, 2, 4, 8):  # each row read as one unsigned integer of its w bytes
        return np.flatnonzero(flags.view(np.dtype(f"u{width}"))[:, 0])
    return np.unique(np.flatnonzero(flags) // width) if width else np.zeros(0, np.intp)


def _column_changes(
    cur_vals: npt.NDArray[np.int64],
    base_vals: npt.NDArray[np.int64],
    m: Matched,
    c: Counts,
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
) -> list[_ColumnChange]:
    """The columns after the positions that changed in some kept row. Few values change
    from one message to the next: the kept rows are compared whole (contiguous, fast)
    and only the rows with a change are looked at column by column."""
    n = c.kept.shape[0]
    new = np.take(cur_vals, m.kept, axis=0)
    differs = new != np.take(base_vals, m.base_rows, axis=0)
    changed = _rows_with_any(differs[:, 2:])
    other, new_rest = differs[changed, 2:], new[changed, 2:]
    owner, bit = m.kept_owner[changed], c.bit[changed]
    out: list[_ColumnChange] = []
    for col in np.flatnonzero(other.any(axis=0)).tolist():
        k = col + 2
        sel = other[:, col]
        counts = np.bincount(owner[sel], minlength=n)
        dt = dtypes[k]
        raw = new_rest[sel, col].astype(dt.newbyteorder("<")).tobytes()
        mask_bytes, stride = masks(sel, bit, owner, n, c.width)
        key = pack(names[k]) + b"\x93"
        code = pack(wire_code(dt))
        out.append(
            _ColumnChange(
                key, counts, run_starts(counts), code, raw, dt.itemsize, mask_bytes, stride
            )
        )
    return out


class _Adds(NamedTuple):
    """Every column of the rows new to a player's view."""

    head: bytes  # the map header: id and every column
    ids: _Levelled
    id_level: IntArray  # per player: index into UNSIGNED_DTYPES
    positions: list[tuple[bytes, _Levelled, IntArray]]  # x, y: key, values, level
    rest: list[tuple[bytes, bytes, int, bytes]]  # the others: key, code, itemsize, raw
    start: IntArray  # per player: its first added row


def _adds(
    cur_ids: npt.NDArray[np.uint32],
    cur_vals: npt.NDArray[np.int64],
    m: Matched,
    c: Counts,
    layout: tuple[tuple[str, ...], tuple[np.dtype[Any], ...]],
) -> _Adds | None:
    """``layout``: the column names and their wire dtypes."""
    if not np.count_nonzero(c.added):
        return None
    names, dtypes = layout
    new = ~m.found
    owner = m.added_owner
    start = run_starts(c.added)
    ids, id_level = _levelled(cur_ids[new].astype(np.int64), owner, start, UNSIGNED_DTYPES, False)
    vals = np.take(cur_vals, np.flatnonzero(new), axis=0)
    # positions: per player the narrowest signed dtype; the rest: the frame's dtype
    positions = []
    for k in (0, 1):
        col, level = _levelled(vals[:, k], owner, start, SIGNED_DTYPES, True)
        positions.append((pack(names[k]) + b"\x92", col, level))
    rest = []
    for k in range(2, vals.shape[1]):
        dt = dtypes[k]
        raw = vals[:, k].astype(dt.newbyteorder("<")).tobytes()
        rest.append((pack(names[k]) + b"\x92", pack(wire_code(dt)), dt.itemsize, raw))
    return _Adds(map_head(1 + vals.shape[1]), ids, id_level, positions, rest, start)


# -- the bodies: pieces of those bytes, for every player at once ----------------------


class _Parts(NamedTuple):
    """Everything :func:`_bodies` takes its pieces from, per batch."""

    counts: Counts
    xy: _Corrections | None
    columns: list[_ColumnChange]
    removed: bytes  # the ids removed, every player's, as little-endian u32
    adds: _Adds | None
    metas: Sequence[bytes] | None  # per player: its meta (NIL in a delta), or None: all NIL


def _put_levelled(out: Pieces, values: _Levelled, rows: IntArray, where: BoolArray) -> None:
    out.bin(values.data, values.at, rows * values.itemsize, where)


def _put_adds(out: Pieces, adds: _Adds | None, c: Counts) -> None:
    """``adds``: ``{id: [dtype, bin], x: ..., ...}`` or nil. The column blocks take many
    pieces and few players have any: they are laid out apart, over those players only,
    and come in as one piece."""
    has = c.added > 0
    if adds is not None:
        who = np.flatnonzero(has)
        rows = c.added[who]
        block = Pieces(who.shape[0])
        every = np.ones(who.shape[0], np.bool_)
        block.constant(adds.head + KEY_ID)
        block.choice(UNSIGNED_KEYS, adds.id_level[who], every)
        _put_levelled(block, adds.ids.of(who), rows, every)
        for key, values, level in adds.positions:
            block.constant(key)
            block.choice(SIGNED_KEYS, level[who], every)
            _put_levelled(block, values.of(who), rows, every)
        for key, code, isz, raw in adds.rest:
            block.constant(key + code)
            block.bin(raw, adds.start[who] * isz, rows * isz, every)
        _sub_layout(out, c.added.shape[0], who, block)
    out.constant(NIL, ~has)


def _put_mask(
    out: Pieces, masks: bytes, stride: int, players: IntArray, rows: IntArray, kept: IntArray
) -> None:
    """A change's mask over the kept rows (``players``: where each one's is in
    ``masks``): nil when every kept row is in it."""
    has = rows > 0
    partial = has & (rows < kept)
    out.bin(masks, players * stride, (kept + 7) // 8, partial)
    out.constant(NIL, has & ~partial)


def _sub_layout(out: Pieces, n: int, who: IntArray, block: Pieces) -> None:
    """Bring in ``block`` (laid out over the players ``who`` of ``n``) as one piece."""
    data, starts, ends = block.build()
    at, size = np.zeros(n, np.intp), np.zeros(n, np.intp)
    at[who], size[who] = starts, ends - starts
    out.slices(data, at, size)


def _put_changes(out: Pieces, p: _Parts) -> None:
    """``changes``: ``{"xy": [mask, dtype, bin], name: [mask, dtype, bin], ...}`` or nil.
    The entries of the other columns take many pieces and few players have any: they
    are laid out apart, over those players only."""
    c = p.counts
    n = c.kept.shape[0]
    corrected = c.off > 0
    entries = corrected.astype(np.intp)
    for ch in p.columns:
        entries += ch.counts > 0
    has = entries > 0
    out.choice([map_head(k) for k in range(int(entries.max()) + 1)], entries, has)
    xy = p.xy
    if xy is not None:
        out.constant(KEY_XY, corrected)
        _put_mask(out, xy.masks, xy.stride, np.arange(n, dtype=np.intp), c.off, c.kept)
        out.choice(SIGNED_KEYS, xy.level, corrected)
        _put_levelled(out, xy.values, 2 * c.off, corrected)
    if p.columns:
        who = np.flatnonzero(entries > corrected)
        block = Pieces(who.shape[0])
        kept = c.kept[who]
        for ch in p.columns:
            rows = ch.counts[who]
            changed = rows > 0
            block.constant(ch.key, changed)
            _put_mask(block, ch.masks, ch.stride, who, rows, kept)
            block.constant(ch.code, changed)
            block.bin(ch.raw, ch.start[who] * ch.itemsize, rows * ch.itemsize, changed)
        _sub_layout(out, n, who, block)
    out.constant(NIL, ~has)


def _put_meta(out: Pieces, metas: Sequence[bytes] | None) -> None:
    if metas is None:
        out.constant(NIL)
        return
    distinct = list(dict.fromkeys(metas))
    index = {meta: i for i, meta in enumerate(distinct)}
    which = np.fromiter((index[meta] for meta in metas), np.intp, len(metas))
    out.choice(distinct, which, np.ones(len(metas), np.bool_))


def _bodies(p: _Parts, n: int, prefix: bytes = b"") -> list[bytes]:
    """Every player's body ``adds, removed, changes, meta`` after its ``prefix`` (``n``
    strings of one size, joined)."""
    out = Pieces(n)
    if prefix:
        size = len(prefix) // n
        out.slices(prefix, np.arange(n, dtype=np.intp) * size, np.full(n, size, np.intp))
    c = p.counts
    _put_adds(out, p.adds, c)
    removing = c.gone > 0
    out.bin(p.removed, 4 * run_starts(c.gone), 4 * c.gone, removing)
    out.constant(NIL, ~removing)
    _put_changes(out, p)
    _put_meta(out, p.metas)
    buf, starts, ends = out.build()
    return [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


# -- the batch ---------------------------------------------------------------------------


def _no_rows(
    keys: npt.NDArray[np.int64], ids: npt.NDArray[np.uint32], values: npt.NDArray[np.int64]
) -> BatchRows:
    none, no_ticks = np.zeros(0, np.intp), np.zeros(0, np.int64)
    xy = np.ascontiguousarray(values[:, :2])
    return BatchRows(keys, ids, values, xy, zero_vel(0), none, no_ticks, no_ticks, none, none)


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
    cur_list: Sequence[int] | IntArray,
    cur_ids: npt.NDArray[np.uint32],
    cur_vals: npt.NDArray[np.int64],
    bases: Sequence[Snapshot | None] | None,
    ticks: Sequence[int] | npt.NDArray[np.int64],
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
    tolerance: int,
    prev: BatchRows | None = None,
    metas: Sequence[bytes] | None = None,
    prefix: bytes = b"",
) -> tuple[list[bytes], BatchRows]:
    """The bodies of players of any matches: player ``j``'s current view is the
    ``cur_list[j]`` rows of ``cur_ids``/``cur_vals`` owned by ``j`` (rows grouped by
    player, ascending; ids ascending within a player), at tick ``ticks[j]``, with columns
    ``names`` (wire dtypes ``dtypes``).

    ``bases[j]``: the player's baseline (same columns), or None for a full state, whose
    body then ends with ``metas[j]`` (the packed match meta; ``metas`` None: every meta
    is nil). ``bases`` None: the baselines are exactly ``prev``'s, player ``j`` holding
    ``prev.baseline(j)`` (every player of the last batch delivered, none added: the steady
    state); they are then not gathered again. ``prefix``: ``len(ticks)`` byte strings of
    one size, joined; each body then starts with its player's (a message header).

    Returns the bodies and the new baselines (:class:`BatchRows`)."""
    count = len(ticks)
    ckey = (owner.astype(np.int64) << 32) | cur_ids.astype(np.int64)
    if count == 0:
        return [], _no_rows(ckey, cur_ids, cur_vals)
    ticks_arr = np.asarray(ticks, np.int64)
    if bases is None:
        if prev is None or prev.players != count:
            raise ValueError("bases None needs the previous batch of as many players")
        base = baselines_from(prev, ticks_arr)
    else:
        if len(bases) != count:
            raise ValueError(f"{len(bases)} baselines for {count} players")
        base = baselines_of(bases, ticks_arr, cur_vals.shape[1])
    m = match(ckey, base.keys, owner)
    motion = predict_motion(cur_vals, base, m, tolerance)
    c = count_rows(m, motion, base, count)
    parts = _Parts(
        c,
        _corrections(m, motion, c, count),
        _column_changes(cur_vals, base.values, m, c, names, dtypes),
        base.ids[m.gone].astype("<u4").tobytes(),
        _adds(cur_ids, cur_vals, m, c, (names, dtypes)),
        metas,
    )
    bodies = _bodies(parts, count, prefix)
    rows = BatchRows(
        ckey,
        cur_ids,
        cur_vals,
        motion.held_xy,
        motion.vel,
        owner,
        ticks_arr,
        np.maximum(base.gaps, 1),
        np.cumsum(cur_list),
        c.moving,
    )
    return bodies, rows
