"""The fixed-rate tick clock: when to tick, when to send, what to do when late. Pure.

Policy (no spiral of death): ticks are due every ``1 / tick_rate`` seconds on a fixed
grid. A late loop runs the missed ticks back to back, up to ``max_catchup_ticks``; beyond
that it drops the rest of the backlog (the simulation falls behind wall time instead of
trying to catch up forever) and counts the dropped ticks. A tick that takes longer than
its period is counted as an overrun.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["TickClock", "send_due"]


def send_due(tick: int, tick_rate: float, send_rate: float) -> bool:
    """Whether tick ``tick`` (1, 2, ...) is a send tick: ``send_rate`` of every
    ``tick_rate`` ticks, spread evenly (30/20 Hz: two sends every three ticks)."""
    if send_rate >= tick_rate:
        return True
    return math.floor(tick * send_rate / tick_rate) > math.floor((tick - 1) * send_rate / tick_rate)


@dataclass
class TickClock:
    tick_rate: float
    # Missed ticks run back to back up to this many; the rest are dropped.
    max_catchup_ticks: int = 3
    next_due: float = 0.0
    skipped: int = 0
    overruns: int = 0

    @property
    def period(self) -> float:
        return 1.0 / self.tick_rate

    def start(self, now: float) -> None:
        self.next_due = now

    def wait(self, now: float) -> float:
        """Seconds to sleep before the next tick (0: run it now). Drops a long backlog."""
        late = now - self.next_due
        if late < 0:
            return -late
        backlog = int(late / self.period)
        if backlog > self.max_catchup_ticks:
            dropped = backlog - self.max_catchup_ticks
            self.skipped += dropped
            self.next_due += dropped * self.period
        return 0.0

    def done(self, started: float, finished: float) -> None:
        """Record a tick that ran from ``started`` to ``finished``; advance the grid."""
        if finished - started > self.period:
            self.overruns += 1
        self.next_due += self.period
