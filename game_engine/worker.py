"""An engine worker: leases shards, reads them, ticks the engine, snapshots, checkpoints.

Lifecycle (the tables ``WORKER`` and ``LEASE`` of :mod:`game_engine.lifecycles`):
:meth:`Worker.start` creates leases for the stream's shards, takes its share
and starts three tasks: the tick loop (fixed rate, :mod:`game_engine.scheduler`), the lease
loop (renew held leases, sync shards, take or steal per :mod:`game_engine.lease_balancing`, finish
shards read to their end) and the checkpoint loop. :meth:`Worker.stop` is graceful and
bounded: the current tick finishes, the readers stop, each shard's matches are
snapshotted and its checkpoint written, and the leases are released so another worker
takes over at once. A second ``stop()`` waits for the first.

Failover (reliability promise 2): snapshots are written before the checkpoint that
covers them; a worker taking a shard over reads the snapshots its checkpoint lists (or, for
a child shard never checkpointed, its parents' final lists), reads the shard after the
checkpoint up to its tip, and fast-forwards those matches to the present in an engine of
its own (:mod:`game_engine.replay`: each record at the tick its time says, no flood
bound, at full speed). Only then do the matches join the live engine and get published,
so no player sees ``ack_seq`` or the state go backwards. Losing a lease (a renew, a
snapshot or a checkpoint write refused) drops the shard and its matches at once: a
worker that lost its lease writes nothing more for it.

Fencing (a frozen or partitioned owner must not publish once another worker may own the
shard). Other workers take a lease once its counter has not moved for
``lease_duration`` by their own clocks, counted from when they first saw it, which is
after this worker sent the write that set it. So this worker's own monotonic clock,
started when it sent its last successful write, reaching ``lease_duration -
fence_margin`` is strictly before anyone may take it: from then on the shard's matches
are not published (``publish.fenced``) until a renewal succeeds or the lease is lost.
Frames carry that deadline (``MatchFrame.valid_until``) and the broadcaster posts nothing
of a frame past it, so a process frozen between publishing and posting (SIGSTOP, a long
pause) delivers nothing old when it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from game_engine.consumer import ReaderSettings, ShardReader
from game_engine.engine import Engine, EngineSettings
from game_engine.errors import EngineError, LeaseError, LeaseLost, SnapshotError
from game_engine.events import Event
from game_engine.frame import FrameSink, MatchFrame, ReplacingSink
from game_engine.lease_balancing import LeaseObserver, plan_takes
from game_engine.leases import SHARD_END, Lease, LeaseTable
from game_engine.lifecycles import (
    LEASE,
    WORKER,
    LeaseEvent,
    LeaseState,
    WorkerEvent,
    WorkerState,
)
from game_engine.replay import Replay
from game_engine.rules import Rules
from game_engine.scheduler import TickClock, send_due
from game_engine.snapshot_codec import Snapshot, decode_snapshot
from game_engine.snapshots import SnapshotStore
from infra.lifecycle import Lifecycle
from ingest.errors import StreamError
from ingest.records import SetAside
from ingest.stream import Stream

__all__ = ["Worker", "WorkerSettings"]

C = TypeVar("C")
log = logging.getLogger("tickwire.engine.worker")

# Read once per held shard per tick (_pump): a module constant, not an enum lookup.
_REPLAYING = LeaseState.REPLAYING


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    # A lease not renewed for this long is expired and may be taken. KCL's default is
    # 10 s; 3 s keeps a crash's pause (expiry + a lease round + the fast-forward) within
    # 5 s. On DynamoDB each held lease costs a write per renew_interval and each worker a
    # consistent scan of the lease table as often (README: the cost of these settings).
    lease_duration: float = 3.0
    # Renew (and look for leases to take) four times per lease duration: one slow or
    # failed renewal does not yet trip the fence below.
    renew_interval: float = 3.0 / 4
    # This worker stops publishing a shard's matches once its own clock says it has not
    # renewed for lease_duration - fence_margin (see Fencing above): the margin covers
    # the posts in flight at that moment.
    fence_margin: float = 3.0 / 4
    # Ticks a takeover's fast-forward runs between yields to the event loop.
    replay_ticks_per_step: int = 64
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
    # time.monotonic() past which this worker may no longer publish the shard's matches.
    valid_until: float = math.inf
    replay_task: asyncio.Task[None] | None = None
    # REPLAYING until the takeover's fast-forward has put the shard's matches in the
    # engine, then LIVE (game_engine.lifecycles.LEASE).
    lifecycle: Lifecycle[LeaseState, LeaseEvent] = field(init=False)

    def __post_init__(self) -> None:
        self.lifecycle = Lifecycle(LEASE, LeaseState.REPLAYING, self.lease.shard_id)

    def renewed(self, sent_at: float, settings: WorkerSettings) -> None:
        """A lease write sent at ``sent_at`` succeeded: move the fencing deadline."""
        self.valid_until = sent_at + settings.lease_duration - settings.fence_margin


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
        self._lifecycle = Lifecycle(WORKER, WorkerState.NEW, self.worker_id)
        # Set on entering STOPPING and STOPPED: what the loops and stop() wait for.
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._last_sync = float("-inf")
        # Shards whose takeover failed here, and until when this worker leaves them be.
        self._failed_until: dict[str, float] = {}

    # -- public -----------------------------------------------------------------------------
    @property
    def shards(self) -> list[str]:
        return sorted(self._owned)

    @property
    def state(self) -> WorkerState:
        return self._lifecycle.state

    def _handle(self, event: WorkerEvent) -> WorkerState:
        """The one place the worker's state changes (and its waiters are woken)."""
        state = self._lifecycle.handle(event)
        if state is WorkerState.STOPPING:
            self._stopping.set()
        elif state is WorkerState.STOPPED:
            self._stopping.set()
            self._stopped.set()
        return state

    def on_gone(self, match_id: str, player_id: str, connection_id: str) -> None:
        """The broadcaster's :data:`~game_engine.frame.GoneCallback`."""
        self.engine.gone(match_id, player_id, connection_id)

    async def start(self) -> None:
        """Take a first share of the leases and start the loops. Does nothing on a worker
        already started, or already stopped (a stop that comes first wins)."""
        was = self.state
        self._handle(WorkerEvent.START)
        if was is not WorkerState.NEW:
            return
        await self._lease_round()
        if self.state is not WorkerState.RUNNING:
            return  # stopped during the first lease round: start no loops
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
        was = self.state
        self._handle(WorkerEvent.STOP)
        if was is WorkerState.STOPPING or was is WorkerState.STOPPED:
            await self._stopped.wait()  # a second stop waits for the first
            return
        try:
            async with asyncio.timeout(self.settings.stop_timeout):
                tick_task, loops = (self._tasks[0], self._tasks[1:]) if self._tasks else (None, [])
                for task in loops:
                    task.cancel()
                if tick_task is not None:
                    # wait() neither raises the task's outcome nor swallows our own
                    # cancellation, so the timeout above still bounds this.
                    await asyncio.wait([tick_task])
                await asyncio.gather(*loops, return_exceptions=True)
                for owned in list(self._owned.values()):
                    await self._stop_replay(owned)
                    await owned.reader.stop()
                for shard_id, owned in list(self._owned.items()):
                    await self._checkpoint(shard_id, owned)
                    if self._let_go(shard_id, LeaseEvent.RELEASE) is not None:
                        with contextlib.suppress(LeaseError):
                            await self.leases.release(owned.lease)
                        self.counters["lease.released"] += 1
        except TimeoutError:
            log.error("%s: graceful stop timed out; leases will expire", self.worker_id)
        finally:
            for shard_id in list(self._owned):
                self._let_go(shard_id, LeaseEvent.ABANDON)
            self._handle(WorkerEvent.STOPPED)

    async def abandon(self) -> None:
        """Stop at once without writing anything: what a crash looks like to the others."""
        self._handle(WorkerEvent.ABANDON)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for shard_id, owned in list(self._owned.items()):
            await self._stop_replay(owned)
            await owned.reader.stop()
            self._let_go(shard_id, LeaseEvent.ABANDON)
        self._handle(WorkerEvent.STOPPED)

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
            await self._await_reads(self.clock.next_due)
            self._pump()
            report = self.engine.tick()
            self._close_replaced()
            for match_id, result in report.ended:
                owned = self._owned.get(str(result.get("shard")))
                if owned is not None:
                    owned.ended.append(match_id)
            if self.sink is not None and send_due(report.tick, es.tick_rate, es.send_rate):
                self.sink.publish(self._frames())
            finished = time.monotonic()
            self.tick_ms.append((finished - started) * 1e3)
            self.clock.done(started, finished)
            await asyncio.sleep(0)

    async def _await_reads(self, due: float) -> None:
        """Give the paced reads made for the tick due at ``due`` up to ``read_grace`` to
        bring their records (one wait a tick, whatever the number of shards)."""
        landings = [
            landing
            for owned in self._owned.values()
            if (landing := owned.reader.landing_for(due)) is not None
        ]
        if landings:
            await asyncio.wait(landings, timeout=self.settings.reader.read_grace)

    def _close_replaced(self, replaced: list[tuple[str, str, str]] | None = None) -> None:
        """Older connections of players who connected again (``replaced``, else the live
        engine's) are told and closed by the sink, unless this worker may no longer be
        sure of their shard (Fencing)."""
        replaced = self.engine.take_replaced() if replaced is None else replaced
        if not replaced or not isinstance(self.sink, ReplacingSink):
            return
        now = time.monotonic()
        for match_id, player_id, conn in replaced:
            match = self.engine.matches.get(match_id)
            owned = self._owned.get(str(match.shard_id)) if match is not None else None
            if owned is None or now <= owned.valid_until:
                self.sink.replaced(match_id, player_id, conn)

    def _frames(self) -> list[MatchFrame]:
        """This send tick's frames, none of a shard whose lease this worker may no longer
        be sure of (Fencing)."""
        now = time.monotonic()
        fenced = {s for s, owned in self._owned.items() if now > owned.valid_until}
        if fenced:
            self.counters["publish.fenced"] += 1
        until: dict[str | None, float] = {s: o.valid_until for s, o in self._owned.items()}
        return self.engine.frames(skip_shards=fenced, valid_until=until)

    def _pump(self) -> None:
        """Hand buffered records to the engine in stream order, until a queue says no."""
        for shard_id, owned in self._owned.items():
            if owned.lifecycle.state is _REPLAYING:
                continue  # the takeover's fast-forward takes these records
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
                sent_at = time.monotonic()
                try:
                    owned.lease = await self.leases.renew(owned.lease)
                except LeaseLost:
                    await self._lose(shard_id)
                else:
                    owned.renewed(sent_at, self.settings)
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
            if self._failed_until.get(lease.shard_id, 0.0) > now:
                continue  # failed here a moment ago: another worker may fare better
            sent_at = time.monotonic()
            try:
                taken = await self.leases.take(lease, self.worker_id)
            except LeaseLost:
                continue
            self.counters["lease.taken"] += 1
            await self._start_shard(taken, by_shard, sent_at)

    async def _start_shard(self, lease: Lease, by_shard: dict[str, Lease], sent_at: float) -> None:
        matches = list(lease.matches)
        try:
            if lease.checkpoint is None and lease.parents:
                # A child of a split or merge: of its parents' matches, the ones whose
                # partition key (the match id) now lands in this shard.
                inherited = [m for p in lease.parents if p in by_shard for m in by_shard[p].matches]
                info = {s.shard_id: s for s in await self.stream.list_shards()}
                child = info.get(lease.shard_id)
                matches.extend(m for m in inherited if child is None or child.holds(m))
            snapshots = await self._read_snapshots(matches)
        except (EngineError, StreamError) as exc:
            # Cannot read the snapshots now: give the lease back rather than run without them.
            self.counters["lease.start_failed"] += 1
            log.warning("%s: cannot start %s: %r", self.worker_id, lease.shard_id, exc)
            with contextlib.suppress(LeaseError):
                await self.leases.release(lease)
            return
        reader = ShardReader(
            self.stream,
            lease.shard_id,
            lease.checkpoint,
            self.set_aside,
            self.settings.reader,
            clock=self.clock,
        )
        owned = _Owned(lease, reader)
        owned.renewed(sent_at, self.settings)
        self._owned[lease.shard_id] = owned
        reader.start()
        owned.replay_task = asyncio.create_task(
            self._fast_forward(lease.shard_id, owned, snapshots),
            name=f"{self.worker_id}-replay-{lease.shard_id}",
        )
        log.info(
            "%s: took %s at %s (%d snapshots)",
            self.worker_id,
            lease.shard_id,
            lease.checkpoint,
            len(snapshots),
        )

    async def _read_snapshots(self, matches: list[str]) -> list[Snapshot]:
        snapshots = []
        for match_id in dict.fromkeys(matches):
            if match_id in self.engine.matches:
                continue
            data = await self.snapshots.get(match_id)
            if data is None:
                continue
            try:
                snapshots.append(decode_snapshot(data, rules=self.engine.rules.name))
            except SnapshotError as exc:
                # Undecodable: counted and logged; the match restarts from the stream.
                self.counters["snapshot.unreadable"] += 1
                log.error("%s: snapshot of %s unreadable: %s", self.worker_id, match_id, exc)
        return snapshots

    async def _fast_forward(self, shard_id: str, owned: _Owned, snapshots: list[Snapshot]) -> None:
        """:meth:`_replay_shard`; one that fails gives the shard up (released, so another
        worker, or this one later, tries again) rather than hold it unpublished."""
        try:
            await self._replay_shard(shard_id, owned, snapshots)
        except Exception:  # a rules step that raises, a snapshot the engine refuses, ...
            self.counters["replay.failed"] += 1
            # Ten lease durations before this worker tries the shard again.
            self._failed_until[shard_id] = time.monotonic() + 10 * self.settings.lease_duration
            log.exception(
                "%s: fast-forward of %s failed; giving the shard up", self.worker_id, shard_id
            )
            if self._owned.get(shard_id) is owned:
                self._let_go(shard_id, LeaseEvent.RELEASE)
                owned.replay_task = None  # this task: _lose would wait for itself
                await owned.reader.stop()
                self.engine.drop_shard(shard_id)
                with contextlib.suppress(LeaseError):
                    await self.leases.release(owned.lease)

    async def _replay_shard(self, shard_id: str, owned: _Owned, snapshots: list[Snapshot]) -> None:
        """Read the shard to its tip, replay it onto the snapshots up to the present at
        full speed, then hand the matches to the live engine (module docstring)."""
        reader = owned.reader
        records: list[tuple[str, Event | None]] = []
        started = time.monotonic()

        def take() -> None:
            records.extend(reader.buffer)
            reader.buffer.clear()
            reader.drained()  # a reader held by a full buffer reads on

        while not reader.caught_up.is_set():
            take()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.caught_up.wait(), 0.1)
        take()
        replay: Replay[C] = Replay(
            self.engine.rules, self.engine.settings, shard_id, snapshots, records
        )
        steps = self.settings.replay_ticks_per_step
        while True:
            if replay.run(time.time() * 1000, steps):
                break
            await asyncio.sleep(0)  # renewals and other shards' ticks go on meanwhile
        if self._owned.get(shard_id) is not owned:
            return
        for seq, _ in records:
            reader.progress.delivered(seq)
        for _, data in replay.snapshots():
            self.engine.restore(data, shard_id=shard_id)
        owned.ended.extend(match_id for match_id, _ in replay.ended)
        owned.lifecycle.handle(LeaseEvent.CAUGHT_UP)
        # Reconnects the previous owner may not have acted on (a connection already
        # closed answers 410, which is fine).
        self._close_replaced(replay.engine.take_replaced())
        self.engine.counters.update(replay.engine.counters)  # inputs applied, refused, ...
        self.counters["replay.records"] += replay.records
        self.counters["replay.ticks"] += replay.ticks
        log.info(
            "%s: %s fast-forwarded: %d records, %d ticks in %.3f s (%d matches)",
            self.worker_id,
            shard_id,
            replay.records,
            replay.ticks,
            time.monotonic() - started,
            len(self.engine.matches_of(shard_id)),
        )

    async def _stop_replay(self, owned: _Owned) -> None:
        task, owned.replay_task = owned.replay_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    def _let_go(self, shard_id: str, why: LeaseEvent) -> _Owned | None:
        """Stop holding ``shard_id`` (``why``: the lease event); None if not held."""
        owned = self._owned.pop(shard_id, None)
        if owned is not None:
            owned.lifecycle.handle(why)
        return owned

    async def _lose(self, shard_id: str) -> None:
        owned = self._let_go(shard_id, LeaseEvent.LOSE)
        if owned is None:
            return
        await self._stop_replay(owned)
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
                self._let_go(shard_id, LeaseEvent.FINISH)
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
            if self._owned.get(shard_id) is not owned or owned.lifecycle.state is _REPLAYING:
                return False  # while fast-forwarding, the lease's list must stay as it is
            progress = owned.reader.progress
            matches = self.engine.matches_of(shard_id)
            candidate = (
                SHARD_END if final else progress.candidate(self.engine.pending_min(shard_id))
            )
            if candidate is None and matches and progress.checkpoint is not None:
                # Nothing new read, but the matches moved on: fresh snapshots at the same
                # checkpoint keep a successor's fast-forward short.
                candidate = progress.checkpoint
            if candidate is None:
                return False
            # Built synchronously, so the snapshots and the candidate are of one moment.
            wall_ms = round(time.time() * 1000)
            snaps = [(m, self.engine.snapshot(m, wall_ms)) for m in matches]
            ended, owned.ended = owned.ended, []
            limit = asyncio.Semaphore(self.settings.snapshot_concurrency)

            async def put(match_id: str, data: bytes) -> None:
                async with limit:
                    await self.snapshots.put(match_id, data, owned.lease)

            try:
                if candidate != SHARD_END:
                    progress.check(candidate)
                await asyncio.gather(*(put(m, d) for m, d in snaps))
                sent_at = time.monotonic()
                owned.lease = await self.leases.checkpoint(owned.lease, candidate, matches)
                owned.renewed(sent_at, self.settings)
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
