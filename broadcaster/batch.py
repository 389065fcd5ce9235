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
from broadcaster.views import MatchTable, Snapshot

__all__ = ["BatchRows", "diff_match", "diff_rows"]

_ZERO_VEL = np.zeros((0, 2), np.int64)

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def _zero_vel(n: int) -> npt.NDArray[np.int64]:
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


class _Baselines(NamedTuple):
    """The baselines of a batch's players, concatenated (rows grouped by player)."""

    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]
    xy: npt.NDArray[np.int64]  # rows x 2: the positions the clients hold
    vel: npt.NDArray[np.int64]  # rows x 2: their last displacements
    owner: IntArray
    keys: npt.NDArray[np.int64]  # owner << 32 | id, ascending
    gaps: npt.NDArray[np.int64]  # per player: ticks since its baseline (1: a full state)
    last_gaps: npt.NDArray[np.int64]  # per player: the gap its displacements were taken over


def _baselines_from(prev: BatchRows, ticks: npt.NDArray[np.int64]) -> _Baselines:
    """The steady state: every player holds its row of the last batch."""
    gaps = np.maximum(ticks - prev.ticks, 0)
    return _Baselines(
        prev.ids, prev.values, prev.xy, prev.vel, prev.owner, prev.keys, gaps, prev.gaps
    )


def _baselines_of(
    bases: Sequence[Snapshot | None], ticks: npt.NDArray[np.int64], ncols: int
) -> _Baselines:
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
    base_ticks = np.array([0 if b is None else b.tick for b in bases], np.int64)
    full = np.array([b is None for b in bases], np.bool_)
    gaps = np.where(full, 1, np.maximum(ticks - base_ticks, 0))
    last_gaps = np.array([1 if b is None else max(b.gap, 1) for b in bases], np.int64)
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
    return _Matched(found, kept, base_rows, owner[kept], owner[~found], gone)


def _rows(a: npt.NDArray[np.int64]) -> npt.NDArray[np.void]:
    """An int64 rows x 2 array (C-contiguous) as one 16-byte item per row: indexing rows
    of it is several times faster than indexing rows of the 2-D array."""
    return a.view(np.dtype((np.void, 16))).reshape(-1)


# -- 3. motion prediction ----------------------------------------------------------------


def _predicted(
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
    old_xy = np.take(base.xy, m.base_rows, axis=0)
    new_xy = np.take(cur_xy, m.kept, axis=0)
    vel = np.take(base.vel, m.base_rows, axis=0)
    pred_xy = old_xy + _predicted(vel, base.gaps, base.last_gaps, m.kept_owner)
    err_xy = new_xy - pred_xy
    flags = np.abs(err_xy) > tolerance
    off = flags[:, 0] | flags[:, 1]
    landed = pred_xy  # the prediction, but where it is off: the true position
    _rows(landed)[off] = _rows(new_xy)[off]
    moved = landed - old_xy
    _rows(cur_xy)[m.kept] = _rows(landed)
    new_vel = np.zeros((cur_vals.shape[0], 2), np.int64)
    _rows(new_vel)[m.kept] = _rows(moved)
    moving = (moved[:, 0] != 0) | (moved[:, 1] != 0)
    return _Motion(err_xy, off, cur_xy, new_vel, moving)


# -- per-player counts -------------------------------------------------------------------


class _Counts(NamedTuple):
    kept: IntArray  # per player: rows kept from its baseline
    off: IntArray  # per player: rows corrected
    moving: IntArray  # per player: rows with a displacement
    gone: IntArray  # per player: rows removed
    added: IntArray  # per player: rows added
    bit: IntArray  # per kept row: its index among its player's kept rows (mask bit)
    width: int  # the most rows any player kept (mask width)


def _count(m: _Matched, motion: _Motion, base: _Baselines, n: int) -> _Counts:
    kept = np.bincount(m.kept_owner, minlength=n)
    kept_start = np.zeros(n, np.intp)
    np.cumsum(kept[:-1], out=kept_start[1:])
    bit = np.arange(m.kept_owner.shape[0], dtype=np.intp) - kept_start[m.kept_owner]
    return _Counts(
        kept,
        np.bincount(m.kept_owner[motion.off], minlength=n),
        np.bincount(m.kept_owner[motion.moving], minlength=n),
        np.bincount(base.owner[m.gone], minlength=n),
        np.bincount(m.added_owner, minlength=n),
        bit,
        int(kept.max()) if n else 0,
    )


def _starts(counts: IntArray) -> IntArray:
    """The first index of each player's run, given the run lengths."""
    return np.cumsum(counts) - counts


# -- 4. the wire bytes of each part of the bodies ----------------------------------------


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
    levels = (signed_levels if signed else unsigned_levels)(values, owner, n)
    data = encode_levels(values.reshape(-1), levels, dtypes)
    base = np.cumsum([0] + [len(d) for d in data])[:-1]
    level = np.asarray(levels, np.intp)
    itemsize = np.left_shift(1, level)
    per_row = itemsize * (values.shape[1] if values.ndim == 2 else 1)
    return _Levelled(b"".join(data), base[level] + start * per_row, itemsize), level


class _Corrections(NamedTuple):
    """The ``xy`` changes: every corrected row's error (x and y)."""

    values: _Levelled
    level: IntArray  # per player: index into SIGNED_DTYPES
    masks: bytes  # per player, ``stride`` bytes (only when some player has a partial mask)
    stride: int


def _corrections(m: _Matched, motion: _Motion, c: _Counts, n: int) -> _Corrections | None:
    if not c.off.any():
        return None
    sent = _rows(motion.err_xy)[motion.off].view(np.int64).reshape(-1, 2)
    values, level = _levelled(sent, m.kept_owner[motion.off], _starts(c.off), SIGNED_DTYPES, True)
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
    m: _Matched,
    c: _Counts,
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
            _ColumnChange(key, counts, _starts(counts), code, raw, dt.itemsize, mask_bytes, stride)
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
    m: _Matched,
    c: _Counts,
    layout: tuple[tuple[str, ...], tuple[np.dtype[Any], ...]],
) -> _Adds | None:
    """``layout``: the column names and their wire dtypes."""
    if not c.added.any():
        return None
    names, dtypes = layout
    new = ~m.found
    owner = m.added_owner
    start = _starts(c.added)
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


# -- 5. the bodies: pieces of those bytes, for every player at once ----------------------


class _Parts(NamedTuple):
    """Everything :func:`_bodies` takes its pieces from, per batch."""

    counts: _Counts
    xy: _Corrections | None
    columns: list[_ColumnChange]
    removed: bytes  # the ids removed, every player's, as little-endian u32
    adds: _Adds | None
    metas: Sequence[bytes] | None  # per player: its meta (NIL in a delta), or None: all NIL


def _put_levelled(out: Pieces, values: _Levelled, rows: IntArray, where: BoolArray) -> None:
    out.bin(values.data, values.at, rows * values.itemsize, where)


def _put_adds(out: Pieces, adds: _Adds | None, c: _Counts) -> None:
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
    out.bin(p.removed, 4 * _starts(c.gone), 4 * c.gone, removing)
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
    return BatchRows(keys, ids, values, xy, _zero_vel(0), none, no_ticks, no_ticks, none, none)


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
        base = _baselines_from(prev, ticks_arr)
    else:
        if len(bases) != count:
            raise ValueError(f"{len(bases)} baselines for {count} players")
        base = _baselines_of(bases, ticks_arr, cur_vals.shape[1])
    m = _match(ckey, base.keys, owner)
    motion = _predict(cur_vals, base, m, tolerance)
    c = _count(m, motion, base, count)
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
