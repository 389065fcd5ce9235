"""An engine worker: leases shards, reads them, ticks the engine, snapshots, checkpoints.

Lifecycle: :meth:`Worker.start` creates leases for the stream's shards, takes its share
and starts three tasks: the tick loop (fixed rate, :mod:`game_engine.scheduler`), the lease
loop (renew held leases, sync shards, take or steal per :mod:`game_engine.balance`, finish
shards read to their end) and the checkpoint loop. :meth:`Worker.stop` is graceful and
bounded: the current tick finishes, the readers stop, each shard's matches are
snapshotted and its checkpoint written, and the leases are released so another worker
takes over at once. A second ``stop()`` waits for the first.

Failover (reliability promise 2): snapshots are written before the checkpoint that
covers them; a worker taking a shard restores the snapshots its checkpoint lists (or, for
a child shard never checkpointed, its parents' final lists) and reads on after the
checkpoint; replayed records are skipped by the engine. Losing a lease (a renew, a
snapshot or a checkpoint write refused) drops the shard and its matches at once: a
worker that lost its lease writes nothing more for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from game_engine.balance import LeaseObserver, plan_takes
from game_engine.consumer import ReaderSettings, ShardReader
from game_engine.engine import Engine, EngineSettings
from game_engine.errors import EngineError, LeaseError, LeaseLost, SnapshotError
from game_engine.frame import FrameSink
from game_engine.leases import SHARD_END, Lease, LeaseTable
from game_engine.rules import Rules
from game_engine.scheduler import TickClock, send_due
from game_engine.snapshots import SnapshotStore
from ingest.errors import StreamError
from ingest.records import SetAside
from ingest.stream import Stream

__all__ = ["Worker", "WorkerSettings"]

C = TypeVar("C")
log = logging.getLogger("tickwire.engine.worker")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    # KCL's default failover time: a lease not renewed for 10 s is expired.
    lease_duration: float = 10.0
    # Renew (and look for leases to take) three times per lease duration, as KCL does.
    renew_interval: float = 10.0 / 3
    # How often the stream's shard list is compared with the lease table (reshards).
    shard_sync_interval: float = 10.0
    # Snapshots + checkpoint per shard this often: the most a takeover replays.
    checkpoint_interval: float = 5.0
    # Missed ticks run back to back up to this many; the rest are dropped and counted.
    max_catchup_ticks: int = 3
    # Bound of a graceful stop (final snapshots, checkpoints, releases).
    stop_timeout: float = 15.0
    # Snapshot writes in flight at once during a checkpoint.
    snapshot_concurrency: int = 16
    # Tick durations kept for the stats (a ring).
    tick_samples: int = 1024
    reader: ReaderSettings = field(default_factory=ReaderSettings)


@dataclass
class _Owned:
    lease: Lease
    reader: ShardReader
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Matches ended since the last checkpoint: their snapshots go once it is written.
    ended: list[str] = field(default_factory=list)


class Worker(Generic[C]):
    def __init__(
        self,
        *,
        stream: Stream,
        leases: LeaseTable,
        snapshots: SnapshotStore,
        rules: Rules[C],
        sink: FrameSink | None = None,
        settings: WorkerSettings | None = None,
        engine_settings: EngineSettings | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.stream = stream
        self.leases = leases
        self.snapshots = snapshots
        self.sink = sink
        self.settings = settings or WorkerSettings()
        self.engine: Engine[C] = Engine(rules, engine_settings)
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.set_aside = SetAside()
        self.counters: Counter[str] = Counter()
        es = self.engine.settings
        self.clock = TickClock(es.tick_rate, self.settings.max_catchup_ticks)
        self.tick_ms: deque[float] = deque(maxlen=self.settings.tick_samples)
        self._owned: dict[str, _Owned] = {}
        self._observer = LeaseObserver(self.settings.lease_duration)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._started = False
        self._last_sync = float("-inf")

    # -- public -----------------------------------------------------------------------------
    @property
    def shards(self) -> list[str]:
        return sorted(self._owned)

    def on_gone(self, match_id: str, player_id: str, connection_id: str) -> None:
        """The broadcaster's :data:`~game_engine.frame.GoneCallback`."""
        self.engine.gone(match_id, player_id, connection_id)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self._lease_round()
        self._tasks = [
            asyncio.create_task(self._tick_loop(), name=f"{self.worker_id}-tick"),
            asyncio.create_task(
                self._every(self.settings.renew_interval, self._lease_round),
                name=f"{self.worker_id}-leases",
            ),
            asyncio.create_task(
                self._every(self.settings.checkpoint_interval, self._checkpoint_all),
                name=f"{self.worker_id}-checkpoints",
            ),
        ]

    async def run(self) -> None:
        """Start, and return when stopped (re-raising a loop's failure)."""
        await self.start()
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            done, _ = await asyncio.wait(
                [stopped, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not stopped and not task.cancelled() and task.exception():
                    await self.abandon()
                    raise task.exception()  # type: ignore[misc]
            await self._stopped.wait()
        finally:
            stopped.cancel()

    async def stop(self) -> None:
        """Finish the tick, snapshot, checkpoint, release the leases. Bounded, idempotent."""
        if self._stopping.is_set():
            await self._stopped.wait()
            return
        self._stopping.set()
        try:
            async with asyncio.timeout(self.settings.stop_timeout):
                tick_task, loops = (self._tasks[0], self._tasks[1:]) if self._tasks else (None, [])
                for task in loops:
                    task.cancel()
                if tick_task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await tick_task
                await asyncio.gather(*loops, return_exceptions=True)
                for owned in list(self._owned.values()):
                    await owned.reader.stop()
                for shard_id, owned in list(self._owned.items()):
                    await self._checkpoint(shard_id, owned)
                    if shard_id in self._owned:
                        with contextlib.suppress(LeaseError):
                            await self.leases.release(owned.lease)
                        self.counters["lease.released"] += 1
        except TimeoutError:
            log.error("%s: graceful stop timed out; leases will expire", self.worker_id)
        finally:
            self._owned.clear()
            self._stopped.set()

    async def abandon(self) -> None:
        """Stop at once without writing anything: what a crash looks like to the others."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for owned in self._owned.values():
            await owned.reader.stop()
        self._owned.clear()
        self._stopped.set()

    def stats(self) -> dict[str, Any]:
        ticks = sorted(self.tick_ms)

        def pct(q: float) -> float:
            return ticks[min(len(ticks) - 1, int(q * len(ticks)))] if ticks else 0.0

        return {
            "worker": self.worker_id,
            "shards": self.shards,
            "matches": len(self.engine.matches),
            "ticks": self.engine.ticks,
            "tick_ms_p50": pct(0.5),
            "tick_ms_p99": pct(0.99),
            "ticks_skipped": self.clock.skipped,
            "tick_overruns": self.clock.overruns,
            "set_aside": dict(self.set_aside.counts),
            "counters": dict(self.engine.counters + self.counters),
        }

    # -- the tick loop --------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        es = self.engine.settings
        self.clock.start(time.monotonic())
        while not self._stopping.is_set():
            delay = self.clock.wait(time.monotonic())
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    break
            started = time.monotonic()
            self._pump()
            report = self.engine.tick()
            for match_id, result in report.ended:
                owned = self._owned.get(str(result.get("shard")))
                if owned is not None:
                    owned.ended.append(match_id)
            if self.sink is not None and send_due(report.tick, es.tick_rate, es.send_rate):
                self.sink.publish(self.engine.frames())
            finished = time.monotonic()
            self.tick_ms.append((finished - started) * 1e3)
            self.clock.done(started, finished)
            await asyncio.sleep(0)

    def _pump(self) -> None:
        """Hand buffered records to the engine in stream order, until a queue says no."""
        for shard_id, owned in self._owned.items():
            reader = owned.reader
            buffer = reader.buffer
            while buffer:
                seq, event = buffer[0]
                if event is not None and not self.engine.submit(event, shard_id, seq):
                    break
                buffer.popleft()
                reader.progress.delivered(seq)
            reader.drained()

    # -- leases ---------------------------------------------------------------------------------
    async def _every(self, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return
            try:
                await job()
            except (LeaseError, SnapshotError, StreamError) as exc:
                self.counters["loop.error"] += 1
                log.warning("%s: %s failed: %r", self.worker_id, getattr(job, "__name__", job), exc)

    async def _lease_round(self) -> None:
        for shard_id, owned in list(self._owned.items()):
            async with owned.lock:
                if shard_id not in self._owned:
                    continue
                try:
                    owned.lease = await self.leases.renew(owned.lease)
                except LeaseLost:
                    await self._lose(shard_id)
        now = time.monotonic()
        if now - self._last_sync >= self.settings.shard_sync_interval:
            self._last_sync = now
            for shard in await self.stream.list_shards():
                if await self.leases.create(shard.shard_id, shard.parents):
                    self.counters["lease.created"] += 1
        await self._finish_ended_shards()
        all_leases = await self.leases.list_leases()
        self._observer.observe(all_leases, now)
        by_shard = {lease.shard_id: lease for lease in all_leases}
        for lease in plan_takes(all_leases, self.worker_id, set(self._owned), self._observer, now):
            if self._stopping.is_set():
                return
            try:
                taken = await self.leases.take(lease, self.worker_id)
            except LeaseLost:
                continue
            self.counters["lease.taken"] += 1
            await self._start_shard(taken, by_shard)

    async def _start_shard(self, lease: Lease, by_shard: dict[str, Lease]) -> None:
        matches = list(lease.matches)
        if lease.checkpoint is None:
            for parent in lease.parents:
                if parent in by_shard:
                    matches.extend(by_shard[parent].matches)
        try:
            await self._restore(lease.shard_id, matches)
        except EngineError as exc:
            # Cannot read the snapshots now: give the lease back rather than run without them.
            self.engine.drop_shard(lease.shard_id)
            self.counters["lease.start_failed"] += 1
            log.warning("%s: cannot start %s: %r", self.worker_id, lease.shard_id, exc)
            with contextlib.suppress(LeaseError):
                await self.leases.release(lease)
            return
        reader = ShardReader(
            self.stream, lease.shard_id, lease.checkpoint, self.set_aside, self.settings.reader
        )
        self._owned[lease.shard_id] = _Owned(lease, reader)
        reader.start()
        log.info(
            "%s: took %s at %s (%d matches restored)",
            self.worker_id,
            lease.shard_id,
            lease.checkpoint,
            len(self.engine.matches_of(lease.shard_id)),
        )

    async def _restore(self, shard_id: str, matches: list[str]) -> None:
        for match_id in dict.fromkeys(matches):
            if match_id in self.engine.matches:
                continue
            data = await self.snapshots.get(match_id)
            if data is None:
                continue
            try:
                self.engine.restore(data, shard_id=shard_id)
            except SnapshotError as exc:
                # Undecodable: counted and logged; the match restarts from the stream.
                self.counters["snapshot.unreadable"] += 1
                log.error("%s: snapshot of %s unreadable: %s", self.worker_id, match_id, exc)

    async def _lose(self, shard_id: str) -> None:
        owned = self._owned.pop(shard_id, None)
        if owned is None:
            return
        await owned.reader.stop()
        dropped = self.engine.drop_shard(shard_id)
        self.counters["lease.lost"] += 1
        log.warning(
            "%s: lost the lease of %s; dropped %d matches", self.worker_id, shard_id, len(dropped)
        )

    async def _finish_ended_shards(self) -> None:
        """A shard read to its end (reshard) gets a final SHARD_END checkpoint; its matches
        go to whoever takes the children (they restore from this checkpoint's list)."""
        for shard_id, owned in list(self._owned.items()):
            reader = owned.reader
            if not (
                reader.ended and not reader.buffer and self.engine.pending_min(shard_id) is None
            ):
                continue
            if await self._checkpoint(shard_id, owned, final=True):
                self.engine.drop_shard(shard_id)
                self._owned.pop(shard_id, None)
                with contextlib.suppress(LeaseError):
                    await self.leases.release(owned.lease)
                self.counters["shard.finished"] += 1

    # -- snapshots and checkpoints ----------------------------------------------------------------
    async def _checkpoint_all(self) -> None:
        for shard_id, owned in list(self._owned.items()):
            await self._checkpoint(shard_id, owned)

    async def _checkpoint(self, shard_id: str, owned: _Owned, final: bool = False) -> bool:
        """Snapshot the shard's matches, then checkpoint; True when written."""
        async with owned.lock:
            if self._owned.get(shard_id) is not owned:
                return False
            progress = owned.reader.progress
            candidate = (
                SHARD_END if final else progress.candidate(self.engine.pending_min(shard_id))
            )
            if candidate is None:
                return False
            # Built synchronously, so the snapshots and the candidate are of one moment.
            matches = self.engine.matches_of(shard_id)
            snaps = [(m, self.engine.snapshot(m)) for m in matches]
            ended, owned.ended = owned.ended, []
            limit = asyncio.Semaphore(self.settings.snapshot_concurrency)

            async def put(match_id: str, data: bytes) -> None:
                async with limit:
                    await self.snapshots.put(match_id, data, owned.lease)

            try:
                if candidate != SHARD_END:
                    progress.check(candidate)
                await asyncio.gather(*(put(m, d) for m, d in snaps))
                owned.lease = await self.leases.checkpoint(owned.lease, candidate, matches)
                progress.confirm(candidate)
                for match_id in ended:
                    await self.snapshots.delete(match_id, owned.lease)
            except LeaseLost:
                await self._lose(shard_id)
                return False
            except EngineError as exc:
                owned.ended = ended + owned.ended
                self.counters["checkpoint.failed"] += 1
                log.warning("%s: checkpoint of %s failed: %r", self.worker_id, shard_id, exc)
                return False
            self.counters["checkpoint.written"] += 1
            self.counters["snapshot.written"] += len(snaps)
            return True
