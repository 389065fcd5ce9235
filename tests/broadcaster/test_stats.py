"""The latency histogram of the fan-out's stats."""

from __future__ import annotations

from broadcaster.stats import LATENCY_BUCKETS_S, Latency


def test_latency_buckets_count_and_quantiles() -> None:
    lat = Latency()
    for ms in [0.5, 3, 3, 4, 15, 40, 40, 40, 90, 6000]:
        lat.observe(ms / 1000)
    assert lat.count == 10 and sum(lat.counts) == 10
    assert lat.counts[-1] == 1  # past the last bound
    assert lat.quantile(0.5) == 0.02 and lat.quantile(0.9) == 0.1
    assert lat.quantile(1.0) == float("inf")
    assert abs(lat.max_s - 6.0) < 1e-9
    assert len(lat.counts) == len(LATENCY_BUCKETS_S) + 1
    assert Latency().quantile(0.99) == 0.0
