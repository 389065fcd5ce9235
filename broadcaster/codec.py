"""The state message: what the gateway sends each player, as msgpack bytes.

Theory of operation (the full format for client implementers is ``docs/protocol.md``):

A message is a msgpack array. Element 0 is a 32-byte msgpack ``bin`` holding a
fixed-layout little-endian :data:`HEADER_STRUCT` (so :func:`peek_header` reads it with one
``struct.unpack_from`` at byte offset 3, without decoding the rest). Version 2 added
``dropped`` and ``dropped_seq`` after the 24 bytes of version 1: the player's inputs the
server refused unapplied, so ``ack_seq`` never stands for an input that was not applied;
decoders still read version 1 (no refusals known). Then, for a message in one part::

    [header, adds, removed, changes, meta]

- ``adds``: entities new to the player's view (every visible entity in a full state), as a
  column block ``{name: [dtype, bin]}`` (``id``, ``kind``, ``x``, ``y``, integer fields);
  ``x``/``y`` are absolute quantised positions (int32, ``round(world * scale)``).
- ``removed``: ``bin`` of little-endian uint32 ids that left the view, or nil.
- ``changes``: ``{name: [mask, dtype, bin]}`` for entities the client already has; ``mask``
  is a little-endian bitset over the client's ids in ascending order (after removals), or
  nil for "every row"; ``xy`` holds position corrections to the predicted motion (x and y
  interleaved, two values per row), other columns the new absolute values.
- ``meta``: the match description (full states only), else nil.

An update larger than the WebSocket frame limit is split by :mod:`broadcaster.parts` into parts
``[header, chunk]``: the ``chunk`` bins of parts ``0..n-1`` concatenated are the msgpack
encoding of ``[adds, removed, changes, meta]``.

Decoding either returns a :class:`Message` or raises :class:`~broadcaster.errors.ProtocolError`
with a reason; nothing else escapes for any input bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack
import numpy as np
import numpy.typing as npt

from broadcaster.errors import ProtocolError

__all__ = [
    "FLAG_ENDED",
    "FLAG_FULL",
    "FLAG_REPLACED",
    "HEADER_SIZE",
    "HEADER_STRUCT",
    "PROTOCOL_VERSION",
    "WIRE_DTYPES",
    "Block",
    "Change",
    "Header",
    "Message",
    "Update",
    "decode_body",
    "decode_message",
    "encode",
    "encode_update_body",
    "pack_header",
    "peek_header",
]

PROTOCOL_VERSION = 2
FLAG_FULL = 0x01  # a full state: the client drops what it has and takes ``adds``
FLAG_ENDED = 0x02  # the match has ended; this is the last message
# The player connected again: this older connection gets this message, nothing else, and
# is closed; its client must not reconnect (it would take the newer one's place).
FLAG_REPLACED = 0x04

# version u8, flags u8, part_index u16, part_count u16, scale u16 (quanta per world unit),
# tick u32, ack_seq u32, base_tick u32, self_id i32 (the player's own entity, -1 none),
# dropped u32 (the player's inputs refused unapplied, cumulative), dropped_seq u32 (the
# latest of them, 0 none)
HEADER_STRUCT = struct.Struct("<BBHHHIIIiII")
HEADER_SIZE = HEADER_STRUCT.size  # 32
# Version 1: the same fields without dropped/dropped_seq (read, never written).
_V1_STRUCT = struct.Struct("<BBHHHIIIi")
# The message starts with a fixarray marker, then bin8 (0xc4) of HEADER_SIZE bytes.
_HEADER_OFFSET = 3

# Wire dtype codes (little-endian) and the NumPy dtype of each; the JS decoder has the
# same table. Only integer columns travel: positions are quantised before encoding.
WIRE_DTYPES: dict[str, np.dtype[Any]] = {
    code: np.dtype(code).newbyteorder("<")
    for code in ("i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8")
}

RESERVED_COLUMNS = ("id", "kind", "x", "y")


class Header(NamedTuple):
    """The fixed part of every message; ``peek_header`` returns it without decoding."""

    tick: int
    ack_seq: int
    part_index: int
    part_count: int
    full: bool
    ended: bool
    base_tick: int
    self_id: int
    scale: int
    version: int = PROTOCOL_VERSION
    # Inputs of this player the server refused without applying them (its flood bound),
    # since it joined the match, and the seq of the latest: ack_seq does not cover them.
    dropped: int = 0
    dropped_seq: int = 0
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """Entities as columns: ``ids`` (unsigned, at most 32 bits) and one integer array per
    column name."""

    ids: npt.NDArray[np.unsignedinteger[Any]]
    columns: Mapping[str, npt.NDArray[np.integer[Any]]]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class Change:
    """New values of one column for some of the rows the client has.

    ``mask`` is None for "every row" or a bool array as long as the client's row count;
    ``values`` has one entry per set mask bit (position columns: quantised differences).
    """

    mask: npt.NDArray[np.bool_] | None
    values: npt.NDArray[np.integer[Any]]


@dataclass(frozen=True, slots=True)
class Update:
    """Everything one message says about the world, before it is split into parts."""

    adds: Block | None = None
    removed: npt.NDArray[np.uint32] | None = None
    changes: Mapping[str, Change] = field(default_factory=dict)
    meta: Mapping[str, Any] | None = None

    def is_empty(self) -> bool:
        return (
            (self.adds is None or len(self.adds) == 0)
            and (self.removed is None or self.removed.shape[0] == 0)
            and not self.changes
            and self.meta is None
        )


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message: its header and either the update or, for one part of a split
    update, the raw ``chunk`` (see :func:`decode_body` to decode the joined chunks)."""

    header: Header
    update: Update | None
    chunk: bytes | None = None


def pack_header(header: Header) -> bytes:
    flags = (
        (FLAG_FULL if header.full else 0)
        | (FLAG_ENDED if header.ended else 0)
        | (FLAG_REPLACED if header.replaced else 0)
    )
    return HEADER_STRUCT.pack(
        header.version,
        flags,
        header.part_index,
        header.part_count,
        header.scale,
        header.tick & 0xFFFFFFFF,
        header.ack_seq & 0xFFFFFFFF,
        header.base_tick & 0xFFFFFFFF,
        header.self_id,
        header.dropped & 0xFFFFFFFF,
        header.dropped_seq & 0xFFFFFFFF,
    )


def _column(arr: npt.NDArray[np.integer[Any]]) -> list[Any]:
    if arr.dtype.kind not in "iu":
        raise ValueError(f"column dtype {arr.dtype} is not an integer wire dtype")
    code = f"{arr.dtype.kind}{arr.dtype.itemsize}"
    return [code, arr.astype(WIRE_DTYPES[code], copy=False).tobytes()]


def _body(update: Update) -> list[Any]:
    adds = None
    if update.adds is not None and len(update.adds):
        adds = {"id": _column(update.adds.ids)}
        for name, col in update.adds.columns.items():
            adds[name] = _column(col)
    removed = None
    if update.removed is not None and update.removed.shape[0]:
        removed = update.removed.astype("<u4", copy=False).tobytes()
    changes = None
    if update.changes:
        changes = {
            name: [
                None if ch.mask is None else np.packbits(ch.mask, bitorder="little").tobytes(),
                *_column(ch.values),
            ]
            for name, ch in update.changes.items()
        }
    meta = dict(update.meta) if update.meta is not None else None
    return [adds, removed, changes, meta]


def encode_update_body(update: Update) -> bytes:
    """The msgpack encoding of ``[adds, removed, changes, meta]`` (what split parts carry)."""
    data: bytes = msgpack.packb(_body(update), use_bin_type=True)
    return data


def encode(header: Header, update: Update) -> bytes:
    """One message in one part (``header.part_count`` must be 1)."""
    data: bytes = msgpack.packb([pack_header(header), *_body(update)], use_bin_type=True)
    return data


def peek_header(data: bytes) -> Header:
    """The header of a message or part, read at a fixed offset (a few hundred ns)."""
    size = data[2] if len(data) > 2 else 0
    if data[1:2] != b"\xc4" or size not in (HEADER_SIZE, _V1_STRUCT.size):
        raise ProtocolError("not a tickwire state message (bad header marker)")
    if len(data) < _HEADER_OFFSET + size:
        raise ProtocolError("not a tickwire state message (bad header marker)")
    if data[0] & 0xF0 != 0x90:
        raise ProtocolError("not a tickwire state message (not an array)")
    dropped = dropped_seq = 0
    if size == HEADER_SIZE:
        version, flags, part, parts, scale, tick, ack, base, self_id, dropped, dropped_seq = (
            HEADER_STRUCT.unpack_from(data, _HEADER_OFFSET)
        )
    else:
        version, flags, part, parts, scale, tick, ack, base, self_id = _V1_STRUCT.unpack_from(
            data, _HEADER_OFFSET
        )
    if (version, size) not in ((PROTOCOL_VERSION, HEADER_SIZE), (1, _V1_STRUCT.size)):
        raise ProtocolError(f"unsupported protocol version {version}")
    if parts == 0 or part >= parts:
        raise ProtocolError(f"bad part {part} of {parts}")
    return Header(
        tick,
        ack,
        part,
        parts,
        bool(flags & FLAG_FULL),
        bool(flags & FLAG_ENDED),
        base,
        self_id,
        scale,
        version,
        dropped,
        dropped_seq,
        bool(flags & FLAG_REPLACED),
    )


def _decode_column(value: Any, what: str) -> npt.NDArray[np.integer[Any]]:
    if not (isinstance(value, list) and len(value) == 2):
        raise ProtocolError(f"{what}: expected [dtype, bin]")
    code, raw = value
    dt = WIRE_DTYPES.get(code) if isinstance(code, str) else None
    if dt is None or not isinstance(raw, bytes):
        raise ProtocolError(f"{what}: bad dtype {code!r} or data")
    if len(raw) % dt.itemsize:
        raise ProtocolError(f"{what}: {len(raw)} bytes is not a whole number of {code}")
    return np.frombuffer(raw, dtype=dt)


def _decode_body(items: list[Any]) -> Update:
    adds_raw, removed_raw, changes_raw, meta = (items + [None] * 4)[:4]
    adds = None
    if adds_raw is not None:
        if not isinstance(adds_raw, dict) or "id" not in adds_raw:
            raise ProtocolError("adds: expected a column map with 'id'")
        ids = _decode_column(adds_raw["id"], "adds.id")
        if ids.dtype.kind != "u" or ids.dtype.itemsize > 4:
            raise ProtocolError("adds.id: must be u1, u2 or u4")
        cols = {}
        for name, value in adds_raw.items():
            if name == "id":
                continue
            col = _decode_column(value, f"adds.{name}")
            if col.shape[0] != ids.shape[0]:
                raise ProtocolError(f"adds.{name}: {col.shape[0]} rows, expected {ids.shape[0]}")
            cols[str(name)] = col
        adds = Block(ids.astype(np.uint32), cols)
    removed = None
    if removed_raw is not None:
        if not isinstance(removed_raw, bytes) or len(removed_raw) % 4:
            raise ProtocolError("removed: expected a bin of uint32")
        removed = np.frombuffer(removed_raw, dtype="<u4").astype(np.uint32)
    changes: dict[str, Change] = {}
    if changes_raw is not None:
        if not isinstance(changes_raw, dict):
            raise ProtocolError("changes: expected a map")
        for name, value in changes_raw.items():
            if not (isinstance(value, list) and len(value) == 3):
                raise ProtocolError(f"changes.{name}: expected [mask, dtype, bin]")
            values = _decode_column(value[1:], f"changes.{name}")
            mask_raw = value[0]
            mask = None
            if mask_raw is not None:
                if not isinstance(mask_raw, bytes):
                    raise ProtocolError(f"changes.{name}: mask must be bin or nil")
                bits = np.unpackbits(np.frombuffer(mask_raw, np.uint8), bitorder="little")
                mask = bits.astype(np.bool_)
                # The mask is padded to whole bytes; its set bits must match the values
                # (two per row for the interleaved position corrections, "xy").
                width = 2 if name == "xy" else 1
                if int(np.count_nonzero(mask)) * width != values.shape[0]:
                    raise ProtocolError(f"changes.{name}: mask and values disagree")
            changes[str(name)] = Change(mask, values)
    if meta is not None and not isinstance(meta, dict):
        raise ProtocolError("meta: expected a map")
    return Update(adds, removed, changes, meta)


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise ProtocolError(f"{what}: not valid msgpack ({exc})") from exc


def decode_body(data: bytes) -> Update:
    """Decode the joined chunks of a split update."""
    items = _unpack(data, "body")
    if not isinstance(items, list) or len(items) != 4:
        raise ProtocolError("body: expected [adds, removed, changes, meta]")
    return _decode_body(items)


def decode_message(data: bytes) -> Message:
    """Decode one message (or one part of a split update); raises ProtocolError."""
    header = peek_header(data)
    items = _unpack(data, "message")
    if not isinstance(items, list):
        raise ProtocolError("message: expected an array")
    if header.part_count > 1:
        if len(items) != 2 or not isinstance(items[1], bytes):
            raise ProtocolError("part: expected [header, chunk]")
        return Message(header, None, items[1])
    if len(items) != 5:
        raise ProtocolError("message: expected [header, adds, removed, changes, meta]")
    return Message(header, _decode_body(items[1:]))
