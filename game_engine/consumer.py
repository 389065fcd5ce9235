"""Reading one shard: records in, engine events out, and what may be checkpointed.

:class:`ShardReader` runs one task per owned shard: it calls ``get_records`` with
``wait=`` (the embedded stream wakes on a put; Kinesis is spaced to at most
``1 / min_get_interval`` calls per second per shard, its limit being 5), decodes each
record with :func:`ingest.records.decode_fields` (a bad record is counted and set aside, never
fatal), and appends ``(sequence number, event)`` to a bounded buffer that the tick loop
drains into the engine. Backpressure: when the buffer holds ``max_buffered`` records the
reader stops calling ``get_records`` until the tick loop has made room; the stream keeps
the rest. ``caught_up`` is set once a read reaches the shard's tip.

:class:`ShardProgress` knows what has been handed to the engine and so what may be
checkpointed: the last sequence number all of whose predecessors have been applied.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from game_engine.errors import CheckpointError
from game_engine.events import Event, Input, Join, Leave
from game_engine.scheduler import TickClock
from infra.backoff import Backoff
from ingest.errors import ExpiredIterator, RecordError, StreamError
from ingest.records import InputRecord, JoinRecord, Record, SetAside, decode_fields
from ingest.stream import Stream

__all__ = [
    "ReaderSettings",
    "RecordColumns",
    "ShardProgress",
    "ShardReader",
    "decode_event",
    "to_event",
]

log = logging.getLogger("tickwire.engine.consumer")


def to_event(record: Record) -> Event:
    """The engine event for a decoded stream record."""
    if isinstance(record, InputRecord):
        return Input(record.match, record.player, record.conn, record.seq, record.payload, record.t)
    if isinstance(record, JoinRecord):
        return Join(record.match, record.player, record.conn, record.t)
    return Leave(record.match, record.player, record.conn, record.t)


def decode_event(data: bytes) -> Event:
    """``to_event(decode(data))`` without the record in between (the reader decodes
    every input of a shard: one object fewer each); raises :class:`RecordError`."""
    kind, match, player, conn, t, seq, payload = decode_fields(data)
    if payload is not None:
        return Input(match, player, conn, seq, payload, t)
    if kind == "join":
        return Join(match, player, conn, t)
    return Leave(match, player, conn, t)


class RecordColumns(NamedTuple):
    """What the reader takes of a GetRecords answer, as columns: a stream may answer
    ``get_record_columns`` with it directly (``LinkStream`` does)."""

    sequence_numbers: list[str]
    datas: list[bytes]
    next_iterator: str | None
    millis_behind_latest: int


class ShardProgress:
    """Sequence numbers handed to the engine, in order, since the last checkpoint."""

    def __init__(self, checkpoint: str | None) -> None:
        self.checkpoint = checkpoint
        self.last_delivered: str | None = checkpoint
        self._pending: deque[str] = deque()
        self._best: str | None = checkpoint

    def delivered(self, sequence: str) -> None:
        self._pending.append(sequence)
        self.last_delivered = sequence

    def candidate(self, pending_min: int | None) -> str | None:
        """The furthest checkpoint allowed now: the last delivered record below the lowest
        one still waiting in an engine queue (``pending_min``). None: nothing new since
        the last confirmed checkpoint. Until :meth:`confirm`, the same candidate stays."""
        while self._pending and (pending_min is None or int(self._pending[0]) < pending_min):
            self._best = self._pending.popleft()
        return self._best if self._best != self.checkpoint else None

    def confirm(self, sequence: str) -> None:
        self.checkpoint = sequence

    def check(self, sequence: str) -> None:
        """Raise :class:`CheckpointError` for a checkpoint past the last delivered record."""
        if self.last_delivered is None or int(sequence) > int(self.last_delivered):
            raise CheckpointError("beyond", f"{sequence} is past the last delivered record")


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    # Kinesis: 5 GetRecords calls per second per shard -> at least 0.2 s between calls.
    # The embedded stream has no read limit; `tickwire up` may set 0.
    min_get_interval: float = 0.2
    # How long a get_records may block waiting for new records (embedded: woken by a put).
    get_wait: float = 1.0
    # Kinesis: GetRecords returns at most 10,000 records per call.
    get_limit: int = 10_000
    # Records read but not yet handed to the engine, per shard.
    max_buffered: int = 20_000
    # Backoff after a stream error (throttling, transport), doubling up to the maximum.
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    # Reads paced to the tick grid (when the reader is given the tick clock): once caught
    # up, one read per tick, issued this long before the tick starts, so what it brings
    # is applied at that tick. None: reads as fast as min_get_interval allows. A read is
    # a round trip over the link in tickwire up's engine process; on a VM each one wakes
    # both processes (~40 us of CPU each time), and reading every 5 ms cost ~13x more
    # wake-ups than once a tick, for inputs that wait for the tick anyway.
    read_lead: float | None = None
    # How long a tick waits for the paced read made for it when the answer is late (the
    # gateway process busy writing a send tick): records that miss their tick wait a
    # whole tick more. Measured at 480 players (P7): 14 % of the reads answered after
    # their tick had started; with the wait, p99 input->ack went from 109 to 86 ms.
    read_grace: float = 0.008


class ShardReader:
    """One task reading one shard into a bounded buffer. ``ended`` once read to its end."""

    def __init__(
        self,
        stream: Stream,
        shard_id: str,
        checkpoint: str | None,
        set_aside: SetAside,
        settings: ReaderSettings,
        clock: TickClock | None = None,
    ) -> None:
        self.stream = stream
        self.shard_id = shard_id
        self.settings = settings
        # The tick loop's clock, for reads paced to ticks (settings.read_lead).
        self.clock = clock if settings.read_lead is not None else None
        self._read_for = -math.inf  # the tick (its due time) the last paced read served
        # while a paced read is on its way: done once its records are in the buffer
        self._landing: asyncio.Future[None] | None = None
        self.set_aside = set_aside
        self.buffer: deque[tuple[str, Event | None]] = deque()
        self.progress = ShardProgress(checkpoint)
        self.ended = False
        self.errors = 0
        # Set once a read found nothing newer in the shard (MillisBehindLatest 0, or the
        # end of a closed shard): what the buffer holds by then is everything a previous
        # owner can have applied, so a successor may fast-forward and then publish.
        self.caught_up = asyncio.Event()
        self._read_through = checkpoint
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"reader-{self.shard_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise

    def drained(self) -> None:
        """Called by the tick loop after taking records out: wakes a reader that waits."""
        if len(self.buffer) < self.settings.max_buffered:
            self._room.set()

    async def _wait_for_read_time(self) -> None:
        """Sleep until ``read_lead`` before the next tick this reader has not read for."""
        clock, lead = self.clock, self.settings.read_lead
        assert clock is not None and lead is not None
        due = clock.next_due
        if due <= self._read_for:  # read for that tick already: the one after it
            due = self._read_for + clock.period
        self._read_for = due
        pause = due - lead - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)

    async def _read(self, iterator: str, limit: int, wait: float) -> RecordColumns:
        """One GetRecords: through the stream's ``get_record_columns`` when it has one (the
        link to the gateway process: no StreamRecord made per record), else
        ``get_records``."""
        columns = getattr(self.stream, "get_record_columns", None)
        if columns is not None:
            read: RecordColumns = await columns(iterator, limit=limit, wait=wait)
            return read
        result = await self.stream.get_records(iterator, limit=limit, wait=wait)
        records = result.records
        return RecordColumns(
            [r.sequence_number for r in records],
            [r.data for r in records],
            result.next_iterator,
            result.millis_behind_latest,
        )

    def landing_for(self, due: float) -> asyncio.Future[None] | None:
        """The paced read made for the tick due at ``due`` while it is still on its way
        (done once its records are in the buffer), else None."""
        landing = self._landing
        if landing is None or self._read_for > due:
            return None
        return landing

    def _landed(self) -> None:
        landing, self._landing = self._landing, None
        if landing is not None and not landing.done():
            landing.set_result(None)

    async def _iterator(self) -> str:
        if self._read_through is None:
            return await self.stream.get_shard_iterator(self.shard_id, "TRIM_HORIZON")
        return await self.stream.get_shard_iterator(
            self.shard_id, "AFTER_SEQUENCE_NUMBER", sequence_number=self._read_through
        )

    async def _run(self) -> None:
        s = self.settings
        # GetRecords retries: tickwire's one backoff policy, from backoff_initial up to
        # backoff_max, full jitter (shards of several workers failing together spread out).
        retry = Backoff(s.backoff_initial, s.backoff_max, max_attempts=None)
        failures = 0
        iterator: str | None = None
        while True:
            while len(self.buffer) >= s.max_buffered:
                self._room.clear()
                await self._room.wait()
            if self.clock is not None and self.caught_up.is_set():
                await self._wait_for_read_time()
            started = time.monotonic()
            try:
                if iterator is None:
                    iterator = await self._iterator()
                # Until the tip is reached, no read waits for new records: a successor's
                # fast-forward (and so its first frame) waits for this answer.
                wait = s.get_wait if self.caught_up.is_set() else 0.0
                if self.clock is not None and self.caught_up.is_set():
                    self._landing = asyncio.get_running_loop().create_future()
                result = await self._read(iterator, s.get_limit, wait)
            except ExpiredIterator:
                self._landed()
                iterator = None
                continue
            except StreamError as exc:
                self._landed()
                self.errors += 1
                backoff = retry.delay(failures)
                failures += 1
                log.warning(
                    "get_records on %s failed: %r; retrying in %.1fs", self.shard_id, exc, backoff
                )
                await asyncio.sleep(backoff)
                continue
            failures = 0
            append = self.buffer.append
            for sequence, data in zip(result.sequence_numbers, result.datas, strict=True):
                event: Event | None
                try:
                    event = decode_event(data)
                except RecordError as exc:
                    # A set-aside record stays in the buffer as None so checkpoints pass it.
                    where = f"{self.shard_id}/{sequence}"
                    self.set_aside.add(exc, data, where)
                    log.warning("record set aside at %s", where)
                    event = None
                append((sequence, event))
                self._read_through = sequence
            self._landed()
            if result.next_iterator is None:
                self.ended = True
                self.caught_up.set()
                return
            if result.millis_behind_latest == 0:
                self.caught_up.set()
            iterator = result.next_iterator
            pause = s.min_get_interval - (time.monotonic() - started)
            if pause > 0:
                await asyncio.sleep(pause)
