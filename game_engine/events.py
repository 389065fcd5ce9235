"""What the engine consumes: a join, an input, a leave of one player of one match.

These are the engine's own events, not the stream's wire format: the consumer turns each
decoded :mod:`ingest.records` record into one (:func:`game_engine.consumer.to_event`), and a
broadcaster 410 becomes a :class:`Leave` too, so the core knows nothing of JSON or Kinesis.

``t`` is the record's request time (``$context.requestTimeEpoch``, ms; 0 when unknown): a
successor replaying a shard after a failover places each record at the tick it would
have been applied at from its time (:mod:`game_engine.replay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["Event", "Input", "Join", "Leave"]


@dataclass(frozen=True, slots=True)
class Join:
    match: str
    player: str
    conn: str
    t: int = 0


class Input(NamedTuple):
    """(A named tuple, not a frozen dataclass like the others: one is made per input,
    thousands a second, and a tuple is made several times faster.)"""

    match: str
    player: str
    conn: str
    seq: int
    payload: Mapping[str, Any]
    t: int = 0


@dataclass(frozen=True, slots=True)
class Leave:
    match: str
    player: str
    conn: str
    t: int = 0


Event = Join | Input | Leave
