"""Embedded-stream behaviour beyond the shared contract: settings, limits, retention."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings, hash_key, resolve_shard_id
from ingest.errors import (
    ExpiredIterator,
    InvalidArgument,
    RecordTooLarge,
    StreamNotFound,
    ThroughputExceeded,
)
from ingest.stream import Stream


@dataclass
class Clock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_registry_and_protocol() -> None:
    kinesis = EmbeddedKinesis()
    stream = kinesis.create_stream("actions", shard_count=3)
    assert isinstance(stream, Stream)
    assert kinesis.get("actions") is stream
    with pytest.raises(InvalidArgument):
        kinesis.create_stream("actions")
    with pytest.raises(StreamNotFound):
        kinesis.get("nope")
    kinesis.delete_stream("actions")
    assert kinesis.names == []


async def test_hash_ranges_cover_the_key_space() -> None:
    stream = EmbeddedKinesis().create_stream("s", shard_count=5)
    shards = await stream.list_shards()
    assert shards[0].starting_hash_key == 0 and shards[-1].ending_hash_key == 2**128 - 1
    for a, b in itertools.pairwise(shards):
        assert a.ending_hash_key + 1 == b.starting_hash_key
    # md5("") = d41d8cd98f00b204e9800998ecf8427e: a known vector
    assert hash_key("") == 0xD41D8CD98F00B204E9800998ECF8427E


async def test_sequence_numbers_are_kinesis_like() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    a = await stream.put_record("k", b"1")
    b = await stream.put_record("k", b"2")
    assert len(a.sequence_number) == 56 and a.sequence_number.isdigit()
    assert int(b.sequence_number) > int(a.sequence_number)


async def test_write_limits_when_enabled() -> None:
    clock = Clock()
    kinesis = EmbeddedKinesis(
        EmbeddedStreamSettings(
            enforce_write_limits=True, records_per_second=10, bytes_per_second=100, clock=clock
        )
    )
    stream = kinesis.create_stream("s")
    for _ in range(10):
        await stream.put_record("k", b"x")
    with pytest.raises(ThroughputExceeded):
        await stream.put_record("k", b"x")
    clock.now += 1.0
    await stream.put_record("k", b"x" * 90)
    with pytest.raises(ThroughputExceeded):
        await stream.put_record("k", b"x" * 20)
    clock.now += 1.0
    # put_records waits out the throttle (real time passes; the window is the fake clock's)
    clock_task = asyncio.get_running_loop().call_later(
        0.2, lambda: setattr(clock, "now", clock.now + 1)
    )
    results = await stream.put_records([("k", b"y")] * 15)
    clock_task.cancel()
    assert len(results) == 15


async def test_limits_off_by_default() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    for _ in range(3000):
        stream.append("k", b"x")


async def test_record_size_and_key_limits() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    with pytest.raises(RecordTooLarge):
        await stream.put_record("k", b"x" * (1024 * 1024))
    await stream.put_record("k", b"x" * (1024 * 1024 - 1))
    with pytest.raises(InvalidArgument):
        await stream.put_record("", b"x")
    with pytest.raises(InvalidArgument):
        await stream.put_record("k" * 257, b"x")


async def test_retention_trims_old_records() -> None:
    clock = Clock()
    stream = EmbeddedKinesis(EmbeddedStreamSettings(retention=3600, clock=clock)).create_stream("s")
    await stream.put_record("k", b"old")
    clock.now += 1800
    await stream.put_record("k", b"new")
    clock.now += 1801
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    r = await stream.get_records(it)
    assert [x.data for x in r.records] == [b"new"]


async def test_expired_iterator_raises_when_not_recovering() -> None:
    clock = Clock()
    stream = EmbeddedKinesis(
        EmbeddedStreamSettings(clock=clock, recover_expired=False, iterator_ttl=300)
    ).create_stream("s")
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    clock.now += 299
    r = await stream.get_records(it)
    clock.now += 301
    with pytest.raises(ExpiredIterator):
        await stream.get_records(r.next_iterator or "")


async def test_bad_iterator_requests() -> None:
    kinesis = EmbeddedKinesis()
    a, b = kinesis.create_stream("a"), kinesis.create_stream("b")
    (shard,) = await a.list_shards()
    it = await a.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    assert a.owns_iterator(it) and not b.owns_iterator(it)
    with pytest.raises(InvalidArgument):
        await b.get_records(it)
    with pytest.raises(InvalidArgument):
        await a.get_records(it, limit=0)
    with pytest.raises(InvalidArgument):
        await a.get_shard_iterator(shard.shard_id, "AT_SEQUENCE_NUMBER")
    with pytest.raises(InvalidArgument):
        await a.get_shard_iterator(shard.shard_id, "AT_TIMESTAMP")
    with pytest.raises(InvalidArgument):
        await a.get_shard_iterator(shard.shard_id, "SOMETIME")  # type: ignore[arg-type]


async def test_reshard_validation() -> None:
    stream = EmbeddedKinesis().create_stream("s", shard_count=3)
    s0, s1, s2 = (s.shard_id for s in await stream.list_shards())
    with pytest.raises(InvalidArgument):
        stream.split_shard(s0, 0)
    with pytest.raises(InvalidArgument):
        stream.merge_shards(s0, s2)
    low, high = stream.split_shard(s0, 5)
    with pytest.raises(InvalidArgument):
        stream.split_shard(s0, 7)
    child = stream.merge_shards(high, s1)
    shards = {s.shard_id: s for s in await stream.list_shards()}
    assert shards[child].parents == (high, s1)
    assert shards[low].starting_hash_key == 0 and shards[low].ending_hash_key == 4


async def test_waiting_read_wakes_when_the_shard_closes() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "LATEST")
    asyncio.get_running_loop().call_later(0.1, stream.split_shard, shard.shard_id, 2**127)
    started = time.monotonic()
    r = await stream.get_records(it, wait=30)
    assert r.records == [] and r.next_iterator is None
    assert time.monotonic() - started < 20


async def test_many_waiters_one_put() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    (shard,) = await stream.list_shards()
    its = [await stream.get_shard_iterator(shard.shard_id, "LATEST") for _ in range(5)]
    tasks = [asyncio.create_task(stream.get_records(it, wait=30)) for it in its]
    await asyncio.sleep(0.05)
    await stream.put_record("k", b"hello")
    results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert all([x.data for x in r.records] == [b"hello"] for r in results)


# -- property: any interleaving of puts, splits and merges loses nothing ----------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 15)),
        st.tuples(st.just("split"), st.floats(0.01, 0.99)),
        st.tuples(st.just("merge"), st.integers(0, 50)),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_reshards_keep_every_record_once_in_key_order(plan: list[tuple[str, object]]) -> None:
    async def run() -> None:
        stream = EmbeddedKinesis().create_stream("s", shard_count=2)
        expected: dict[str, list[bytes]] = {}
        for n, (op, arg) in enumerate(plan):
            open_shards = sorted(
                (s for s in await stream.list_shards() if s.is_open),
                key=lambda s: s.starting_hash_key,
            )
            if op == "put":
                key = f"m{arg}"
                result = await stream.put_record(key, b"%d" % n)
                owner = next(s for s in open_shards if s.shard_id == result.shard_id)
                assert owner.starting_hash_key <= hash_key(key) <= owner.ending_hash_key
                expected.setdefault(key, []).append(b"%d" % n)
            elif op == "split":
                target = open_shards[n % len(open_shards)]
                width = target.ending_hash_key - target.starting_hash_key
                at = target.starting_hash_key + max(1, int(width * float(arg)))  # type: ignore[arg-type]
                if at <= target.ending_hash_key:
                    stream.split_shard(target.shard_id, at)
            elif len(open_shards) > 1:
                i = int(arg) % (len(open_shards) - 1)  # type: ignore[call-overload]
                stream.merge_shards(open_shards[i].shard_id, open_shards[i + 1].shard_id)
        shards = await stream.list_shards()
        open_now = sorted((s for s in shards if s.is_open), key=lambda s: s.starting_hash_key)
        assert open_now[0].starting_hash_key == 0 and open_now[-1].ending_hash_key == 2**128 - 1
        for a, b in itertools.pairwise(open_now):
            assert a.ending_hash_key + 1 == b.starting_hash_key
        got: dict[str, list[bytes]] = {}
        done: set[str] = set()
        while len(done) < len(shards):
            for s in shards:
                if s.shard_id in done or not all(p in done for p in s.parents):
                    continue
                it: str | None = await stream.get_shard_iterator(s.shard_id, "TRIM_HORIZON")
                while it is not None:
                    r = await stream.get_records(it, limit=7)
                    for rec in r.records:
                        got.setdefault(rec.partition_key, []).append(rec.data)
                    if not r.records and s.is_open:
                        break
                    it = r.next_iterator
                done.add(s.shard_id)
        assert got == expected

    asyncio.run(run())


@given(st.integers(min_value=0, max_value=2**31 - 1), st.sampled_from(["shardId-", "", "x-"]))
def test_short_shard_ids_name_the_full_id(number: int, prefix: str) -> None:
    assert resolve_shard_id(f"{prefix}{number}") == f"shardId-{number:012d}"


@given(st.text(max_size=20))
def test_any_shard_id_resolves_to_a_full_id_or_none(text: str) -> None:
    resolved = resolve_shard_id(text)
    assert resolved is None or (resolved.startswith("shardId-") and len(resolved) >= 20)


def test_split_keys_must_lie_strictly_inside_the_shard() -> None:
    for key in (0, 1, 2**128 - 1):  # start, start + 1, end
        stream = EmbeddedKinesis().create_stream("s", shard_count=1)
        with pytest.raises(InvalidArgument, match="is not both greater than one plus"):
            stream.split_shard("shardId-000000000000", key)
    low, high = EmbeddedKinesis().create_stream("s").split_shard("0", 2)
    assert (low, high) == ("shardId-000000000001", "shardId-000000000002")


def test_explicit_hash_keys_place_records_and_are_range_checked() -> None:
    stream = EmbeddedKinesis().create_stream("s", shard_count=4)
    placed = [stream.append_raw("same-key", b"x", k)[0] for k in (0, 2**126, 2**127, 2**128 - 1)]
    assert placed == [f"shardId-{i:012d}" for i in range(4)]
    with pytest.raises(InvalidArgument, match=r"\[0, 2\^128-1\]"):
        stream.append_raw("k", b"x", 2**128)
