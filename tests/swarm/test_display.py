"""Interval lines: plain when piped, a progress bar redrawn in place on a terminal."""

from __future__ import annotations

import io

from swarm.display import IntervalPrinter
from swarm.runner import Interval
from swarm.stats import Sample


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def interval(t: float) -> Interval:
    s = Sample()
    s.connected = 10
    s.counters["msgs_in"] = 400
    s.counters["msgs_out"] = 200
    for ms in (10, 20, 30):
        s.record("ack", ms * 1000)
    s.error("refused:429", 2)
    return Interval(index=int(t) - 1, t=t, phase="steady", sample=s, procs=1)


def test_piped_output_is_plain_lines() -> None:
    out = io.StringIO()
    printer = IntervalPrinter(bots=10, interval_s=2.0, end_s=4.0, out=out)
    printer(interval(2.0))
    printer(interval(4.0))
    printer.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert "bots     10/10" in lines[0] and "in      200/s out     100/s" in lines[0]
    assert "p50  20.0" in lines[0] and "errors 2 (refused:429...)" in lines[0]


def test_terminal_output_redraws_a_progress_bar() -> None:
    out = Terminal()
    printer = IntervalPrinter(bots=10, interval_s=2.0, end_s=4.0, out=out)
    printer(interval(2.0))
    printer(interval(4.0))
    printer.close()
    text = out.getvalue()
    assert "\r\x1b[K" in text and " 50% of 4 s" in text and "100% of 4 s" in text
    assert text.endswith("\r\x1b[K")  # the bar is cleared before the final table
