"""Parts: every message within the WebSocket frame limit, nothing dropped.

An update that encodes within ``limit`` bytes is one message. A larger one is split at the
byte level: its body (the msgpack of ``[adds, removed, changes, meta]``) is cut into
chunks, and each chunk travels as a part ``[header, chunk]`` whose header repeats the tick
and carries ``part_index``/``part_count``. The client joins the chunks of parts
``0..n-1`` and decodes them as one body (:class:`broadcaster.client_state.WorldView` does
it), so a split update applies exactly like the unsplit one, at one tick.

Why split rather than defer: deferral would need a priority order the rules do not give
and would leave far entities stale for a send; a split costs ``PART_OVERHEAD`` bytes per
extra part and keeps the world exact. Parts of one update go out one after another on the
same connection (the fan-out never interleaves two updates on a connection).
"""

from __future__ import annotations

import msgpack

from broadcaster.codec import (
    HEADER_SIZE,
    Header,
    Message,
    Update,
    decode_body,
    decode_message,
    encode,
    encode_update_body,
    pack_header,
)
from broadcaster.errors import ProtocolError

__all__ = [
    "FRAME_LIMIT",
    "MAX_PARTS",
    "PART_OVERHEAD",
    "reassemble",
    "split_body",
    "split_update",
]

# API Gateway WebSocket frame size quota: 32 KB (aws-websocket-api.md, Quotas), which is
# also the metering unit; one message per frame keeps every message one metered unit.
FRAME_LIMIT = 32 * 1024
# fixarray(1) + bin8 header (2 + HEADER_SIZE) + bin32 chunk marker (5): an upper bound.
PART_OVERHEAD = 1 + 2 + HEADER_SIZE + 5
# part_count is a uint16 in the header.
MAX_PARTS = 0xFFFF


def split_update(header: Header, update: Update, limit: int = FRAME_LIMIT) -> list[bytes]:
    """The messages that carry ``update`` at ``header.tick``, each at most ``limit`` bytes."""
    if limit <= PART_OVERHEAD:
        raise ValueError(
            f"frame limit {limit} leaves no room past the {PART_OVERHEAD}-byte part overhead"
        )
    single = encode(header._replace(part_index=0, part_count=1), update)
    if len(single) <= limit:
        return [single]
    return split_body(header, encode_update_body(update), limit)


def split_body(header: Header, body: bytes, limit: int = FRAME_LIMIT) -> list[bytes]:
    """The parts ``[header, chunk]`` that carry the encoded ``body`` at ``header.tick``."""
    if limit <= PART_OVERHEAD:
        raise ValueError(
            f"frame limit {limit} leaves no room past the {PART_OVERHEAD}-byte part overhead"
        )
    room = limit - PART_OVERHEAD
    count = -(-len(body) // room)
    if count > MAX_PARTS:
        raise ValueError(f"update of {len(body)} bytes needs {count} parts (max {MAX_PARTS})")
    return [
        msgpack.packb(
            [
                pack_header(header._replace(part_index=i, part_count=count)),
                body[i * room : (i + 1) * room],
            ],
            use_bin_type=True,
        )
        for i in range(count)
    ]


def reassemble(messages: list[bytes]) -> Message:
    """Decode the messages of one update (one message, or all its parts in order)."""
    if not messages:
        raise ProtocolError("no messages")
    decoded = [decode_message(m) for m in messages]
    first = decoded[0].header
    if first.part_count == 1 and len(decoded) == 1:
        return decoded[0]
    if len(decoded) != first.part_count or any(
        d.header.part_index != i
        or d.header.tick != first.tick
        or d.header.part_count != first.part_count
        for i, d in enumerate(decoded)
    ):
        raise ProtocolError("parts are not parts 0..n-1 of one tick")
    body = b"".join(d.chunk or b"" for d in decoded)
    return Message(first._replace(part_index=0, part_count=1), decode_body(body))
