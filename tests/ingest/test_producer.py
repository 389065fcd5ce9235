"""The batching producer over the embedded stream."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from infra.local.stream import EmbeddedKinesis, EmbeddedStream
from ingest.producer import Producer, ProducerClosed


async def read_all(stream: EmbeddedStream) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for shard in await stream.list_shards():
        it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        for r in (await stream.get_records(it)).records:
            out[r.partition_key].append(r.data)
    return out


class CountingStream(EmbeddedStream):
    """The embedded stream, recording the size of each PutRecords call."""

    calls: list[int]

    async def put_records(self, entries):  # type: ignore[no-untyped-def]
        self.calls.append(len(entries))
        return await super().put_records(entries)


async def test_batches_and_keeps_order() -> None:
    registry = EmbeddedKinesis()
    stream = CountingStream("s", 3, registry.settings)
    stream.calls = []
    async with Producer(stream, max_batch=50, linger=0.01) as producer:
        futures = [await producer.put(f"m{i % 4}", b"%d" % i) for i in range(400)]
        results = await asyncio.wait_for(asyncio.gather(*futures), 30)
    assert len(results) == 400 and producer.sent == 400
    assert max(stream.calls) <= 50 and len(stream.calls) < 400
    expected: dict[str, list[bytes]] = defaultdict(list)
    for i in range(400):
        expected[f"m{i % 4}"].append(b"%d" % i)
    assert await read_all(stream) == expected


async def test_put_waits_for_room() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    producer = Producer(stream, max_pending=2)
    await producer.put("k", b"1")
    await producer.put("k", b"2")
    blocked = asyncio.create_task(producer.put("k", b"3"))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # full queue: the caller waits, nothing is dropped
    await producer.start()
    future = await asyncio.wait_for(blocked, 10)
    await asyncio.wait_for(future, 10)
    await producer.stop()
    await producer.stop()
    assert (await read_all(stream))["k"] == [b"1", b"2", b"3"]


async def test_stop_flushes_then_refuses() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    producer = Producer(stream, linger=5.0)
    await producer.start()
    future = await producer.put("k", b"last")
    await producer.stop()
    assert (await future).shard_id
    with pytest.raises(ProducerClosed):
        await producer.put("k", b"late")


async def test_errors_reach_the_futures() -> None:
    stream = EmbeddedKinesis().create_stream("s")
    async with Producer(stream) as producer:
        future = await producer.put("k", b"x" * (1024 * 1024 + 1))
        with pytest.raises(Exception, match="over"):
            await asyncio.wait_for(future, 10)
        ok = await producer.put("k", b"fine")
        assert (await asyncio.wait_for(ok, 10)).sequence_number
    assert producer.failed == 1
