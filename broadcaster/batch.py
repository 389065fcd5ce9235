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

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from broadcaster.views import MatchTable, Snapshot

__all__ = ["Body", "diff_match"]

# [adds, removed, changes, meta], as broadcaster.codec._body builds it
Body = list[Any]

_SIGNED_CODES = ("i1", "i2", "i4", "i8")
_UNSIGNED_CODES = ("u1", "u2", "u4", "u8")
_SIGNED_DT = tuple(np.dtype(c).newbyteorder("<") for c in _SIGNED_CODES)
_UNSIGNED_DT = tuple(np.dtype(c).newbyteorder("<") for c in _UNSIGNED_CODES)
_SIGNED_LIMITS = (2**7, 2**15, 2**31)  # level k holds [-limit, limit - 1]
_UNSIGNED_LIMITS = (2**8, 2**16, 2**32)
_ZERO_VEL = np.zeros((0, 2), np.int64)


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


def diff_match(
    table: MatchTable,
    players: Sequence[int],
    bases: Sequence[Snapshot],
    tolerance: int = 0,
) -> list[tuple[Body, Snapshot]]:
    """For each ``players[j]`` (an index into ``table.frame.players``) with baseline
    ``bases[j]`` (same columns as the table): the encoded body of
    ``diff(bases[j], table.view(slot), table, tolerance)`` and the baseline it returns."""
    count = len(players)
    if count == 0:
        return []
    snap = table.snapshot
    tick = snap.tick
    ncols = snap.values.shape[1]
    # -- views: every player's visible rows, concatenated (players ascending) -------------
    vis = table.visible[np.asarray(players, np.intp)]
    owner, rows = np.nonzero(vis)
    cur_counts = np.count_nonzero(vis, axis=1)
    cur_ids = snap.ids[rows]
    cur_vals = snap.values[rows]
    # -- baselines, concatenated ----------------------------------------------------------
    base_counts = [b.ids.shape[0] for b in bases]
    base_ids = np.concatenate([b.ids for b in bases]) if count > 1 else bases[0].ids
    base_vals = np.concatenate([b.values for b in bases])
    base_vel = np.concatenate(
        [b.vel if b.vel is not None else _zero_vel(b.ids.shape[0]) for b in bases]
    )
    base_owner = np.repeat(np.arange(count, dtype=np.intp), base_counts)
    gaps = [max(tick - b.tick, 0) for b in bases]
    # -- match rows: keys player << 32 | id, ascending on both sides -----------------------
    bkey = (base_owner.astype(np.int64) << 32) | base_ids.astype(np.int64)
    ckey = (owner.astype(np.int64) << 32) | cur_ids.astype(np.int64)
    nb = bkey.shape[0]
    if nb:
        pos = np.searchsorted(bkey, ckey)
        np.minimum(pos, nb - 1, out=pos)
        found = bkey[pos] == ckey
    else:
        pos = np.zeros(ckey.shape[0], np.intp)
        found = np.zeros(ckey.shape[0], np.bool_)
    base_rows = pos[found]
    gone = np.ones(nb, np.bool_)
    gone[base_rows] = False
    kept_owner = owner[found]
    # -- prediction and errors for every kept row -------------------------------------------
    old = base_vals[base_rows]
    new = cur_vals[found]
    vel = base_vel[base_rows]
    gap_row = np.asarray(gaps, np.int64)[kept_owner][:, None]
    last_row = np.asarray([max(b.gap, 1) for b in bases], np.int64)[kept_owner][:, None]
    pred_xy = old[:, :2] + (vel * gap_row) // last_row
    err_xy = new[:, :2] - pred_xy
    flags = np.abs(err_xy) > tolerance
    off = flags[:, 0] | flags[:, 1]
    landed = np.where(off[:, None], new[:, :2], pred_xy)
    moved = landed - old[:, :2]
    values = cur_vals.copy()
    values[found, :2] = landed
    new_vel = np.zeros((cur_vals.shape[0], 2), np.int64)
    new_vel[found] = moved
    other = new[:, 2:] != old[:, 2:] if ncols > 2 else None
    # -- per-player counts ----------------------------------------------------------------
    kept_n = np.bincount(kept_owner, minlength=count)
    off_n = np.bincount(kept_owner[off], minlength=count).tolist()
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
        partial = [0 < o < k for o, k in zip(off_n, kept_list, strict=True)]
        xy_masks, xy_stride = (
            _masks(off, kpos, kept_owner, count, width) if any(partial) else (b"", 0)
        )
    # -- other columns: new absolute values where they changed -----------------------------
    names, dtypes = table.names, table.dtypes
    col_changes: list[tuple[str, list[int], str, bytes, int, bytes, int]] = []
    if other is not None and other.shape[0]:
        changed_cols = other.any(axis=0).tolist()
        for c, hit in enumerate(changed_cols):
            if not hit:
                continue
            k = c + 2
            sel = other[:, c]
            n_c = np.bincount(kept_owner[sel], minlength=count).tolist()
            dt = dtypes[k]
            code = f"{dt.kind}{dt.itemsize}"
            raw = new[sel, k].astype(dt.newbyteorder("<")).tobytes()
            masks, stride = _masks(sel, kpos, kept_owner, count, width)
            col_changes.append((names[k], n_c, code, raw, dt.itemsize, masks, stride))
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
        add_pos: list[tuple[str, list[int], list[bytes]]] = []
        for k in (0, 1):
            col = add_vals[:, k]
            lv = _signed_levels(col, add_owner, count)
            add_pos.append((names[k], lv, _encode_levels(col, lv, _SIGNED_DT)))
        add_rest: list[tuple[str, str, int, bytes]] = []
        for k in range(2, ncols):
            dt = dtypes[k]
            raw = add_vals[:, k].astype(dt.newbyteorder("<")).tobytes()
            add_rest.append((names[k], f"{dt.kind}{dt.itemsize}", dt.itemsize, raw))
    # -- per player: slices of the bytes above ---------------------------------------------
    out: list[tuple[Body, Snapshot]] = []
    cur_list = cur_counts.tolist()
    s = oo = go = ao = 0
    col_offsets = [0] * len(col_changes)
    for j in range(count):
        n = cur_list[j]
        e = s + n
        changes: dict[str, list[Any]] | None = None
        o = off_n[j]
        kn = kept_list[j]
        if o:
            lv = xy_levels[j]
            size = 2 * (1 << lv)
            data = xy_bytes[lv][oo * size : (oo + o) * size]
            mask = None if o == kn else xy_masks[j * xy_stride : j * xy_stride + (kn + 7) // 8]
            changes = {"xy": [mask, _SIGNED_CODES[lv], data]}
            oo += o
        for c, (name, n_c, code, raw, isz, masks, stride) in enumerate(col_changes):
            m = n_c[j]
            if not m:
                continue
            at = col_offsets[c]
            col_offsets[c] = at + m
            mask = None if m == kn else masks[j * stride : j * stride + (kn + 7) // 8]
            if changes is None:
                changes = {}
            changes[name] = [mask, code, raw[at * isz : (at + m) * isz]]
        g = gone_n[j]
        removed = None
        if g:
            removed = removed_bytes[go * 4 : (go + g) * 4]
            go += g
        a = add_n[j]
        adds = None
        if a:
            il = id_levels[j]
            isz = 1 << il
            adds = {"id": [_UNSIGNED_CODES[il], id_bytes[il][ao * isz : (ao + a) * isz]]}
            for name, lvs, enc in add_pos:
                lv = lvs[j]
                isz = 1 << lv
                adds[name] = [_SIGNED_CODES[lv], enc[lv][ao * isz : (ao + a) * isz]]
            for name, code, isz, raw in add_rest:
                adds[name] = [code, raw[ao * isz : (ao + a) * isz]]
            ao += a
        baseline = Snapshot(
            tick,
            cur_ids[s:e],
            values[s:e],
            new_vel[s:e] if moving[j] else None,
            max(gaps[j], 1),
        )
        out.append(([adds, removed, changes, None], baseline))
        s = e
    return out

