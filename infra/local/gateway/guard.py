"""Protections of every client from one (pure: times are passed in).

The gateway's local policies against a client that floods, does not read, or storms the
handshake with bad tokens (:class:`~infra.local.gateway.settings.GatewaySettings`,
"One client cannot hurt the others"). This module holds their decisions; the aiohttp
layer (:mod:`.sessions`, :mod:`.server`) applies them:

- :class:`Episode`: how long a condition has held without a break, for "dropping
  messages" (a flooder) and "unsent data above the high-water mark" (a slow reader);
- :class:`SourceFailures`: a token bucket per source address for handshakes the
  authorizer refused; a source with none left is refused (429) before any work, and one
  that has failed pays for each handshake in flight up front.

The per-connection message bucket is a :class:`~.throttle.TokenBucket`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .throttle import TokenBucket

__all__ = ["POLICY_CLOSES", "UP_PROTECTIONS", "Episode", "SourceFailures"]

# The protections `tickwire up` turns on (GatewaySettings fields; a plain GatewaySettings
# has them off, as API Gateway has none). Measured against 100 honest players with a
# flooder at 5,000 messages/s, 2,000 connections that never read and a bad-token storm:
# tests/faults/test_hostile.py.
UP_PROTECTIONS: dict[str, float] = {
    # 10x the arena's 10 inputs/s; a burst of 400 takes a reconnect's backlog
    "connection_message_rate_per_s": 100.0,
    # 64 KiB unsent (slow_reader_bytes) for 5 s: a reader that has stopped, not one on
    # a slow link (a player's state is a few KB a second)
    "slow_reader_close_after_s": 5.0,
    # the first ping at open: a never-reader is closed ~2 s after its handshake
    "ping_interval_s": 10.0,
    "failed_connects_per_source_per_s": 10.0,
}

# Close code and reason of each policy close (1008: Policy Violation, RFC 6455 7.4.1),
# keyed by the label of the gateway's policy_closes counter.
POLICY_CLOSES: dict[str, tuple[int, str]] = {
    "message_rate": (1008, "Message rate exceeded"),
    "slow_reader": (1008, "Client is not reading"),
    "ping_timeout": (1008, "Ping timeout"),
}


class Episode:
    """A condition seen at moments ``now``: :meth:`hit` says how long it has held.

    An episode starts at the first hit and ends at :meth:`clear` or when no hit came for
    more than ``gap_s`` (then the next hit starts a new one)."""

    __slots__ = ("gap_s", "last", "since")

    def __init__(self, gap_s: float = math.inf) -> None:
        self.gap_s = gap_s
        self.since: float | None = None
        self.last = 0.0

    def hit(self, now: float) -> float:
        """Seconds the condition has held, 0.0 at an episode's first hit."""
        since = self.since
        if since is None or now - self.last > self.gap_s:
            self.since = since = now
        self.last = now
        return now - since

    def clear(self) -> None:
        self.since = None

    @property
    def active(self) -> bool:
        return self.since is not None


class SourceFailures:
    """Failed handshakes per source: ``rate`` per second, ``burst`` at once.

    Bounded: at most ``max_sources`` sources are remembered; past it the oldest is
    forgotten (it starts again with a full bucket)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_sources: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_sources = rate, burst, max_sources
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def begin(self, source: str) -> bool:
        """A handshake from ``source`` starts: False when it is refused now (no failure
        left to spend). A source that has failed before pays for this handshake up front
        (given back by :meth:`end` if it succeeds), so a storm's handshakes in flight at
        once cannot outrun the limit; a source that never failed is not touched."""
        bucket = self._buckets.get(source)
        return bucket is None or bucket.take()

    def end(self, source: str, failed: bool) -> None:
        """The handshake :meth:`begin` let through is over."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if not failed:
                return
            buckets = self._buckets
            if len(buckets) >= self.max_sources:
                del buckets[next(iter(buckets))]
            bucket = buckets[source] = TokenBucket(self.rate, self.burst, self._clock)
            bucket.take()
        elif not failed:
            bucket.give_back()
