"""The wire format: encode/decode round trips, the header peek, and bad input."""

from __future__ import annotations

import struct

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.client_state import WorldView
from broadcaster.codec import (
    HEADER_SIZE,
    Block,
    Change,
    Header,
    Update,
    decode_message,
    encode,
    peek_header,
)
from broadcaster.errors import ProtocolError


def _header(**kw: object) -> Header:
    base = dict(
        tick=7,
        ack_seq=3,
        part_index=0,
        part_count=1,
        full=True,
        ended=False,
        base_tick=0,
        self_id=12,
        scale=16,
    )
    base.update(kw)
    return Header(**base)  # type: ignore[arg-type]


def test_message_starts_with_fixed_header_and_peek_reads_it() -> None:
    h = _header(tick=123456, ack_seq=99, full=False, ended=True, base_tick=123455, self_id=-1)
    data = encode(h, Update())
    assert data[:3] == bytes([0x95, 0xC4, HEADER_SIZE])
    assert peek_header(data) == h
    tick, ack, *_ = peek_header(data)
    assert (tick, ack) == (123456, 99)


def test_full_state_round_trip_keeps_columns_dtypes_and_meta() -> None:
    ids = np.array([3, 9, 40], np.uint32)
    adds = Block(
        ids,
        {
            "kind": np.array([1, 2, 1], np.uint8),
            "x": np.array([-5, 0, 70000], np.int32),
            "y": np.array([1, 2, 3], np.int32),
            "score": np.array([0, 65535, 7], np.uint16),
        },
    )
    msg = decode_message(encode(_header(), Update(adds=adds, meta={"arena": [10, 20]})))
    assert msg.update is not None and msg.update.adds is not None
    assert msg.update.meta == {"arena": [10, 20]}
    np.testing.assert_array_equal(msg.update.adds.ids, ids)
    for name, col in adds.columns.items():
        got = msg.update.adds.columns[name]
        np.testing.assert_array_equal(got, col)
        assert got.dtype == col.dtype.newbyteorder("<")


def test_changes_round_trip_mask_and_all_rows() -> None:
    mask = np.array([True, False, True, False, False, False, False, False, True])
    upd = Update(
        changes={
            "x": Change(mask, np.array([1, -1, 5], np.int8)),
            "y": Change(None, np.array([0, 1, 2, 3, 4, 5, 6, 7, 8], np.int8)),
        },
        removed=np.array([5, 6], np.uint32),
    )
    got = decode_message(encode(_header(full=False), upd)).update
    assert got is not None
    assert got.changes["x"].mask is not None
    np.testing.assert_array_equal(got.changes["x"].mask[:9], mask)
    assert got.changes["y"].mask is None
    np.testing.assert_array_equal(got.removed, [5, 6])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x95",
        b"\x95\xc4\x18" + b"\x00" * 24,  # version 0
        msgpack.packb([b"x" * 24]),
        msgpack.packb({"a": 1}),
        msgpack.packb(
            [b"\x01\x00\x01\x00\x01\x00" + b"\x00" * 18, None, None, None, None]
        ),  # part 1 of 1
        msgpack.packb([b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18, {"x": 1}, None, None, None]),
        msgpack.packb(
            [
                b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18,
                {"id": ["u4", b"\x00" * 8], "x": ["i4", b"\x00" * 4]},
                None,
                None,
                None,
            ]
        ),
        msgpack.packb([b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18, None, b"abc", None, None]),
        msgpack.packb(
            [
                b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18,
                None,
                None,
                {"x": [b"\x07", "i1", b"\x01"]},
                None,
            ]
        ),
        msgpack.packb(
            [
                b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18,
                None,
                None,
                {"x": [None, "f4", b"\x01\x00\x00\x00"]},
                None,
            ]
        ),
    ],
)
def test_bad_input_raises_protocol_error_with_reason(data: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(data)
    assert info.value.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        decode_message(b"\x95\xc4\x18" + data)
    except ProtocolError:
        pass


def test_version_2_headers_carry_the_dropped_inputs_and_version_1_is_still_read() -> None:
    header = Header(9, 40, 0, 1, True, False, 0, 3, 4, dropped=6, dropped_seq=46)
    data = encode(header, Update())
    assert data[:3] == bytes([0x95, 0xC4, 32])
    got = peek_header(data)
    assert (got.version, got.ack_seq, got.dropped, got.dropped_seq) == (2, 40, 6, 46)
    # A version-1 message (24-byte header, no refusals known) decodes with zeros.
    v1 = struct.pack("<BBHHHIIIi", 1, 1, 0, 1, 4, 9, 40, 0, 3)
    old = peek_header(msgpack.packb([v1, None, None, None, None]))
    assert (old.version, old.tick, old.ack_seq, old.dropped, old.dropped_seq) == (1, 9, 40, 0, 0)
    world = WorldView()
    world.apply(data)
    assert (world.ack_seq, world.dropped, world.dropped_seq) == (40, 6, 46)
