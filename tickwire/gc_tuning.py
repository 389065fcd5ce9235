"""Garbage-collector settings for long-running tickwire processes (``up``, ``worker``).

A tick server allocates many short-lived objects (frames, messages, records) and keeps a
large, stable set (connections, matches, settings). Two policies:

- :func:`tune_gc` (engine processes, ``tickwire worker``): freeze what start-up built and
  raise the thresholds to (50,000, 50, 100). With CPython's defaults (700, 10, 10) a
  480-player one-process ``tickwire up`` ran about 35 collections a second, 770 ms of
  collector time in 25 s; tuned, 5 collections and 72 ms. Fewer pauses, but longer ones:
  a young generation of 50,000 objects takes ~10 ms to scan, and a full collection of
  the 50-70k objects of 400 connections 14-35 ms (measured in the gateway process).
- :class:`GcPacer` (the process that serves sockets): automatic collection off; the
  young generation collected every ``young_every_s`` (50 ms: a few thousand objects at
  most, well under a millisecond), the middle one every ``middle_every_s``, and the old
  one, whose scan is the long pause, only every ``full_every_s`` (10 minutes). Cyclic
  garbage that has grown old (a closed connection's reference cycles) waits for that
  full collection; garbage without cycles is freed at once by reference counting, as
  always. So the socket loop's collector pauses stay under a few milliseconds, at the
  price of one long pause every ten minutes (logged).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["GC_THRESHOLDS", "GcPacer", "tune_gc"]

log = logging.getLogger("tickwire.gc")

GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Move everything alive now out of the collector's way and raise the thresholds.
    Call once, after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class GcPacer:
    """Collects on a timer instead of on allocation counts (see the module docstring)."""

    def __init__(
        self, young_every_s: float = 0.05, middle_every_s: float = 1.0, full_every_s: float = 600.0
    ) -> None:
        self.young_every_s = young_every_s
        self.middle_every_s = middle_every_s
        self.full_every_s = full_every_s
        self.full_collections = 0
        self._task: asyncio.Task[None] | None = None
        self._was_enabled = True

    def start(self) -> None:
        """Collect and freeze what start-up built, turn automatic collection off, and
        start the timer. Call once, after start-up."""
        if self._task is not None:
            return
        gc.collect()
        gc.freeze()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._task = asyncio.create_task(self._run(), name="gc-pacer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        if self._was_enabled:
            gc.enable()

    async def _run(self) -> None:
        now = time.monotonic()
        next_middle = now + self.middle_every_s
        next_full = now + self.full_every_s
        while True:
            await asyncio.sleep(self.young_every_s)
            now = time.monotonic()
            if now >= next_full:
                started = time.perf_counter()
                gc.collect()
                self.full_collections += 1
                next_full = now + self.full_every_s
                next_middle = now + self.middle_every_s
                log.info("full collection: %.1f ms", (time.perf_counter() - started) * 1e3)
            elif now >= next_middle:
                gc.collect(1)
                next_middle = now + self.middle_every_s
            else:
                gc.collect(0)
