"""Retry delays: capped exponential backoff with full jitter, the one policy tickwire uses.

Full jitter (a uniform draw in ``[0, min(cap, base * factor**attempt)]``) spreads the
retries of many clients failing at once (a gateway restart, AWS's 2-hour close, an
account throttle answering 429 to every connection) over the whole window instead of
synchronising them into waves; see the AWS Architecture Blog post "Exponential Backoff And
Jitter" (2015). Pure: the caller passes the random source.

Users: the Python client's reconnects (``tickwire.client``), the stream producer's
PutRecords rounds (``ingest.batching``), the broadcaster's per-connection retries after a
429 (``broadcaster.posting``) and the shard reader's GetRecords retries
(``game_engine.consumer``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    # First window in seconds: small, so one dropped client is back within a tick or two
    # (0: no waiting at all, for tests).
    base: float = 0.25
    # Largest window in seconds: a client never waits longer than this between attempts.
    cap: float = 15.0
    factor: float = 2.0
    # Give up after this many failed attempts in a row (None: never give up).
    max_attempts: int | None = 10

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("need 0 <= base <= cap and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def window(self, attempt: int) -> float:
        """Upper bound of the delay before attempt ``attempt`` (0-based), in seconds."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        # Cap the exponent first so a large attempt count cannot overflow a float.
        exponent = min(attempt, 64)
        return float(min(self.cap, self.base * self.factor**exponent))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """A jittered delay for attempt ``attempt``: uniform in ``[0, window(attempt)]``
        (``rng``: the caller's random source; the module's by default)."""
        return (rng or _RNG).uniform(0.0, self.window(attempt))

    def exhausted(self, attempt: int) -> bool:
        """True when ``attempt`` failed attempts in a row mean giving up."""
        return self.max_attempts is not None and attempt >= self.max_attempts


_RNG = random.Random()
