"""FrameScanner (pure): per-frame and per-message limits over arbitrary read splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.gateway.frames import FrameScanner, FrameTooBig


def frame(n: int, opcode: int = 1, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask = 0x80 if masked else 0
    if n < 126:
        header = bytes([first, mask | n])
    elif n < 65536:
        header = bytes([first, mask | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, mask | 127]) + n.to_bytes(8, "big")
    return header + (b"\x01\x02\x03\x04" if masked else b"") + b"z" * n


def feed_split(scanner: FrameScanner, data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    start = 0
    for p in [*points, len(data)]:
        scanner.feed(data[start:p])
        start = p


@given(
    st.lists(st.tuples(st.integers(0, 200), st.booleans()), min_size=1, max_size=12),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_limits_hold_for_any_split(frames, cuts):
    max_frame, max_message = 120, 300
    stream = b""
    expected_error = False
    message = 0
    first = True
    for size, fin in frames:
        stream += frame(size, 1 if first else 0, fin)
        message += size
        if size > max_frame or message > max_message:
            expected_error = True
            break
        if fin:
            message, first = 0, True
        else:
            first = False
        # interleave a ping (control frames never count)
        stream += frame(3, 0x9)
    scanner = FrameScanner(max_frame, max_message)
    if expected_error:
        with pytest.raises(FrameTooBig):
            feed_split(scanner, stream, cuts)
    else:
        feed_split(scanner, stream, cuts)


def test_64_bit_lengths_and_exact_limits():
    scanner = FrameScanner(32 * 1024, 128 * 1024)
    scanner.feed(frame(32 * 1024))
    with pytest.raises(FrameTooBig):
        FrameScanner(32 * 1024, 128 * 1024).feed(frame(70_000)[:20])
