"""Fencing: a worker that cannot renew its lease stops publishing, by its own monotonic
clock, before any other worker may take the lease; and frames carry that deadline so the
broadcaster posts nothing of them later."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from test_worker import FAST, Players, acked, until, worker

from game_engine.frame import MatchFrame
from game_engine.leases import Lease
from infra.local.stream import EmbeddedKinesis
from infra.local.tables import EmbeddedLeaseTable, EmbeddedTables


class StallingLeases:
    """The embedded lease table, with a switch that holds every renewal and checkpoint
    (a DynamoDB that stops answering, or a network partition)."""

    def __init__(self, inner: EmbeddedLeaseTable) -> None:
        self.inner = inner
        self.answering = asyncio.Event()
        self.answering.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def renew(self, lease: Lease) -> Lease:
        await self.answering.wait()
        return await self.inner.renew(lease)

    async def checkpoint(self, lease: Lease, sequence: str, matches: Sequence[str]) -> Lease:
        await self.answering.wait()
        return await self.inner.checkpoint(lease, sequence, matches)


class TimedSink:
    """Keeps (monotonic time, frames) of every publish that had frames."""

    def __init__(self) -> None:
        self.published: list[tuple[float, list[MatchFrame]]] = []

    def publish(self, frames: list[MatchFrame]) -> None:
        if frames:
            self.published.append((time.monotonic(), frames))


async def test_an_owner_that_cannot_renew_stops_publishing_before_its_lease_may_be_taken() -> None:
    stream = EmbeddedKinesis().create_stream("actions", 1)
    tables = EmbeddedTables()
    leases = StallingLeases(tables.leases)
    sink = TimedSink()
    settings = replace(FAST, lease_duration=2.0, fence_margin=0.5)
    w = worker(stream, tables, "w", sink, leases=leases, settings=settings)
    await w.start()
    try:
        players = Players(stream, matches=2, per_match=2)
        await players.join()
        await players.inputs(2)
        await until(lambda: acked(w) == players.seq and bool(sink.published))
        # Every frame carries the deadline the broadcaster must respect.
        _, frames = sink.published[-1]
        assert all(f.valid_until < float("inf") for f in frames)
        leases.answering.clear()
        stalled_at = time.monotonic()
        # Nobody may take the lease before stalled_at + lease_duration (its counter was
        # last seen moving no later than that); the owner must be silent before then.
        await asyncio.sleep(settings.lease_duration + 0.3)
        last = sink.published[-1][0]
        print(f"\nlast frame {last - stalled_at:.2f} s after renewals stopped (lease 2.0 s)")
        assert last < stalled_at + settings.lease_duration - settings.fence_margin + 0.1
        assert w.counters["publish.fenced"] > 0
        # The table answers again and nobody took the lease: publishing resumes.
        leases.answering.set()
        resumed = len(sink.published)
        await until(lambda: len(sink.published) > resumed + 3)
    finally:
        leases.answering.set()
        await w.stop()
