"""``tickwire up`` as its own process, as users run it, for P7 and P10.

:class:`UpProcess` starts ``python -m tickwire up`` on a free port with its own state
folder, waits until it serves, and stops it with SIGTERM. It reads what a benchmark needs
from outside: the CPU time of the whole process tree (the gateway and its engine
processes) from ``/proc``, and the event-loop stall and collector-pause histograms from
``/metrics`` (:mod:`tickwire.loopwatch`).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StallWindow", "UpProcess", "tree_cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except FileNotFoundError:
            continue
        found.extend(int(c) for c in text.split())
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    # Fields after the command name (which may hold spaces): utime is the 14th field.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of ``pid`` and every descendant, by pid."""
    out: dict[int, float] = {}
    stack = [pid]
    while stack:
        p = stack.pop()
        out[p] = _cpu_seconds(p)
        stack.extend(_children(p))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StallWindow:
    """Loop stalls between two reads of /metrics."""

    counts: list[tuple[float, int]]  # (upper bound s, stalls in the window) per bucket
    own_counts: list[tuple[float, int]]  # the loop's own (on-CPU) part of each stall
    gc_counts: list[tuple[float, int]]
    max_since_start_s: float

    @staticmethod
    def _over(counts: list[tuple[float, int]], seconds: float) -> int:
        """Stalls in buckets wholly above ``seconds`` (a bucket's lower bound is the
        previous bucket's upper bound)."""
        bounds = [0.0] + [b for b, _ in counts]
        return sum(n for (_, n), low in zip(counts, bounds, strict=False) if low >= seconds)

    @staticmethod
    def _longest(counts: list[tuple[float, int]]) -> float:
        hit = [bound for bound, n in counts if n]
        return max(hit) if hit else 0.0

    def own_over(self, seconds: float) -> int:
        return self._over(self.own_counts, seconds)

    def summary(self) -> str:
        return (
            f"loop stalls over 5 ms: {self._over(self.counts, 0.005)} wall-clock (longest "
            f"<= {self._longest(self.counts) * 1e3:g} ms), {self._over(self.own_counts, 0.005)} "
            f"on the loop's own CPU (longest <= {self._longest(self.own_counts) * 1e3:g} ms); "
            f"collector pauses <= {self._longest(self.gc_counts) * 1e3:g} ms CPU"
        )


_BUCKET = re.compile(
    r'^(tickwire_(?:loop_stall|loop_own_stall|gc_pause)_seconds)_bucket\{le="([^"]+)"\} (\S+)$'
)


class UpProcess:
    def __init__(self, *args: str, procs: int | None = None, account_rate: float = 1e6) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="tickwire-bench-"))
        self.port = free_port()
        self.args = [
            sys.executable,
            "-m",
            "tickwire",
            "up",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.folder),
            # P7 and P10 measure the machine, not the AWS account's 10,000/s quota.
            "--account-rate",
            str(account_rate),
            "--account-burst",
            str(int(account_rate)),
            "--log-level",
            "WARNING",
            *(["--procs", str(procs)] if procs else []),
            *args,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self._max = 0.0  # the longest stall since start, as of the last /metrics read

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/local"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    @property
    def secret(self) -> str:
        from ingest.tokens import local_secret

        return local_secret(self.folder)

    def __enter__(self) -> UpProcess:
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tickwire up exited ({self.process.returncode})")
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=1) as r:
                    if b"tickwire_matches" in r.read():
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("tickwire up did not start within 60 s")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu(self) -> dict[int, float]:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)

    def _histograms(self) -> dict[str, dict[float, int]]:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            text = r.read().decode()
        out: dict[str, dict[float, int]] = {}
        for line in text.splitlines():
            m = _BUCKET.match(line)
            if m:
                bound = float("inf") if m.group(2) == "+Inf" else float(m.group(2))
                out.setdefault(m.group(1), {})[bound] = int(float(m.group(3)))
            elif line.startswith("tickwire_loop_stall_seconds_max "):
                self._max = float(line.split()[1])
        return out

    def stall_mark(self) -> dict[str, dict[float, int]]:
        return self._histograms()

    def stall_window(self, mark: dict[str, dict[float, int]]) -> StallWindow:
        """Stalls from ``mark`` (a :meth:`stall_mark`) until now."""
        return self.window_between(mark, self._histograms())

    def window_between(
        self, mark: dict[str, dict[float, int]], later: dict[str, dict[float, int]]
    ) -> StallWindow:
        """Stalls between two :meth:`stall_mark` readings."""

        def window(name: str) -> list[tuple[float, int]]:
            before, after = mark.get(name, {}), later.get(name, {})
            counts, previous = [], 0
            for bound, total in sorted(after.items()):
                in_window = total - before.get(bound, 0)
                counts.append((bound, in_window - previous))
                previous = in_window
            return counts

        return StallWindow(
            window("tickwire_loop_stall_seconds"),
            window("tickwire_loop_own_stall_seconds"),
            window("tickwire_gc_pause_seconds"),
            self._max,
        )
