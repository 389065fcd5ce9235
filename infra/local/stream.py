"""The embedded Kinesis: an in-process stream with Kinesis Data Streams' semantics.

Theory of operation: a stream is a set of shards, each owning a range of the 128-bit hash
key space; a record goes to the shard whose range holds the MD5 of its partition key (as
Kinesis does). Each shard is an append-only list; sequence numbers are 56-digit decimal
strings from one counter per stream, so they increase within a shard and a child shard's
numbers are above its parents'. Shard iterators are self-contained tokens (stream, shard,
position, issue time): no state is kept per iterator, and an iterator older than
``iterator_ttl`` raises ``ExpiredIterator``. Splitting or merging closes the parent(s) with
an ending sequence number; a reader that reaches the end of a closed shard gets
``next_iterator=None`` and moves on to the children (:attr:`ShardInfo.parents`).

``get_records(..., wait=s)`` blocks on a per-shard ``asyncio.Event`` that a put sets, so an
embedded consumer never polls. ``put_record`` is the gateway's hot path (client message ->
route -> template -> append): one MD5 (cached per key), one list append, and an event set
only when a reader is waiting.

Backpressure: the stream is bounded by retention (records older than ``retention`` are
trimmed) and, when ``enforce_write_limits`` is on, by Kinesis's per-shard write limits,
which raise ``ThroughputExceeded`` to the producer. Off by default: an embedded run is one
process and the limit would only slow it down.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from ingest.batching import MAX_RECORD_BYTES, put_in_key_order
from ingest.errors import (
    ExpiredIterator,
    InvalidArgument,
    RecordTooLarge,
    StreamError,
    StreamNotFound,
    ThroughputExceeded,
)
from ingest.stream import GetRecordsResult, IteratorType, PutResult, ShardInfo, StreamRecord

__all__ = ["EmbeddedKinesis", "EmbeddedStream", "EmbeddedStreamSettings", "hash_key"]

# Kinesis: the hash key space is [0, 2**128 - 1] (MD5 of the partition key).
MAX_HASH_KEY: Final = 2**128 - 1
# Kinesis: a partition key is 1 to 256 Unicode characters (PutRecord API reference).
MAX_PARTITION_KEY_CHARS: Final = 256
# Kinesis GetRecords: at most 10,000 records and 10 MiB per call (API reference).
MAX_GET_RECORDS: Final = 10_000
MAX_GET_BYTES: Final = 10 * 1024 * 1024
# Kinesis-like sequence numbers: 56 decimal digits.
_SEQ_BASE: Final = 49 * 10**54
_SEQ_LIMIT: Final = 10**54  # _seq's fast form: n below it
# Bound of the partition key -> shard cache (one entry per match in practice).
_KEY_CACHE_SIZE: Final = 65_536


@dataclass(frozen=True, slots=True)
class EmbeddedStreamSettings:
    # Kinesis: a shard iterator expires 5 minutes after it is returned.
    iterator_ttl: float = 300.0
    # Kinesis: default retention period 24 hours.
    retention: float = 24 * 3600.0
    # Kinesis per-shard write limits: 1,000 records/s and 1 MiB/s (service quotas).
    enforce_write_limits: bool = False
    records_per_second: int = 1000
    bytes_per_second: int = 1024 * 1024
    # Iterators of this process's own stream objects carry their position, so an expired
    # one is honoured (as KinesisStream recovers); False raises ExpiredIterator as Kinesis
    # does, which is what the Kinesis-compatible HTTP service uses.
    recover_expired: bool = True
    # Test hook: called per put with the shard id; True throttles that put as Kinesis would.
    inject_throttle: Callable[[str], bool] | None = None
    clock: Callable[[], float] = field(default=time.time)


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis derives from a partition key (MD5, big-endian)."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def _seq(n: int) -> str:
    """``str(_SEQ_BASE + n)``, formatted without big-integer arithmetic for n < 10**54."""
    if n < _SEQ_LIMIT:
        return f"49{n:054d}"
    return str(_SEQ_BASE + n)


class _Shard:
    __slots__ = (
        "arrivals",
        "bytes_in_window",
        "count_in_window",
        "event",
        "info",
        "offset",
        "records",
        "seqs",
        "shard_id",
        "window",
    )

    def __init__(self, info: ShardInfo) -> None:
        self.info = info
        self.shard_id = info.shard_id
        # (sequence number, partition key, data); arrival times in ``arrivals``
        self.records: list[tuple[str, str, bytes]] = []
        self.seqs: list[int] = []
        self.arrivals: list[float] = []
        # records trimmed by retention: absolute position = offset + list index
        self.offset = 0
        self.event: asyncio.Event | None = None
        self.window = -1
        self.count_in_window = 0
        self.bytes_in_window = 0

    @property
    def end(self) -> int:
        return self.offset + len(self.records)

    def wake(self) -> None:
        event, self.event = self.event, None
        if event is not None:
            event.set()


class EmbeddedStream:
    """One embedded stream; implements :class:`ingest.stream.Stream`."""

    def __init__(self, name: str, shard_count: int, settings: EmbeddedStreamSettings) -> None:
        if shard_count < 1:
            raise InvalidArgument("shard_count must be at least 1")
        self.name = name
        self.settings = settings
        self._clock = settings.clock
        self._checked = settings.inject_throttle is not None or settings.enforce_write_limits
        self._counter = itertools.count(1)
        self._shard_ids = itertools.count(0)
        self._shards: dict[str, _Shard] = {}
        self._open: list[_Shard] = []  # sorted by starting hash key
        self._key_cache: dict[str, _Shard] = {}
        self._token = base64.urlsafe_b64encode(
            hashlib.md5(f"{name}/{id(self)}/{time.time_ns()}".encode()).digest()[:6]
        ).decode()
        width = (MAX_HASH_KEY + 1) // shard_count
        for i in range(shard_count):
            end = MAX_HASH_KEY if i == shard_count - 1 else (i + 1) * width - 1
            self._add_shard(i * width, end)

    # -- shards ------------------------------------------------------------------------
    def _add_shard(
        self, start: int, end: int, parent: str | None = None, adjacent: str | None = None
    ) -> _Shard:
        info = ShardInfo(
            f"shardId-{next(self._shard_ids):012d}",
            start,
            end,
            _seq(next(self._counter)),
            None,
            parent,
            adjacent,
        )
        shard = _Shard(info)
        self._shards[info.shard_id] = shard
        self._open.append(shard)
        self._open.sort(key=lambda s: s.info.starting_hash_key)
        self._key_cache.clear()
        return shard

    def _close(self, shard: _Shard) -> None:
        shard.info = replace(shard.info, ending_sequence_number=_seq(next(self._counter)))
        self._open.remove(shard)
        self._key_cache.clear()
        shard.wake()

    def _shard(self, shard_id: str) -> _Shard:
        try:
            return self._shards[shard_id]
        except KeyError:
            raise StreamNotFound(f"shard {shard_id} not found in stream {self.name}") from None

    def _open_shard(self, shard_id: str) -> _Shard:
        shard = self._shard(shard_id)
        if not shard.info.is_open:
            raise InvalidArgument(f"shard {shard_id} is closed")  # Kinesis: ResourceInUse
        return shard

    def shard_for(self, partition_key: str) -> str:
        """The id of the open shard that holds ``partition_key`` now."""
        return self._route(partition_key).info.shard_id

    def _route(self, partition_key: str) -> _Shard:
        shard = self._key_cache.get(partition_key)
        if shard is None:
            try:
                key = hash_key(partition_key)
            except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): not Unicode text
                raise InvalidArgument("partition key is not valid Unicode") from None
            starts = [s.info.starting_hash_key for s in self._open]
            shard = self._open[bisect.bisect_right(starts, key) - 1]
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[partition_key] = shard
        return shard

    def split_shard(self, shard_id: str, new_starting_hash_key: int) -> tuple[str, str]:
        """Close ``shard_id`` and open two children split at ``new_starting_hash_key``."""
        parent = self._open_shard(shard_id)
        start, end = parent.info.starting_hash_key, parent.info.ending_hash_key
        if not start < new_starting_hash_key <= end:
            raise InvalidArgument(f"new starting hash key must be in ({start}, {end}]")
        self._close(parent)
        low = self._add_shard(start, new_starting_hash_key - 1, parent=shard_id)
        high = self._add_shard(new_starting_hash_key, end, parent=shard_id)
        return low.info.shard_id, high.info.shard_id

    def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> str:
        """Close two adjacent open shards and open their merged child."""
        a, b = self._open_shard(shard_id), self._open_shard(adjacent_shard_id)
        lo, hi = sorted((a, b), key=lambda s: s.info.starting_hash_key)
        if lo.info.ending_hash_key + 1 != hi.info.starting_hash_key:
            raise InvalidArgument(f"shards {shard_id} and {adjacent_shard_id} are not adjacent")
        self._close(a)
        self._close(b)
        child = self._add_shard(
            lo.info.starting_hash_key,
            hi.info.ending_hash_key,
            parent=shard_id,
            adjacent=adjacent_shard_id,
        )
        return child.info.shard_id

    async def list_shards(self) -> list[ShardInfo]:
        return [s.info for s in self._shards.values()]

    # -- writes ------------------------------------------------------------------------
    def append(self, partition_key: str, data: bytes) -> PutResult:
        """Synchronous put; see :meth:`put_record`."""
        return PutResult(*self.append_raw(partition_key, data))

    def append_raw(self, partition_key: str, data: bytes) -> tuple[str, str]:
        """:meth:`append` answering ``(shard id, sequence number)`` as a plain tuple (the
        embedded gateway's hot path: a frozen dataclass costs more to build)."""
        if not 0 < len(partition_key) <= MAX_PARTITION_KEY_CHARS:
            raise InvalidArgument(
                f"partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters"
            )
        if len(data) + len(partition_key) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"record of {len(data)} bytes is over {MAX_RECORD_BYTES} bytes")
        shard = self._key_cache.get(partition_key) or self._route(partition_key)
        now = self._clock()
        if self._checked:
            self._check_limits(shard, now, len(data) + len(partition_key))
        arrivals = shard.arrivals
        if arrivals and arrivals[-1] > now:
            now = arrivals[-1]  # arrival times never go backwards within a shard
        count = next(self._counter)
        n = _SEQ_BASE + count
        sequence_number = f"49{count:054d}" if count < _SEQ_LIMIT else str(n)  # _seq, inline
        # Stored as a tuple; StreamRecord objects are built when read (cheaper put).
        shard.records.append(
            (sequence_number, partition_key, data if type(data) is bytes else bytes(data))
        )
        shard.seqs.append(n)
        arrivals.append(now)
        if shard.event is not None:
            shard.wake()
        return shard.shard_id, sequence_number

    def _check_limits(self, shard: _Shard, now: float, size: int) -> None:
        settings = self.settings
        if settings.inject_throttle is not None and settings.inject_throttle(shard.shard_id):
            raise ThroughputExceeded(f"rate exceeded for shard {shard.shard_id}")
        if settings.enforce_write_limits:
            self._charge(shard, now, size)

    def _charge(self, shard: _Shard, now: float, size: int) -> None:
        window = int(now)
        if window != shard.window:
            shard.window, shard.count_in_window, shard.bytes_in_window = window, 0, 0
        settings = self.settings
        if (
            shard.count_in_window + 1 > settings.records_per_second
            or shard.bytes_in_window + size > settings.bytes_per_second
        ):
            raise ThroughputExceeded(f"rate exceeded for shard {shard.info.shard_id}")
        shard.count_in_window += 1
        shard.bytes_in_window += size

    async def put_record(self, partition_key: str, data: bytes) -> PutResult:
        return self.append(partition_key, data)

    async def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        return await put_in_key_order(entries, self._send, per_key=None)

    async def _send(self, batch: list[tuple[str, bytes]]) -> list[PutResult | StreamError | None]:
        # In-process, a key can be held back at its first failure: later entries of that
        # key in this batch are not attempted (None) and go in the next round after it.
        out: list[PutResult | StreamError | None] = []
        failed: set[str] = set()
        for key, data in batch:
            if key in failed:
                out.append(None)
                continue
            try:
                out.append(self.append(key, data))
            except ThroughputExceeded as exc:
                failed.add(key)
                out.append(exc)
        return out

    # -- reads -------------------------------------------------------------------------
    def _iterator(self, shard: _Shard, position: int) -> str:
        raw = f"{self._token}|{shard.info.shard_id}|{position}|{self.settings.clock()!r}"
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _parse(self, iterator: str) -> tuple[_Shard, int]:
        try:
            token, shard_id, position, issued = (
                base64.urlsafe_b64decode(iterator.encode()).decode().split("|")
            )
            pos, issued_at = int(position), float(issued)
        except (ValueError, UnicodeError) as exc:
            raise InvalidArgument("invalid shard iterator") from exc
        if token != self._token:
            raise InvalidArgument("shard iterator is not for this stream")
        expired = self.settings.clock() - issued_at > self.settings.iterator_ttl
        if expired and not self.settings.recover_expired:
            raise ExpiredIterator(f"iterator for {shard_id} expired")
        return self._shard(shard_id), pos

    def owns_iterator(self, iterator: str) -> bool:
        """Whether ``iterator`` was issued by this stream (expired or not)."""
        try:
            raw = base64.urlsafe_b64decode(iterator.encode()).decode()
        except (ValueError, UnicodeError):
            return False
        return raw.startswith(self._token + "|")

    def _trim(self, shard: _Shard) -> None:
        horizon = self.settings.clock() - self.settings.retention
        cut = bisect.bisect_left(shard.arrivals, horizon)
        if cut:
            del shard.records[:cut], shard.seqs[:cut], shard.arrivals[:cut]
            shard.offset += cut

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        shard = self._shard(shard_id)
        self._trim(shard)
        if iterator_type == "TRIM_HORIZON":
            return self._iterator(shard, shard.offset)
        if iterator_type == "LATEST":
            return self._iterator(shard, shard.end)
        if iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if sequence_number is None or not sequence_number.isdigit():
                raise InvalidArgument(f"{iterator_type} needs a decimal sequence number")
            n = int(sequence_number)
            info = shard.info
            last = int(info.ending_sequence_number) if info.ending_sequence_number else None
            if n < int(info.starting_sequence_number) or (last is not None and n > last):
                raise InvalidArgument(f"sequence number {sequence_number} is not in {shard_id}")
            find = (
                bisect.bisect_left if iterator_type == "AT_SEQUENCE_NUMBER" else bisect.bisect_right
            )
            return self._iterator(shard, shard.offset + find(shard.seqs, n))
        if iterator_type == "AT_TIMESTAMP":
            if timestamp is None:
                raise InvalidArgument("AT_TIMESTAMP needs a timestamp")
            return self._iterator(
                shard, shard.offset + bisect.bisect_left(shard.arrivals, timestamp)
            )
        raise InvalidArgument(f"unknown shard iterator type {iterator_type!r}")

    async def get_records(
        self, iterator: str, *, limit: int = MAX_GET_RECORDS, wait: float = 0.0
    ) -> GetRecordsResult:
        if not 1 <= limit <= MAX_GET_RECORDS:
            raise InvalidArgument(f"limit must be 1 to {MAX_GET_RECORDS}")
        shard, pos = self._parse(iterator)
        self._trim(shard)
        pos = max(pos, shard.offset)
        if wait > 0 and pos >= shard.end and shard.info.is_open:
            if shard.event is None:
                shard.event = asyncio.Event()
            try:
                await asyncio.wait_for(shard.event.wait(), wait)
            except TimeoutError:
                pass
        start = pos - shard.offset
        rows = shard.records[start : start + limit]
        arrivals = shard.arrivals
        records: list[StreamRecord] = []
        size = 0
        for i, (seq, key, data) in enumerate(rows):
            size += len(data) + len(key)
            if size > MAX_GET_BYTES and i:
                break
            records.append(StreamRecord(seq, key, data, arrivals[start + i]))
        pos += len(records)
        behind = 0
        if pos < shard.end:
            behind = max(
                0, int((self.settings.clock() - shard.arrivals[pos - shard.offset]) * 1000)
            )
        if pos >= shard.end and not shard.info.is_open:
            return GetRecordsResult(records, None, 0)
        return GetRecordsResult(records, self._iterator(shard, pos), behind)

    async def close(self) -> None:
        """Nothing to release; the stream lives as long as its registry."""


class EmbeddedKinesis:
    """The registry of embedded streams of one process (what ``tickwire up`` creates)."""

    def __init__(self, settings: EmbeddedStreamSettings | None = None) -> None:
        self.settings = settings or EmbeddedStreamSettings()
        self._streams: dict[str, EmbeddedStream] = {}

    def create_stream(self, name: str, shard_count: int = 1) -> EmbeddedStream:
        if name in self._streams:
            raise InvalidArgument(f"stream {name} already exists")  # Kinesis: ResourceInUse
        stream = EmbeddedStream(name, shard_count, self.settings)
        self._streams[name] = stream
        return stream

    def get(self, name: str) -> EmbeddedStream:
        try:
            return self._streams[name]
        except KeyError:
            raise StreamNotFound(f"Stream {name} not found") from None

    def delete_stream(self, name: str) -> None:
        self.get(name)
        del self._streams[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._streams)
