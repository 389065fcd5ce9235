"""Workers on the embedded stream and tables: consumption, failover, balance, reshard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from game_engine.arena import Arena
from game_engine.consumer import ReaderSettings
from game_engine.engine import Engine, EngineSettings
from game_engine.frame import MatchFrame
from game_engine.worker import Worker, WorkerSettings
from infra.local.stream import EmbeddedKinesis, EmbeddedStream
from infra.local.tables import EmbeddedTables
from ingest.records import InputRecord, JoinRecord, encode

FAST = WorkerSettings(
    # Generous against event-loop stalls on a busy machine (a stall looks like expiry).
    lease_duration=2.0,
    renew_interval=0.15,
    shard_sync_interval=0.15,
    checkpoint_interval=0.2,
    reader=ReaderSettings(min_get_interval=0.0, get_wait=0.1),
)


class RecordingSink:
    """A FrameSink that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[MatchFrame] = []

    def publish(self, frames: list[MatchFrame]) -> None:
        self.frames.extend(frames)


class Players:
    """Players of some matches sending joins and inputs with rising seqs through a stream."""

    def __init__(self, stream: EmbeddedStream, matches: int = 3, per_match: int = 4) -> None:
        self.stream = stream
        self.ids = [(f"match-{m}", f"p{m}-{p}") for m in range(matches) for p in range(per_match)]
        self.seq = dict.fromkeys(self.ids, 0)

    async def join(self) -> None:
        for match, player in self.ids:
            await self.stream.put_record(match, encode(JoinRecord(match, player, f"c-{player}", 0)))

    async def inputs(self, rounds: int) -> None:
        for r in range(rounds):
            for match, player in self.ids:
                self.seq[(match, player)] += 1
                s = self.seq[(match, player)]
                payload = {
                    "action": "input",
                    "seq": s,
                    "move": [1.0 if r % 2 else -1.0, 0.5],
                    "fire": r % 3 == 0,
                }
                await self.stream.put_record(
                    match, encode(InputRecord(match, player, f"c-{player}", 0, s, payload))
                )
            await asyncio.sleep(0.01)


def worker(
    stream: EmbeddedStream,
    tables: EmbeddedTables,
    name: str,
    sink: Any = None,
    *,
    rules: Any = None,
    leases: Any = None,
    settings: WorkerSettings = FAST,
) -> Worker[Any]:
    """A worker on the embedded stream and tables (the arena, FAST settings by default;
    ``leases`` replaces the tables' lease table, e.g. with a stalling one)."""
    return Worker(
        stream=stream,
        leases=leases or tables.leases,
        snapshots=tables.snapshots,
        rules=rules or Arena(),
        sink=sink,
        settings=settings,
        engine_settings=EngineSettings(),
        worker_id=name,
    )


async def until(cond: Callable[[], bool], within: float = 20.0) -> None:
    """Wait for a condition on the workers' state (polled: it has no event of its own)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def checkpointed(w: Worker[Any]) -> bool:
    """Every record the worker read is covered by its last checkpoint."""
    return all(
        o.reader.progress.checkpoint == o.reader.progress.last_delivered and not o.reader.buffer
        for o in w._owned.values()
    )


def acked(w: Worker[Any]) -> dict[tuple[str, str], int]:
    return dict(w.engine.last_seqs())


async def playing(
    stream: EmbeddedStream, tables: EmbeddedTables, players: Players, rounds: int, *names: str
) -> list[Worker[Any]]:
    """Workers started in the order named (the first takes the shards), the players joined
    and ``rounds`` of their inputs applied by the first."""
    workers = [worker(stream, tables, name) for name in names]
    for w in workers:
        await w.start()
    await players.join()
    await players.inputs(rounds)
    await until(lambda: acked(workers[0]) == players.seq)
    return workers


@pytest.fixture
def stream() -> EmbeddedStream:
    return EmbeddedKinesis().create_stream("actions", 1)


async def test_a_worker_applies_the_stream_publishes_frames_and_sets_poison_aside(
    stream: EmbeddedStream,
) -> None:
    tables = EmbeddedTables()
    sink = RecordingSink()
    w = worker(stream, tables, "w1", sink)
    await w.start()
    players = Players(stream)
    await players.join()
    await stream.put_record("match-0", b"\xff not json")
    await players.inputs(5)
    await until(lambda: acked(w) == players.seq)
    assert w.set_aside.counts["not_utf8"] + w.set_aside.counts["not_json"] == 1
    await until(lambda: len(sink.frames) > 30)
    last = sink.frames[-1]
    assert {p.ack_seq for p in last.players} == {5}
    # The checkpoint passes the poison record.
    await until(lambda: w.counters["checkpoint.written"] > 0)
    await w.stop()
    lease = await tables.leases.get(w.shards[0] if w.shards else "shardId-000000000000")
    assert lease is not None and lease.owner is None
    assert int(lease.checkpoint) >= 0 and sorted(lease.matches) == ["match-0", "match-1", "match-2"]
    await w.stop()  # harmless


async def test_graceful_stop_hands_the_matches_over_with_their_state(
    stream: EmbeddedStream,
) -> None:
    tables, players = EmbeddedTables(), Players(stream)
    a, b = await playing(stream, tables, players, 10, "a", "b")
    assert b.shards == []
    await a.stop()
    # A's last snapshots are exactly its final state.
    final = {mid: a.engine.match_hash(mid) for mid in a.engine.matches}
    fresh: Engine[Any] = Engine(Arena())
    for mid in final:
        fresh.restore(await tables.snapshots.get(mid))
        assert fresh.match_hash(mid) == final[mid]
    ticks = {mid: int(a.engine.world.tick[m.row]) for mid, m in a.engine.matches.items()}
    await until(lambda: bool(b.shards) and len(b.engine.matches) == 3)
    # B goes on from there: same members and acks, match clocks continue.
    for mid, m in b.engine.matches.items():
        assert int(b.engine.world.tick[m.row]) >= ticks[mid]
    assert acked(b) == players.seq
    await players.inputs(5)
    await until(lambda: acked(b) == players.seq)
    assert b.engine.counters["input.applied"] == 5 * len(players.ids)
    assert b.engine.counters["input.duplicate"] == 0
    await b.stop()


async def test_a_crashed_worker_is_replaced_and_nothing_is_lost_or_applied_twice(
    stream: EmbeddedStream,
) -> None:
    tables, players = EmbeddedTables(), Players(stream)
    a, b = await playing(stream, tables, players, 10, "a", "b")
    await until(lambda: checkpointed(a))
    await players.inputs(3)  # some of these land after the last checkpoint
    await a.abandon()
    await players.inputs(3)
    await until(lambda: acked(b) == players.seq)
    await players.inputs(2)
    await until(lambda: acked(b) == players.seq)
    # Every input was applied exactly once across the two workers' lives: B applied only
    # what A's last snapshots did not cover, and skipped the replayed rest.
    assert b.engine.counters["input.applied"] <= 8 * len(players.ids)
    assert b.engine.counters["input.applied"] >= 5 * len(players.ids)
    assert b.counters["lease.taken"] == 1
    await b.stop()


async def test_a_zombie_that_lost_its_lease_stops_writing(stream: EmbeddedStream) -> None:
    tables, players = EmbeddedTables(), Players(stream)
    (a,) = await playing(stream, tables, players, 3, "a")
    await until(lambda: checkpointed(a))
    # Someone else takes the lease (A was paused past its lease, say).
    lease = await tables.leases.get("shardId-000000000000")
    stolen = await tables.leases.take(lease, "intruder")
    snap_before = await tables.snapshots.get("match-0")
    await players.inputs(3)
    await until(lambda: a.counters["lease.lost"] == 1)
    assert a.shards == [] and a.engine.matches == {}
    assert await tables.snapshots.get("match-0") == snap_before
    assert (await tables.leases.get("shardId-000000000000")).owner == "intruder"
    assert (await tables.leases.get("shardId-000000000000")).checkpoint == stolen.checkpoint
    await a.stop()


async def test_two_workers_share_two_shards() -> None:
    stream = EmbeddedKinesis().create_stream("actions", 2)
    tables = EmbeddedTables()
    a, b = worker(stream, tables, "a"), worker(stream, tables, "b")
    await a.start()
    await until(lambda: len(a.shards) == 2)
    await b.start()
    await until(lambda: len(a.shards) == 1 and len(b.shards) == 1)
    players = Players(stream, matches=6, per_match=2)
    await players.join()
    await players.inputs(4)
    await until(lambda: {**acked(a), **acked(b)} == players.seq)
    await a.stop()
    await b.stop()


async def test_after_a_split_parents_finish_before_children_and_matches_carry_on(
    stream: EmbeddedStream,
) -> None:
    tables, players = EmbeddedTables(), Players(stream, matches=4, per_match=2)
    (a,) = await playing(stream, tables, players, 5, "a")
    stream.split_shard("shardId-000000000000", 2**127)
    await players.inputs(5)
    await until(lambda: a.counters["shard.finished"] == 1 and len(a.shards) == 2)
    await until(lambda: acked(a) == players.seq)
    assert a.engine.counters["input.duplicate"] == 0
    parent = await tables.leases.get("shardId-000000000000")
    assert parent.checkpoint == "SHARD_END"
    await a.stop()


async def test_after_a_merge_the_child_waits_for_both_parents() -> None:
    stream = EmbeddedKinesis().create_stream("actions", 2)
    tables, players = EmbeddedTables(), Players(stream, matches=6, per_match=2)
    (a,) = await playing(stream, tables, players, 4, "a")
    await until(lambda: len(a.shards) == 2)
    child = stream.merge_shards("shardId-000000000000", "shardId-000000000001")
    await players.inputs(4)
    await until(lambda: a.counters["shard.finished"] == 2 and a.shards == [child])
    await until(lambda: acked(a) == players.seq)
    assert len(a.engine.matches_of(child)) == 6
    assert a.engine.counters["input.duplicate"] == 0
    lease = await tables.leases.get(child)
    assert set(lease.parents) == {"shardId-000000000000", "shardId-000000000001"}
    await a.stop()


async def test_an_unreadable_snapshot_is_counted_and_the_shard_still_starts(
    stream: EmbeddedStream,
) -> None:
    tables = EmbeddedTables()
    shard = "shardId-000000000000"
    await tables.leases.create(shard)
    setup = await tables.leases.take(await tables.leases.get(shard), "setup")
    await tables.snapshots.put("m-bad", b"\x93garbage", setup)
    put = await stream.put_record("m-bad", encode(JoinRecord("m-bad", "p", "c", 0)))
    setup = await tables.leases.checkpoint(setup, put.sequence_number, ["m-bad"])
    await tables.leases.release(setup)
    w = worker(stream, tables, "w")
    await w.start()
    assert w.shards == [shard]
    assert w.counters["snapshot.unreadable"] == 1
    players = Players(stream, matches=1, per_match=1)
    await players.join()
    await players.inputs(2)
    await until(lambda: acked(w) == players.seq)
    await w.stop()
