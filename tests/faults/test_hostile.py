"""One client cannot hurt the others (issue 12, item 4), against ``tickwire up`` run as its
own process (gateway process + engine process, ``--procs 2``).

Each test runs ~100 honest swarm bots (in their own process) for a calm window and then
a hostile window of the same length, in one swarm run (the windows are whole 1 s
intervals of the swarm), and compares the honest input->ack p99 of the two. The hostile
clients (:mod:`hostile`) run in this process: a flooder at 5,000 messages/s, 2,000
authenticated connections that never read, a bad-token handshake storm. Each test
prints its figures: honest p99 calm and hostile, the ratio, honest errors, hostile
connections disconnected and the gateway's policy counter.

Bounds. Every form asserts that the policy acted (the flooder closed with 1008, the
never-readers closed, the storm refused before the authorizer, each counted in /metrics)
and 0 honest errors: with a policy switched off, its test fails on these. The p99 ratio
is the figure: ``-m soak`` (30 s windows) asserts the issue's 1.5; the short forms in the
default suite (8 s windows, ~25 s a test) assert a looser bound that still catches a
collapse (the issue's unprotected figures were 2.7x to 7.2x) without failing on a shared
2-core machine whose other processes move an 8 s p99 by a third: 2.0 for the flooder and
the storm (protected, they measure 0.95-1.1x), 4.0 for the never-readers (protected
1.3-2.7x here, unprotected 1.6-6.8x). What remains of their cost is the engine's: 2,000
players joining 125 new matches and leaving about 2 s later (the ping timeout); the same
2,000 handshakes into one match, where 16 are admitted, measure 1.02x, so the gateway's
side of them (handshakes, authorizer, pings, aborts) is not what players feel.
"""

from __future__ import annotations

import asyncio
import re
import sys
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import Flooder, NeverReaders, bad_token_storm

from swarm.config import SwarmConfig
from swarm.fleet import Schedule
from swarm.runner import Interval, run_swarm
from swarm.stats import Sample

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from _up_process import UpProcess

RATIO_BOUND = 1.5
HONEST_BOTS = 100
SHORT_S = 8
SOAK_S = 30


@dataclass
class Windows:
    calm: Sample
    hostile: Sample
    hostile_seconds: list[Sample]
    server_cpu: tuple[float, float]  # CPU seconds of tickwire up's processes, per window

    def p99(self, sample: Sample) -> float:
        value = sample.percentiles("ack")["p99"]
        assert value is not None, "no input was acknowledged"
        return value

    @property
    def ratio(self) -> float:
        return self.p99(self.hostile) / self.p99(self.calm)

    def line(self) -> str:
        return (
            f"honest p99 calm {self.p99(self.calm):.1f} ms, hostile {self.p99(self.hostile):.1f}"
            f" ms, ratio {self.ratio:.2f}; honest errors calm {dict(self.calm.errors)}, "
            f"hostile {dict(self.hostile.errors)}; acks {acks(self.calm)} / {acks(self.hostile)}"
            f"; server CPU calm {self.server_cpu[0]:.2f} s, hostile {self.server_cpu[1]:.2f} s"
            "; hostile p99 by second "
            + " ".join(f"{s.percentiles('ack')['p99'] or 0:.0f}" for s in self.hostile_seconds)
        )


def acks(sample: Sample) -> int:
    return int(sample.histograms["ack"].get_total_count())


Attack = Callable[[], Awaitable[None]]


async def honest_calm_then_hostile(up: UpProcess, attack: Attack, seconds: int) -> Windows:
    """One swarm run: ``seconds`` calm, then ``attack()`` is started and ``seconds`` more."""
    config = SwarmConfig(
        url=up.ws_url,
        bots=HONEST_BOTS,
        matches=10,
        duration_s=2 * seconds,
        interval_s=1.0,
        spawn=True,
        secret=up.secret,
        match_prefix="honest",
    )
    first = Schedule(config).steady_index
    calm = range(first, first + seconds)
    go = asyncio.Event()
    cpu: dict[int, float] = {}

    def on_interval(interval: Interval) -> None:
        if interval.index in (calm[0] - 1, calm[-1], calm[-1] + seconds):
            cpu[interval.index] = sum(up.cpu().values())
        if interval.index == calm[-1]:
            go.set()

    async def start_attack() -> None:
        await go.wait()
        await attack()

    attacking = asyncio.create_task(start_attack())
    try:
        result = await run_swarm(config, on_interval=on_interval)
    finally:
        attacking.cancel()
        await asyncio.wait([attacking])
    assert not result.crashes, result.crashes
    by_index = {i.index: i.sample for i in result.intervals}
    hostile = [by_index[i] for i in range(calm[-1] + 1, calm[-1] + 1 + seconds)]
    marks = [cpu.get(i, 0.0) for i in (calm[0] - 1, calm[-1], calm[-1] + seconds)]
    return Windows(
        Sample.merged(by_index[i] for i in calm),
        Sample.merged(hostile),
        hostile,
        (marks[1] - marks[0], marks[2] - marks[1]),
    )


def metric(up: UpProcess, name: str, **labels: str) -> float:
    """One sample of the gateway's /metrics (0 when absent)."""
    with urllib.request.urlopen(up.metrics_url, timeout=5) as r:
        text = r.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def up() -> Iterator[UpProcess]:
    # The machine, not the AWS account quota: 2,000 more players alone need ~40,000
    # @connections posts a second, four times the default 10,000/s account throttle, which
    # then answers honest players' messages with 429 whatever they do (as AWS would).
    with UpProcess(account_rate=1e6) as process:
        yield process


def honest_errors(sample: Sample) -> int:
    """Errors the server caused: not ``pacer:behind``, which is the swarm's own process
    falling behind its schedule on a busy machine (it is printed all the same)."""
    return sum(n for kind, n in sample.errors.items() if kind != "pacer:behind")


def check(windows: Windows, seconds: int, short_bound: float = 2.0) -> None:
    assert honest_errors(windows.calm) == 0, windows.calm.errors
    assert honest_errors(windows.hostile) == 0, windows.hostile.errors
    bound = RATIO_BOUND if seconds >= SOAK_S else short_bound
    assert windows.ratio < bound, windows.line()


async def flood(up: UpProcess, seconds: int) -> None:
    flooder = Flooder(up.port, up.secret, rate=5_000)

    async def attack() -> None:
        flooder.start()

    try:
        windows = await honest_calm_then_hostile(up, attack, seconds)
    finally:
        await flooder.stop()
    closes = metric(up, "tickwire_gateway_policy_closes_total", policy="message_rate")
    dropped = metric(up, "tickwire_gateway_throttled_total", source="connection")
    print(
        f"\nflooder at 5,000 messages/s: {windows.line()}; flooder sent {flooder.sent}, "
        f"closed by the server after {flooder.closed_after_s} s with {flooder.close_code}; "
        f"policy closes {closes:g}, messages dropped {dropped:g}"
    )
    check(windows, seconds)
    assert flooder.close_code == 1008 and closes == 1


async def never_read(up: UpProcess, seconds: int, count: int = 2_000) -> None:
    sleepers = NeverReaders(up.port, up.secret, count=count)

    async def attack() -> None:
        sleepers.start()

    try:
        windows = await honest_calm_then_hostile(up, attack, seconds)
        await sleepers.wait_opened()
        closed = sleepers.closed_by_server()
    finally:
        await sleepers.close()
    closes = metric(up, "tickwire_gateway_policy_closes_total", policy="ping_timeout")
    print(
        f"\n{count} connections that never read: {windows.line()}; handshakes "
        f"{dict(sleepers.statuses)}, closed by the server {closed}; policy closes {closes:g}"
    )
    check(windows, seconds, short_bound=4.0)
    assert closes >= 0.9 * len(sleepers.sockets) and closed >= 0.9 * len(sleepers.sockets)


async def storm(up: UpProcess, seconds: int, rate: float = 700.0) -> None:
    statuses: Counter[int] = Counter()

    async def attack() -> None:
        await bad_token_storm(up.port, rate, seconds, statuses)

    windows = await honest_calm_then_hostile(up, attack, seconds)
    refused = metric(up, "tickwire_gateway_throttled_total", source="connect_source")
    print(
        f"\nbad-token handshakes at {rate:g}/s: {windows.line()}; answers {dict(statuses)}; "
        f"refused before the authorizer {refused:g}"
    )
    check(windows, seconds)
    assert refused > 0.5 * sum(statuses.values())


async def test_a_flooder_is_dropped_then_closed(up: UpProcess) -> None:
    await flood(up, SHORT_S)


async def test_connections_that_never_read_are_closed(up: UpProcess) -> None:
    await never_read(up, SHORT_S)


async def test_a_bad_token_storm_leaves_players_alone(up: UpProcess) -> None:
    await storm(up, SHORT_S)


@pytest.mark.soak
async def test_soak_flooder(up: UpProcess) -> None:
    await flood(up, SOAK_S)


@pytest.mark.soak
async def test_soak_never_readers(up: UpProcess) -> None:
    await never_read(up, SOAK_S)


@pytest.mark.soak
async def test_soak_bad_token_storm(up: UpProcess) -> None:
    await storm(up, SOAK_S)
