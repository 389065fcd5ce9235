"""PutRecords batching with retries that keep the order of each partition key.

Theory of operation: Kinesis's PutRecords is not atomic; each entry succeeds or fails on
its own (``ProvisionedThroughputExceededException``), and a later entry of the same
partition key can succeed after an earlier one failed. Retrying the failed entry then puts
it *after* its successor, and a consumer that skips ``seq`` at or below the last applied
one would drop it. So a request carries at most ``per_key`` pending entries of each key
(``1`` for Kinesis: a failure can never be overtaken), the head of each key's queue is
retried before anything behind it, and rounds continue with exponential backoff until
every entry is in or ``max_attempts`` rounds have failed. An implementation whose
``send`` itself stops a key at its first failure (the embedded stream does, in-process)
may pass ``per_key=None``.

Backpressure: the caller's ``entries`` are the whole bound; a request is at most
``max_records`` entries and ``max_bytes`` bytes (the PutRecords limits).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from infra.backoff import Backoff
from ingest.errors import InvalidArgument, StreamError, StreamUnavailable, ThroughputExceeded
from ingest.stream import PutResult

__all__ = [
    "MAX_PUT_RECORDS",
    "MAX_PUT_RECORDS_BYTES",
    "MAX_RECORD_BYTES",
    "RETRYABLE",
    "RetryPolicy",
    "SendBatch",
    "put_in_key_order",
]

# Kinesis PutRecords: at most 500 records and 5 MiB per request (API reference).
MAX_PUT_RECORDS: Final = 500
MAX_PUT_RECORDS_BYTES: Final = 5 * 1024 * 1024
# Kinesis: a record's data blob plus partition key is at most 1 MiB.
MAX_RECORD_BYTES: Final = 1024 * 1024

# Entry errors worth another round: Kinesis documents ProvisionedThroughputExceeded and
# InternalFailure as the per-entry error codes of PutRecords, both transient.
RETRYABLE: Final = (ThroughputExceeded, StreamUnavailable)

# send(entries) -> one PutResult, or the StreamError that failed it, per entry; None means
# "not attempted" (the implementation held it back behind a failure of the same key).
SendBatch = Callable[[list[tuple[str, bytes]]], Awaitable[list[PutResult | StreamError | None]]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    # rounds in a row without progress before giving up with ThroughputExceeded (the AWS SDK
    # standard mode retries 3 times; a stream producer waits longer: a throttled shard
    # recovers within the next second)
    max_attempts: int = 12
    # first backoff and cap, seconds (full jitter, as the AWS Architecture Blog recommends)
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return Backoff(self.base_delay, self.max_delay, max_attempts=None).delay(attempt)


def _size(entry: tuple[str, bytes]) -> int:
    return len(entry[0].encode("utf-8")) + len(entry[1])


async def put_in_key_order(
    entries: Sequence[tuple[str, bytes]],
    send: SendBatch,
    *,
    per_key: int | None = 1,
    max_records: int = MAX_PUT_RECORDS,
    max_bytes: int = MAX_PUT_RECORDS_BYTES,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> list[PutResult]:
    """Put every entry, in order per partition key; one result per entry, in entry order.

    Raises ``ThroughputExceeded`` after ``policy.max_attempts`` rounds that still left
    throttled entries, and any non-throttling ``StreamError`` at once (entries before it
    may already be in the stream).
    """
    for entry in entries:
        if _size(entry) > MAX_RECORD_BYTES:
            raise InvalidArgument(f"record for key {entry[0]!r} is over {MAX_RECORD_BYTES} bytes")
    results: list[PutResult | None] = [None] * len(entries)
    queues: dict[str, deque[int]] = {}
    for i, (key, _) in enumerate(entries):
        queues.setdefault(key, deque()).append(i)
    failures = 0
    while queues:
        batch = _next_batch(entries, queues, per_key, max_records, max_bytes)
        outcome = await send([entries[i] for i in batch])
        throttled = False
        blocked: set[str] = set()
        for i, result in zip(batch, outcome, strict=True):
            key = entries[i][0]
            if isinstance(result, PutResult) and key not in blocked:
                results[i] = result
                queue = queues[key]
                queue.popleft()  # batches hold a prefix of each key's queue, in order
                if not queue:
                    del queues[key]
            elif isinstance(result, PutResult):
                # Overtook a failed entry of its key: only possible with per_key > 1.
                raise StreamError(f"entry of key {key!r} was written ahead of a failed one")
            elif isinstance(result, RETRYABLE) or result is None:
                throttled = throttled or result is not None
                blocked.add(key)
            else:
                raise result
        if blocked and not throttled:
            raise StreamError("entries were held back without a throttled entry")
        if throttled:
            # Give up only after max_attempts rounds in a row that put nothing at all.
            progressed = any(results[i] is not None for i in batch)
            failures = 1 if progressed else failures + 1
            if failures >= policy.max_attempts:
                raise ThroughputExceeded(
                    f"{sum(len(q) for q in queues.values())} entries still throttled "
                    f"after {failures} attempts without progress"
                )
            await sleep(policy.delay(failures))
    return [r for r in results if r is not None]


def _next_batch(
    entries: Sequence[tuple[str, bytes]],
    queues: dict[str, deque[int]],
    per_key: int | None,
    max_records: int,
    max_bytes: int,
) -> list[int]:
    """The next request: pending entries in entry order, at most ``per_key`` per key."""
    if per_key is None:
        pending = sorted(i for q in queues.values() for i in q)
    else:
        pending = sorted(i for q in queues.values() for i in list(q)[:per_key])
    batch: list[int] = []
    size = 0
    for i in pending:
        n = _size(entries[i])
        if batch and (len(batch) >= max_records or size + n > max_bytes):
            break
        batch.append(i)
        size += n
    return batch
