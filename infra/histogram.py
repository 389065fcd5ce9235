"""A fixed-bucket histogram as plain counts: the one tickwire keeps wherever it buckets.

Cheap to update on a hot path (one ``bisect`` and three additions), exported in
Prometheus's cumulative form by :meth:`BucketCounts.cumulative`. Users: the metrics
facade's histograms (``tickwire.metrics``) and the loop watch's stalls
(``tickwire.loopwatch``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["BucketCounts"]


class BucketCounts:
    """Observations counted per bucket of sorted upper ``bounds`` (a last bucket above
    them all is +Inf), with their sum and the largest one."""

    __slots__ = ("bounds", "counts", "largest", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0
        self.largest = 0.0

    def observe(self, value: float, count: int = 1) -> None:
        """``count`` observations of ``value`` (a bucket's upper bound is inclusive)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += count
        self.total += value * count
        if value > self.largest:
            self.largest = value

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus's buckets: ``(le, observations at or below it)``, ``+Inf`` last."""
        running = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(bound), running))
        return buckets
