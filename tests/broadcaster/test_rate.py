"""Pacing and AIMD, pure (the clock is a number)."""

from __future__ import annotations

import math

from broadcaster.rate import RateSettings, SendRate


def test_cap_paces_requests_at_the_cap_after_the_burst() -> None:
    rate = SendRate(RateSettings(cap_per_s=100.0, burst=10), now=0.0)
    delays = [rate.delay(0.0) for _ in range(30)]
    assert delays[:10] == [0.0] * 10
    assert math.isclose(delays[10], 0.01) and math.isclose(delays[29], 0.20)


def test_uncapped_rate_never_waits() -> None:
    rate = SendRate(RateSettings(), now=0.0)
    assert all(rate.delay(0.0) == 0.0 for _ in range(1000))


def test_one_slow_connection_does_not_cut_the_rate_but_many_do() -> None:
    rate = SendRate(RateSettings(cap_per_s=1000.0, congestion_connections=3), now=0.0)
    for i in range(50):
        assert rate.on_throttled(0.01 * i, "slow") is False
    assert rate.rate == 1000.0
    assert rate.on_throttled(1.0, "a") is False
    assert rate.on_throttled(1.0, "b") is False
    assert rate.on_throttled(1.0, "c") is True
    assert rate.rate == 500.0
    # a burst of 429s in the same interval counts once
    assert rate.on_throttled(1.15, "d") is False and rate.rate == 500.0
    assert rate.on_throttled(1.3, "e") is False  # a, b, c are outside the 0.2 s window now
    assert rate.on_throttled(1.3, "f") is True  # d, e, f
    assert rate.rate == 250.0 and rate.cuts == 2


def test_additive_increase_back_to_the_cap() -> None:
    rate = SendRate(RateSettings(cap_per_s=1000.0, increase_per_s=500.0), now=0.0)
    for c in "abc":
        rate.on_throttled(0.0, c)
    assert rate.rate == 500.0
    rate.on_success(0.5)
    assert rate.rate == 750.0
    rate.on_success(5.0)
    assert rate.rate == 1000.0


def test_uncapped_cut_starts_from_the_measured_rate_and_recovers_to_unlimited() -> None:
    rate = SendRate(RateSettings(increase_per_s=100.0, min_rate_per_s=1.0), now=0.0)
    for i in range(400):
        rate.on_success(i / 200)  # 200 requests/s for 2 s
    for c in "abc":
        rate.on_throttled(2.0, c)
    assert 90 <= rate.rate <= 110
    rate.on_success(5.0)
    assert math.isinf(rate.rate)
