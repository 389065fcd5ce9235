"""Runs a swarm: in the caller's event loop, or one child process per ``procs``.

Children are started with the ``spawn`` method (no inherited event loop or sockets),
share one start time, and send every interval's encoded :class:`~swarm.stats.Sample`
to the parent over a multiprocessing queue. The parent's :class:`Aggregator` merges the
samples of one interval from all processes (HDR histograms merge losslessly), hands the
merged interval to ``on_interval`` (the display), and keeps the run totals.

Bounds: the parent waits at most the run's length plus a grace period for its children,
then terminates whatever is left, so a hung child cannot hang the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue as queue_mod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from swarm.bot import Peek
from swarm.config import SwarmConfig
from swarm.errors import ConfigError
from swarm.fleet import Fleet, Schedule
from swarm.stats import Sample

__all__ = ["Aggregator", "Interval", "SwarmResult", "run_swarm"]

# Time allowed for spawned children to import and reach the common start.
SPAWN_LEAD_S = 3.0
# Extra time after the scheduled end before the parent gives up on a child
# (closing sockets is bounded by the connect timeout inside the child).
GRACE_S = 15.0


@dataclass
class Interval:
    index: int
    t: float  # seconds from start at the interval's end
    phase: str  # "ramp" or "steady"
    sample: Sample
    procs: int  # processes that reported this interval


@dataclass
class SwarmResult:
    config: SwarmConfig
    schedule: Schedule
    started_at: str
    wall_s: float
    intervals: list[Interval]
    overall: Sample
    steady: Sample
    # Process-level failures: {"proc": n, "error": "..."}.
    crashes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steady_seconds(self) -> float:
        return sum(1 for i in self.intervals if i.phase == "steady") * self.schedule.interval


class Aggregator:
    """Merges per-process interval samples; pure apart from calling ``on_interval``."""

    def __init__(self, procs: int, on_interval: Callable[[Interval], None] | None = None) -> None:
        self.procs = procs
        self.on_interval = on_interval
        self._parts: dict[int, list[dict[str, Any]]] = {}
        self.intervals: dict[int, Interval] = {}
        self.done: set[int] = set()
        self.crashes: list[dict[str, Any]] = []

    def add(self, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        if kind == "interval":
            parts = self._parts.setdefault(int(msg["index"]), [])
            parts.append(msg)
            if len(parts) == self.procs:
                self._close(int(msg["index"]))
        elif kind == "done":
            self.done.add(int(msg["proc"]))
        elif kind == "crash":
            self.crashes.append({"proc": msg["proc"], "error": msg["error"]})
            self.done.add(int(msg["proc"]))

    def _close(self, index: int) -> None:
        parts = self._parts.pop(index)
        interval = Interval(
            index=index,
            t=float(parts[0]["t"]),
            phase=str(parts[0]["phase"]),
            sample=Sample.merged(Sample.decode(p["sample"]) for p in parts),
            procs=len(parts),
        )
        self.intervals[index] = interval
        if self.on_interval is not None:
            self.on_interval(interval)

    def finish(self) -> list[Interval]:
        """Close intervals some process never reported (it crashed); all, in order."""
        for index in sorted(self._parts):
            self._close(index)
        return [self.intervals[i] for i in sorted(self.intervals)]


async def _paced(fleet: Fleet) -> None:
    """Run ``fleet`` with the collector on a timer: with CPython's default thresholds a
    process of 700 bots ran full collections long enough (over 100 ms) to put its input
    pacer behind schedule on a core only 28 % busy (P7 at 700 players)."""
    from tickwire.gc_tuning import GcPacer

    pacer = GcPacer()
    pacer.start()
    try:
        await fleet.run()
    finally:
        await pacer.stop()


def _child(config: SwarmConfig, proc: int, out: Any, start_epoch: float) -> None:
    """Entry point of a spawned bot process."""
    from tickwire.loops import event_loop_runner

    try:
        event_loop_runner()(_paced(Fleet(config, proc, out.put, start_epoch=start_epoch)))
    except BaseException as exc:
        out.put({"kind": "crash", "proc": proc, "error": repr(exc)})
        raise


async def run_swarm(
    config: SwarmConfig,
    *,
    peek: Peek | None = None,
    on_interval: Callable[[Interval], None] | None = None,
) -> SwarmResult:
    """Run the swarm to its end and return the merged result.

    ``peek`` (a callable) is only usable in-process; child processes import
    ``config.peek`` (``module:function``).
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    wall0 = time.perf_counter()
    schedule = Schedule(config)
    in_process = config.procs == 1 and not config.spawn
    aggregator = Aggregator(config.procs, on_interval)
    if in_process:
        await Fleet(config, 0, aggregator.add, start_epoch=time.time() + 0.05, peek=peek).run()
    else:
        if peek is not None:
            raise ConfigError("a peek callable cannot cross processes; set config.peek")
        await _run_children(config, schedule, aggregator)
    intervals = aggregator.finish()
    overall = Sample.merged(i.sample for i in intervals)
    steady = Sample.merged(i.sample for i in intervals if i.phase == "steady")
    # Connect times happen in the ramp: the steady totals carry the run's connect figures.
    steady.histograms["connect"] = overall.histograms["connect"]
    return SwarmResult(
        config=config,
        schedule=schedule,
        started_at=started_at,
        wall_s=time.perf_counter() - wall0,
        intervals=intervals,
        overall=overall,
        steady=steady,
        crashes=aggregator.crashes,
    )


async def _run_children(config: SwarmConfig, schedule: Schedule, agg: Aggregator) -> None:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_epoch = time.time() + SPAWN_LEAD_S
    children = [
        ctx.Process(target=_child, args=(config, p, out, start_epoch), daemon=True)
        for p in range(config.procs)
    ]
    for child in children:
        child.start()
    deadline = time.monotonic() + SPAWN_LEAD_S + schedule.end_s + GRACE_S
    loop = asyncio.get_running_loop()
    try:
        while len(agg.done) < config.procs and time.monotonic() < deadline:
            try:
                msg = await loop.run_in_executor(None, out.get, True, 0.5)
            except queue_mod.Empty:
                for p, child in enumerate(children):
                    if child.exitcode not in (None, 0) and p not in agg.done:
                        agg.add({"kind": "crash", "proc": p, "error": f"exit {child.exitcode}"})
                continue
            agg.add(msg)
    finally:
        for p, child in enumerate(children):
            await loop.run_in_executor(None, child.join, 5.0)
            if child.is_alive():
                child.terminate()
                agg.crashes.append({"proc": p, "error": "terminated after the grace period"})
        with contextlib.suppress(Exception):
            out.close()
