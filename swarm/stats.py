"""Measurements of a swarm run: HDR histograms and counters, mergeable across processes.

Theory of operation: each bot process records into one :class:`Sample` for the current
interval. At the end of an interval the process encodes the sample (histograms in HDR's
compressed base64 form, counters as numbers), ships it to the parent and starts a fresh
one. The parent merges the samples of all processes for the same interval index into the
interval line, and adds them into the run totals. Nothing here does I/O or reads a clock.

Latencies are integers in microseconds. Error kinds are short strings:
``refused:<status>`` (handshake refused with that HTTP status), ``closed:<code>`` (the
server closed the WebSocket), ``timeout:connect``, ``timeout:ack`` (an input not
acknowledged within the ack timeout), ``connect:<ExceptionName>`` (TCP/TLS failure),
``frame:<message>`` (a text frame from the gateway such as ``Forbidden``),
``decode`` (a binary message whose header could not be read), ``pacer:behind`` (input
slots the swarm itself could not send in time: the swarm, not the server, is
overloaded, and the run did not apply the load it claims).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from infra.internals import require_hdrh_buckets
from swarm.settings import HISTOGRAM_HIGHEST_US, HISTOGRAM_SIGNIFICANT_FIGURES

__all__ = [
    "COUNTERS",
    "HISTOGRAMS",
    "PERCENTILES",
    "Sample",
    "mean_value",
    "new_histogram",
    "values_at_percentiles",
]

require_hdrh_buckets(__name__)  # _midpoints and _counts read HdrHistogram's internals

# The histograms every sample carries: connect time, input->ack latency,
# tick-to-receive delay (see swarm.bot for how each is measured).
HISTOGRAMS = ("connect", "ack", "delay")
# Counters: messages and bytes each way, metered 32 KB units each way, connects.
COUNTERS = (
    "msgs_out",
    "msgs_in",
    "bytes_out",
    "bytes_in",
    "units_out",
    "units_in",
    "connects",
    "closes",
)
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HISTOGRAM_HIGHEST_US, HISTOGRAM_SIGNIFICANT_FIGURES)


def _counts(hist: HdrHistogram) -> npt.NDArray[np.uint64]:
    """The histogram's counts array as a NumPy view (no copy)."""
    return np.ctypeslib.as_array(hist.counts)


_MIDPOINTS: dict[tuple[int, int, int], npt.NDArray[np.float64]] = {}


def _midpoints(hist: HdrHistogram) -> npt.NDArray[np.float64]:
    key = (hist.counts_len, hist.sub_bucket_count, hist.unit_magnitude)
    mids = _MIDPOINTS.get(key)
    if mids is None:
        mids = np.array(
            [
                hist._hdr_median_equiv_value(hist.get_value_from_index(i))
                for i in range(hist.counts_len)
            ],
            dtype=np.float64,
        )
        _MIDPOINTS[key] = mids
    return mids


def values_at_percentiles(hist: HdrHistogram, percentiles: Sequence[float]) -> list[int]:
    """HdrHistogram's ``get_value_at_percentile`` for several percentiles with one NumPy
    cumulative sum, instead of a Python loop over ~20k buckets per call (the parent
    process computes these while serving the game in P7: they must be cheap)."""
    cum = np.cumsum(_counts(hist))
    out = []
    for p in percentiles:
        idx = int(np.searchsorted(cum, hist.get_target_count_at_percentile(p)))
        if idx >= hist.counts_len:
            out.append(0)
            continue
        value = hist.get_value_from_index(idx)
        out.append(
            hist.get_highest_equivalent_value(value)
            if p
            else hist.get_lowest_equivalent_value(value)
        )
    return out


def mean_value(hist: HdrHistogram) -> float:
    """HdrHistogram's ``get_mean_value`` (median-equivalent value per bucket), vectorised."""
    total = hist.get_total_count()
    if not total:
        return 0.0
    return float(np.dot(_counts(hist).astype(np.float64), _midpoints(hist)) / total)


@dataclass
class Sample:
    """Histograms, counters and errors over one interval (or a merge of many)."""

    histograms: dict[str, HdrHistogram] = field(
        default_factory=lambda: {name: new_histogram() for name in HISTOGRAMS}
    )
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    errors: Counter[str] = field(default_factory=Counter)
    # Bots with an open WebSocket at the end of the interval (a gauge, summed on merge).
    connected: int = 0
    # Seconds of open connections inside the interval (for connection minutes).
    connection_seconds: float = 0.0

    def record(self, name: str, micros: float) -> None:
        """Record one latency; values are clamped into the histogram's range."""
        value = int(micros)
        self.histograms[name].record_value(
            1 if value < 1 else HISTOGRAM_HIGHEST_US if value > HISTOGRAM_HIGHEST_US else value
        )

    def error(self, kind: str, count: int = 1) -> None:
        self.errors[kind] += count

    def add(self, other: Sample) -> None:
        """Merge ``other`` into this sample (counts add, the gauge adds)."""
        for name, hist in other.histograms.items():
            if hist.get_total_count():
                self.histograms[name].add(hist)
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        self.errors.update(other.errors)
        self.connected += other.connected
        self.connection_seconds += other.connection_seconds

    @classmethod
    def merged(cls, samples: Iterable[Sample]) -> Sample:
        out = cls()
        for sample in samples:
            out.add(sample)
        return out

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentiles(self, name: str) -> dict[str, float | None]:
        """p50..p99.9, min, max and mean of one histogram in milliseconds (None if empty)."""
        hist = self.histograms[name]
        out: dict[str, float | None] = {}
        empty = hist.get_total_count() == 0
        values = None if empty else values_at_percentiles(hist, PERCENTILES)
        for i, p in enumerate(PERCENTILES):
            out[f"p{p:g}"] = None if values is None else values[i] / 1000.0
        out["min"] = None if empty else hist.get_min_value() / 1000.0
        out["max"] = None if empty else hist.get_max_value() / 1000.0
        out["mean"] = None if empty else round(mean_value(hist) / 1000.0, 3)
        out["count"] = hist.get_total_count()
        return out

    def encode(self) -> dict[str, Any]:
        """A JSON-able form; histograms in HDR's compressed base64 encoding."""
        return {
            "histograms": {
                name: hist.encode().decode("ascii")
                for name, hist in self.histograms.items()
                if hist.get_total_count()
            },
            "counters": dict(self.counters),
            "errors": dict(self.errors),
            "connected": self.connected,
            "connection_seconds": self.connection_seconds,
        }

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> Sample:
        sample = cls()
        for name, text in data.get("histograms", {}).items():
            if name in sample.histograms:
                sample.histograms[name].add(HdrHistogram.decode(text.encode("ascii")))
        for name, value in data.get("counters", {}).items():
            sample.counters[name] = int(value)
        sample.errors.update({str(k): int(v) for k, v in data.get("errors", {}).items()})
        sample.connected = int(data.get("connected", 0))
        sample.connection_seconds = float(data.get("connection_seconds", 0.0))
        return sample
