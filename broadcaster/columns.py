"""Columns of many players encoded at once: dtypes, bit masks and msgpack pieces as bytes.

The batched bodies (:mod:`broadcaster.batch`) are written as bytes directly rather than
packed from per-player lists and dicts; these are the pieces, each computed once per send
tick for every player:

- the narrowest wire dtype of each player's values (``smallest_signed`` and
  ``smallest_unsigned`` of :mod:`broadcaster.delta`, per player, by level: index into
  ``SIGNED_DTYPES`` / ``UNSIGNED_DTYPES``) and the values in every dtype some player needs;
- bit masks over each player's kept rows, packed for all players at once;
- msgpack headers (``bin``, ``map``) and the constant keys, packed once.

:mod:`broadcaster.pieces` lays them out, every player's body at once.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

__all__ = [
    "KEY_ID",
    "KEY_XY",
    "NIL",
    "SIGNED_DTYPES",
    "SIGNED_KEYS",
    "UNSIGNED_DTYPES",
    "UNSIGNED_KEYS",
    "encode_levels",
    "map_head",
    "masks",
    "pack",
    "signed_levels",
    "unsigned_levels",
    "wire_code",
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
KEY_XY = pack("xy") + b"\x93"  # "xy": [mask, dtype, values]
KEY_ID = pack("id") + b"\x92"  # "id": [dtype, values]
SIGNED_KEYS = tuple(pack(c) for c in _SIGNED_CODES)
UNSIGNED_KEYS = tuple(pack(c) for c in _UNSIGNED_CODES)


def wire_code(dt: np.dtype[Any]) -> str:
    """The protocol's dtype code of an integer dtype (``"u1"``, ``"i4"``, ...)."""
    return f"{dt.kind}{dt.itemsize}"


def map_head(n: int) -> bytes:
    """msgpack map header for ``n`` entries."""
    if n < 16:
        return (0x80 | n).to_bytes(1, "big")
    if n < 0x10000:
        return b"\xde" + n.to_bytes(2, "big")
    return b"\xdf" + n.to_bytes(4, "big")


def unsigned_levels(
    values: npt.NDArray[np.int64], owner: npt.NDArray[np.intp], players: int
) -> tuple[npt.NDArray[np.intp], list[int]]:
    """Exact ``smallest_unsigned`` per player: the index of the narrowest of u1/u2/u4/u8
    that holds all its non-negative ``values`` (rows owned by ``owner``); and the levels
    that occur (a player without rows is at level 0), ascending."""
    if values.shape[0] == 0 or int(values.max()) < _UNSIGNED_LIMITS[0]:
        return np.zeros(players, np.intp), [0]  # the common case: everything fits 8 bits
    return _levels(values, owner, players, _UNSIGNED_LIMITS)


def signed_levels(
    values: npt.NDArray[np.int64], owner: npt.NDArray[np.intp], players: int
) -> tuple[npt.NDArray[np.intp], list[int]]:
    """Exact ``smallest_signed`` per player (values may be 1-D or rows x 2), and the
    levels that occur, as :func:`unsigned_levels`."""
    if values.shape[0] == 0:
        return np.zeros(players, np.intp), [0]
    lo, hi = int(values.min()), int(values.max())
    if -_SIGNED_LIMITS[0] <= lo and hi < _SIGNED_LIMITS[0]:
        return np.zeros(players, np.intp), [0]  # the common case: everything fits 8 bits
    # v is outside [-limit, limit - 1] exactly when max(v, ~v) = max(v, -v - 1) >= limit
    folded = np.maximum(values, ~values)
    if folded.ndim == 2:  # rows x 2: a row needs what its wider value needs
        folded = np.maximum(folded[:, 0], folded[:, 1])
    return _levels(folded, owner, players, _SIGNED_LIMITS)


def _levels(
    folded: npt.NDArray[np.int64],
    owner: npt.NDArray[np.intp],
    players: int,
    limits: tuple[int, int, int],
) -> tuple[npt.NDArray[np.intp], list[int]]:
    """Per player, the number of ``limits`` its largest (non-negative) value reaches;
    and the levels that occur."""
    top = np.zeros(players, np.int64)
    np.maximum.at(top, owner, folded)  # (ufunc.at is fast only with one dtype throughout)
    levels = (top >= limits[0]).astype(np.intp)
    levels += top >= limits[1]
    levels += top >= limits[2]
    return levels, np.flatnonzero(np.bincount(levels, minlength=1)).tolist()


def encode_levels(
    values: npt.NDArray[np.int64], levels: list[int], dts: tuple[np.dtype[Any], ...]
) -> list[bytes]:
    """``values`` as bytes in each dtype of ``levels`` (index by level; the others empty)."""
    out: list[bytes] = [b""] * len(dts)
    for level in levels:
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
