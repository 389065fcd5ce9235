"""Pure parts of the worker: tick clock, send ticks, lease balancing, checkpoint bounds."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from game_engine.consumer import ReaderSettings, ShardProgress, ShardReader
from game_engine.errors import CheckpointError
from game_engine.lease_balancing import LeaseObserver, plan_takes
from game_engine.leases import SHARD_END, Lease
from game_engine.scheduler import TickClock, send_due
from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings
from ingest.records import JoinRecord, SetAside, encode


def test_send_ticks_are_spread_at_the_send_rate() -> None:
    sends = [t for t in range(1, 31) if send_due(t, 30.0, 20.0)]
    assert len(sends) == 20
    assert all(b - a <= 2 for a, b in itertools.pairwise(sends))
    assert all(send_due(t, 30.0, 30.0) for t in range(1, 10))
    assert sum(send_due(t, 60.0, 20.0) for t in range(1, 61)) == 20


def test_a_late_loop_catches_up_a_bounded_number_of_ticks_and_drops_the_rest() -> None:
    clock = TickClock(tick_rate=10.0, max_catchup_ticks=3)
    clock.start(100.0)
    assert clock.wait(99.95) == pytest.approx(0.05)
    # The loop stalls for 2 s (20 ticks): 3 catch-up ticks run, 17 are dropped.
    assert clock.wait(102.0) == 0.0
    assert clock.skipped == 17
    ran = 0
    now = 102.0
    while clock.wait(now) == 0.0:
        clock.done(now, now + 0.001)
        ran += 1
        now += 0.001
    assert ran == 4  # the due tick and 3 catch-up ticks, then on schedule again
    clock.done(now, now + 0.5)  # a 500 ms tick at 10 Hz is an overrun
    assert clock.overruns == 1


def _lease(shard: str, owner: str | None, counter: int = 1, **kw: object) -> Lease:
    return Lease(shard, owner, counter, **kw)  # type: ignore[arg-type]


def test_balance_takes_expired_first_steals_one_and_waits_for_parents() -> None:
    obs = LeaseObserver(lease_duration=10.0)
    leases = [_lease("s1", "a"), _lease("s2", "a"), _lease("s3", "a"), _lease("s4", None)]
    obs.observe(leases, now=0.0)
    # Unowned s4 is free; b's target is ceil(4/2) = 2: take s4 first.
    assert [x.shard_id for x in plan_takes(leases, "b", set(), obs, 1.0)] == ["s4"]
    # With s4 held, nothing is expired: steal exactly one from the busiest (a holds 3 > 2).
    assert [x.shard_id for x in plan_takes(leases, "b", {"s4"}, obs, 1.0)] == ["s1"]
    # a's leases stop moving: after the lease duration they are all expired.
    assert len(plan_takes(leases, "b", set(), obs, 11.0)) == 4
    # Children wait for their parents' SHARD_END; finished shards are not taken.
    family = [
        _lease("p", None, checkpoint="5"),
        _lease("c1", None, parents=("p",)),
        _lease("done", None, checkpoint=SHARD_END),
    ]
    assert [x.shard_id for x in plan_takes(family, "b", set(), obs, 1.0)] == ["p"]
    family[0] = _lease("p", None, checkpoint=SHARD_END)
    assert [x.shard_id for x in plan_takes(family, "b", set(), obs, 1.0)] == ["c1"]


def test_checkpoint_candidates_never_pass_a_pending_record_or_the_last_delivered() -> None:
    progress = ShardProgress(checkpoint=None)
    for seq in ("10", "11", "12", "13"):
        progress.delivered(seq)
    assert progress.candidate(pending_min=12) == "11"
    assert progress.candidate(pending_min=12) == "11"  # stays until confirmed
    progress.confirm("11")
    assert progress.candidate(pending_min=12) is None
    assert progress.candidate(pending_min=None) == "13"
    progress.check("13")
    with pytest.raises(CheckpointError):
        progress.check("14")


async def test_a_reader_recovers_from_expired_iterators_without_losing_records() -> None:
    now = [0.0]
    kinesis = EmbeddedKinesis(
        EmbeddedStreamSettings(iterator_ttl=1.0, recover_expired=False, clock=lambda: now[0])
    )
    stream = kinesis.create_stream("s", 1)
    reader = ShardReader(
        stream,
        "shardId-000000000000",
        None,
        SetAside(),
        ReaderSettings(min_get_interval=0.0, get_wait=0.05),
    )
    reader.start()
    try:
        for i in range(5):
            await stream.put_record("m", encode(JoinRecord("m", f"p{i}", "c", 0)))
            now[0] += 5.0  # every iterator the reader holds is now expired
            async with asyncio.timeout(10):
                while len(reader.buffer) < i + 1:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        assert [ev.player for _, ev in reader.buffer if ev is not None] == [
            f"p{i}" for i in range(5)
        ]
    finally:
        await reader.stop()


class _CountedReads:
    """The embedded stream, counting get_records calls (each is a link round trip in an
    engine process)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def get_records(self, iterator: str, **kwargs: Any) -> Any:
        self.reads += 1
        return await self._stream.get_records(iterator, **kwargs)


async def test_reads_paced_to_the_tick_read_once_a_tick_and_lose_nothing() -> None:
    stream = EmbeddedKinesis().create_stream("s", 1)
    counted = _CountedReads(stream)
    clock = TickClock(tick_rate=20.0)  # 50 ms ticks
    loop = asyncio.get_running_loop()
    clock.start(loop.time())
    reader = ShardReader(
        counted,
        "shardId-000000000000",
        None,
        SetAside(),
        ReaderSettings(min_get_interval=0.0, get_wait=0.5, read_lead=0.01),
        clock=clock,
    )

    async def ticks(count: int) -> None:  # the tick loop's clock, advanced on time
        for _ in range(count):
            await asyncio.sleep(max(0.0, clock.next_due - loop.time()))
            clock.done(loop.time(), loop.time())

    reader.start()
    try:
        await stream.put_record("m", encode(JoinRecord("m", "p-first", "c", 0)))
        async with asyncio.timeout(5):
            await reader.caught_up.wait()
        before = counted.reads
        ticking = asyncio.create_task(ticks(10))
        for i in range(100):  # a put every 5 ms through ten ticks
            await stream.put_record("m", encode(JoinRecord("m", f"p{i}", "c", 0)))
            await asyncio.sleep(0.005)
        await ticking
        paced_reads = counted.reads - before
        async with asyncio.timeout(5):
            while len(reader.buffer) < 101:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await reader.stop()
    players = [ev.player for _, ev in reader.buffer if ev is not None]
    assert players == ["p-first"] + [f"p{i}" for i in range(100)]
    # one read a tick (a late tick or the first read may add one or two), not one per put
    print(f"paced reads: {paced_reads} over 10 ticks and 100 puts")
    assert paced_reads <= 13
