"""Interval lines while a swarm runs: a progress display on a terminal, plain lines in CI.

Each interval prints one line (bots connected, messages/s each way, input->ack
p50/p95/p99, errors). On a TTY a progress bar follows the latest line and is redrawn in
place; when the output is piped only the plain lines appear.
"""

from __future__ import annotations

import sys
from typing import TextIO

from swarm.runner import Interval

__all__ = ["IntervalPrinter", "format_interval"]

_BAR_WIDTH = 24


def _ms(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f}"


def format_interval(interval: Interval, *, bots: int, interval_s: float) -> str:
    s = interval.sample
    ack = s.percentiles("ack")
    errors = s.error_count
    worst = max(s.errors.items(), key=lambda kv: kv[1])[0] if errors else ""
    return (
        f"[{interval.t:7.1f}s {interval.phase:<6}] bots {s.connected:>6}/{bots:<6} "
        f"in {s.counters['msgs_in'] / interval_s:>8.0f}/s out {s.counters['msgs_out'] / interval_s:>7.0f}/s "
        f"ack ms p50 {_ms(ack['p50'])} p95 {_ms(ack['p95'])} p99 {_ms(ack['p99'])} "
        f"errors {errors}" + (f" ({worst}...)" if errors else "")
    )


class IntervalPrinter:
    """The ``on_interval`` callback of :func:`swarm.runner.run_swarm` for a console."""

    def __init__(
        self, *, bots: int, interval_s: float, end_s: float, out: TextIO | None = None
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.bots, self.interval_s, self.end_s = bots, interval_s, end_s
        self.lines = 0

    def __call__(self, interval: Interval) -> None:
        line = format_interval(interval, bots=self.bots, interval_s=self.interval_s)
        self.lines += 1
        if not self.tty:
            print(line, file=self.out, flush=True)
            return
        done = min(1.0, interval.t / self.end_s) if self.end_s > 0 else 1.0
        filled = int(done * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self.out.write(f"\r\x1b[K{line}\n[{bar}] {done * 100:3.0f}% of {self.end_s:.0f} s")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
            self.out.flush()
