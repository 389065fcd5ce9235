"""WebSocket frame sizes as AWS limits them (pure, sans-I/O).

aiohttp's frame parser enforces a maximum *message* size but knows no per-*frame* limit;
API Gateway closes a connection with 1009 when one frame exceeds 32 KB even though a
message may reach 128 KB in several frames. :class:`FrameScanner` reads only frame headers
(RFC 6455 section 5.2) from the bytes a client sends, before aiohttp parses them, and says
when a frame or a message is too big. It keeps a few integers of state and copies nothing.
:func:`small_text_frames` reads the common case whole: a read that holds only complete,
short, masked text frames (a game's inputs) is decoded without aiohttp's parser, so the
gateway can handle those messages in the read callback itself.
:func:`encode_server_frame` builds the frames the gateway sends (no masking, no
fragmentation, no compression: the gateway never negotiates permessage-deflate).
"""

from __future__ import annotations

import struct

__all__ = ["FrameScanner", "FrameTooBig", "encode_server_frame", "small_text_frames"]

_CONTINUATION = 0x0
_CONTROL_MIN = 0x8


class FrameTooBig(Exception):
    """A data frame or a fragmented message exceeds its limit (close 1009)."""


class FrameScanner:
    """Tracks frame boundaries in a client's byte stream.

    ``feed(data)`` raises :class:`FrameTooBig` as soon as a header announces a data frame
    over ``max_frame`` bytes, or a message whose frames add up past ``max_message`` bytes.
    Malformed frames are left for the real parser to reject.
    """

    __slots__ = ("_header", "_max_frame", "_max_message", "_message", "_skip", "_small_fits")

    def __init__(self, max_frame: int, max_message: int) -> None:
        self._max_frame = max_frame
        self._max_message = max_message
        # an unfragmented data frame with a 7-bit length (<= 125 bytes) is within both
        # limits: the common frame (a game input) takes a shorter path
        self._small_fits = min(max_frame, max_message) >= 125
        self._skip = 0  # payload bytes of the current frame still to pass over
        self._header = b""  # an incomplete header carried over between reads
        self._message = 0  # bytes of the current (fragmented) data message so far

    @property
    def at_boundary(self) -> bool:
        """Is the next byte the start of a frame, outside any fragmented message?"""
        return not (self._skip or self._header or self._message)

    def feed(self, data: bytes) -> None:
        pos = 0
        end = len(data)
        skip = self._skip
        if skip >= end:
            self._skip = skip - end
            return
        pos = skip
        self._skip = 0
        if self._header:
            data = self._header + data[pos:]
            self._header = b""
            pos = 0
            end = len(data)
        small_fits = self._small_fits
        while pos < end:
            if end - pos < 2:
                self._header = data[pos:]
                return
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            if small_fits and length < 126 and (b0 == 0x81 or b0 == 0x82):
                # FIN, text/binary, no RSV bits: a whole message within the limits
                need = 6 if b1 & 0x80 else 2
                if end - pos < need:
                    self._header = data[pos:]
                    return
                self._message = 0
                pos += need + length
                continue
            need = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if b1 & 0x80 else 0)
            if end - pos < need:
                self._header = data[pos:]
                return
            if length == 126:
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            opcode = b0 & 0x0F
            if opcode < _CONTROL_MIN:
                if length > self._max_frame:
                    raise FrameTooBig(f"frame of {length} bytes exceeds {self._max_frame}")
                message = (self._message if opcode == _CONTINUATION else 0) + length
                if message > self._max_message:
                    raise FrameTooBig(f"message of {message} bytes exceeds {self._max_message}")
                self._message = 0 if b0 & 0x80 else message
            pos += need + length
        if pos > end:
            self._skip = pos - end


# A final text frame (FIN + opcode 1, no RSV bits), and the mask bit of the second byte.
_FIN_TEXT = 0x81
_MASKED = 0x80
# The longest payload a 7-bit length field holds.
SHORT_PAYLOAD = 125


def small_text_frames(data: bytes, max_payload: int = SHORT_PAYLOAD) -> list[str] | None:
    """The messages of ``data`` when it is nothing but whole, unfragmented, masked text
    frames of at most ``max_payload`` (<= 125) bytes each, with valid UTF-8; else None, and
    the caller hands ``data`` to the full parser (which also answers every protocol error:
    an unmasked frame, bad UTF-8, a control frame, a fragment, a partial frame).

    Unmasking XORs the payload with the 4-byte key repeated, as two integers: for the
    short payloads taken here that is a handful of C calls, not a loop per byte."""
    texts: list[str] = []
    pos = 0
    end = len(data)
    from_bytes = int.from_bytes
    while pos < end:
        if data[pos] != _FIN_TEXT or end - pos < 6:
            return None
        n = data[pos + 1] - _MASKED  # negative when the client did not mask
        if n < 0 or n > max_payload:
            return None
        start = pos + 6
        pos = start + n
        if pos > end:
            return None
        key = data[start - 4 : start] * ((n >> 2) + 1)
        clear = from_bytes(data[start:pos], "little") ^ from_bytes(key[:n], "little")
        try:
            texts.append(clear.to_bytes(n, "little").decode())
        except UnicodeDecodeError:
            return None
    return texts


_PACK16 = struct.Struct("!BBH").pack
_PACK64 = struct.Struct("!BBQ").pack


def encode_server_frame(data: bytes, opcode: int) -> bytes:
    """One unfragmented, unmasked server-to-client frame (RFC 6455 5.2) of ``data``."""
    n = len(data)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + data
    if n < 65536:
        return _PACK16(first, 126, n) + data
    return _PACK64(first, 127, n) + data
