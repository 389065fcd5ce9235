"""The whole game in one process: what ``tickwire up`` runs and what end-to-end tests use.

Theory of operation. :class:`EmbeddedGame` renders tickwire's own CloudFormation stack and
loads it with the local template loader (so the routes, VTL request templates and the
authorizer Lambda are the ones that go to AWS), creates the embedded Kinesis stream the
template names, and starts, in this order:

1. the local gateway (WebSocket + ``@connections`` + the browser page, ``/token`` and
   ``/metrics`` on one port), whose Kinesis integrations put records into the embedded
   stream through :class:`~infra.local.kinesis_service.EmbeddedKinesisService`;
2. the broadcaster, posting through the gateway's in-process ``@connections`` path;
3. one engine worker reading the stream (leases and snapshots in the embedded tables)
   and publishing a frame per match per send tick to the broadcaster, which reports 410s
   back to it as leaves;
4. a small exporter that copies the worker's and broadcaster's figures into the metrics
   facade once a second, so ``/metrics`` shows them next to the gateway's metering.

:meth:`EmbeddedGame.stop` drains in the opposite order, bounded: the gateway stops
accepting connections, the worker finishes its tick and snapshots, the broadcaster
flushes what is in flight, then the gateway closes every connection with 1001.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from broadcaster.connections.direct import DirectConnections
from broadcaster.fanout import Broadcaster, BroadcastSettings
from game_engine.arena import Arena, ArenaSettings
from game_engine.consumer import ReaderSettings
from game_engine.engine import EngineSettings
from game_engine.loading import load_rules
from game_engine.worker import Worker, WorkerSettings
from infra.lifecycle import SERVICE, Lifecycle, ServiceEvent, ServiceState
from infra.local.cfn.tickwire_stack import load_tickwire_stack
from infra.local.gateway.server import Gateway
from infra.local.gateway.settings import GatewaySettings
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings
from infra.local.tables import EmbeddedTables
from ingest.tokens import local_secret, mint
from tickwire import web as page
from tickwire.engines import EngineProcesses
from tickwire.exporter import StatsExporter, match_players
from tickwire.loopwatch import DEFAULT_INTERVAL_S, LoopWatch
from tickwire.metrics import Metrics, PrometheusBackend

__all__ = ["EmbeddedGame", "UpSettings"]

log = logging.getLogger("tickwire.up")


@dataclass(frozen=True)
class UpSettings:
    """Everything ``tickwire up`` can be told; the defaults are the README's."""

    host: str = "127.0.0.1"
    port: int = 8080
    # A second listener with TLS (local CA) for handlers that call https://{domainName}.
    tls_port: int | None = None
    stage: str = "local"
    # Where the local JWT secret and the local CA live.
    state_dir: Path | None = None
    # Shards of the embedded stream (the stack's ShardCount parameter).
    shards: int = 1
    # How long the embedded stream keeps records. Kinesis keeps 24 h (its minimum), but a
    # local process holding a day of inputs in memory would grow without bound (about
    # 0.3 KB per input: 500 players at 10 Hz fill ~90 MB a minute); the engine only ever
    # replays from its last checkpoint (every 5 s), so a minute is ample.
    stream_retention_s: float = 60.0
    # The game's rules as ``module:attribute`` (see game_engine.loading); None: the
    # reference arena with ``arena`` settings.
    rules: str | None = None
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    arena: ArenaSettings = field(default_factory=ArenaSettings)
    broadcast: BroadcastSettings = field(default_factory=BroadcastSettings)
    worker: WorkerSettings = field(
        default_factory=lambda: WorkerSettings(
            # The embedded stream has no 5-reads-per-second limit and wakes a waiting read
            # on every put, so the engine sees an input as soon as it is appended.
            reader=ReaderSettings(min_get_interval=0.0, get_wait=1.0),
        )
    )
    # Serve /token so the page (and `tickwire swarm --token-url`) can get local tokens.
    issue_tokens: bool = True
    token_ttl_s: int = 3600
    # Bound of the whole graceful stop.
    stop_timeout_s: float = 10.0
    # Processes: 1 runs everything in this one; N > 1 keeps the gateway (sockets,
    # handshakes, the authorizer, the stream and tables) in this process and runs N - 1
    # engine processes (worker + broadcaster each) beside it, joined by the link
    # (:mod:`infra.local.link`). ``tickwire up`` picks 2 when the machine has 2+ cores.
    procs: int = 1
    # Period of the loop-stall probe (tickwire.loopwatch): a finer one sees shorter
    # stalls and costs more CPU (a wake-up of an idle loop each time).
    loop_probe_s: float = DEFAULT_INTERVAL_S
    # How long start() waits for every engine process to connect and report.
    engine_start_timeout_s: float = 60.0
    # Engine processes that exit on their own are restarted this many times at most.
    engine_restarts: int = 5


def make_rules(settings: UpSettings) -> Any:
    """The game's rules: ``settings.rules`` (``module:attribute``), else the arena."""
    if settings.rules:
        return load_rules(settings.rules)
    return Arena(replace(settings.arena, tick_rate=settings.engine.tick_rate))


class EmbeddedGame:
    """Gateway, embedded stream and tables, one worker and its broadcaster, in-process.

    ``async with EmbeddedGame(UpSettings(port=0)) as game:`` then ``game.ws_url``,
    ``game.http_url``, ``game.jwt_secret`` and ``game.token(match, player)``.
    """

    def __init__(self, settings: UpSettings | None = None, **overrides: Any) -> None:
        settings = settings or UpSettings()
        if overrides:
            settings = replace(settings, **overrides)
        self.settings = settings
        self.jwt_secret = local_secret(settings.state_dir)
        self.template = load_tickwire_stack(
            {
                "JwtSecret": self.jwt_secret,
                "StageName": settings.stage,
                "ShardCount": str(settings.shards),
                "StreamMode": "PROVISIONED",
            }
        )
        self.kinesis = EmbeddedKinesis(
            EmbeddedStreamSettings(retention=settings.stream_retention_s)
        )
        (stream_name, shard_count), *rest = self.template.streams.items()
        if rest:
            raise ValueError(f"tickwire's stack names one stream, not {len(rest) + 1}")
        self.stream = self.kinesis.create_stream(stream_name, shard_count)
        self.tables = EmbeddedTables()
        routes = page.routes(
            self.token if settings.issue_tokens else None,
            self._ws_url_for,
            self._matches,
        )
        self.gateway = Gateway(
            self.template.api,
            settings.gateway,
            aws_services={"kinesis": EmbeddedKinesisService(self.kinesis)},
            extra_routes=routes,
            state_dir=settings.state_dir,
        )
        # The facade's figures are served by the gateway's own /metrics.
        self.metrics = Metrics(PrometheusBackend(registry=self.gateway.metrics.registry))
        # Stalls of the socket-serving loop and collector pauses, at /metrics.
        self.loopwatch = LoopWatch(settings.loop_probe_s)
        self.gateway.metrics.registry.register(self.loopwatch)
        self.worker: Worker[Any] | None = None
        self.broadcaster: Broadcaster | None = None
        self.engines: EngineProcesses | None = None
        if settings.procs <= 1:
            self.worker = Worker(
                stream=self.stream,
                leases=self.tables.leases,
                snapshots=self.tables.snapshots,
                rules=make_rules(settings),
                settings=settings.worker,
                engine_settings=settings.engine,
                worker_id="embedded",
            )
            self.broadcaster = Broadcaster(
                DirectConnections(self.gateway), settings.broadcast, self.worker.on_gone
            )
            self.worker.sink = self.broadcaster
            self.exporter = StatsExporter(self.metrics, self.worker, self.broadcaster, self.gateway)
        else:
            make_rules(settings)  # a bad --rules is one clear error here, not in a child
            self.engines = EngineProcesses(
                settings,
                gateway=self.gateway,
                stream=self.stream,
                leases=self.tables.leases,
                snapshots=self.tables.snapshots,
            )
            self.exporter = StatsExporter(
                self.metrics, gateway=self.gateway, reports=self.engines.reports
            )
        self._worker_task: asyncio.Task[None] | None = None
        self._lifecycle = Lifecycle(SERVICE, ServiceState.NEW, "tickwire up")

    # -- URLs and tokens --------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """The WebSocket URL without a token: add ``?token=...``."""
        return self.gateway.ws_url

    @property
    def http_url(self) -> str:
        return self.ws_url.replace("ws://", "http://", 1).rsplit("/", 1)[0]

    def token(self, match: str, player: str) -> str:
        return mint(self.jwt_secret, match=match, player=player, ttl=self.settings.token_ttl_s)

    def _matches(self) -> dict[str, int]:
        """Running matches and their player counts, for the page's match list."""
        if self.worker is not None:
            return match_players(self.worker)
        assert self.engines is not None
        return {mid: n for r in self.engines.reports() for mid, n in r["matches"].items()}

    def _ws_url_for(self, request: web.Request) -> str:
        # The page connects back to the host it was loaded from (localhost or 127.0.0.1).
        return f"ws://{request.host}/{self.settings.stage}"

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._lifecycle.state is not ServiceState.NEW:
            return  # started already, or stopped first (a stop before start wins)
        self._lifecycle.handle(ServiceEvent.START)
        s = self.settings
        await self.gateway.start(s.host, s.port, s.tls_port)
        self.loopwatch.start()
        try:
            if self.engines is not None:
                await self.engines.start()
                self._worker_task = asyncio.create_task(self.engines.run(), name="engines")
            else:
                assert self.worker is not None and self.broadcaster is not None
                await self.broadcaster.start()
                self._worker_task = asyncio.create_task(self.worker.run(), name="embedded-worker")
            self.exporter.start()
        except BaseException:
            await self.stop()
            raise
        log.info("tickwire up: %s (%d process(es))", self.ws_url, max(1, s.procs))

    async def run(self) -> None:
        """Serve until :meth:`stop` is called, or until the engine fails (then re-raise)."""
        assert self._worker_task is not None, "start() first"
        await asyncio.shield(self._worker_task)

    async def stop(self) -> None:
        """Drain and stop everything within ``stop_timeout_s``. A second call is harmless."""
        if self._lifecycle.state in (ServiceState.STOPPING, ServiceState.STOPPED):
            return
        self._lifecycle.handle(ServiceEvent.STOP)
        try:
            async with asyncio.timeout(self.settings.stop_timeout_s):
                await self.exporter.stop()
                if self.engines is not None:
                    await self.engines.stop()
                if self.worker is not None:
                    await self.worker.stop()
                if self._worker_task is not None:
                    # wait() neither raises the task's outcome nor swallows the timeout's
                    # cancellation of this coroutine: the drain stays bounded.
                    await asyncio.wait([self._worker_task])
                if self.broadcaster is not None:
                    await self.broadcaster.stop()
        except TimeoutError:
            log.warning("tickwire up: engine drain exceeded %.1f s", self.settings.stop_timeout_s)
        finally:
            if self._worker_task is not None and not self._worker_task.done():
                self._worker_task.cancel()
            if self.engines is not None:
                await self.engines.close()
            self.loopwatch.stop()
            await self.gateway.stop()
            self._lifecycle.handle(ServiceEvent.STOPPED)

    async def __aenter__(self) -> EmbeddedGame:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
