"""The stream interface: what producers and consumers of the action stream may call.

Two implementations sit behind it with the same semantics: the embedded stream
(:mod:`infra.local.stream`, in-process, the default of every local run and test) and
Amazon Kinesis through aioboto3 (:mod:`infra.aws.kinesis`). One contract test suite runs
against both (Kinesis through moto).

Semantics are Kinesis's: a record's shard is chosen by the MD5 of its partition key
(a 128-bit hash key) against the shards' hash-key ranges; sequence numbers are decimal
strings that increase within a shard; a closed shard (after a split or merge) has an
ending sequence number and its iterator runs out (``next_iterator is None``) once it has
been read to the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "GetRecordsResult",
    "IteratorType",
    "PutResult",
    "ShardInfo",
    "Stream",
    "StreamRecord",
]

IteratorType = Literal[
    "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP"
]


@dataclass(frozen=True, slots=True)
class PutResult:
    shard_id: str
    sequence_number: str


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence_number: str
    partition_key: str
    data: bytes
    # ApproximateArrivalTimestamp, seconds since the epoch.
    arrival: float


@dataclass(frozen=True, slots=True)
class GetRecordsResult:
    records: list[StreamRecord]
    # None when the shard is closed and has been read to its end.
    next_iterator: str | None
    millis_behind_latest: int


@dataclass(frozen=True, slots=True)
class ShardInfo:
    shard_id: str
    starting_hash_key: int
    ending_hash_key: int
    starting_sequence_number: str
    # None while the shard is open.
    ending_sequence_number: str | None = None
    parent_shard_id: str | None = None
    adjacent_parent_shard_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.ending_sequence_number is None

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(p for p in (self.parent_shard_id, self.adjacent_parent_shard_id) if p)

    def holds(self, partition_key: str) -> bool:
        """Whether records put with ``partition_key`` land in this shard: Kinesis maps a
        key to the MD5 of its UTF-8 bytes, big-endian, within the shard's hash-key range."""
        key = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
        return self.starting_hash_key <= key <= self.ending_hash_key


@runtime_checkable
class Stream(Protocol):
    """One named stream. Errors are :mod:`ingest.errors` exceptions, never SDK ones."""

    name: str

    async def put_record(self, partition_key: str, data: bytes) -> PutResult:
        """Append one record; raises ``ThroughputExceeded`` when the shard is over its limit."""
        ...

    async def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        """Append many ``(partition_key, data)`` records, retrying failed entries.

        Returns one result per entry, in order. The order of the records of each partition
        key is kept even when some entries have to be retried.
        """
        ...

    async def list_shards(self) -> list[ShardInfo]: ...

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str: ...

    async def get_records(
        self, iterator: str, *, limit: int = 10_000, wait: float = 0.0
    ) -> GetRecordsResult:
        """Read from an iterator. ``wait`` > 0 lets an implementation block up to that long
        for new records when there are none (the embedded stream wakes on a put; Kinesis
        sleeps to keep within 5 GetRecords calls per second per shard)."""
        ...

    async def close(self) -> None: ...
