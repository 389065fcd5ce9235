"""put_in_key_order against a Kinesis-like batch sender: per-entry failures where a later
entry of the same key may still succeed (which is why Kinesis gets per_key=1)."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest

from ingest.batching import RetryPolicy, put_in_key_order
from ingest.errors import InvalidArgument, StreamError, StreamNotFound, ThroughputExceeded
from ingest.stream import PutResult

NO_WAIT = RetryPolicy(max_attempts=50, base_delay=0.0, max_delay=0.0)


class KinesisLikeShard:
    """A recording fake of PutRecords: each entry fails on its own with ``rate``."""

    def __init__(self, rate: float, seed: int = 7) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.log: list[tuple[str, bytes]] = []
        self.requests: list[int] = []
        self.seq = itertools.count(1)

    async def send(self, batch: list[tuple[str, bytes]]) -> list[PutResult | StreamError | None]:
        self.requests.append(len(batch))
        out: list[PutResult | StreamError | None] = []
        for entry in batch:
            if self.rng.random() < self.rate:
                out.append(ThroughputExceeded("Rate exceeded"))
            else:
                self.log.append(entry)
                out.append(PutResult("shardId-0", str(next(self.seq))))
        return out


def per_key(entries: list[tuple[str, bytes]]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for k, d in entries:
        out[k].append(d)
    return out


async def no_sleep(_: float) -> None:
    return None


async def test_25_percent_failures_keep_per_key_order() -> None:
    shard = KinesisLikeShard(0.25)
    entries = [(f"match-{i % 9}", b"%d" % i) for i in range(2000)]
    results = await put_in_key_order(entries, shard.send, per_key=1, policy=NO_WAIT, sleep=no_sleep)
    assert len(results) == 2000
    assert per_key(shard.log) == per_key(entries)  # 0 lost, 0 duplicated, order kept
    assert max(shard.requests) <= 9


async def test_packing_several_per_key_is_detected_not_silent() -> None:
    shard = KinesisLikeShard(0.25)
    entries = [("one-key", b"%d" % i) for i in range(200)]
    with pytest.raises(StreamError, match="ahead of a failed one"):
        await put_in_key_order(entries, shard.send, per_key=None, policy=NO_WAIT, sleep=no_sleep)


async def test_batches_respect_record_and_byte_limits() -> None:
    shard = KinesisLikeShard(0.0)
    entries = [(f"k{i}", b"x" * 1000) for i in range(1200)]
    await put_in_key_order(entries, shard.send, max_records=500, max_bytes=100_000, sleep=no_sleep)
    assert max(shard.requests) <= 100  # 100,000 bytes / ~1,005 bytes per entry
    assert per_key(shard.log) == per_key(entries)


async def test_gives_up_after_attempts_without_progress() -> None:
    shard = KinesisLikeShard(1.0)
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    with pytest.raises(ThroughputExceeded, match="without progress"):
        await put_in_key_order(
            [("k", b"a")],
            shard.send,
            policy=RetryPolicy(max_attempts=4, base_delay=0.01),
            sleep=sleep,
        )
    assert len(delays) == 3 and all(0 <= d <= 2.0 for d in delays)


async def test_other_errors_raise_at_once() -> None:
    async def send(batch: list[tuple[str, bytes]]) -> list[PutResult | StreamError | None]:
        return [StreamNotFound("gone") for _ in batch]

    with pytest.raises(StreamNotFound):
        await put_in_key_order([("k", b"a")], send, sleep=no_sleep)


async def test_oversized_entry_is_refused_before_sending() -> None:
    shard = KinesisLikeShard(0.0)
    with pytest.raises(InvalidArgument):
        await put_in_key_order([("k", b"x" * (1024 * 1024))], shard.send, sleep=no_sleep)
    assert shard.requests == []
