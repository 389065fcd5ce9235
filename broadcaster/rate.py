"""The send rate: an optional cap (the account throttle) and AIMD on 429s.

Pure: every method takes ``now`` (seconds, monotonic); the fan-out supplies the clock.

- Pacing is GCRA (a virtual-schedule token bucket): each request reserves a slot
  ``1/rate`` after the previous one; up to ``burst`` requests may go at once. ``delay()``
  says how long a request waits for its slot.
- 429s from at least ``congestion_connections`` distinct connections within
  ``decrease_interval_s`` cut the rate multiplicatively (then not again for that interval,
  so one burst of 429s counts as one congestion signal). One slow reader's full buffer
  (also a 429) only backs off that connection: it never slows everyone else. Without a
  cap the rate starts unlimited and the first cut starts from the completion rate
  measured over the last second.
- Each success raises the rate additively (``increase_per_s`` requests/s per second)
  back up to the cap; without a cap, past twice the rate it was cut from, it is unlimited
  again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RateSettings", "SendRate"]


@dataclass(frozen=True)
class RateSettings:
    # API Gateway's account throttle is 10,000 requests/s shared by every @connections
    # call and every client message (quotas table); None: no cap of our own.
    cap_per_s: float | None = None
    # Requests that may go back to back before pacing starts (the quota's burst is 5,000).
    burst: int = 100
    decrease_factor: float = 0.5
    decrease_interval_s: float = 0.2
    # Distinct connections answered 429 within decrease_interval_s that mean "the account
    # throttle", not one slow reader.
    congestion_connections: int = 3
    increase_per_s: float = 500.0
    min_rate_per_s: float = 20.0


class SendRate:
    def __init__(self, settings: RateSettings, now: float = 0.0) -> None:
        self.settings = settings
        self.rate: float = settings.cap_per_s if settings.cap_per_s else math.inf
        self._tat = now  # theoretical arrival time of the next request
        self._last_cut = -math.inf
        self._last_increase = now
        self._cut_from = math.inf
        self._window_start = now
        self._window_count = 0
        self.observed_per_s = 0.0
        self.cuts = 0
        self._throttled: dict[str, float] = {}  # connection id -> time of its last 429

    def delay(self, now: float) -> float:
        """Reserve a slot for one request; seconds to wait before sending it."""
        if math.isinf(self.rate):
            return 0.0
        interval = 1.0 / self.rate
        tat = max(self._tat, now)
        self._tat = tat + interval
        return max(0.0, tat - now - (self.settings.burst - 1) * interval)

    def _count(self, now: float) -> None:
        self._window_count += 1
        elapsed = now - self._window_start
        if elapsed >= 1.0:
            self.observed_per_s = self._window_count / elapsed
            self._window_start, self._window_count = now, 0

    def on_success(self, now: float) -> None:
        self._count(now)
        self._increase(now)

    def on_successes(self, now: float, count: int) -> None:
        """``count`` requests succeeded (a batch accounted for at once)."""
        self._window_count += count - 1
        self._count(now)
        self._increase(now)

    def _increase(self, now: float) -> None:
        s = self.settings
        dt, self._last_increase = now - self._last_increase, now
        if math.isinf(self.rate):
            return
        self.rate += s.increase_per_s * max(0.0, dt)
        if s.cap_per_s:
            self.rate = min(self.rate, s.cap_per_s)
        elif self.rate >= 2 * self._cut_from:
            self.rate = math.inf

    def on_throttled(self, now: float, connection_id: str = "") -> bool:
        """Count a 429; True when it cut the rate."""
        self._count(now)
        s = self.settings
        horizon = now - s.decrease_interval_s
        self._throttled[connection_id] = now
        if len(self._throttled) > 4 * s.congestion_connections:
            self._throttled = {c: t for c, t in self._throttled.items() if t >= horizon}
        recent = sum(1 for t in self._throttled.values() if t >= horizon)
        if recent < s.congestion_connections or now - self._last_cut < s.decrease_interval_s:
            return False
        self._last_cut = self._last_increase = now
        base = self.rate
        if math.isinf(base):
            elapsed = now - self._window_start
            current = self._window_count / elapsed if elapsed >= 0.5 else 0.0
            base = max(self.observed_per_s or current, current, s.min_rate_per_s)
        self._cut_from = base
        self.rate = max(s.min_rate_per_s, base * s.decrease_factor)
        self.cuts += 1
        return True
