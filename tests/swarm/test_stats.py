"""Sample: recording, percentiles, encoding for the wire, merging across processes."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.stats import Sample


def test_percentiles_in_milliseconds() -> None:
    s = Sample()
    for ms in range(1, 101):  # 1..100 ms
        s.record("ack", ms * 1000)
    p = s.percentiles("ack")
    assert p["count"] == 100
    assert abs(p["p50"] - 50) <= 0.1 and abs(p["p99"] - 99) <= 0.1
    assert p["min"] == 1.0 and abs(p["max"] - 100) <= 0.1
    assert Sample().percentiles("ack")["p99"] is None


def test_values_out_of_range_are_clamped_not_lost() -> None:
    s = Sample()
    s.record("delay", -5)
    s.record("delay", 10**12)
    assert s.percentiles("delay")["count"] == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 5_000_000), max_size=200), min_size=1, max_size=5))
def test_merge_of_encoded_parts_equals_recording_everything_in_one(parts: list[list[int]]) -> None:
    whole = Sample()
    encoded = []
    for values in parts:
        part = Sample()
        for v in values:
            part.record("ack", v)
            whole.record("ack", v)
        part.counters["msgs_in"] += len(values)
        part.error("closed:1006", len(values) % 3)
        part.connected = 1
        # through JSON, as the parent receives it from a child process
        encoded.append(json.loads(json.dumps(part.encode())))
    merged = Sample.merged(Sample.decode(e) for e in encoded)
    assert merged.percentiles("ack") == whole.percentiles("ack")
    assert merged.counters["msgs_in"] == sum(len(v) for v in parts)
    assert merged.errors["closed:1006"] == sum(len(v) % 3 for v in parts)
    assert merged.connected == len(parts)


def test_merged_percentile_is_not_an_average_of_percentiles() -> None:
    fast, slow = Sample(), Sample()
    rng = random.Random(3)
    for _ in range(990):
        fast.record("ack", rng.randint(1000, 2000))
    for _ in range(10):
        slow.record("ack", 500_000)
    merged = Sample.merged([fast, slow])
    # 1 % of all values are 500 ms: the p99.9 sees them, the p50 does not
    assert merged.percentiles("ack")["p99.9"] >= 499
    assert merged.percentiles("ack")["p50"] < 3


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 50_000_000), min_size=1, max_size=300),
    st.lists(st.floats(0, 100), min_size=1, max_size=6),
)
def test_vectorised_percentiles_and_mean_equal_hdrhistograms_own(
    values: list[int], ps: list[float]
) -> None:
    from swarm.stats import mean_value, new_histogram, values_at_percentiles

    h = new_histogram()
    for v in values:
        h.record_value(v)
    assert values_at_percentiles(h, ps) == [h.get_value_at_percentile(p) for p in ps]
    assert abs(mean_value(h) - h.get_mean_value()) <= 1e-6 * max(1.0, h.get_mean_value())
