"""One contract for :class:`ingest.stream.Stream`, run against every implementation:

- ``embedded``: :class:`infra.local.stream.EmbeddedStream` in-process;
- ``kinesis-moto``: :class:`infra.aws.kinesis.KinesisStream` (aioboto3) against moto_server;
- ``kinesis-embedded``: the same KinesisStream against tickwire's Kinesis-compatible HTTP
  service (:mod:`infra.local.kinesis_service`), which, unlike moto, throttles, expires
  iterators and ends closed shards as Kinesis does.

Where moto departs from Kinesis (it never throttles or expires iterators, moves a split
shard's records into its children, restarts sequence numbers per shard and never ends a
closed shard's iterator), the test says so and skips only that variant.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from infra.aws.kinesis import KinesisSettings, KinesisStream
from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings, hash_key
from ingest.batching import RetryPolicy
from ingest.errors import ExpiredIterator, InvalidArgument, StreamError, StreamNotFound
from ingest.stream import Stream, StreamRecord

FAST = KinesisSettings(
    min_get_interval=0.0, sdk_max_attempts=1, retry=RetryPolicy(base_delay=0.001, max_delay=0.01)
)


@dataclass
class Clock:
    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Harness:
    """How a test reaches one implementation."""

    kind: str
    make: Callable[..., Awaitable[Stream]]
    clock: Clock
    throttle: dict[str, float] = field(default_factory=lambda: {"rate": 0.0})
    opened: list[Stream] = field(default_factory=list)

    async def stream(self, shards: int = 1, **kw: object) -> Stream:
        s = await self.make(shards, **kw)
        self.opened.append(s)
        return s

    def skip_on_moto(self, why: str) -> None:
        if self.kind == "kinesis-moto":
            pytest.skip(f"moto departs from Kinesis: {why}")


def _throttle_hook(state: dict[str, float], rng: random.Random) -> Callable[[str], bool]:
    return lambda shard_id: rng.random() < state["rate"]


@pytest.fixture(params=["embedded", "kinesis-moto", "kinesis-embedded", "link"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = Clock()
    state = {"rate": 0.0}
    rng = random.Random(1234)
    settings = EmbeddedStreamSettings(clock=clock, inject_throttle=_throttle_hook(state, rng))
    cleanup: list[Callable[[], Awaitable[None]]] = []
    if request.param == "embedded":
        registry = EmbeddedKinesis(settings)

        async def make(shards: int, **kw: object) -> Stream:
            return registry.create_stream(f"s-{uuid.uuid4().hex[:8]}", shards)

    elif request.param == "kinesis-moto":
        endpoint = request.getfixturevalue("moto_reset")

        async def make(shards: int, **kw: object) -> Stream:
            return await KinesisStream.open(
                f"s-{uuid.uuid4().hex[:8]}",
                endpoint_url=endpoint,
                region="us-east-1",
                settings=kw.get("settings", FAST),
                create_shards=shards,
            )  # type: ignore[arg-type]

    elif request.param == "link":
        # The embedded stream as an engine process of a split `tickwire up` sees it:
        # through the link's Unix socket (one link per stream).
        from infra.local.link import LinkClient, LinkServer, LinkStream
        from infra.local.tables import EmbeddedTables

        registry = EmbeddedKinesis(settings)
        folder = request.getfixturevalue("tmp_path")

        async def make(shards: int, **kw: object) -> Stream:
            inner = registry.create_stream(f"s-{uuid.uuid4().hex[:8]}", shards)
            tables = EmbeddedTables()
            server = LinkServer(
                folder / f"{inner.name}.sock",
                gateway=None,  # type: ignore[arg-type]  # streams only: no posts here
                stream=inner,
                leases=tables.leases,
                snapshots=tables.snapshots,
            )
            await server.start()
            client = await LinkClient.connect(server.path)
            cleanup.extend([client.close, server.stop])
            return LinkStream(client, inner.name)

    else:
        from infra.local.kinesis_service import EmbeddedKinesisService, KinesisHttpServer

        registry = EmbeddedKinesis(
            EmbeddedStreamSettings(
                clock=clock, inject_throttle=_throttle_hook(state, rng), recover_expired=False
            )
        )
        server = KinesisHttpServer(EmbeddedKinesisService(registry), port=0)
        await server.start()
        cleanup.append(server.stop)

        async def make(shards: int, **kw: object) -> Stream:
            return await KinesisStream.open(
                f"s-{uuid.uuid4().hex[:8]}",
                endpoint_url=server.url,
                region="us-east-1",
                settings=kw.get("settings", FAST),
                create_shards=shards,
            )  # type: ignore[arg-type]

    h = Harness(request.param, make, clock, state)
    yield h
    for s in h.opened:
        await s.close()
    for c in cleanup:
        await c()


async def maybe(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


async def read_shard(
    stream: Stream, shard_id: str, it_type: str = "TRIM_HORIZON", **kw: object
) -> list[StreamRecord]:
    it: str | None = await stream.get_shard_iterator(shard_id, it_type, **kw)  # type: ignore[arg-type]
    out: list[StreamRecord] = []
    for _ in range(100):
        assert it is not None
        r = await stream.get_records(it, limit=1000)
        out.extend(r.records)
        if r.next_iterator is None or not r.records:
            break
        it = r.next_iterator
    return out


async def read_all_in_lineage_order(stream: Stream) -> list[StreamRecord]:
    """Every shard read to its end, parents before children (what a consumer must do)."""
    shards = await stream.list_shards()
    done: set[str] = set()
    out: list[StreamRecord] = []
    while len(done) < len(shards):
        for s in shards:
            if s.shard_id not in done and all(p in done for p in s.parents):
                out.extend(await read_shard(stream, s.shard_id))
                done.add(s.shard_id)
    return out


def by_key(records: list[StreamRecord]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for r in records:
        out[r.partition_key].append(r.data)
    return out


async def test_order_per_key_and_increasing_sequence(harness: Harness) -> None:
    stream = await harness.stream(shards=2)
    expected: dict[str, list[bytes]] = defaultdict(list)
    entries = [(f"match-{i % 5}", b"rec-%d" % i) for i in range(60)]
    for key, data in entries[:20]:
        await stream.put_record(key, data)
        expected[key].append(data)
    results = await stream.put_records(entries[20:])
    assert len(results) == 40
    for key, data in entries[20:]:
        expected[key].append(data)
    got = await read_all_in_lineage_order(stream)
    assert by_key(got) == expected
    for shard in await stream.list_shards():
        seqs = [int(r.sequence_number) for r in await read_shard(stream, shard.shard_id)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_shard_placement_is_md5_of_partition_key(harness: Harness) -> None:
    stream = await harness.stream(shards=4)
    shards = {s.shard_id: s for s in await stream.list_shards()}
    assert len(shards) == 4
    for i in range(40):
        key = f"m{i}"
        result = await stream.put_record(key, b"x")
        owner = shards[result.shard_id]
        assert owner.starting_hash_key <= hash_key(key) <= owner.ending_hash_key


async def test_iterator_types(harness: Harness) -> None:
    stream = await harness.stream()
    (shard,) = await stream.list_shards()
    sid = shard.shard_id
    first = [await stream.put_record("k", b"a%d" % i) for i in range(3)]
    latest = await stream.get_shard_iterator(sid, "LATEST")
    # The SDK sends AT_TIMESTAMP in whole seconds (botocore's JSON serializer): step over one.
    between = float(math.ceil(time.time() + 0.05))
    await asyncio.sleep(between - time.time() + 0.05)
    later = [await stream.put_record("k", b"b%d" % i) for i in range(2)]
    data = [r.data for r in await read_shard(stream, sid)]
    assert data == [b"a0", b"a1", b"a2", b"b0", b"b1"]
    r = await stream.get_records(latest)
    assert [x.data for x in r.records] == [b"b0", b"b1"]
    at = await read_shard(
        stream, sid, "AT_SEQUENCE_NUMBER", sequence_number=first[1].sequence_number
    )
    assert [x.data for x in at] == [b"a1", b"a2", b"b0", b"b1"]
    after = await read_shard(
        stream, sid, "AFTER_SEQUENCE_NUMBER", sequence_number=first[1].sequence_number
    )
    assert [x.data for x in after] == [b"a2", b"b0", b"b1"]
    stamped = await read_shard(stream, sid, "AT_TIMESTAMP", timestamp=between)
    assert [x.data for x in stamped] == [b"b0", b"b1"]
    assert [x.sequence_number for x in stamped] == [p.sequence_number for p in later]
    assert all(abs(x.arrival - time.time()) < 60 for x in stamped)


async def test_limit_and_millis_behind(harness: Harness) -> None:
    stream = await harness.stream()
    (shard,) = await stream.list_shards()
    for i in range(5):
        await stream.put_record("k", b"%d" % i)
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    r1 = await stream.get_records(it, limit=2)
    assert [x.data for x in r1.records] == [b"0", b"1"]
    assert r1.millis_behind_latest >= 0
    assert r1.next_iterator is not None
    r2 = await stream.get_records(r1.next_iterator, limit=10)
    assert [x.data for x in r2.records] == [b"2", b"3", b"4"]
    assert r2.millis_behind_latest == 0


async def test_errors_are_ingest_errors(harness: Harness) -> None:
    stream = await harness.stream()
    with pytest.raises(StreamNotFound):
        await stream.get_shard_iterator("shardId-000000000999", "TRIM_HORIZON")
    with pytest.raises(StreamError):
        await stream.get_records("not-an-iterator")


async def test_split_and_merge_lineage(harness: Harness) -> None:
    stream = await harness.stream()
    (parent,) = await stream.list_shards()
    keys = [f"match-{i}" for i in range(12)]
    expected: dict[str, list[bytes]] = defaultdict(list)
    counter = itertools.count()

    async def put_round() -> None:
        for k in keys:
            data = b"%d" % next(counter)
            await stream.put_record(k, data)
            expected[k].append(data)

    await put_round()
    await maybe(stream.split_shard(parent.shard_id, 2**127))  # type: ignore[attr-defined]
    await put_round()
    shards = {s.shard_id: s for s in await stream.list_shards()}
    closed = shards[parent.shard_id]
    assert not closed.is_open and closed.ending_sequence_number is not None
    children = [s for s in shards.values() if s.parent_shard_id == parent.shard_id]
    assert sorted((c.starting_hash_key, c.ending_hash_key) for c in children) == [
        (0, 2**127 - 1),
        (2**127, 2**128 - 1),
    ]
    assert all(c.is_open for c in children)
    low, high = sorted(children, key=lambda c: c.starting_hash_key)
    await maybe(stream.merge_shards(low.shard_id, high.shard_id))  # type: ignore[attr-defined]
    await put_round()
    shards = {s.shard_id: s for s in await stream.list_shards()}
    (merged,) = [s for s in shards.values() if s.is_open]
    assert merged.parents == (low.shard_id, high.shard_id)
    assert (merged.starting_hash_key, merged.ending_hash_key) == (0, 2**128 - 1)
    assert not shards[low.shard_id].is_open and not shards[high.shard_id].is_open
    # Parents before children: every record exactly once, in put order per key.
    assert by_key(await read_all_in_lineage_order(stream)) == expected
    if harness.kind != "kinesis-moto":  # moto routes puts to the closed parent shard
        for k in keys:
            assert (await stream.put_record(k, b"new")).shard_id == merged.shard_id


async def test_closed_shard_iterator_runs_out(harness: Harness) -> None:
    harness.skip_on_moto("a closed shard's NextShardIterator is never null")
    stream = await harness.stream()
    (parent,) = await stream.list_shards()
    await stream.put_record("k", b"before")
    it = await stream.get_shard_iterator(parent.shard_id, "TRIM_HORIZON")
    await maybe(stream.split_shard(parent.shard_id, 2**127))  # type: ignore[attr-defined]
    r = await stream.get_records(it)
    assert [x.data for x in r.records] == [b"before"]
    if r.next_iterator is not None:
        r = await stream.get_records(r.next_iterator)
        assert r.records == []
    assert r.next_iterator is None
    closed = next(s for s in await stream.list_shards() if s.shard_id == parent.shard_id)
    assert closed.ending_sequence_number is not None


async def test_throttled_puts_are_retried_in_key_order(harness: Harness) -> None:
    harness.skip_on_moto("it never answers ProvisionedThroughputExceeded")
    stream = await harness.stream(shards=2)
    harness.throttle["rate"] = 0.25
    entries = [(f"match-{i % 7}", b"%d" % i) for i in range(300)]
    results = await stream.put_records(entries)
    harness.throttle["rate"] = 0.0
    assert len(results) == len(entries)
    expected: dict[str, list[bytes]] = defaultdict(list)
    for key, data in entries:
        expected[key].append(data)
    assert by_key(await read_all_in_lineage_order(stream)) == expected


async def test_expired_iterator_recovers(harness: Harness) -> None:
    harness.skip_on_moto("its shard iterators never expire")
    stream = await harness.stream()
    (shard,) = await stream.list_shards()
    for i in range(3):
        await stream.put_record("k", b"%d" % i)
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    r = await stream.get_records(it, limit=2)
    assert r.next_iterator is not None
    harness.clock.offset += 301  # past Kinesis's 5-minute iterator lifetime
    r2 = await stream.get_records(r.next_iterator)
    assert [x.data for x in r2.records] == [b"2"]
    # An iterator this stream object never issued cannot be recovered.
    if harness.kind == "kinesis-embedded":
        stale = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        harness.clock.offset += 301
        other = await KinesisStream.open(
            stream.name,
            endpoint_url=stream._client.meta.endpoint_url,  # type: ignore[attr-defined]
            region="us-east-1",
            settings=FAST,
        )
        harness.opened.append(other)
        with pytest.raises(ExpiredIterator):
            await other.get_records(stale)


async def test_waiting_read_wakes_on_put(harness: Harness) -> None:
    stream = await harness.stream()
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "LATEST")

    async def later() -> None:
        await asyncio.sleep(0.2)
        await stream.put_record("k", b"late")

    task = asyncio.create_task(later())
    started = time.monotonic()
    r = await stream.get_records(it, wait=20.0)
    await task
    assert [x.data for x in r.records] == [b"late"]
    assert time.monotonic() - started < 15
    empty = await stream.get_records(r.next_iterator or "", wait=0.3)
    assert empty.records == [] and empty.next_iterator is not None


async def test_oversized_record_is_refused(harness: Harness) -> None:
    harness.skip_on_moto("it accepts records over 1 MiB")
    stream = await harness.stream()
    with pytest.raises(InvalidArgument):
        await stream.put_record("k", b"x" * (1024 * 1024 + 1))
    with pytest.raises(InvalidArgument):
        await stream.put_records([("k", b"x" * (1024 * 1024 + 1))])
