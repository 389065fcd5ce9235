"""The broadcaster's settings: every limit of the fan-out, with its source.

Used by :class:`broadcaster.fanout.Broadcaster` (which re-exports it) and the posting
machinery in :mod:`broadcaster.posting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broadcaster.parts import FRAME_LIMIT
from broadcaster.rate import RateSettings

__all__ = ["BroadcastSettings"]


@dataclass(frozen=True)
class BroadcastSettings:
    # API Gateway frame size quota (32 KB), also its metering unit: no message is larger.
    max_message_bytes: int = FRAME_LIMIT
    # Position quanta per world unit; sent in every header. 4: 1/4 unit, a fraction of
    # a pixel at the reference arena's zoom, and a player's turn fits int8 corrections.
    position_scale: int = 4
    # Quanta a client's predicted position may be off before it gets a correction (its
    # error never exceeds this; 0: positions exact). 1: at most 1/4 unit at scale 4.
    position_tolerance: int = 1
    # Posts running at once across all connections.
    max_in_flight: int = 1024
    # Pacing: optional cap (API Gateway's account throttle is 10,000 requests/s) and AIMD.
    rate: RateSettings = field(default_factory=RateSettings)
    # Per-connection backoff after a 429 or an error: full jitter on base * 2**attempt.
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0
    # A post not answered within this is abandoned as an unknown outcome (PostFailed: the
    # next message is a full state). Bounds how long a stuck connection holds a slot.
    post_timeout_s: float = 10.0
    # stop(): how long in-flight posts may finish before they are cancelled.
    stop_timeout_s: float = 5.0
    # Players prepared between yields to the event loop (the gateway may share it).
    yield_every: int = 64
    # Connection ids remembered as gone (so a frame listing them again posts nothing).
    gone_memory: int = 100_000
