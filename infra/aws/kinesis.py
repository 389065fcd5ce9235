"""Amazon Kinesis Data Streams behind :class:`ingest.stream.Stream`, through aioboto3.

Theory of operation: one long-lived aioboto3 client per stream object (``open`` /
``close``). PutRecords goes through :func:`ingest.batching.put_in_key_order`, at most
``per_key`` entries of a key per request (default 1: a throttled entry can never be
overtaken by a later one of its key), so a retried entry keeps its place. GetRecords keeps
within Kinesis's 5 calls per second per shard by spacing calls on a shard at least
``min_get_interval`` apart; ``wait`` turns an empty read into a few spaced reads. The
stream remembers, for each iterator it handed out, the shard and the last sequence number
read, so an expired iterator is replaced (AFTER_SEQUENCE_NUMBER of that record, or the
original request) without the caller noticing. SDK errors become :mod:`ingest.errors`
exceptions, chained with ``raise ... from``.

Backpressure: the iterator memory is bounded (``max_tracked_iterators``, oldest dropped: an
iterator that old can still be used, it just cannot be recovered once expired); a put is
bounded by its caller's entries and fails with ``ThroughputExceeded`` after the retry
policy's attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ingest.batching import RetryPolicy, put_in_key_order
from ingest.errors import (
    ExpiredIterator,
    InvalidArgument,
    StreamError,
    StreamNotFound,
    StreamUnavailable,
    ThroughputExceeded,
)
from ingest.stream import GetRecordsResult, IteratorType, PutResult, ShardInfo, StreamRecord

__all__ = ["KinesisSettings", "KinesisStream", "translate"]

# Kinesis GetRecords: 5 calls per second per shard (service quotas).
MIN_GET_INTERVAL: Final = 0.2
# Kinesis GetRecords: at most 10,000 records per call.
MAX_GET_RECORDS: Final = 10_000

_ERRORS: Final[dict[str, type[StreamError]]] = {
    "ResourceNotFoundException": StreamNotFound,
    "InvalidArgumentException": InvalidArgument,
    "ProvisionedThroughputExceededException": ThroughputExceeded,
    "LimitExceededException": ThroughputExceeded,
    "KMSThrottlingException": ThroughputExceeded,
    "ExpiredIteratorException": ExpiredIterator,
}


@dataclass(frozen=True, slots=True)
class KinesisSettings:
    per_key: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    min_get_interval: float = MIN_GET_INTERVAL
    # pause between empty reads while waiting (``get_records(..., wait=s)``)
    idle_poll: float = MIN_GET_INTERVAL
    max_tracked_iterators: int = 10_000
    # the SDK's own retries for single calls (botocore standard mode)
    sdk_max_attempts: int = 3
    # how long create/split/merge may take to reach ACTIVE (AWS: seconds, usually)
    active_timeout: float = 120.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


def translate(exc: ClientError | BotoCoreError) -> StreamError:
    """The :mod:`ingest.errors` exception for an SDK error."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return _ERRORS.get(code, StreamUnavailable)(str(exc))
    return StreamUnavailable(str(exc))


def entry_error(code: str, message: str) -> StreamError:
    """The exception for a failed PutRecords entry's ``ErrorCode``."""
    return _ERRORS.get(code, StreamUnavailable)(f"{code}: {message}")


@dataclass(slots=True)
class _Position:
    """How to re-create an iterator: the shard, and the last record read or the request."""

    shard_id: str
    iterator_type: IteratorType
    sequence_number: str | None = None
    timestamp: float | None = None


class KinesisStream:
    """One Kinesis stream; implements :class:`ingest.stream.Stream`."""

    def __init__(
        self, name: str, client: Any, stack: contextlib.AsyncExitStack, settings: KinesisSettings
    ) -> None:
        self.name = name
        self.settings = settings
        self._client = client
        self._stack = stack
        self._positions: OrderedDict[str, _Position] = OrderedDict()
        self._last_get: dict[str, float] = {}

    @classmethod
    async def open(
        cls,
        name: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        settings: KinesisSettings | None = None,
        create_shards: int | None = None,
    ) -> KinesisStream:
        """Open a client for stream ``name``; with ``create_shards``, create it if missing
        and wait until it is ACTIVE."""
        settings = settings or KinesisSettings()
        config = Config(
            retries={"max_attempts": settings.sdk_max_attempts, "mode": "standard"},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        )
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            aioboto3.Session().client(
                "kinesis", endpoint_url=endpoint_url, region_name=region, config=config
            )
        )
        stream = cls(name, client, stack, settings)
        try:
            if create_shards is not None:
                await stream._create(create_shards)
        except BaseException:
            await stack.aclose()
            raise
        return stream

    async def close(self) -> None:
        await self._stack.aclose()

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = await getattr(self._client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        return response

    async def _create(self, shard_count: int) -> None:
        try:
            await self._call("create_stream", StreamName=self.name, ShardCount=shard_count)
        except StreamError as exc:
            if "ResourceInUse" not in str(exc):
                raise
        await self._wait_active()

    async def _wait_active(self) -> None:
        timeout = self.settings.active_timeout
        try:
            async with asyncio.timeout(timeout):
                while True:
                    summary = await self._call("describe_stream_summary", StreamName=self.name)
                    if summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE":
                        return
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise StreamUnavailable(f"stream {self.name} not ACTIVE after {timeout} s") from None

    # -- writes ------------------------------------------------------------------------
    async def put_record(self, partition_key: str, data: bytes) -> PutResult:
        r = await self._call(
            "put_record", StreamName=self.name, Data=data, PartitionKey=partition_key
        )
        return PutResult(r["ShardId"], r["SequenceNumber"])

    async def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        return await put_in_key_order(
            entries, self._send, per_key=self.settings.per_key, policy=self.settings.retry
        )

    async def _send(self, batch: list[tuple[str, bytes]]) -> list[PutResult | StreamError | None]:
        r = await self._call(
            "put_records",
            StreamName=self.name,
            Records=[{"Data": d, "PartitionKey": k} for k, d in batch],
        )
        out: list[PutResult | StreamError | None] = []
        for entry in r["Records"]:
            if entry.get("ErrorCode"):
                out.append(entry_error(entry["ErrorCode"], entry.get("ErrorMessage", "")))
            else:
                out.append(PutResult(entry["ShardId"], entry["SequenceNumber"]))
        return out

    # -- resharding --------------------------------------------------------------------
    async def split_shard(self, shard_id: str, new_starting_hash_key: int) -> None:
        await self._call(
            "split_shard",
            StreamName=self.name,
            ShardToSplit=shard_id,
            NewStartingHashKey=str(new_starting_hash_key),
        )
        await self._wait_active()

    async def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> None:
        await self._call(
            "merge_shards",
            StreamName=self.name,
            ShardToMerge=shard_id,
            AdjacentShardToMerge=adjacent_shard_id,
        )
        await self._wait_active()

    # -- reads -------------------------------------------------------------------------
    async def list_shards(self) -> list[ShardInfo]:
        shards: list[ShardInfo] = []
        params: dict[str, Any] = {"StreamName": self.name}
        while True:
            r = await self._call("list_shards", **params)
            shards.extend(_shard_info(s) for s in r.get("Shards", []))
            token = r.get("NextToken")
            if not token:
                return shards
            params = {"NextToken": token}  # Kinesis: NextToken excludes StreamName

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        position = _Position(shard_id, iterator_type, sequence_number, timestamp)
        return await self._issue(position)

    async def _issue(self, position: _Position) -> str:
        params: dict[str, Any] = {
            "StreamName": self.name,
            "ShardId": position.shard_id,
            "ShardIteratorType": position.iterator_type,
        }
        if position.sequence_number is not None:
            params["StartingSequenceNumber"] = position.sequence_number
        if position.timestamp is not None:
            params["Timestamp"] = datetime.fromtimestamp(position.timestamp, UTC)
        r = await self._call("get_shard_iterator", **params)
        iterator: str = r["ShardIterator"]
        self._track(iterator, position)
        return iterator

    def _track(self, iterator: str, position: _Position) -> None:
        self._positions[iterator] = position
        while len(self._positions) > self.settings.max_tracked_iterators:
            self._positions.popitem(last=False)

    async def get_records(
        self, iterator: str, *, limit: int = MAX_GET_RECORDS, wait: float = 0.0
    ) -> GetRecordsResult:
        deadline = time.monotonic() + wait
        while True:
            result = await self._get_once(iterator, limit)
            remaining = deadline - time.monotonic()
            if result.records or result.next_iterator is None or remaining <= 0:
                return result
            iterator = result.next_iterator
            await asyncio.sleep(min(remaining, self.settings.idle_poll))

    async def _get_once(self, iterator: str, limit: int) -> GetRecordsResult:
        position = self._positions.pop(iterator, None)
        if position is not None:
            await self._space(position.shard_id)
        try:
            r = await self._call("get_records", ShardIterator=iterator, Limit=limit)
        except ExpiredIterator:
            if position is None:
                raise
            # Recover: a fresh iterator at the same place (after the last record read).
            iterator = await self._issue(position)
            self._positions.pop(iterator, None)
            r = await self._call("get_records", ShardIterator=iterator, Limit=limit)
        records = [
            StreamRecord(
                x["SequenceNumber"],
                x["PartitionKey"],
                bytes(x["Data"]),
                x["ApproximateArrivalTimestamp"].timestamp(),
            )
            for x in r.get("Records", [])
        ]
        next_iterator: str | None = r.get("NextShardIterator")
        if next_iterator is not None and position is not None:
            if records:
                position = _Position(
                    position.shard_id, "AFTER_SEQUENCE_NUMBER", records[-1].sequence_number
                )
            self._track(next_iterator, position)
        return GetRecordsResult(records, next_iterator, int(r.get("MillisBehindLatest", 0)))

    async def _space(self, shard_id: str) -> None:
        last = self._last_get.get(shard_id)
        now = time.monotonic()
        if last is not None and now - last < self.settings.min_get_interval:
            await asyncio.sleep(self.settings.min_get_interval - (now - last))
        self._last_get[shard_id] = time.monotonic()


def _shard_info(shard: dict[str, Any]) -> ShardInfo:
    hashes, seqs = shard["HashKeyRange"], shard["SequenceNumberRange"]
    return ShardInfo(
        shard["ShardId"],
        int(hashes["StartingHashKey"]),
        int(hashes["EndingHashKey"]),
        seqs["StartingSequenceNumber"],
        seqs.get("EndingSequenceNumber"),
        shard.get("ParentShardId"),
        shard.get("AdjacentParentShardId"),
    )
