"""``tickwire worker`` processes over a Kinesis/DynamoDB-compatible endpoint (moto_server):
SIGKILL the owner, the other process takes over; SIGTERM stops gracefully."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from game_engine.arena import Arena
from game_engine.engine import Engine
from game_engine.errors import LeaseError
from infra.aws.dynamodb import DynamoTables
from infra.aws.kinesis import KinesisStream
from ingest.records import InputRecord, JoinRecord, encode

ROOT = Path(__file__).parents[2]
SHARD = "shardId-000000000000"
Aws = tuple[KinesisStream, DynamoTables]


def spawn(endpoint: str, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tickwire",
            "worker",
            "--stream",
            "actions",
            "--endpoint-url",
            endpoint,
            "--region",
            "us-east-1",
            "--create",
            "--worker-id",
            name,
            "--lease-duration",
            "2",
            "--checkpoint-interval",
            "0.3",
            "--stats-interval",
            "0",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def acked_in_snapshots(
    tables: DynamoTables, matches: list[str]
) -> dict[tuple[str, str], int]:
    eng: Engine[Any] = Engine(Arena())
    for mid in matches:
        data = await tables.snapshots.get(mid)
        if data is not None:
            eng.restore(data)
    return dict(eng.last_seqs())


@pytest.fixture
async def aws(moto_reset: str) -> AsyncIterator[Aws]:
    """The one-shard stream and the tables on a clean moto_server, closed after the test."""
    stream = await KinesisStream.open(
        "actions", endpoint_url=moto_reset, region="us-east-1", create_shards=1
    )
    tables = DynamoTables(endpoint_url=moto_reset, region_name="us-east-1")
    await tables.start()
    await tables.ensure_tables()
    try:
        yield stream, tables
    finally:
        await tables.close()
        await stream.close()


def kill(*procs: subprocess.Popen[bytes] | None) -> None:
    """Kill the processes still running (a stopped one is woken first)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)


async def shard_owner(tables: DynamoTables) -> str | None:
    lease = await tables.leases.get(SHARD)
    return lease.owner if lease else None


async def wait_for(check: Any, within: float = 60.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            got = await check()
            if got:
                return got
            await asyncio.sleep(0.2)


async def test_kill_the_owner_and_the_other_process_takes_over(moto_reset: str, aws: Aws) -> None:
    stream, tables = aws
    a = spawn(moto_reset, "proc-a")
    b: subprocess.Popen[bytes] | None = None
    players = [("m1", "alice"), ("m1", "bob"), ("m2", "carol")]
    seq = dict.fromkeys(players, 0)

    async def send(rounds: int) -> None:
        for _ in range(rounds):
            for match, player in players:
                seq[(match, player)] += 1
                s = seq[(match, player)]
                body = {"action": "input", "seq": s, "move": [1, 0], "fire": True}
                await stream.put_record(
                    match, encode(InputRecord(match, player, f"c-{player}", 0, s, body))
                )

    try:
        assert await wait_for(lambda: _is(shard_owner(tables), "proc-a"))
        b = spawn(moto_reset, "proc-b")
        for match, player in players:
            await stream.put_record(match, encode(JoinRecord(match, player, f"c-{player}", 0)))
        await send(5)
        want = dict(seq)
        assert await wait_for(lambda: _equal(acked_in_snapshots(tables, ["m1", "m2"]), want))
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        await send(5)
        assert await wait_for(lambda: _is(shard_owner(tables), "proc-b"))
        want = dict(seq)
        assert await wait_for(lambda: _equal(acked_in_snapshots(tables, ["m1", "m2"]), want))
        b.send_signal(signal.SIGTERM)
        assert b.wait(30) == 0, b.stderr.read().decode() if b.stderr else ""
        lease = await tables.leases.get(SHARD)
        assert lease is not None and lease.owner is None and set(lease.matches) == {"m1", "m2"}
    finally:
        kill(a, b)


async def test_a_paused_zombie_loses_its_lease_and_writes_nothing(
    moto_reset: str, aws: Aws
) -> None:
    stream, tables = aws
    a = spawn(moto_reset, "zombie")
    b: subprocess.Popen[bytes] | None = None
    seq = 0

    async def send(rounds: int) -> None:
        nonlocal seq
        for _ in range(rounds):
            seq += 1
            body = {"action": "input", "seq": seq, "move": [0, 1]}
            await stream.put_record("m1", encode(InputRecord("m1", "dana", "c-dana", 0, seq, body)))

    try:
        assert await wait_for(lambda: _is(shard_owner(tables), "zombie"))
        b = spawn(moto_reset, "healthy")
        await stream.put_record("m1", encode(JoinRecord("m1", "dana", "c-dana", 0)))
        await send(3)
        assert await wait_for(
            lambda: _equal(acked_in_snapshots(tables, ["m1"]), {("m1", "dana"): 3})
        )
        a.send_signal(signal.SIGSTOP)  # past its 2 s lease
        assert await wait_for(lambda: _is(shard_owner(tables), "healthy"))
        await send(3)
        assert await wait_for(
            lambda: _equal(acked_in_snapshots(tables, ["m1"]), {("m1", "dana"): 6})
        )
        a.send_signal(signal.SIGCONT)
        await asyncio.sleep(3.0)  # the zombie wakes up with stale leases and tries to write
        await send(3)
        assert await wait_for(
            lambda: _equal(acked_in_snapshots(tables, ["m1"]), {("m1", "dana"): 9})
        )
        assert await shard_owner(tables) == "healthy"
        a.send_signal(signal.SIGTERM)
        assert a.wait(30) == 0
        log = a.stderr.read().decode() if a.stderr else ""
        assert "lost the lease of shardId-000000000000" in log
        # The snapshot is still the healthy worker's: 9 inputs, nothing rolled back.
        assert await acked_in_snapshots(tables, ["m1"]) == {("m1", "dana"): 9}
        b.send_signal(signal.SIGTERM)
        assert b.wait(30) == 0
    finally:
        kill(a, b)


async def _is(coro: Any, value: str) -> bool:
    return bool(await coro == value)


async def _equal(coro: Any, want: dict[tuple[str, str], int]) -> bool:
    return bool(await coro == want)


async def test_a_second_sigterm_exits_at_once(moto_reset: str) -> None:
    stream = await KinesisStream.open(
        "actions", endpoint_url=moto_reset, region="us-east-1", create_shards=1
    )
    # 300 matches: the graceful drain writes 300 snapshots, long enough to interrupt.
    await stream.put_records(
        [(f"m{i}", encode(JoinRecord(f"m{i}", "p", "c", 0))) for i in range(300)]
    )
    await stream.close()
    worker = spawn(moto_reset, "twice")
    try:
        tables = DynamoTables(endpoint_url=moto_reset, region_name="us-east-1")
        await tables.start()
        try:
            await wait_for(lambda: _owned_by(tables, "twice"))
        finally:
            await tables.close()
        await asyncio.sleep(1)  # the joins are read and applied
        # The first starts the graceful drain (final snapshots, checkpoint, release); the
        # second (signals sent together would merge into one) does not wait for it.
        worker.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 15)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 128 + signal.SIGTERM.value, (
        worker.stderr.read().decode()[-2000:] if worker.stderr else ""
    )


async def _owned_by(tables: DynamoTables, name: str) -> bool:
    try:
        leases = await tables.leases.list_leases()
    except LeaseError:  # the worker has not created the table yet
        return False
    return any(lease.owner == name for lease in leases)
