"""BucketCounts: the one fixed-bucket histogram."""

from __future__ import annotations

import pytest

from infra.histogram import BucketCounts


def test_bounds_are_inclusive_and_past_the_last_is_inf() -> None:
    h = BucketCounts((0.01, 0.001))  # sorted on the way in
    h.observe(0.001)
    h.observe(0.005, count=3)
    h.observe(0.01)
    h.observe(2.0)
    assert h.counts == [1, 4, 1]
    assert h.total == pytest.approx(0.001 + 0.015 + 0.01 + 2.0)
    assert h.largest == 2.0
    assert h.cumulative() == [("0.001", 1), ("0.01", 5), ("+Inf", 6)]


def test_an_empty_histogram_exports_zeros() -> None:
    h = BucketCounts((1.0,))
    assert h.cumulative() == [("1.0", 0), ("+Inf", 0)]
    assert (h.total, h.largest) == (0.0, 0.0)
