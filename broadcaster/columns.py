"""Columns of many players encoded at once: dtypes, bit masks and msgpack pieces as bytes.

The batched deltas (:mod:`broadcaster.batch`) write message bodies as bytes directly
rather than packing per-player lists and dicts; these are the pieces, each computed once
per send tick for every player:

- the narrowest wire dtype of each player's values (``smallest_signed`` and
  ``smallest_unsigned`` of :mod:`broadcaster.delta`, per player, by level: index into
  ``SIGNED_DTYPES`` / ``UNSIGNED_DTYPES``) and the values in every dtype some player needs;
- bit masks over each player's kept rows, packed for all players at once;
- msgpack headers (``bin``, ``map``) and the constant keys, packed once.

The bodies of the players whose update is nothing but position corrections (most of them,
in steady play) are assembled in one NumPy buffer by :func:`xy_bodies`.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

__all__ = [
    "BIN8",
    "KEY_ID",
    "KEY_XY",
    "MAP1",
    "NIL",
    "SIGNED_DTYPES",
    "SIGNED_KEYS",
    "UNSIGNED_DTYPES",
    "UNSIGNED_KEYS",
    "bin_of",
    "encode_levels",
    "map_head",
    "masks",
    "pack",
    "segments",
    "signed_levels",
    "unsigned_levels",
    "wire_code",
    "xy_bodies",
]

_SIGNED_CODES = ("i1", "i2", "i4", "i8")
_UNSIGNED_CODES = ("u1", "u2", "u4", "u8")
SIGNED_DTYPES = tuple(np.dtype(c).newbyteorder("<") for c in _SIGNED_CODES)
UNSIGNED_DTYPES = tuple(np.dtype(c).newbyteorder("<") for c in _UNSIGNED_CODES)
_SIGNED_LIMITS = (2**7, 2**15, 2**31)  # level k holds [-limit, limit - 1]
_UNSIGNED_LIMITS = (2**8, 2**16, 2**32)

_packer = msgpack.Packer(use_bin_type=True)


def pack(value: Any) -> bytes:
    """msgpack of ``value``, packed as :mod:`broadcaster.codec` packs it."""
    data: bytes = _packer.pack(value)
    return data


NIL = pack(None)
MAP1 = b"\x81"  # a map of one entry
KEY_XY = pack("xy") + b"\x93"  # "xy": [mask, dtype, values]
KEY_ID = pack("id") + b"\x92"  # "id": [dtype, values]
SIGNED_KEYS = tuple(pack(c) for c in _SIGNED_CODES)
UNSIGNED_KEYS = tuple(pack(c) for c in _UNSIGNED_CODES)
BIN8 = tuple(b"\xc4" + bytes((n,)) for n in range(0x100))


def wire_code(dt: np.dtype[Any]) -> str:
    """The protocol's dtype code of an integer dtype (``"u1"``, ``"i4"``, ...)."""
    return f"{dt.kind}{dt.itemsize}"


def bin_of(data: bytes) -> bytes:
    """msgpack bin of ``data``."""
    n = len(data)
    if n < 0x100:
        return BIN8[n] + data
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big") + data
    return b"\xc6" + n.to_bytes(4, "big") + data


def map_head(n: int) -> bytes:
    """msgpack map header for ``n`` entries."""
    if n < 16:
        return (0x80 | n).to_bytes(1, "big")
    if n < 0x10000:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def unsigned_levels(
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


def signed_levels(
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


def encode_levels(
    values: npt.NDArray[np.int64], levels: list[int], dts: tuple[np.dtype[Any], ...]
) -> list[bytes]:
    """``values`` as bytes in each dtype some player needs (index by level)."""
    out: list[bytes] = [b""] * len(dts)
    for level in set(levels):
        out[level] = values.astype(dts[level]).tobytes()
    return out


def masks(
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


def segments(
    dst: npt.NDArray[np.intp], src: npt.NDArray[np.intp], lens: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Byte indexes that copy ``lens[i]`` bytes from ``src[i]`` to ``dst[i]``, for all i."""
    ends = np.cumsum(lens)
    rep = np.repeat(np.arange(lens.shape[0], dtype=np.intp), lens)
    within = np.arange(int(ends[-1]) if ends.shape[0] else 0, dtype=np.intp) - (ends - lens)[rep]
    return dst[rep] + within, src[rep] + within


# [nil, nil, {"xy": [: the first bytes of a body with only position corrections
_XY_PREFIX = np.frombuffer(NIL + NIL + MAP1 + KEY_XY, np.uint8)


def xy_bodies(
    players: npt.NDArray[np.intp],
    off_n: npt.NDArray[np.intp],
    kept_n: npt.NDArray[np.intp],
    levels: npt.NDArray[np.intp],
    off_start: npt.NDArray[np.intp],
    xy_bytes: list[bytes],
    mask_bytes: bytes,
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
        dst, src = segments(at[part] + 2, players[part] * stride, mask_len[part])
        buf[dst] = np.frombuffer(mask_bytes, np.uint8)[src]
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
    dst, src = segments(at, level_base[lv] + off_start[players] * 2 * isz, size)
    buf[dst] = source[src]
    buf[ends - 1] = 0xC0
    return buf.tobytes(), start, ends
