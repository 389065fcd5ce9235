"""One small metrics facade with two backends: Prometheus and CloudWatch EMF.

Code that measures something asks a :class:`Metrics` for a named instrument once
(``metrics.counter("messages", "...", labels=("direction",))``) and updates it on the hot
path (``messages.inc(direction="out")``). Where the figures go is the backend's business:

- :class:`PrometheusBackend`: one private ``prometheus_client.CollectorRegistry`` (never
  the global one, so two gateways in one test process do not collide), rendered as the
  text exposition format by :meth:`PrometheusBackend.render` for ``GET /metrics``.
- :class:`EmfBackend`: aggregates in memory and, on :meth:`EmfBackend.flush`, writes
  CloudWatch Embedded Metric Format JSON lines (one per label set) to a stream, stdout by
  default, where the ECS/Lambda log driver ships them to CloudWatch Logs, which extracts
  the metrics. Spec: "Specification: Embedded metric format", Amazon CloudWatch User Guide.
- :class:`NullBackend`: drops everything (metrics turned off).

:func:`backend_from_env` picks one from ``TICKWIRE_METRICS`` (``prometheus``, the default;
``emf``; ``off``). :class:`Figures` declares the figures tickwire itself reports (issue 7,
part 4) so every component updates the same names; :func:`figures` gives the process-wide
set.

Backpressure: label values are the caller's responsibility to keep few (never a player or
connection id as a label: those belong in logs). As a guard, each metric keeps at most
``max_series`` label sets; updates to further label sets are dropped and counted in the
``metrics_dropped_series`` counter. The EMF backend keeps at most ``max_values`` histogram
observations per series between flushes (later ones are dropped and counted the same way).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TextIO

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily

from infra.histogram import BucketCounts

__all__ = [
    "Backend",
    "Counter",
    "EmfBackend",
    "Figures",
    "Gauge",
    "Histogram",
    "Kind",
    "MetricSpec",
    "Metrics",
    "NullBackend",
    "PrometheusBackend",
    "backend_from_env",
    "configure",
    "figures",
    "get_metrics",
]

Kind = Literal["counter", "gauge", "histogram"]

# Label sets per metric before updates are dropped (a guard against ids used as labels).
DEFAULT_MAX_SERIES = 1_000
# EMF limits (CloudWatch EMF specification): at most 100 values in one metric's array,
# 100 metric definitions per directive, 30 dimensions per dimension set.
EMF_MAX_VALUES_PER_LINE = 100
EMF_MAX_METRICS_PER_DIRECTIVE = 100
EMF_MAX_DIMENSIONS = 30
# Seconds between EMF flushes: CloudWatch's standard resolution is one minute; 10 s keeps
# the histogram buffers small and dashboards fresh.
DEFAULT_EMF_FLUSH_S = 10.0
# Histogram observations kept per series between two EMF flushes.
DEFAULT_EMF_MAX_VALUES = 1_000
# Seconds-based histogram buckets: 1 ms .. 2.5 s, around a 50 ms tick budget.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)

LabelKey = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # snake_case, no prefix: the backend adds its own (``tickwire_``)
    help: str
    kind: Kind
    labels: tuple[str, ...] = ()
    # CloudWatch unit (EMF); Prometheus names carry the unit in the name instead.
    unit: str = "None"
    buckets: tuple[float, ...] = DEFAULT_BUCKETS


class Backend(Protocol):
    """Where the facade's updates go. ``record`` must be cheap and never raise."""

    def register(self, spec: MetricSpec) -> None: ...

    def record(
        self, spec: MetricSpec, key: LabelKey, value: float, op: str, count: int = 1
    ) -> None:
        """``op``: inc, set or observe; ``count``: observations of ``value`` at once."""
        ...


class NullBackend:
    def register(self, spec: MetricSpec) -> None:
        pass

    def record(
        self, spec: MetricSpec, key: LabelKey, value: float, op: str, count: int = 1
    ) -> None:
        pass


class _BucketHistogram:
    """A Prometheus histogram that takes many observations of one value at once (the
    exporter copies bucketed histograms kept elsewhere: thousands of observations a
    second, which prometheus_client's one-at-a-time ``observe`` made a 10-25 ms stall of
    the gateway's loop once a second)."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]):
        self.name, self.doc, self.labels = name, doc, labels
        self.bounds = tuple(sorted(buckets))
        self.series: dict[LabelKey, BucketCounts] = {}

    def observe(self, key: LabelKey, value: float, count: int) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = BucketCounts(self.bounds)
        series.observe(value, count)

    def collect(self) -> Iterator[prometheus_client.Metric]:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, series in self.series.items():
            family.add_metric(list(key), series.cumulative(), series.total)
        yield family


class PrometheusBackend:
    """Prometheus metrics in a private registry; :meth:`render` gives ``/metrics``."""

    def __init__(self, prefix: str = "tickwire", registry: CollectorRegistry | None = None):
        self.prefix = prefix
        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics: dict[str, prometheus_client.metrics.MetricWrapperBase] = {}
        self._histograms: dict[str, _BucketHistogram] = {}
        self._lock = threading.Lock()

    content_type = prometheus_client.CONTENT_TYPE_LATEST

    def register(self, spec: MetricSpec) -> None:
        with self._lock:
            if spec.name in self._metrics or spec.name in self._histograms:
                return
            full = f"{self.prefix}_{spec.name}"
            metric: prometheus_client.metrics.MetricWrapperBase
            if spec.kind == "counter":
                metric = prometheus_client.Counter(
                    full, spec.help, spec.labels, registry=self.registry
                )
            elif spec.kind == "gauge":
                metric = prometheus_client.Gauge(
                    full, spec.help, spec.labels, registry=self.registry
                )
            else:
                histogram = _BucketHistogram(full, spec.help, spec.labels, spec.buckets)
                self.registry.register(histogram)
                self._histograms[spec.name] = histogram
                return
            self._metrics[spec.name] = metric

    def record(
        self, spec: MetricSpec, key: LabelKey, value: float, op: str, count: int = 1
    ) -> None:
        if op == "observe":
            self._histograms[spec.name].observe(key, value, count)
            return
        metric = self._metrics[spec.name]
        target = metric.labels(*key) if key else metric
        if op == "inc":
            target.inc(value)  # type: ignore[attr-defined]
        else:
            target.set(value)  # type: ignore[attr-defined]

    def render(self) -> bytes:
        """The text exposition format of every metric of this backend."""
        return prometheus_client.generate_latest(self.registry)


@dataclass(slots=True)
class _EmfSeries:
    total: float = 0.0  # counters: sum since the last flush; gauges: current value
    touched: bool = False
    values: list[float] = field(default_factory=list)


class EmfBackend:
    """CloudWatch Embedded Metric Format lines, written on :meth:`flush`."""

    def __init__(
        self,
        namespace: str = "tickwire",
        *,
        stream: TextIO | None = None,
        fixed_dimensions: Mapping[str, str] | None = None,
        max_values: int = DEFAULT_EMF_MAX_VALUES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= len(namespace) <= 255:
            raise ValueError("EMF namespace must be 1-255 characters")
        self.namespace = namespace
        self.stream = stream
        # e.g. {"service": "worker"}: added to every line and every dimension set.
        self.fixed_dimensions = dict(fixed_dimensions or {})
        self.max_values = max_values
        self.clock = clock
        self.dropped_values = 0
        self._specs: dict[str, MetricSpec] = {}
        self._series: dict[tuple[str, LabelKey], _EmfSeries] = {}
        self._lock = threading.Lock()

    def register(self, spec: MetricSpec) -> None:
        if len(spec.labels) + len(self.fixed_dimensions) > EMF_MAX_DIMENSIONS:
            raise ValueError(f"{spec.name}: more than {EMF_MAX_DIMENSIONS} EMF dimensions")
        self._specs[spec.name] = spec

    def record(
        self, spec: MetricSpec, key: LabelKey, value: float, op: str, count: int = 1
    ) -> None:
        with self._lock:
            series = self._series.get((spec.name, key))
            if series is None:
                series = self._series[(spec.name, key)] = _EmfSeries()
            series.touched = True
            if op == "inc":
                series.total += value
            elif op == "set":
                series.total = value
            else:
                room = min(count, self.max_values - len(series.values))
                series.values.extend([value] * max(room, 0))
                self.dropped_values += count - max(room, 0)

    def lines(self) -> list[str]:
        """Drain what was recorded since the last call into EMF JSON documents."""
        timestamp = int(self.clock() * 1000)
        with self._lock:
            drained: list[tuple[str, LabelKey, float, list[float]]] = []
            for (name, key), series in self._series.items():
                if not series.touched:
                    continue
                drained.append((name, key, series.total, series.values))
                series.touched = False
                series.values = []
                if self._specs[name].kind == "counter":
                    series.total = 0.0  # counters report the increase since the last flush
        lines: list[str] = []
        for name, key, total, values in drained:
            spec = self._specs[name]
            dims = dict(self.fixed_dimensions)
            dims.update(zip(spec.labels, key, strict=True))
            if spec.kind == "histogram":
                chunks: Iterable[float | list[float]] = [
                    values[i : i + EMF_MAX_VALUES_PER_LINE]
                    for i in range(0, len(values), EMF_MAX_VALUES_PER_LINE)
                ]
            else:
                chunks = [total]
            for chunk in chunks:
                lines.append(self._document(timestamp, spec, dims, chunk))
        return lines

    def _document(
        self, timestamp: int, spec: MetricSpec, dims: dict[str, str], value: float | list[float]
    ) -> str:
        doc: dict[str, object] = {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [sorted(dims)],
                        "Metrics": [{"Name": spec.name, "Unit": spec.unit}],
                    }
                ],
            },
            spec.name: value,
        }
        doc.update(dims)
        return json.dumps(doc, separators=(",", ":"))

    async def run(self, interval_s: float = DEFAULT_EMF_FLUSH_S) -> None:
        """Flush every ``interval_s`` until cancelled; a last flush on the way out, so
        a stopping worker's final figures are not lost."""
        try:
            while True:
                await asyncio.sleep(interval_s)
                self.flush()
        finally:
            self.flush()

    def flush(self) -> int:
        """Write the pending lines to the stream (stdout by default); return how many."""
        lines = self.lines()
        stream = self.stream if self.stream is not None else sys.stdout
        for line in lines:
            stream.write(line + "\n")
        stream.flush()
        return len(lines)


class _Instrument:
    __slots__ = ("_keys", "_metrics", "spec")

    def __init__(self, metrics: Metrics, spec: MetricSpec) -> None:
        self._metrics = metrics
        self.spec = spec
        self._keys: set[LabelKey] = set()

    def _key(self, labels: Mapping[str, object]) -> LabelKey | None:
        if set(labels) != set(self.spec.labels):
            raise ValueError(
                f"{self.spec.name}: labels {sorted(labels)} != declared {list(self.spec.labels)}"
            )
        key = tuple(str(labels[name]) for name in self.spec.labels)
        if key not in self._keys:
            if len(self._keys) >= self._metrics.max_series:
                self._metrics._dropped_series()
                return None
            self._keys.add(key)
        return key

    def _record(self, value: float, op: str, labels: Mapping[str, object], count: int = 1) -> None:
        key = self._key(labels)
        if key is not None:
            self._metrics.backend.record(self.spec, key, value, op, count)


class Counter(_Instrument):
    def inc(self, amount: float = 1.0, **labels: object) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self._record(amount, "inc", labels)


class Gauge(_Instrument):
    def set(self, value: float, **labels: object) -> None:
        self._record(value, "set", labels)


class Histogram(_Instrument):
    def observe(self, value: float, **labels: object) -> None:
        self._record(value, "observe", labels)

    def observe_many(self, value: float, count: int, **labels: object) -> None:
        """``count`` observations of ``value`` (copying a bucketed histogram)."""
        if count > 0:
            self._record(value, "observe", labels, count)


class Metrics:
    """The facade: named instruments over one backend. Asking twice gives the same one."""

    def __init__(self, backend: Backend | None = None, *, max_series: int = DEFAULT_MAX_SERIES):
        self.backend: Backend = backend if backend is not None else PrometheusBackend()
        self.max_series = max_series
        self._instruments: dict[str, _Instrument] = {}
        self._dropped = self.counter(
            "metrics_dropped_series", "Updates dropped: too many label sets for one metric"
        )

    def _get(self, cls: type[_Instrument], spec: MetricSpec) -> _Instrument:
        found = self._instruments.get(spec.name)
        if found is not None:
            if found.spec != spec:
                raise ValueError(f"metric {spec.name!r} already declared as {found.spec}")
            return found
        self.backend.register(spec)
        inst = self._instruments[spec.name] = cls(self, spec)
        return inst

    def counter(
        self, name: str, help: str, labels: Sequence[str] = (), unit: str = "Count"
    ) -> Counter:
        inst = self._get(Counter, MetricSpec(name, help, "counter", tuple(labels), unit))
        assert isinstance(inst, Counter)
        return inst

    def gauge(self, name: str, help: str, labels: Sequence[str] = (), unit: str = "None") -> Gauge:
        inst = self._get(Gauge, MetricSpec(name, help, "gauge", tuple(labels), unit))
        assert isinstance(inst, Gauge)
        return inst

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        unit: str = "Seconds",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        spec = MetricSpec(name, help, "histogram", tuple(labels), unit, tuple(buckets))
        inst = self._get(Histogram, spec)
        assert isinstance(inst, Histogram)
        return inst

    def _dropped_series(self) -> None:
        # Recorded straight to the backend: the guard must not recurse into itself.
        self.backend.record(self._dropped.spec, (), 1.0, "inc")


@dataclass(frozen=True)
class Figures:
    """The figures tickwire reports (issue 7, part 4), declared once for every component.

    Prometheus names get the ``tickwire_`` prefix (and ``_total`` for counters); EMF
    names are the bare ones below. Labels are small closed sets, never ids.
    """

    connections: Gauge
    connects: Counter
    messages: Counter
    metered_units: Counter
    matches: Gauge
    players: Gauge
    tick_seconds: Histogram
    tick_overruns: Counter
    queue_depth: Gauge
    fanout_seconds: Histogram
    gone: Counter
    throttled: Counter
    rejected: Counter

    @classmethod
    def create(cls, m: Metrics) -> Figures:
        return cls(
            connections=m.gauge("connections", "Open WebSocket connections", unit="Count"),
            connects=m.counter(
                "connects", "WebSocket handshakes by result (ok, 401, 403, 429, ...)", ("result",)
            ),
            messages=m.counter(
                "messages",
                "WebSocket messages by direction (in: client->gateway, out)",
                ("direction",),
            ),
            metered_units=m.counter(
                "metered_units",
                "Messages as metered by API Gateway: 32 KB increments, by direction",
                ("direction",),
            ),
            matches=m.gauge("matches", "Matches running on this worker", unit="Count"),
            players=m.gauge("players", "Players in matches on this worker", unit="Count"),
            tick_seconds=m.histogram("tick_seconds", "Time to compute one engine tick"),
            tick_overruns=m.counter("tick_overruns", "Ticks that took longer than the tick period"),
            queue_depth=m.gauge(
                "queue_depth", "Items waiting in a bounded queue", ("queue",), "Count"
            ),
            fanout_seconds=m.histogram(
                "fanout_seconds", "From frame publish to the last post of that send tick"
            ),
            gone=m.counter("gone", "@connections posts answered 410 Gone"),
            throttled=m.counter("throttled", "Requests answered 429, by where", ("where",)),
            rejected=m.counter("rejected", "Inputs or records refused, by reason", ("reason",)),
        )


def backend_from_env(environ: Mapping[str, str] | None = None) -> Backend:
    """``TICKWIRE_METRICS``: ``prometheus`` (default), ``emf`` (AWS; namespace from
    ``TICKWIRE_METRICS_NAMESPACE``, default ``tickwire``) or ``off``."""
    env = os.environ if environ is None else environ
    choice = env.get("TICKWIRE_METRICS", "prometheus").strip().lower()
    if choice == "prometheus":
        return PrometheusBackend()
    if choice == "emf":
        return EmfBackend(env.get("TICKWIRE_METRICS_NAMESPACE", "tickwire"))
    if choice == "off":
        return NullBackend()
    raise ValueError(f"TICKWIRE_METRICS must be prometheus, emf or off, not {choice!r}")


_default: tuple[Metrics, Figures] | None = None
_default_lock = threading.Lock()


def configure(backend: Backend | None = None) -> Metrics:
    """Set the process-wide metrics (from the environment when ``backend`` is None)."""
    global _default
    with _default_lock:
        metrics = Metrics(backend if backend is not None else backend_from_env())
        _default = (metrics, Figures.create(metrics))
        return metrics


def get_metrics() -> Metrics:
    """The process-wide :class:`Metrics` (configured from the environment on first use)."""
    if _default is None:
        configure()
    assert _default is not None
    return _default[0]


def figures() -> Figures:
    """The process-wide :class:`Figures`."""
    if _default is None:
        configure()
    assert _default is not None
    return _default[1]
