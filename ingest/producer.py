"""A small batching producer over any :class:`ingest.stream.Stream`.

Theory of operation: ``put`` queues a ``(partition_key, data)`` entry and returns a future
for its :class:`PutResult`; one flusher task takes up to ``max_batch`` queued entries once
``linger`` seconds have passed since the first (or at once when a batch is full) and hands
them to ``stream.put_records``, which retries throttled entries in per-key order. Entries
leave in the order they were put, so each key's order is kept end to end.

Used by tests and the bench tools to inject records; the gateway puts one record per
message through its integration instead.

Backpressure: the queue holds at most ``max_pending`` entries; ``put`` waits for room
(never drops). ``stop()`` flushes what is queued (bounded by ``stop_timeout``), then fails
the futures of anything left with ``ProducerClosed``.
"""

from __future__ import annotations

import asyncio
from typing import Final

from ingest.batching import MAX_PUT_RECORDS
from ingest.errors import IngestError
from ingest.stream import PutResult, Stream

__all__ = ["Producer", "ProducerClosed"]

# How long a partial batch waits for company (the KPL's RecordMaxBufferedTime is 100 ms;
# tickwire's tools want lower latency).
DEFAULT_LINGER_S: Final = 0.005


class ProducerClosed(IngestError):
    """The producer was stopped before this entry could be sent."""


_Entry = tuple[str, bytes, "asyncio.Future[PutResult]"]


class Producer:
    """Batches puts into PutRecords calls. ``start()`` / ``stop()``; ``async with`` works."""

    def __init__(
        self,
        stream: Stream,
        *,
        max_batch: int = MAX_PUT_RECORDS,
        linger: float = DEFAULT_LINGER_S,
        max_pending: int = 10_000,
        stop_timeout: float = 10.0,
    ) -> None:
        self.stream = stream
        self.max_batch = max_batch
        self.linger = linger
        self.stop_timeout = stop_timeout
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.sent = 0
        self.failed = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="ingest-producer")

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def put(self, partition_key: str, data: bytes) -> asyncio.Future[PutResult]:
        """Queue one entry (waits while ``max_pending`` are queued); await the returned
        future for its result."""
        if self._closed:
            raise ProducerClosed("producer stopped")
        future: asyncio.Future[PutResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((partition_key, data, future))
        return future

    async def run(self) -> None:
        """Flush batches until stopped and drained."""
        while not (self._closed and self._queue.empty()):
            try:
                first = await asyncio.wait_for(self._queue.get(), 0.1)
            except TimeoutError:
                continue
            batch = [first]
            deadline = asyncio.get_running_loop().time() + self.linger
            while len(batch) < self.max_batch:
                remaining = deadline - asyncio.get_running_loop().time()
                if self._queue.empty() and remaining <= 0:
                    break
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                if self._closed:
                    break  # stopping: flush now rather than linger
                try:
                    # short slices, so stop() is noticed while lingering
                    batch.append(await asyncio.wait_for(self._queue.get(), min(remaining, 0.05)))
                except TimeoutError:
                    continue
            await self._send(batch)

    async def _send(self, batch: list[_Entry]) -> None:
        try:
            results = await self.stream.put_records([(k, d) for k, d, _ in batch])
        except IngestError as exc:
            self.failed += len(batch)
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.sent += len(batch)
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def stop(self) -> None:
        """Flush what is queued (at most ``stop_timeout`` s), then end. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self.stop_timeout)
            if not done:
                task.cancel()
                await asyncio.wait({task})
        while not self._queue.empty():
            _, _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(ProducerClosed("producer stopped before sending"))
