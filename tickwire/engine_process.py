"""An engine process of a split ``tickwire up``: a worker and its broadcaster over the link.

``tickwire up`` (with ``--procs`` 2 or more) starts ``python -m tickwire.engine_process``
once per engine process and writes its :class:`EngineProcessConfig` (pickled) to the
child's standard input. The child connects to the gateway process's link
(:mod:`infra.local.link`), and runs an engine worker whose stream, lease table and
snapshot store are the gateway process's (through the link), and a broadcaster posting
through the link. Once a second it sends its figures (:func:`tickwire.exporter.engine_report`).

It stops gracefully on SIGTERM (the tick finishes, snapshots and checkpoints are written,
the leases are released, the last posts flushed), and at once when the link closes (the
gateway process is gone: nothing it could write would arrive). It runs in a session of
its own, so a Ctrl-C in the terminal reaches only ``tickwire up``, which stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tickwire.embedded import UpSettings

__all__ = ["EngineProcessConfig", "main"]

log = logging.getLogger("tickwire.engine")

# Seconds between two reports of the engine's figures to the gateway process.
REPORT_PERIOD_S = 1.0
# Least time between two reads of a shard over the link. A read that waits returns on the
# first new record; the next one, this much later, takes everything that came meanwhile,
# so a read carries many records at load (measured: one read per record cost ~26 us of
# the gateway's CPU per input at 160 players).
LINK_READ_INTERVAL_S = 0.005
# Once caught up, reads are paced to the tick (consumer.ReaderSettings.read_lead): one a
# tick, this long before it starts, so the inputs it brings are applied at that tick. An
# input arriving later waits for the next tick, as one arriving after a 5 ms-paced read
# did; the round trip over the link takes well under a millisecond at 1,000 players.
LINK_READ_LEAD_S = 0.004
# Players a send tick posts between yields to the event loop (BroadcastSettings.yield_every):
# the engine process's loop runs only the engine, so a whole send tick (a few ms at a
# thousand players) goes in one step.
ENGINE_YIELD_EVERY = 1 << 30


@dataclass(frozen=True)
class EngineProcessConfig:
    settings: UpSettings
    link_path: Path
    stream_name: str
    worker_id: str
    log_level: str = "INFO"


async def serve(config: EngineProcessConfig) -> None:
    from broadcaster.connections.link import LinkConnections
    from broadcaster.fanout import Broadcaster
    from game_engine.worker import Worker
    from infra.local.link import LinkClient, LinkLeaseTable, LinkSnapshotStore, LinkStream
    from tickwire.embedded import make_rules
    from tickwire.exporter import engine_report
    from tickwire.gc_tuning import tune_gc
    from tickwire.signals import StopSignals

    s = config.settings
    client = await LinkClient.connect(config.link_path)
    reader = s.worker.reader
    worker_settings = replace(
        s.worker,
        reader=replace(
            reader,
            min_get_interval=max(reader.min_get_interval, LINK_READ_INTERVAL_S),
            read_lead=LINK_READ_LEAD_S,
        ),
    )
    worker: Worker[Any] = Worker(
        stream=LinkStream(client, config.stream_name),
        leases=LinkLeaseTable(client),
        snapshots=LinkSnapshotStore(client),
        rules=make_rules(s),
        settings=worker_settings,
        engine_settings=s.engine,
        worker_id=config.worker_id,
    )
    # No gateway shares this loop: a send tick is posted without yielding, so its posts
    # go to the gateway process as one link message (one write and one wake-up of the
    # gateway per send tick, not one per yield_every players; the gateway's link server
    # handles them a few hundred per loop iteration itself).
    unyielding = replace(s.broadcast, yield_every=ENGINE_YIELD_EVERY)
    broadcaster = Broadcaster(LinkConnections(client), unyielding, worker.on_gone)
    worker.sink = broadcaster
    await broadcaster.start()
    running = asyncio.create_task(worker.run(), name="engine-worker")
    tune_gc()

    async def report() -> None:
        while True:
            client.report(engine_report(worker, broadcaster))
            await asyncio.sleep(REPORT_PERIOD_S)

    reporting = asyncio.create_task(report(), name="engine-report")
    # The gateway process stops its engines with SIGTERM; a second signal exits at once
    # (the one policy of every tickwire command, tickwire.signals).
    signals = StopSignals(
        worker.worker_id,
        announce=lambda sig, second: log.warning(
            "%s: %s%s", worker.worker_id, sig.name, ", exiting now" if second else ", stopping"
        ),
    )
    signals.install()
    closed = asyncio.create_task(client.closed.wait())
    stopping = asyncio.create_task(signals.wait())
    try:
        await asyncio.wait({running, closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        reporting.cancel()
        if client.closed.is_set():
            log.warning("%s: the link to the gateway process closed; stopping", worker.worker_id)
            await worker.abandon()
        else:
            await worker.stop()
            await broadcaster.stop()
        for task in (closed, stopping, running):
            task.cancel()
        await asyncio.gather(closed, stopping, running, reporting, return_exceptions=True)
        with contextlib.suppress(Exception):
            client.report(engine_report(worker, broadcaster))
        await client.close()
        signals.remove()
    if running.done() and not running.cancelled() and running.exception() is not None:
        raise running.exception()  # type: ignore[misc]


def main() -> int:
    config: EngineProcessConfig = pickle.load(sys.stdin.buffer)
    from tickwire.logs import configure_logging
    from tickwire.loops import event_loop_runner

    configure_logging(config.log_level)
    try:
        event_loop_runner()(serve(config))
    except Exception:
        log.exception("%s: engine process failed", config.worker_id)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
