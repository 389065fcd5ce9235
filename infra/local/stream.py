"""The embedded Kinesis: an in-process stream with Kinesis Data Streams' semantics.

Theory of operation: a stream is a set of shards, each owning a range of the 128-bit hash
key space; a record goes to the shard whose range holds the MD5 of its partition key (as
Kinesis does). Each shard is an append-only list; sequence numbers are 56-digit decimal
strings from one counter per stream, so they increase within a shard and a child shard's
numbers are above its parents'. Shard iterators are self-contained tokens (stream, shard,
position, issue time): no state is kept per iterator, and an iterator older than
``iterator_ttl`` raises ``ExpiredIterator`` (unless ``recover_expired``, for this process's
own readers). Shard ids are resolved as Kinesis resolves them (``shardId-1``, ``1``). Splitting or merging closes the parent(s) with
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

__all__ = [
    "ACCOUNT_ID",
    "MAX_GET_RECORDS",
    "SEQUENCE_BASE",
    "EmbeddedKinesis",
    "EmbeddedStream",
    "EmbeddedStreamSettings",
    "hash_key",
    "parse_iterator",
    "resolve_shard_id",
]

# Kinesis: the hash key space is [0, 2**128 - 1] (MD5 of the partition key).
MAX_HASH_KEY: Final = 2**128 - 1
# Kinesis: a partition key is 1 to 256 Unicode characters (PutRecord API reference).
MAX_PARTITION_KEY_CHARS: Final = 256
# Kinesis GetRecords: at most 10,000 records and 10 MiB per call (API reference).
MAX_GET_RECORDS: Final = 10_000
MAX_GET_BYTES: Final = 10 * 1024 * 1024
# Kinesis-like sequence numbers: 56 decimal digits.
_SEQ_BASE: Final = 49 * 10**54
SEQUENCE_BASE: Final = _SEQ_BASE
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


# The account every local stream belongs to (Kinesis messages name it).
ACCOUNT_ID: Final = "000000000000"
# Kinesis GetShardIterator's message when the type and StartingSequenceNumber disagree.
_ITERATOR_ARGUMENTS: Final = (
    "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
    "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. "
    "Request specified {} and {} StartingSequenceNumber."
)
# Kinesis resolves a shard id by its number: ``shardId-1``, ``1`` and
# ``shardId-000000000001`` name one shard (the number is at most a Java int).
_MAX_SHARD_NUMBER: Final = 2**31 - 1


def resolve_shard_id(shard_id: str) -> str | None:
    """The canonical ``shardId-000000000001`` form of a shard id as Kinesis reads it: the
    text after the first ``-`` (or all of it) must be a decimal number; None otherwise."""
    parts = shard_id.split("-")
    number = parts[1] if len(parts) > 1 and parts[1] else shard_id
    if not number.isascii() or not number.isdigit() or int(number) > _MAX_SHARD_NUMBER:
        return None
    return f"shardId-{int(number):012d}"


def parse_iterator(iterator: str) -> tuple[str, str, str, int, float] | None:
    """``(stream token, stream name, shard id, position, issue time)`` of an iterator this
    module issued, or None when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(iterator.encode()).decode()
        head, shard_id, position, issued = raw.rsplit("|", 3)
        token, name = head.split("|", 1)
        return token, name, shard_id, int(position), float(issued)
    except (ValueError, UnicodeError):
        return None


def _amz_time(epoch_s: float) -> str:
    """``Thu Jan 22 01:22:02 UTC 2015``: how Kinesis prints times in its messages."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch_s))


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
        self._starts: list[int] = []  # the open shards' starting hash keys, same order
        self._key_cache: dict[str, _Shard] = {}
        # Kinesis's per-stream state beyond the shards (StreamCreationTimestamp, tags,
        # RetentionPeriodHours): kept here, changed through the Kinesis API service.
        self.created_at = settings.clock()
        self.retention = settings.retention
        # What DescribeStream reports (Kinesis: 24 to 8,760 hours). A shorter local
        # ``retention`` (memory) is reported as Kinesis's minimum until the API sets it.
        self.retention_hours = max(24, round(settings.retention / 3600))
        self.mode = "PROVISIONED"  # StreamModeDetails.StreamMode
        self.tags: dict[str, str] = {}
        self._token = base64.urlsafe_b64encode(
            hashlib.md5(f"{name}/{id(self)}/{time.time_ns()}".encode()).digest()[:6]
        ).decode()
        width = (MAX_HASH_KEY + 1) // shard_count
        # Built in hash-key order, so the open list needs no sorting: linear in the
        # shard count (a sort per shard made 10,000 shards take seconds).
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
        at = bisect.bisect_left(self._starts, start)
        self._open.insert(at, shard)
        self._starts.insert(at, start)
        if self._key_cache:
            self._key_cache.clear()
        return shard

    def _close(self, shard: _Shard) -> None:
        shard.info = replace(shard.info, ending_sequence_number=_seq(next(self._counter)))
        at = self._open.index(shard)
        del self._open[at], self._starts[at]
        self._key_cache.clear()
        shard.wake()

    def _shard(self, shard_id: str) -> _Shard:
        shard = self._shards.get(shard_id)
        if shard is None:
            resolved = resolve_shard_id(shard_id)
            if resolved is None:  # Kinesis's messages for the two cases
                raise StreamNotFound(
                    f"Could not find shard {shard_id} in stream {self.name} "
                    f"under account {ACCOUNT_ID}."
                )
            shard = self._shards.get(resolved)
            if shard is None:
                raise StreamNotFound(
                    f"Shard {resolved} in stream {self.name} "
                    f"under account {ACCOUNT_ID} does not exist"
                )
        return shard

    def resolve_shard(self, shard_id: str) -> str:
        """The full id of the shard ``shard_id`` names (``shardId-000000000001``,
        ``shardId-1`` and ``1`` name the same shard, as Kinesis reads them)."""
        return self._shard(shard_id).shard_id

    def _open_shard(self, shard_id: str) -> _Shard:
        shard = self._shard(shard_id)
        if not shard.info.is_open:
            raise InvalidArgument(  # Kinesis: ResourceInUse
                f"Shard {shard.shard_id} in stream {self.name} under account {ACCOUNT_ID} "
                "has already been merged or split, and thus is not eligible for merging"
            )
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
            shard = self._open[bisect.bisect_right(self._starts, key) - 1]
            if len(self._key_cache) >= _KEY_CACHE_SIZE:
                self._key_cache.clear()
            self._key_cache[partition_key] = shard
        return shard

    def _shard_at(self, hash_key: int) -> _Shard:
        if not 0 <= hash_key <= MAX_HASH_KEY:
            # Kinesis PutRecord's message for an ExplicitHashKey out of range.
            raise InvalidArgument(
                "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: "
                f"[0, 2^128-1]. Specified value was {hash_key}"
            )
        return self._open[bisect.bisect_right(self._starts, hash_key) - 1]

    def split_shard(self, shard_id: str, new_starting_hash_key: int) -> tuple[str, str]:
        """Close ``shard_id`` and open two children split at ``new_starting_hash_key``."""
        parent = self._open_shard(shard_id)
        shard_id = parent.shard_id
        start, end = parent.info.starting_hash_key, parent.info.ending_hash_key
        # Kinesis SplitShard: the new key must be above start + 1 and below end.
        if not start + 1 < new_starting_hash_key < end:
            raise InvalidArgument(
                f"NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard "
                f"{shard_id} in stream {self.name} under account {ACCOUNT_ID} is not both "
                f"greater than one plus the shard's StartingHashKey {start} and less than "
                f"the shard's EndingHashKey {end}."
            )
        self._close(parent)
        low = self._add_shard(start, new_starting_hash_key - 1, parent=shard_id)
        high = self._add_shard(new_starting_hash_key, end, parent=shard_id)
        return low.info.shard_id, high.info.shard_id

    def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> str:
        """Close two adjacent open shards and open their merged child."""
        a, b = self._open_shard(shard_id), self._open_shard(adjacent_shard_id)
        shard_id, adjacent_shard_id = a.shard_id, b.shard_id
        lo, hi = sorted((a, b), key=lambda s: s.info.starting_hash_key)
        if lo.info.ending_hash_key + 1 != hi.info.starting_hash_key:
            raise InvalidArgument(
                f"Shards {shard_id} and {adjacent_shard_id} in stream {self.name} under "
                f"account {ACCOUNT_ID} are not an adjacent pair of shards eligible for merging"
            )
        self._close(a)
        self._close(b)
        child = self._add_shard(
            lo.info.starting_hash_key,
            hi.info.ending_hash_key,
            parent=shard_id,
            adjacent=adjacent_shard_id,
        )
        return child.info.shard_id

    @property
    def open_shard_count(self) -> int:
        return len(self._open)

    async def list_shards(self) -> list[ShardInfo]:
        return [s.info for s in self._shards.values()]

    # -- writes ------------------------------------------------------------------------
    def append(self, partition_key: str, data: bytes) -> PutResult:
        """Synchronous put; see :meth:`put_record`."""
        return PutResult(*self.append_raw(partition_key, data))

    def append_raw(
        self, partition_key: str, data: bytes, explicit_hash_key: int | None = None
    ) -> tuple[str, str]:
        """:meth:`append` answering ``(shard id, sequence number)`` as a plain tuple (the
        embedded gateway's hot path: a frozen dataclass costs more to build).
        ``explicit_hash_key`` (Kinesis's ExplicitHashKey, in [0, 2**128 - 1]) places the
        record instead of the partition key's MD5."""
        if not 0 < len(partition_key) <= MAX_PARTITION_KEY_CHARS:
            raise InvalidArgument(
                f"partition key must be 1 to {MAX_PARTITION_KEY_CHARS} characters"
            )
        if len(data) + len(partition_key) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"record of {len(data)} bytes is over {MAX_RECORD_BYTES} bytes")
        if explicit_hash_key is None:
            shard = self._key_cache.get(partition_key) or self._route(partition_key)
        else:
            shard = self._shard_at(explicit_hash_key)
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
        raw = (
            f"{self._token}|{self.name}|{shard.info.shard_id}|{position}|{self.settings.clock()!r}"
        )
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _parse(self, iterator: str, recover_expired: bool | None = None) -> tuple[_Shard, int]:
        parsed = parse_iterator(iterator)
        if parsed is None:
            raise InvalidArgument("Invalid ShardIterator.")  # Kinesis's message
        token, _name, shard_id, pos, issued_at = parsed
        if token != self._token:
            raise InvalidArgument("Invalid ShardIterator.")
        now = self.settings.clock()
        if recover_expired is None:
            recover_expired = self.settings.recover_expired
        if now - issued_at > self.settings.iterator_ttl and not recover_expired:
            raise ExpiredIterator(
                f"Iterator expired. The iterator was created at time {_amz_time(issued_at)} "
                f"while right now it is {_amz_time(now)} which is further in the future than "
                f"the tolerated delay of {int(self.settings.iterator_ttl * 1000)} milliseconds."
            )
        return self._shard(shard_id), pos

    def owns_iterator(self, iterator: str) -> bool:
        """Whether ``iterator`` was issued by this stream (expired or not)."""
        parsed = parse_iterator(iterator)
        return parsed is not None and parsed[0] == self._token

    def _trim(self, shard: _Shard) -> None:
        horizon = self.settings.clock() - self.retention
        cut = bisect.bisect_left(shard.arrivals, horizon)
        if cut:
            del shard.records[:cut], shard.seqs[:cut], shard.arrivals[:cut]
            shard.offset += cut

    def last_sequence_number(self) -> int:
        """The highest sequence number this stream has given (records or shard bounds)."""
        last = 0
        for shard in self._shards.values():
            info = shard.info
            last = max(last, int(info.ending_sequence_number or info.starting_sequence_number))
            if shard.seqs:
                last = max(last, shard.seqs[-1])
        return last

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        shard = self._shard(shard_id)
        shard_id = shard.shard_id
        self._trim(shard)
        positional = iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        if iterator_type in ("TRIM_HORIZON", "LATEST") and sequence_number is not None:
            raise InvalidArgument(_ITERATOR_ARGUMENTS.format(iterator_type, "also a"))
        if iterator_type == "TRIM_HORIZON":
            return self._iterator(shard, shard.offset)
        if iterator_type == "LATEST":
            return self._iterator(shard, shard.end)
        if positional:
            if sequence_number is None:
                raise InvalidArgument(_ITERATOR_ARGUMENTS.format(iterator_type, "no"))
            info = shard.info
            last = int(info.ending_sequence_number) if info.ending_sequence_number else None
            n = int(sequence_number) if sequence_number.isdigit() else -1
            if n < int(info.starting_sequence_number) or (last is not None and n > last):
                raise InvalidArgument(
                    f"StartingSequenceNumber {sequence_number} used in GetShardIterator on "
                    f"shard {shard_id} in stream {self.name} under account {ACCOUNT_ID} is "
                    "invalid because it did not come from this stream."
                )
            find = (
                bisect.bisect_left if iterator_type == "AT_SEQUENCE_NUMBER" else bisect.bisect_right
            )
            return self._iterator(shard, shard.offset + find(shard.seqs, n))
        if iterator_type == "AT_TIMESTAMP":
            if timestamp is None:
                raise InvalidArgument(
                    "Must specify timestampInMillis parameter for iterator of type "
                    "AT_TIMESTAMP. Current request has no timestamp parameter."
                )
            now = self.settings.clock()
            if timestamp > now:
                raise InvalidArgument(
                    "The timestampInMillis parameter cannot be greater than the "
                    f"currentTimestampInMillis. timestampInMillis: {int(timestamp * 1000)}, "
                    f"currentTimestampInMillis: {int(now * 1000)}"
                )
            return self._iterator(
                shard, shard.offset + bisect.bisect_left(shard.arrivals, timestamp)
            )
        raise InvalidArgument(f"unknown shard iterator type {iterator_type!r}")

    async def get_records(
        self,
        iterator: str,
        *,
        limit: int = MAX_GET_RECORDS,
        wait: float = 0.0,
        recover_expired: bool | None = None,
    ) -> GetRecordsResult:
        """Records from ``iterator``'s position. ``recover_expired`` overrides the
        settings' choice for this call (the Kinesis API service passes False: over HTTP
        an iterator expires after ``iterator_ttl`` whatever the settings)."""
        if not 1 <= limit <= MAX_GET_RECORDS:
            raise InvalidArgument(f"limit must be 1 to {MAX_GET_RECORDS}")
        shard, pos = self._parse(iterator, recover_expired)
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
            raise StreamNotFound(f"Stream {name} under account {ACCOUNT_ID} not found.") from None

    def delete_stream(self, name: str) -> None:
        self.get(name)
        del self._streams[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._streams)
