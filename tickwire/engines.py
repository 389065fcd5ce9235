"""The engine processes of a split ``tickwire up``, seen from the gateway process.

:class:`EngineProcesses` serves the link (:class:`~infra.local.link.LinkServer`: the
stream, the tables and ``@connections``) on a Unix socket in a private temporary folder,
starts ``procs - 1`` engine processes (:mod:`tickwire.engine_process`), keeps the latest
report of each, and supervises them: an engine process that exits while tickwire is not
stopping is restarted (at most ``engine_restarts`` times): its leases are released at
once (it is dead, so it cannot write again) and the new worker takes them as any worker
takes over after a crash, restoring the snapshots and replaying the stream from the
checkpoint.

Lifecycle: :meth:`start` (link up, children started, waits for each child's first
report), :meth:`run` (supervises until :meth:`stop`; raises when the restart budget is
spent), :meth:`stop` (SIGTERM to each child, which drains: its tick, snapshots,
checkpoints, last posts), :meth:`close` (the link down, any child still alive killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from game_engine.errors import EngineError
from game_engine.leases import LeaseTable
from game_engine.snapshots import SnapshotStore
from infra.lifecycle import SERVICE, Lifecycle, ServiceEvent, ServiceState
from infra.local.link import LinkServer
from infra.local.stream import EmbeddedStream
from tickwire.engine_process import EngineProcessConfig

if TYPE_CHECKING:
    from infra.local.gateway.server import Gateway
    from tickwire.embedded import UpSettings

__all__ = ["EngineProcessError", "EngineProcesses"]

log = logging.getLogger("tickwire.up")


class EngineProcessError(RuntimeError):
    """An engine process could not start, or kept exiting past its restart budget."""


class EngineProcesses:
    def __init__(
        self,
        settings: UpSettings,
        *,
        gateway: Gateway,
        stream: EmbeddedStream,
        leases: LeaseTable,
        snapshots: SnapshotStore,
    ) -> None:
        self.settings = settings
        self.count = max(1, settings.procs - 1)
        self._folder = Path(tempfile.mkdtemp(prefix="tickwire-link-"))
        self.link = LinkServer(
            self._folder / "link.sock",
            gateway=gateway,
            stream=stream,
            leases=leases,
            snapshots=snapshots,
            on_report=self._on_report,
        )
        self.stream_name = stream.name
        self.leases = leases
        self.restarts = 0
        self._reports: dict[str, dict[str, Any]] = {}
        self._reported = asyncio.Event()
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._lifecycle = Lifecycle(SERVICE, ServiceState.NEW, "engine processes")

    # -- reports -------------------------------------------------------------------------
    def _on_report(self, report: dict[str, Any]) -> None:
        self._reports[report["worker"]] = report
        if len(self._reports) >= self.count:
            self._reported.set()

    def reports(self) -> list[dict[str, Any]]:
        """The latest report of each engine process (``tickwire.exporter.engine_report``)."""
        return list(self._reports.values())

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._children.values()]

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def _stopping(self) -> bool:
        return self._lifecycle.state in (ServiceState.STOPPING, ServiceState.STOPPED)

    async def start(self) -> None:
        if self._lifecycle.state is not ServiceState.NEW:
            return  # started already, or stopped first (a stop before start wins)
        self._lifecycle.handle(ServiceEvent.START)
        await self.link.start()
        for i in range(self.count):
            await self._spawn(f"engine-{i + 1}")
        reported = asyncio.ensure_future(self._reported.wait())
        exits = [asyncio.ensure_future(p.wait()) for p in self._children.values()]
        try:
            await asyncio.wait(
                [reported, *exits],
                timeout=self.settings.engine_start_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for future in (reported, *exits):
                future.cancel()
        for worker_id, process in self._children.items():
            if process.returncode is not None:
                raise EngineProcessError(
                    f"engine process {worker_id} exited ({process.returncode}) while starting"
                )
        if not self._reported.is_set():
            raise EngineProcessError(
                f"engine processes did not start within {self.settings.engine_start_timeout_s:g} s"
            )

    async def _spawn(self, worker_id: str) -> None:
        config = EngineProcessConfig(
            settings=self.settings,
            link_path=self.link.path,
            stream_name=self.stream_name,
            worker_id=worker_id,
            log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tickwire.engine_process",
            stdin=asyncio.subprocess.PIPE,
            # Its own session: a terminal's Ctrl-C reaches tickwire up only, which stops
            # the engines in order.
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(config))
        await process.stdin.drain()
        process.stdin.close()
        self._children[worker_id] = process
        log.info("engine process %s started (pid %d)", worker_id, process.pid)

    async def run(self) -> None:
        """Supervise: restart an engine process that exits on its own."""
        while not self._stopping:
            waits = {
                asyncio.ensure_future(p.wait()): wid for wid, p in list(self._children.items())
            }
            if not waits:
                return
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                future.cancel()
            if self._stopping:
                return
            for future in done:
                worker_id = waits[future]
                code = future.result()
                if self.restarts >= self.settings.engine_restarts:
                    raise EngineProcessError(
                        f"engine process {worker_id} exited ({code}); "
                        f"restarted {self.restarts} times already"
                    )
                self.restarts += 1
                log.error(
                    "engine process %s exited (%s); restarting (%d of %d)",
                    worker_id,
                    code,
                    self.restarts,
                    self.settings.engine_restarts,
                )
                self._reports.pop(worker_id, None)
                del self._children[worker_id]
                await self._release_leases_of(worker_id)
                await self._spawn(f"{worker_id.split('/')[0]}/{self.restarts}")

    async def _release_leases_of(self, worker_id: str) -> None:
        """Free the leases of an engine process that has exited. It cannot write any more
        (it is dead, not frozen), so its successor need not wait for them to expire: it
        takes them at once, restores the snapshots and replays from the checkpoint."""
        for lease in await self.leases.list_leases():
            if lease.owner == worker_id:
                with contextlib.suppress(EngineError):
                    await self.leases.release(lease)

    async def stop(self) -> None:
        """SIGTERM every engine process and wait for each to drain."""
        self._lifecycle.handle(ServiceEvent.STOP)
        for process in self._children.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        for process in self._children.values():
            await process.wait()
        log.info("engine processes stopped in %.2f s", time.monotonic() - started)

    async def close(self) -> None:
        """Kill what is still running (a stop that timed out) and take the link down."""
        self._lifecycle.handle(ServiceEvent.STOP)
        for process in self._children.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await self.link.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._lifecycle.handle(ServiceEvent.STOPPED)
