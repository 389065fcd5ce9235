"""Counters of the fan-out, as plain objects (the lead exports them to Prometheus)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["LATENCY_BUCKETS_S", "BroadcastStats", "Latency", "PlayerStats"]

# Upper bounds (seconds) of the tick-to-post-completion histogram; the last is +inf.
LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(slots=True)
class Latency:
    """A fixed-bucket histogram (Prometheus-compatible: cumulative on export)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.observe_many(seconds, 1)

    def observe_many(self, seconds: float, count: int) -> None:
        """``count`` observations of ``seconds`` each."""
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += count
        self.count += count
        self.total_s += seconds * count
        self.max_s = max(self.max_s, seconds)

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile (inf past the last bucket)."""
        if not self.count:
            return 0.0
        rank, seen = q * self.count, 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return LATENCY_BUCKETS_S[i] if i < len(LATENCY_BUCKETS_S) else float("inf")
        return float("inf")


@dataclass(slots=True)
class PlayerStats:
    match_id: str
    player_id: str
    sent: int = 0  # updates delivered (a split update counts once)
    merged: int = 0  # send ticks skipped because a post was still in flight
    bytes: int = 0
    throttled: int = 0  # 429s
    errors: int = 0  # other failures (403, 413, unknown outcome)
    full_states: int = 0


@dataclass(slots=True)
class BroadcastStats:
    sent: int = 0
    messages: int = 0  # posts (parts count separately)
    merged: int = 0
    bytes: int = 0
    gone: int = 0
    throttled: int = 0
    errors: int = 0
    full_states: int = 0
    send_ticks: int = 0
    frames_replaced: int = 0  # frames published before the previous one of the match was sent
    frames_fenced: int = 0  # frames or posts dropped past their lease deadline (valid_until)
    replaced: int = 0  # older connections of players who connected again, told and closed
    in_flight: int = 0
    rate_limit_per_s: float = float("inf")  # the current pacing rate (cap after AIMD)
    rate_cuts: int = 0
    latency: Latency = field(default_factory=Latency)
    players: dict[str, PlayerStats] = field(default_factory=dict)  # by connection id
