"""Fast-forwarding a shard after a takeover: snapshots and records to the present. Pure.

Theory of operation. The worker that takes a shard over restores the snapshots its
checkpoint lists and must bring those matches (and any created since) to where the
previous owner had them, and on to the present, before it publishes a single frame:
otherwise its players would see ``ack_seq`` and the state go backwards. A
:class:`Replay` does that in an engine of its own, away from the live one:

- The timeline starts at the snapshots' wall time (the earliest, when a reshard brings
  snapshots of different moments), or at the first record's time when there are none,
  and advances one tick period per tick.
- Records are taken in stream order; each waits until the timeline reaches its request
  time (``t``), so it is applied at the tick it would have been applied at live. A
  record without a time is applied as soon as its turn comes; one stamped ahead of the
  present is applied at the last tick.
- This is not live intake: no flood bound, no per-tick or per-queue limit. Every record
  the previous owner could have acknowledged is in the stream and is applied here;
  records it had applied before its snapshot are skipped (the snapshot's progress), and
  an input at or below its player's last applied ``seq`` is a duplicate, as live.
- :meth:`Replay.run` runs at most ``max_ticks`` ticks per call, so the caller can yield
  between calls (lease renewals, other shards' ticks); it reads the present anew each
  time, and is done once the timeline has caught up with it. At full speed a tick of a
  few matches costs well under a millisecond, so 10 s of play replays in a fraction of
  a second.
- A timeline more than ``max_catchup`` seconds long is not simulated tick by tick: the
  oldest part is skipped (tick counters advance, nothing moves) and the records in it
  are applied at the first simulated tick. A checkpoint is written every few seconds
  (with fresh snapshots even when nothing was read), so this only happens when a shard
  has had no owner for a long time.

The matches then go to the live engine as snapshots (:meth:`Replay.snapshots`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from game_engine.engine import Engine, EngineSettings
from game_engine.events import Event
from game_engine.rules import Rules
from game_engine.snapshot_codec import Snapshot

__all__ = ["Replay"]

C = TypeVar("C")

# Replay is not live intake: no bound of the live engine applies.
_UNBOUNDED = sys.maxsize


class Replay(Generic[C]):
    """Restore ``snapshots``, replay ``records`` of ``shard_id`` (stream order) to now."""

    def __init__(
        self,
        rules: Rules[C],
        settings: EngineSettings,
        shard_id: str,
        snapshots: Sequence[Snapshot],
        records: Sequence[tuple[str, Event | None]],
        *,
        max_catchup: float = 600.0,
    ) -> None:
        self.engine: Engine[C] = Engine(
            rules,
            dataclasses.replace(
                settings,
                max_inputs_queued_per_player=_UNBOUNDED,
                max_queue_per_match=_UNBOUNDED,
                max_records_per_match_per_tick=_UNBOUNDED,
                max_matches=_UNBOUNDED,
            ),
        )
        self.shard_id = shard_id
        self.period_ms = 1000.0 / settings.tick_rate
        self.max_catchup_ms = max_catchup * 1000.0
        self.ended: list[tuple[str, dict[str, Any]]] = []
        self.ticks = 0
        self.records = 0
        for snap in snapshots:
            self.engine.restore_decoded(snap, shard_id)
        self._events = [(seq, ev) for seq, ev in records if ev is not None]
        self._next = 0
        walls = [snap.wall_ms for snap in snapshots if snap.wall_ms > 0]
        first_t = next((ev.t for _, ev in self._events if ev.t > 0), None)
        start = min(walls) if walls else first_t
        # None: nothing tells where the timeline starts; the records go at one tick.
        self._clock: float | None = float(start) if start is not None else None
        self.done = False

    def run(self, now_ms: float, max_ticks: int = 64) -> bool:
        """Run up to ``max_ticks`` ticks towards ``now_ms``; True once at the present."""
        engine, events = self.engine, self._events
        if self.done:
            return True
        if self._clock is None:
            self._clock = now_ms
        behind = now_ms - self._clock
        if behind > self.max_catchup_ms:
            skipped = math.floor((behind - self.max_catchup_ms) / self.period_ms)
            engine.skip_ticks(skipped)
            self._clock += skipped * self.period_ms
        for _ in range(max_ticks):
            if self._clock + self.period_ms > now_ms:
                break
            self._clock += self.period_ms
            while self._next < len(events) and events[self._next][1].t <= self._clock:
                self._submit(*events[self._next])
            self._tick()
        else:
            return False
        # At the present: what is left was stamped ahead of it (another clock); applied
        # now, so every record read is in the state before anything is published.
        if self._next < len(events):
            while self._next < len(events):
                self._submit(*events[self._next])
            self._tick()
        self.done = True
        return True

    def snapshots(self) -> list[tuple[str, bytes]]:
        """Each match alive at the end, as a snapshot for the live engine."""
        wall = round(self._clock or 0)
        return [(m, self.engine.snapshot(m, wall_ms=wall)) for m in self.engine.matches]

    def _submit(self, seq: str, event: Event) -> None:
        accepted = self.engine.submit(event, self.shard_id, seq)
        assert accepted, "an unbounded queue never holds a record back"
        self._next += 1
        self.records += 1

    def _tick(self) -> None:
        report = self.engine.tick()
        self.ended.extend(report.ended)
        self.ticks += 1
