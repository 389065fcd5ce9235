"""A two-worker deployment of real processes, and bots that measure what players see.

The deployment is the README's multi-process recipe, run as written: ``moto_server`` for
DynamoDB, ``tickwire gateway --template stack.yaml --kinesis-port K`` (the rendered stack:
authorizer, VTL templates, the action stream served as a Kinesis endpoint) and two
``tickwire worker --kinesis-endpoint-url ... --dynamodb-endpoint-url ... --create``
processes with default lease settings, posting through the gateway's ``@connections``
with signatures it verifies. Bots are real WebSocket clients that send inputs at a steady
rate and keep every state message's header (``Bot.got``) and a ``WorldView``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from broadcaster.client_state import WorldView
from broadcaster.codec import peek_header
from broadcaster.errors import ProtocolError
from infra.aws.stack import dump_stack, render_stack
from ingest.tokens import mint

ROOT = Path(__file__).parents[2]
SECRET = "a-fault-test-secret-of-at-least-32-bytes"
STREAM = "tickwire-local-ActionStream"
LEASES = "tickwire-local-LeasesTable"
SNAPSHOTS = "tickwire-local-SnapshotsTable"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A child process whose output goes to a file; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], logs: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.expected_exit = False  # killed or stopped on purpose

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.expected_exit = True
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def stop(self, within: float = 15.0) -> int:
        """SIGCONT (it may be frozen), SIGTERM, then SIGKILL after ``within`` seconds."""
        if self.popen.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(within)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return int(self.popen.returncode)


@dataclass
class Deployment:
    """moto_server + gateway + workers, as the README's recipe starts them."""

    tmp: Path
    env: dict[str, str]
    moto_url: str = ""
    kinesis_url: str = ""
    gateway_port: int = 0
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/local"

    def spawn(self, name: str, *argv: str) -> Process:
        proc = Process(name, list(argv), self.tmp, self.env)
        self.processes[name] = proc
        return proc

    async def start(self, workers: tuple[str, ...] = ("worker-a", "worker-b")) -> None:
        moto_port, kinesis_port = free_port(), free_port()
        self.gateway_port = free_port()
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self.kinesis_url = f"http://127.0.0.1:{kinesis_port}"
        self.spawn(
            "moto", sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)
        )
        stack = self.tmp / "stack.yaml"
        stack.write_text(dump_stack(render_stack(), "yaml"))
        parameters = ("ImageUri=local", "VpcId=local", "Subnets=local", f"JwtSecret={SECRET}",
                      "StageName=local", "StreamMode=PROVISIONED", "ShardCount=1")  # fmt: skip
        self.spawn(
            "gateway", sys.executable, "-m", "tickwire", "gateway", "--template", str(stack),
            "--port", str(self.gateway_port), "--kinesis-port", str(kinesis_port),
            *(f"--parameter={p}" for p in parameters),
        )  # fmt: skip
        await self.wait_for_port(moto_port)
        await self.wait_for(lambda: "metrics:" in self.processes["gateway"].output(), "gateway")
        for name in workers:
            self.start_worker(name)
        await self.wait_for(lambda: self.owner() is not None, "a lease owner")

    def start_worker(self, name: str) -> Process:
        # Default lease settings: the failover these tests measure is the default one.
        return self.spawn(
            name, sys.executable, "-m", "tickwire", "worker",
            "--kinesis-endpoint-url", self.kinesis_url, "--dynamodb-endpoint-url", self.moto_url,
            "--create", "--stream", STREAM, "--lease-table", LEASES, "--snapshot-table", SNAPSHOTS,
            "--connections-endpoint", f"http://127.0.0.1:{self.gateway_port}/local",
            "--worker-id", name, "--region", REGION, "--stats-interval", "0",
        )  # fmt: skip

    def owner(self) -> str | None:
        """The worker holding the one shard's lease (None before the tables exist)."""
        client = boto3.client("dynamodb", endpoint_url=self.moto_url, region_name=REGION)
        try:
            items = client.scan(TableName=LEASES, ConsistentRead=True)["Items"]
        except client.exceptions.ResourceNotFoundException:
            return None
        owners = [item["owner"]["S"] for item in items if "owner" in item]
        return owners[0] if owners else None

    async def wait_for_port(self, port: int, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    return
                await asyncio.sleep(0.1)

    async def wait_for(self, check: Any, what: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while not await asyncio.to_thread(check):
            for proc in self.processes.values():
                if not proc.expected_exit:
                    assert proc.popen.poll() is None, (
                        f"{proc.name} exited:\n{proc.output()[-3000:]}"
                    )
            assert time.monotonic() < deadline, f"no {what} within {within} s"
            await asyncio.sleep(0.2)

    def stop(self) -> dict[str, int]:
        codes = {}
        for name in reversed(list(self.processes)):
            codes[name] = self.processes[name].stop()
        return codes


@dataclass
class Received:
    at: float  # time.monotonic()
    tick: int
    ack: int
    full: bool
    dropped: int


@dataclass
class Bot:
    """A player sending ``rate`` inputs/s; keeps every state header it receives."""

    match: str
    player: str
    sent: list[tuple[float, int]] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    world: WorldView = field(default_factory=WorldView)
    protocol_errors: int = 0
    closed: str | None = None

    @property
    def last_sent(self) -> int:
        return self.sent[-1][1] if self.sent else 0

    @property
    def ack(self) -> int:
        return self.got[-1].ack if self.got else 0

    async def play(self, url: str, sending: asyncio.Event, rate: float) -> None:
        token = mint(SECRET, match=self.match, player=self.player)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}?token={token}", heartbeat=None) as ws:
                receiver = asyncio.create_task(self._receive(ws))
                try:
                    seq = 0
                    while sending.is_set():
                        seq += 1
                        body = {"action": "input", "seq": seq, "move": [1, 0], "aim": [0, 1],
                                "fire": seq % 5 == 0}  # fmt: skip
                        await ws.send_str(json.dumps(body))
                        self.sent.append((time.monotonic(), seq))
                        await asyncio.sleep(1 / rate)
                    # Settle: every input sent is acknowledged or said dropped.
                    async with asyncio.timeout(20):
                        while not self.got or self.ack + self.got[-1].dropped < seq:  # noqa: ASYNC110
                            await asyncio.sleep(0.05)
                finally:
                    receiver.cancel()
                    await asyncio.wait([receiver])

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            header = peek_header(msg.data)
            self.got.append(
                Received(time.monotonic(), header.tick, header.ack_seq, header.full,
                         getattr(header, "dropped", 0))
            )  # fmt: skip
            try:
                self.world.apply(msg.data)
            except ProtocolError:
                self.protocol_errors += 1  # e.g. a delta against another owner's state
        self.closed = f"{ws.close_code}"


def bots_for(matches: int, players: int) -> list[Bot]:
    return [Bot(f"fault-{m}", f"bot-{m}-{p}") for m in range(matches) for p in range(players)]


@dataclass
class Figures:
    """What the players saw, summed over bots."""

    inputs_sent: int
    inputs_lost: int  # sent, neither acknowledged nor said dropped by the end
    ack_regressions: int  # a message whose ack_seq is below an earlier one's
    tick_regressions: int  # ... whose tick is below an earlier one's (old state)
    protocol_errors: int

    def line(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in vars(self).items())


def figures(bots: list[Bot], since: float = 0.0) -> Figures:
    acks = ticks = 0
    for bot in bots:
        best_ack = best_tick = -1
        for r in bot.got:
            if r.at >= since:
                acks += r.ack < best_ack
                ticks += r.tick < best_tick
            best_ack, best_tick = max(best_ack, r.ack), max(best_tick, r.tick)
    return Figures(
        inputs_sent=sum(b.last_sent for b in bots),
        inputs_lost=sum(
            max(0, b.last_sent - b.ack - (b.got[-1].dropped if b.got else 0)) for b in bots
        ),
        ack_regressions=acks,
        tick_regressions=ticks,
        protocol_errors=sum(b.protocol_errors for b in bots),
    )


def first_after(bots: list[Bot], moment: float) -> float:
    """Seconds from ``moment`` (the fault) until every bot had an input sent after it
    acknowledged: the pause a player feels (one input interval and one tick included)."""
    waits = []
    for bot in bots:
        first = next((seq for at, seq in bot.sent if at > moment), None)
        assert first is not None, f"{bot.player} sent nothing after the fault"
        acked = next((r.at for r in bot.got if r.ack >= first), None)
        assert acked is not None, f"{bot.player}: nothing sent after the fault was acknowledged"
        waits.append(acked - moment)
    return max(waits)


class Swarm:
    """Bots playing as tasks until :meth:`finish`: they stop sending, wait until every
    input is acknowledged or said dropped (20 s at most), and close."""

    def __init__(self, dep: Deployment, bots: list[Bot], rate: float = 10.0) -> None:
        self.bots = bots
        self.sending = asyncio.Event()
        self.sending.set()
        self.tasks = [asyncio.create_task(b.play(dep.ws_url, self.sending, rate)) for b in bots]

    async def started(self, within: float = 60.0) -> None:
        """Every bot has had an input acknowledged."""
        async with asyncio.timeout(within):
            while not all(b.ack > 0 for b in self.bots):
                for t in self.tasks:
                    if t.done():
                        t.result()  # a bot that failed: its error
                await asyncio.sleep(0.1)

    async def finish(self) -> None:
        self.sending.clear()
        try:
            await asyncio.wait_for(asyncio.gather(*self.tasks), 40)
        finally:
            for t in self.tasks:
                t.cancel()
