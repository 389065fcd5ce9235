"""Copies the engine's and the broadcaster's own figures into the metrics facade.

The worker and the broadcaster keep plain counters (no metrics library on their hot
paths); once a period this exporter reads them and updates the facade's named figures
(:class:`tickwire.metrics.Figures`), so the same numbers reach Prometheus ``/metrics``
locally and CloudWatch EMF on AWS. Counters are exported as the increase since the
previous read, so a restart of the exporter never double counts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any, Protocol

from broadcaster.fanout import Broadcaster
from broadcaster.stats import LATENCY_BUCKETS_S
from game_engine.worker import Worker
from tickwire.metrics import Figures, Metrics

__all__ = ["StatsExporter"]

# Seconds between two reads: Prometheus scrapes every 15 s by default, so 1 s is fresh.
DEFAULT_PERIOD_S = 1.0
# Bound of the work one read may do per histogram bucket (the rest is counted, not observed).
MAX_OBSERVATIONS_PER_READ = 10_000


class _Gateway(Protocol):
    connections: dict[str, Any]


class StatsExporter:
    def __init__(
        self,
        metrics: Metrics,
        worker: Worker[Any],
        broadcaster: Broadcaster,
        gateway: _Gateway | None = None,
        period_s: float = DEFAULT_PERIOD_S,
    ) -> None:
        self.figures = Figures.create(metrics)
        self.worker = worker
        self.broadcaster = broadcaster
        self.gateway = gateway
        self.period_s = period_s
        self._seen: Counter[str] = Counter()
        self._tick_samples_seen = 0
        self._task: asyncio.Task[None] | None = None

    def _delta(self, key: str, value: int) -> int:
        """The increase of a monotonically rising counter since the previous read."""
        step = value - self._seen[key]
        self._seen[key] = value
        return max(step, 0)

    def collect(self) -> None:
        """Read the components once and update the figures (pure bookkeeping, no I/O)."""
        f = self.figures
        engine = self.worker.engine
        if self.gateway is not None:
            f.connections.set(len(self.gateway.connections))
        f.matches.set(len(engine.matches))
        f.players.set(sum(len(m.members) for m in engine.matches.values()))
        f.queue_depth.set(sum(len(m.queue) for m in engine.matches.values()), queue="engine_inputs")
        f.queue_depth.set(self.broadcaster.stats.in_flight, queue="posts_in_flight")
        stats = self.worker.stats()
        if step := self._delta("tick_overruns", int(stats["tick_overruns"])):
            f.tick_overruns.inc(step)
        # Tick durations: the worker keeps the last N in a ring; observe the new ones.
        ticks = int(stats["ticks"])
        new = min(ticks - self._tick_samples_seen, len(self.worker.tick_ms))
        if new > 0:
            for ms in list(self.worker.tick_ms)[-new:]:
                f.tick_seconds.observe(ms / 1000.0)
        self._tick_samples_seen = ticks
        for name, count in stats["counters"].items():
            if name.startswith(("input.rejected.", "join.refused.")):
                if step := self._delta(name, int(count)):
                    f.rejected.inc(step, reason=name.split(".", 2)[2])
        for reason, count in stats["set_aside"].items():
            if step := self._delta(f"set_aside.{reason}", int(count)):
                f.rejected.inc(step, reason=f"record:{reason}")
        b = self.broadcaster.stats
        if step := self._delta("gone", b.gone):
            f.gone.inc(step)
        if step := self._delta("throttled", b.throttled):
            f.throttled.inc(step, where="broadcaster")
        # Fan-out latency: the broadcaster keeps a bucketed histogram; each new sample is
        # observed at its bucket's upper bound (the facade's buckets are a superset).
        counts = b.latency.counts
        for i, count in enumerate(counts):
            bound = LATENCY_BUCKETS_S[i] if i < len(LATENCY_BUCKETS_S) else b.latency.max_s
            for _ in range(min(self._delta(f"latency.{i}", count), MAX_OBSERVATIONS_PER_READ)):
                f.fanout_seconds.observe(bound)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stats-exporter")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            self.collect()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.collect()
