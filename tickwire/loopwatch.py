"""How long the event loop stalls: the figure behind a game server's latency tail.

A stall is time the loop spends in one callback (a long tick, a big batch, a
garbage-collector pause) while sockets wait. :class:`LoopWatch` measures it from the
outside: a timer due every ``interval_s`` records how late it fires; lateness above the
timer's own jitter is a stall of about that length.

On a busy machine a process is also late when the kernel gives its core to another
process: that is the machine's stall, not the loop's. So each lateness is also recorded
as the loop's *own* stall, the part of it the thread spent on the CPU (its
:func:`time.thread_time` over the late interval, at most the lateness): a loop held up by
its own work has used the CPU all along, a descheduled one has not.
Garbage-collector pauses are timed separately through :data:`gc.callbacks`, in CPU time
for the same reason.

All three are histograms (cumulative, Prometheus-style) served at ``/metrics`` as
``tickwire_loop_stall_seconds`` (wall-clock lateness), ``tickwire_loop_own_stall_seconds``
and ``tickwire_gc_pause_seconds``, each with the longest since start; a benchmark reads
them at the start and end of its window and takes the difference.

The watch costs a timer callback per interval, and on a virtual machine mostly the
wake-up of an idle loop that each one causes: measured on the 2-core VM tickwire is
benchmarked on, ~40 us of CPU per wake-up, so 20 ms of CPU a second at a 2 ms interval,
5.5 ms at 10 ms. ``tickwire up`` runs it at 10 ms (``--loop-probe-ms``), the resolution
Node.js's event-loop delay monitor defaults to; P7 measures stalls at 2 ms.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from infra.histogram import BucketCounts

__all__ = ["STALL_BUCKETS_S", "LoopWatch"]

# Upper bounds, seconds: fine around the 5 ms target (the last bucket is +Inf).
STALL_BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25)
# The timer's period. A stall of S shows as a lateness between S - interval and S (it may
# begin just after the timer fired), so lateness past 5 ms proves a stall past 5 ms, and
# the true longest stall is at most the longest lateness + the interval.
DEFAULT_INTERVAL_S = 0.01
# Lateness under this is the timer's own jitter, not a stall.
JITTER_S = 0.001


def _families(seconds: BucketCounts, name: str, doc: str) -> Iterator[Metric]:
    """``seconds`` as a Prometheus histogram, and its longest as ``{name}_max``."""
    yield HistogramMetricFamily(name, doc, buckets=seconds.cumulative(), sum_value=seconds.total)
    yield GaugeMetricFamily(f"{name}_max", f"{doc}: the longest since start", seconds.largest)


class LoopWatch:
    """Times stalls of the running loop and the collector's pauses (see module docs)."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if not interval_s > 0:
            raise ValueError(f"LoopWatch interval must be more than 0 s, got {interval_s}")
        self.interval_s = interval_s
        self.stalls = BucketCounts(STALL_BUCKETS_S)
        self.own_stalls = BucketCounts(STALL_BUCKETS_S)
        self.gc_pauses = BucketCounts(STALL_BUCKETS_S)
        self._cpu = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._gc_started = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self.interval_s
        self._cpu = time.thread_time()
        self._handle = self._loop.call_at(self._due, self._tick)
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._loop = None

    def _tick(self) -> None:
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        cpu = time.thread_time()
        late = now - self._due
        if late > JITTER_S:
            self.stalls.observe(late)
            own = min(late, cpu - self._cpu)
            if own > JITTER_S:
                self.own_stalls.observe(own)
        self._cpu = cpu
        self._due = now + self.interval_s
        self._handle = loop.call_at(self._due, self._tick)

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started:
            self.gc_pauses.observe(time.thread_time() - self._gc_started)
            self._gc_started = 0.0

    # -- prometheus_client Collector --------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        yield from _families(
            self.stalls,
            "tickwire_loop_stall_seconds",
            "How late the loop ran a timer (a stall), past 1 ms",
        )
        yield from _families(
            self.own_stalls,
            "tickwire_loop_own_stall_seconds",
            "Loop stalls spent on the CPU (the loop's own work, not descheduling), past 1 ms",
        )
        yield from _families(
            self.gc_pauses,
            "tickwire_gc_pause_seconds",
            "Garbage-collector pauses (CPU time) of this process",
        )
