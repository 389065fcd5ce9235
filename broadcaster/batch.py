"""Deltas for many players of one match at once, as ready-to-pack message bodies.

:func:`diff_match` computes, for every player of a match that has a baseline, exactly
what :func:`broadcaster.delta.diff` followed by :func:`broadcaster.codec.encode` computes
player by player (tests compare the bytes and the baselines), but with the NumPy work done
once per match over all the players' rows concatenated:

- views: the rows of the match's visibility matrix (``MatchTable.visible``), one
  ``nonzero`` for all players;
- matching against the baselines: each row keyed by ``player << 32 | id`` (both sides
  ascending), one ``searchsorted`` for all players, whether their visible set changed
  or not;
- prediction, errors, threshold flags, landed positions and displacements for every kept
  row at once; per-player counts by ``bincount``;
- the wire bytes of every column of corrections, changes, removals and adds encoded once
  per match (one ``tobytes`` per dtype in use), masks packed for all players at once.

What is left per player is slicing those bytes and building the few small lists msgpack
packs (the body ``[adds, removed, changes, meta]`` of :mod:`broadcaster.codec`), and the
player's next baseline as slices of the match's arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgpack
import numpy as np
import numpy.typing as npt

from broadcaster.views import MatchTable, Snapshot

__all__ = ["BatchRows", "diff_match", "diff_rows"]

_SIGNED_CODES = ("i1", "i2", "i4", "i8")
_UNSIGNED_CODES = ("u1", "u2", "u4", "u8")
_SIGNED_DT = tuple(np.dtype(c).newbyteorder("<") for c in _SIGNED_CODES)
_UNSIGNED_DT = tuple(np.dtype(c).newbyteorder("<") for c in _UNSIGNED_CODES)
_SIGNED_LIMITS = (2**7, 2**15, 2**31)  # level k holds [-limit, limit - 1]
_UNSIGNED_LIMITS = (2**8, 2**16, 2**32)
_ZERO_VEL = np.zeros((0, 2), np.int64)

# msgpack pieces, packed once
_pack = msgpack.Packer(use_bin_type=True).pack
_NIL = _pack(None)
_KEY_XY = _pack("xy") + b"\x93"  # "xy": [mask, dtype, values]
_KEY_ID = _pack("id") + b"\x92"  # "id": [dtype, values]
_SIGNED_KEYS = tuple(_pack(c) for c in _SIGNED_CODES)
_UNSIGNED_KEYS = tuple(_pack(c) for c in _UNSIGNED_CODES)


_MAP1 = b"\x81"  # a map of one entry
_NIL2 = _NIL + _NIL  # no adds, no removals
_QUIET = _NIL * 4  # no adds, removals, changes or meta
_BIN8 = tuple(b"\xc4" + bytes((n,)) for n in range(0x100))


def _bin(data: bytes) -> bytes:
    """msgpack bin of ``data``."""
    n = len(data)
    if n < 0x100:
        return _BIN8[n] + data
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big") + data
    return b"\xc6" + n.to_bytes(4, "big") + data


def _map_head(n: int) -> bytes:
    """msgpack map header for ``n`` entries."""
    if n < 16:
        return (0x80 | n).to_bytes(1, "big")
    if n < 0x10000:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def _zero_vel(n: int) -> npt.NDArray[np.int64]:
    global _ZERO_VEL
    if _ZERO_VEL.shape[0] < n:
        _ZERO_VEL = np.zeros((max(n, 2 * _ZERO_VEL.shape[0], 64), 2), np.int64)
    return _ZERO_VEL[:n]


def _unsigned_levels(
    values: npt.NDArray[np.int64], owner: npt.NDArray[np.intp], players: int
) -> list[int]:
    """Exact ``smallest_unsigned`` per player: the index of the narrowest of u1/u2/u4/u8
    that holds all its non-negative ``values`` (rows owned by ``owner``)."""
    if values.shape[0] == 0 or int(values.max()) < _UNSIGNED_LIMITS[0]:
        return [0] * players  # the common case: everything fits 8 bits
    row = np.zeros(values.shape[0], np.int8)
    for limit in _UNSIGNED_LIMITS:
        row += values >= limit
    out = np.zeros(players, np.int8)
    np.maximum.at(out, owner, row)
    return out.tolist()


def _signed_levels(
    values: npt.NDArray[np.int64], owner: npt.NDArray[np.intp], players: int
) -> list[int]:
    """Exact ``smallest_signed`` per player (values may be 1-D or rows x 2)."""
    if values.shape[0] == 0:
        return [0] * players
    lo, hi = int(values.min()), int(values.max())
    if -_SIGNED_LIMITS[0] <= lo and hi < _SIGNED_LIMITS[0]:
        return [0] * players  # the common case: everything fits 8 bits
    row = np.zeros(values.shape[0], np.int8)
    for limit in _SIGNED_LIMITS:
        outside = (values < -limit) | (values >= limit)
        row += outside if outside.ndim == 1 else outside.any(axis=1)
    out = np.zeros(players, np.int8)
    np.maximum.at(out, owner, row)
    return out.tolist()


def _encode_levels(
    values: npt.NDArray[np.int64], levels: list[int], dts: tuple[np.dtype[Any], ...]
) -> list[bytes]:
    """``values`` as bytes in each dtype some player needs (index by level)."""
    out: list[bytes] = [b""] * len(dts)
    for level in set(levels):
        out[level] = values.astype(dts[level]).tobytes()
    return out


def _masks(
    sel: npt.NDArray[np.bool_],
    pos: npt.NDArray[np.intp],
    owner: npt.NDArray[np.intp],
    players: int,
    width: int,
) -> tuple[bytes, int]:
    """Little-endian bitsets of ``sel`` for every player at once: rows of ``width`` bits
    (bit ``pos`` of row ``owner``); returns the bytes and the row stride in bytes."""
    stride = (width + 7) // 8
    bits = np.zeros((players, stride * 8), np.bool_)
    bits[owner[sel], pos[sel]] = True
    return np.packbits(bits, axis=1, bitorder="little").tobytes(), stride


def _segments(
    dst: npt.NDArray[np.intp], src: npt.NDArray[np.intp], lens: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Byte indexes that copy ``lens[i]`` bytes from ``src[i]`` to ``dst[i]``, for all i."""
    ends = np.cumsum(lens)
    rep = np.repeat(np.arange(lens.shape[0], dtype=np.intp), lens)
    within = np.arange(int(ends[-1]) if ends.shape[0] else 0, dtype=np.intp) - (ends - lens)[rep]
    return dst[rep] + within, src[rep] + within


# [nil, nil, {"xy": [: the first bytes of a body with only position corrections
_XY_PREFIX = np.frombuffer(_NIL2 + _MAP1 + _KEY_XY, np.uint8)


def _xy_bodies(
    players: npt.NDArray[np.intp],
    off_n: npt.NDArray[np.intp],
    kept_n: npt.NDArray[np.intp],
    levels: npt.NDArray[np.intp],
    off_start: npt.NDArray[np.intp],
    xy_bytes: list[bytes],
    masks: bytes,
    stride: int,
) -> tuple[bytes, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The bodies ``[nil, nil, {"xy": [mask, dtype, corrections]}, nil]`` of ``players``
    (each with corrections and nothing else to say) assembled in one buffer with NumPy:
    the bytes the per-player code builds, and where each body starts and ends."""
    o, k, lv = off_n[players], kept_n[players], levels[players]
    isz = np.left_shift(1, lv)
    size = o * 2 * isz
    mask_len = np.where(o == k, 0, (k + 7) // 8)
    mask_part = np.where(mask_len == 0, 1, 2 + mask_len)  # nil, or bin8 + bytes
    bin_head = np.where(size < 0x100, 2, 3)  # bin8 or bin16 (sizes stay under 64 KB)
    prefix = _XY_PREFIX.shape[0]
    total = prefix + mask_part + 3 + bin_head + size + 1
    ends = np.cumsum(total)
    start = ends - total
    buf = np.empty(int(ends[-1]), np.uint8)
    buf[start[:, None] + np.arange(prefix)] = _XY_PREFIX
    at = start + prefix
    whole = mask_len == 0
    buf[at[whole]] = 0xC0
    part = ~whole
    if part.any():
        buf[at[part]] = 0xC4
        buf[at[part] + 1] = mask_len[part]
        dst, src = _segments(at[part] + 2, players[part] * stride, mask_len[part])
        buf[dst] = np.frombuffer(masks, np.uint8)[src]
    at = at + mask_part
    buf[at] = 0xA2  # fixstr(2): "i1", "i2", "i4" or "i8"
    buf[at + 1] = ord("i")
    buf[at + 2] = ord("0") + isz
    at = at + 3
    small = size < 0x100
    buf[at[small]] = 0xC4
    buf[at[small] + 1] = size[small]
    big = ~small
    if big.any():
        buf[at[big]] = 0xC5
        buf[at[big] + 1] = size[big] >> 8
        buf[at[big] + 2] = size[big] & 0xFF
    at = at + bin_head
    level_base = np.cumsum([0] + [len(b) for b in xy_bytes])
    source = np.frombuffer(b"".join(xy_bytes), np.uint8)
    dst, src = _segments(at, level_base[lv] + off_start[players] * 2 * isz, size)
    buf[dst] = source[src]
    buf[ends - 1] = 0xC0
    return buf.tobytes(), start, ends


class BatchRows(NamedTuple):
    """The baselines one :func:`diff_rows` call made, as arrays (rows grouped by player):
    what the next call needs of them, already gathered; :meth:`baseline` makes one
    player's :class:`Snapshot` when something else needs it."""

    keys: npt.NDArray[np.int64]  # player << 32 | id per row
    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]  # the frame's values (positions: see xy)
    xy: npt.NDArray[np.int64]  # rows x 2, the positions the clients hold
    vel: npt.NDArray[np.int64]  # rows x 2, zeros where a baseline has vel None
    owner: npt.NDArray[np.intp]
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
    bases: Sequence[Snapshot],
    tolerance: int = 0,
) -> tuple[list[bytes], list[Snapshot]]:
    """For each ``players[j]`` (an index into ``table.frame.players``) with baseline
    ``bases[j]`` (same columns as the table): the encoded body of
    ``diff(bases[j], table.view(slot), table, tolerance)`` and the baseline it returns.
    A body is the msgpack of ``adds, removed, changes, meta`` one after another (what
    follows the header in a one-part message; ``b"\\x94" + body`` is what
    :func:`broadcaster.codec.encode_update_body` returns)."""
    if not players:
        return [], []
    snap = table.snapshot
    vis = table.visible[np.asarray(players, np.intp)]
    owner, visible_rows = np.nonzero(vis)
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
    )
    return bodies, [made.baseline(j) for j in range(made.players)]


def diff_rows(
    owner: npt.NDArray[np.intp],
    cur_list: list[int],
    cur_ids: npt.NDArray[np.uint32],
    cur_vals: npt.NDArray[np.int64],
    bases: Sequence[Snapshot] | None,
    ticks: list[int],
    names: tuple[str, ...],
    dtypes: tuple[np.dtype[Any], ...],
    tolerance: int,
    prev: BatchRows | None = None,
) -> tuple[list[bytes], BatchRows]:
    """The core of :func:`diff_match`, for players of any matches: player ``j``'s current
    view is the ``cur_list[j]`` rows of ``cur_ids``/``cur_vals`` owned by ``j`` (rows
    grouped by player, ascending; ids ascending within a player), at tick ``ticks[j]``,
    with columns ``names`` (wire dtypes ``dtypes``).

    Returns the bodies and the new baselines (:class:`BatchRows`). ``bases`` None: the
    baselines are exactly ``prev``'s, player ``j`` holding ``prev.baseline(j)`` (every
    player of the last batch delivered, none added: the steady state); they are then
    not gathered again."""
    count = len(ticks)
    ncols = cur_vals.shape[1]
    ckey = (owner.astype(np.int64) << 32) | cur_ids.astype(np.int64)
    if count == 0:
        return [], _no_rows(ckey, cur_ids, cur_vals)
    ticks_arr = np.asarray(ticks, np.int64)
    if bases is None:
        if prev is None or prev.players != count:
            raise ValueError("bases None needs the previous batch of as many players")
        # -- baselines: the arrays the last batch left --------------------------------------
        base_ids, base_vals, base_xy, base_vel = prev.ids, prev.values, prev.xy, prev.vel
        base_owner, bkey = prev.owner, prev.keys
        gaps = np.maximum(ticks_arr - prev.ticks, 0).tolist()
        last_gaps = prev.gaps
    else:
        # -- baselines, concatenated --------------------------------------------------------
        if len(bases) != count:
            raise ValueError(f"{len(bases)} baselines for {count} players")
        base_counts = [b.ids.shape[0] for b in bases]
        base_ids = np.concatenate([b.ids for b in bases]) if count > 1 else bases[0].ids
        base_vals = np.concatenate([b.values for b in bases])
        base_xy = np.ascontiguousarray(base_vals[:, :2])
        base_vel = np.concatenate(
            [b.vel if b.vel is not None else _zero_vel(b.ids.shape[0]) for b in bases]
        )
        base_owner = np.repeat(np.arange(count, dtype=np.intp), base_counts)
        gaps = [max(t - b.tick, 0) for t, b in zip(ticks, bases, strict=True)]
        last_gaps = [max(b.gap, 1) for b in bases]
        bkey = (base_owner.astype(np.int64) << 32) | base_ids.astype(np.int64)
    # -- match rows: keys player << 32 | id, ascending on both sides -----------------------
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
    kept_owner = owner[kept]
    # -- prediction and errors for every kept row -------------------------------------------
    # positions as contiguous rows x 2 (what the clients hold, and the frame's), the
    # other columns apart: they are exact on the client, no prediction
    cur_xy = np.ascontiguousarray(cur_vals[:, :2])
    old_xy = base_xy[base_rows]
    new_xy = cur_xy[kept]
    vel = base_vel[base_rows]
    if gaps == last_gaps:
        # the common case: every player's gap is the one its displacements were taken
        # over, so the prediction is the displacement itself (floor(d * g / g) = d)
        pred_xy = old_xy + vel
    else:
        gap_row = np.asarray(gaps, np.int64)[kept_owner][:, None]
        last_row = np.asarray(last_gaps, np.int64)[kept_owner][:, None]
        pred_xy = old_xy + (vel * gap_row) // last_row
    err_xy = new_xy - pred_xy
    flags = np.abs(err_xy) > tolerance
    off = flags[:, 0] | flags[:, 1]
    landed = np.where(off[:, None], new_xy, pred_xy)
    moved = landed - old_xy
    cur_xy[kept] = landed  # now what the clients hold once delivered
    new_vel = np.zeros((cur_vals.shape[0], 2), np.int64)
    new_vel[kept] = moved
    new_rest = cur_vals[kept, 2:]
    other = new_rest != base_vals[base_rows, 2:] if ncols > 2 else None
    # -- per-player counts ----------------------------------------------------------------
    kept_n = np.bincount(kept_owner, minlength=count)
    off_arr = np.bincount(kept_owner[off], minlength=count)
    off_n = off_arr.tolist()
    moving = np.bincount(kept_owner[(moved != 0).any(axis=1)], minlength=count).tolist()
    gone_n = np.bincount(base_owner[gone], minlength=count).tolist()
    add_sel = ~found
    add_owner = owner[add_sel]
    add_n = np.bincount(add_owner, minlength=count).tolist()
    # position of each kept row among its player's kept rows (mask bit index)
    kept_start = np.zeros(count, np.intp)
    np.cumsum(kept_n[:-1], out=kept_start[1:])
    kpos = np.arange(kept_owner.shape[0], dtype=np.intp) - kept_start[kept_owner]
    kept_list = kept_n.tolist()
    width = max(kept_list) if kept_list else 0
    # -- xy corrections ---------------------------------------------------------------------
    any_off = any(off_n)
    if any_off:
        sent = err_xy[off]
        off_owner = kept_owner[off]
        xy_levels = _signed_levels(sent, off_owner, count)
        xy_bytes = _encode_levels(sent.reshape(-1), xy_levels, _SIGNED_DT)
        partial = bool(np.any((off_arr > 0) & (off_arr < kept_n)))
        xy_masks, xy_stride = _masks(off, kpos, kept_owner, count, width) if partial else (b"", 0)
    # -- other columns: new absolute values where they changed -----------------------------
    col_changes: list[tuple[bytes, list[int], bytes, bytes, int, bytes, int]] = []
    if other is not None and other.shape[0]:
        changed_cols = other.any(axis=0).tolist()
        for c, hit in enumerate(changed_cols):
            if not hit:
                continue
            k = c + 2
            sel = other[:, c]
            n_c = np.bincount(kept_owner[sel], minlength=count).tolist()
            dt = dtypes[k]
            code_name = f"{dt.kind}{dt.itemsize}"
            raw = new_rest[sel, c].astype(dt.newbyteorder("<")).tobytes()
            masks, stride = _masks(sel, kpos, kept_owner, count, width)
            key = _pack(names[k]) + b"\x93"  # name: [mask, dtype, values]
            col_changes.append((key, n_c, _pack(code_name), raw, dt.itemsize, masks, stride))
    # -- removals ---------------------------------------------------------------------------
    if any(gone_n):
        removed_bytes = base_ids[gone].astype("<u4").tobytes()
    # -- adds: every column of the rows new to a player's view -----------------------------
    if any(add_n):
        add_ids = cur_ids[add_sel].astype(np.int64)
        add_vals = cur_vals[add_sel]
        id_levels = _unsigned_levels(add_ids, add_owner, count)
        id_bytes = _encode_levels(add_ids, id_levels, _UNSIGNED_DT)
        # positions: per player the narrowest signed dtype; the rest: the frame's dtype
        add_pos: list[tuple[bytes, list[int], list[bytes]]] = []
        for k in (0, 1):
            col = add_vals[:, k]
            col_levels = _signed_levels(col, add_owner, count)
            add_pos.append(
                (_pack(names[k]) + b"\x92", col_levels, _encode_levels(col, col_levels, _SIGNED_DT))
            )
        add_rest: list[tuple[bytes, bytes, int, bytes]] = []
        for k in range(2, ncols):
            dt = dtypes[k]
            raw = add_vals[:, k].astype(dt.newbyteorder("<")).tobytes()
            key = _pack(names[k]) + b"\x92"  # name: [dtype, values]
            add_rest.append((key, _pack(f"{dt.kind}{dt.itemsize}"), dt.itemsize, raw))
    # -- per player: slices of the bytes above, in msgpack ---------------------------------
    # players with adds, removals or changes of other columns (the rest take a short cut)
    busy_rows = [add_owner, base_owner[gone]]
    col_busy = [0] * count  # players with changes of other columns
    if other is not None and col_changes:
        changed_owner = kept_owner[other.any(axis=1)]
        busy_rows.append(changed_owner)
        col_busy = np.bincount(changed_owner, minlength=count).tolist()
    busy_arr = np.bincount(np.concatenate(busy_rows), minlength=count)
    busy = busy_arr.tolist()
    # the bodies of the players with corrections and nothing else, all at once
    quiet_start = quiet_end = [0] * count
    quiet_raw = b""
    if any_off:
        simple = np.flatnonzero((busy_arr == 0) & (off_arr > 0))
        if simple.shape[0]:
            off_start = np.cumsum(off_arr) - off_arr
            quiet_raw, qs, qe = _xy_bodies(
                simple,
                off_arr,
                kept_n,
                np.asarray(xy_levels, np.intp),
                off_start,
                xy_bytes,
                xy_masks,
                xy_stride,
            )
            starts_arr = np.zeros(count, np.intp)
            ends_arr = np.zeros(count, np.intp)
            starts_arr[simple] = qs
            ends_arr[simple] = qe
            quiet_start, quiet_end = starts_arr.tolist(), ends_arr.tolist()
    # Bodies are built as bytes (no per-player lists or dicts: fewer objects for the
    # collector, and no packing later); the tests compare them with broadcaster.codec.
    bodies: list[bytes] = []
    oo = go = ao = 0
    col_offsets = [0] * len(col_changes)
    xy_key = _KEY_XY
    add_head = _map_head(1 + ncols)
    for j in range(count):
        o = off_n[j]
        if not busy[j]:
            # the common case: nothing but corrections (or nothing at all)
            bodies.append(quiet_raw[quiet_start[j] : quiet_end[j]] if o else _QUIET)
            oo += o
            continue
        xy = b""
        kn = kept_list[j]
        if o:
            lv = xy_levels[j]
            size = 2 << lv
            data = xy_bytes[lv][oo * size : (oo + o) * size]
            if o == kn:
                mask = _NIL
            else:
                mask = _bin(xy_masks[j * xy_stride : j * xy_stride + (kn + 7) // 8])
            xy = xy_key + mask + _SIGNED_KEYS[lv] + _bin(data)
            oo += o
        parts = [xy] if xy else []
        for c, (key, n_c, code, raw, isz, masks, stride) in enumerate(
            col_changes if col_busy[j] else ()
        ):
            m = n_c[j]
            if not m:
                continue
            at = col_offsets[c]
            col_offsets[c] = at + m
            mask = _NIL if m == kn else _bin(masks[j * stride : j * stride + (kn + 7) // 8])
            parts.append(key + mask + code + _bin(raw[at * isz : (at + m) * isz]))
        if not parts:
            changes = _NIL
        elif len(parts) == 1:
            changes = _MAP1 + parts[0]
        else:
            changes = _map_head(len(parts)) + b"".join(parts)
        g = gone_n[j]
        removed = _NIL
        if g:
            removed = _bin(removed_bytes[go * 4 : (go + g) * 4])
            go += g
        a = add_n[j]
        adds = _NIL
        if a:
            il = id_levels[j]
            isz = 1 << il
            cols = [
                add_head,
                _KEY_ID,
                _UNSIGNED_KEYS[il],
                _bin(id_bytes[il][ao * isz : (ao + a) * isz]),
            ]
            for key, lvs, enc in add_pos:
                lv = lvs[j]
                isz = 1 << lv
                cols += (key, _SIGNED_KEYS[lv], _bin(enc[lv][ao * isz : (ao + a) * isz]))
            for key, code, isz, raw in add_rest:
                cols += (key, code, _bin(raw[ao * isz : (ao + a) * isz]))
            adds = b"".join(cols)
            ao += a
        bodies.append(adds + removed + changes + _NIL)
    ends = list(itertools.accumulate(cur_list))
    starts = [0, *ends[:-1]]
    new_gaps = [g if g > 1 else 1 for g in gaps]
    rows = BatchRows(
        ckey,
        cur_ids,
        cur_vals,
        cur_xy,
        new_vel,
        owner,
        ticks_arr,
        list(ticks),
        new_gaps,
        starts,
        ends,
        moving,
    )
    return bodies, rows
