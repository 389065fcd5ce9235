"""Copies the engine's and the broadcaster's own figures into the metrics facade.

The worker and the broadcaster keep plain counters (no metrics library on their hot
paths); once a period this exporter reads them and updates the facade's named figures
(:class:`tickwire.metrics.Figures`), so the same numbers reach Prometheus ``/metrics``
locally and CloudWatch EMF on AWS. Counters are exported as the increase since the
previous read, so a restart of the exporter never double counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from broadcaster.fanout import Broadcaster
from broadcaster.stats import LATENCY_BUCKETS_S
from game_engine.engine import SPECTATOR_SLOT
from game_engine.worker import Worker
from tickwire.metrics import Figures, Metrics

__all__ = ["StatsExporter", "engine_report", "match_players"]

# Seconds between two reads: Prometheus scrapes every 15 s by default, so 1 s is fresh.
DEFAULT_PERIOD_S = 1.0
# Tick durations carried per report: a second of ticks at up to 120 Hz, with room.
MAX_TICK_SAMPLES = 256


class _Gateway(Protocol):
    connections: dict[str, Any]


def match_players(worker: Worker[Any]) -> dict[str, int]:
    """Running matches and their player counts (spectators not counted)."""
    return {
        mid: sum(1 for p in m.members.values() if p.slot != SPECTATOR_SLOT)
        for mid, m in worker.engine.matches.items()
    }


def engine_report(worker: Worker[Any], broadcaster: Broadcaster | None) -> dict[str, Any]:
    """What the exporter (and the page's match list) needs of one worker and its
    broadcaster, as plain data: read in-process, or sent once a second by an engine process
    to the gateway process over the link (:mod:`infra.local.link`)."""
    engine = worker.engine
    stats = worker.stats()
    b = broadcaster.stats if broadcaster is not None else None
    return {
        "worker": worker.worker_id,
        "matches": match_players(worker),
        "players": sum(len(m.members) for m in engine.matches.values()),
        "engine_inputs": sum(len(m.queue) for m in engine.matches.values()),
        "posts_in_flight": b.in_flight if b is not None else 0,
        "ticks": int(stats["ticks"]),
        "tick_overruns": int(stats["tick_overruns"]),
        # The newest tick durations; the exporter observes those it has not seen.
        "tick_ms": list(worker.tick_ms)[-MAX_TICK_SAMPLES:],
        "counters": {str(k): int(v) for k, v in stats["counters"].items()},
        "set_aside": {str(k): int(v) for k, v in stats["set_aside"].items()},
        "gone": b.gone if b is not None else 0,
        "throttled": b.throttled if b is not None else 0,
        "latency_counts": list(b.latency.counts) if b is not None else [],
        "latency_max_s": b.latency.max_s if b is not None else 0.0,
    }


class StatsExporter:
    """Reads engine reports (:func:`engine_report`) once a period into the figures.

    ``StatsExporter(metrics, worker, broadcaster, gateway)`` reads one in-process worker;
    ``reports=`` takes a callable returning the latest report of every engine instead
    (``tickwire up`` with engine processes).
    """

    def __init__(
        self,
        metrics: Metrics,
        worker: Worker[Any] | None = None,
        broadcaster: Broadcaster | None = None,
        gateway: _Gateway | None = None,
        period_s: float = DEFAULT_PERIOD_S,
        *,
        reports: Callable[[], Iterable[dict[str, Any]]] | None = None,
    ) -> None:
        if reports is None:
            if worker is None:
                raise ValueError("StatsExporter needs a worker or reports=")
            local = worker

            def reports() -> list[dict[str, Any]]:
                return [engine_report(local, broadcaster)]

        self.figures = Figures.create(metrics)
        self.reports = reports
        self.gateway = gateway
        self.period_s = period_s
        self._seen: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def _delta(self, key: str, value: int) -> int:
        """The increase of a monotonically rising counter since the previous read."""
        step = value - self._seen[key]
        self._seen[key] = value
        return max(step, 0)

    def collect(self) -> None:
        """Read the reports once and update the figures (pure bookkeeping, no I/O)."""
        f = self.figures
        if self.gateway is not None:
            f.connections.set(len(self.gateway.connections))
        reports = list(self.reports())
        f.matches.set(sum(len(r["matches"]) for r in reports))
        f.players.set(sum(r["players"] for r in reports))
        f.queue_depth.set(sum(r["engine_inputs"] for r in reports), queue="engine_inputs")
        f.queue_depth.set(sum(r["posts_in_flight"] for r in reports), queue="posts_in_flight")
        for r in reports:
            self._collect_one(r, f"{r['worker']}.")

    def _collect_one(self, r: dict[str, Any], key: str) -> None:
        f = self.figures
        if step := self._delta(key + "tick_overruns", r["tick_overruns"]):
            f.tick_overruns.inc(step)
        # Tick durations: the report carries the newest N; observe the ones not seen yet.
        ticks = r["ticks"]
        samples = r["tick_ms"]
        new = min(self._delta(key + "ticks", ticks), len(samples))
        for ms in samples[len(samples) - new :] if new else ():
            f.tick_seconds.observe(ms / 1000.0)
        for name, count in r["counters"].items():
            if name.startswith(("input.rejected.", "join.refused.")):
                if step := self._delta(key + name, count):
                    f.rejected.inc(step, reason=name.split(".", 2)[2])
        for reason, count in r["set_aside"].items():
            if step := self._delta(f"{key}set_aside.{reason}", count):
                f.rejected.inc(step, reason=f"record:{reason}")
        if step := self._delta(key + "gone", r["gone"]):
            f.gone.inc(step)
        if step := self._delta(key + "throttled", r["throttled"]):
            f.throttled.inc(step, where="broadcaster")
        # Fan-out latency: the broadcaster keeps a bucketed histogram; each new sample is
        # observed at its bucket's upper bound (the facade's buckets are a superset).
        for i, count in enumerate(r["latency_counts"]):
            bound = LATENCY_BUCKETS_S[i] if i < len(LATENCY_BUCKETS_S) else r["latency_max_s"]
            f.fanout_seconds.observe_many(bound, self._delta(f"{key}latency.{i}", count))

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
            # wait() does not swallow a cancellation of stop() itself: the caller's
            # asyncio.timeout (tickwire up's bounded drain) still fires.
            await asyncio.wait([self._task])
            self._task = None
        self.collect()
