"""``tickwire worker``: an engine worker (with its broadcaster) against AWS or local endpoints.

Reads the Kinesis stream named by ``--stream``, keeps leases/checkpoints and snapshots in
the DynamoDB tables named by ``--lease-table`` / ``--snapshot-table``, and sends state
through the API Gateway ``@connections`` endpoint (``--connections-endpoint``; without it
the worker simulates and checkpoints but sends nothing). ``--endpoint-url`` points Kinesis
and DynamoDB at one compatible service on 127.0.0.1 (moto_server serves both);
``--kinesis-endpoint-url`` / ``--dynamodb-endpoint-url`` point each service at its own
(``tickwire gateway --kinesis-port`` serves Kinesis only, so its tables live elsewhere:
moto_server, DynamoDB Local). ``--create`` creates the stream and the two tables where
they are missing (never needed on AWS, where the stack owns them). Every flag has an
environment variable (below), as the ECS task sets them. SIGTERM or SIGINT stops
gracefully: the tick finishes, snapshots and checkpoints are written, leases released,
in-flight posts finished; a second signal exits at once (leases then expire, as after a
crash).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from game_engine.arena import Arena, ArenaSettings
from game_engine.consumer import ReaderSettings
from game_engine.engine import EngineSettings
from game_engine.errors import RulesNotFound
from game_engine.loading import load_rules
from game_engine.worker import Worker, WorkerSettings
from tickwire.aws_setup import setup_problem
from tickwire.commands import plain_help
from tickwire.signals import StopSignals

log = logging.getLogger("tickwire.worker")

ENV = {
    "stream": "TICKWIRE_STREAM",
    "lease_table": "TICKWIRE_LEASE_TABLE",
    "snapshot_table": "TICKWIRE_SNAPSHOT_TABLE",
    "endpoint_url": "TICKWIRE_ENDPOINT_URL",
    # botocore's own per-service variables: the SDK reads them too when no URL is given.
    "kinesis_endpoint_url": "AWS_ENDPOINT_URL_KINESIS",
    "dynamodb_endpoint_url": "AWS_ENDPOINT_URL_DYNAMODB",
    "region": "AWS_REGION",
    "connections_endpoint": "TICKWIRE_CONNECTIONS_ENDPOINT",
    "worker_id": "TICKWIRE_WORKER_ID",
}


# Defaults shown in --help come from the settings themselves (slots dataclasses: read
# them from instances).
_ENGINE, _ARENA, _WORKER, _READER = (
    EngineSettings(),
    ArenaSettings(),
    WorkerSettings(),
    ReaderSettings(),
)


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV[name], default)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "worker",
        help="run an engine worker: stream -> ticks -> @connections",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stream", default=_env("stream"), help="Kinesis stream name [TICKWIRE_STREAM]")
    p.add_argument(
        "--lease-table",
        default=_env("lease_table", "tickwire-leases"),
        help="lease/checkpoint table, key shard_id [TICKWIRE_LEASE_TABLE] (tickwire-leases)",
    )
    p.add_argument(
        "--snapshot-table",
        default=_env("snapshot_table", "tickwire-snapshots"),
        help="snapshot table, key match_id [TICKWIRE_SNAPSHOT_TABLE] (tickwire-snapshots)",
    )
    p.add_argument(
        "--endpoint-url",
        default=_env("endpoint_url"),
        help="Kinesis + DynamoDB endpoint, e.g. http://127.0.0.1:5000 [TICKWIRE_ENDPOINT_URL] (AWS)",
    )
    p.add_argument(
        "--kinesis-endpoint-url",
        default=_env("kinesis_endpoint_url"),
        help="Kinesis endpoint, over --endpoint-url, e.g. `tickwire gateway --kinesis-port`'s "
        "[AWS_ENDPOINT_URL_KINESIS]",
    )
    p.add_argument(
        "--dynamodb-endpoint-url",
        default=_env("dynamodb_endpoint_url"),
        help="DynamoDB endpoint (leases, snapshots), over --endpoint-url "
        "[AWS_ENDPOINT_URL_DYNAMODB]",
    )
    p.add_argument(
        "--region",
        default=_env("region") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region [AWS_REGION, AWS_DEFAULT_REGION]",
    )
    p.add_argument(
        "--connections-endpoint",
        default=_env("connections_endpoint"),
        help="@connections endpoint https://{api}.execute-api.{region}.amazonaws.com/{stage} [TICKWIRE_CONNECTIONS_ENDPOINT]",
    )
    p.add_argument(
        "--worker-id",
        default=_env("worker_id"),
        help="lease owner name (random) [TICKWIRE_WORKER_ID]",
    )
    p.add_argument(
        "--create",
        action="store_true",
        help="create the stream and the lease and snapshot tables if missing (local endpoints)",
    )
    p.add_argument(
        "--shards", type=int, default=1, help="shard count when --create makes the stream (1)"
    )
    p.add_argument(
        "--tick-rate", type=float, default=_ENGINE.tick_rate, help="simulation rate, Hz (30)"
    )
    p.add_argument(
        "--send-rate", type=float, default=_ENGINE.send_rate, help="state send rate, Hz (20)"
    )
    p.add_argument(
        "--rules",
        default=os.environ.get("TICKWIRE_RULES"),
        help="your game's rules as module:attribute [TICKWIRE_RULES] (the reference arena)",
    )
    p.add_argument(
        "--match-size", type=int, default=_ARENA.max_players, help="players per match (16)"
    )
    p.add_argument("--max-players", dest="match_size", type=int, help=argparse.SUPPRESS)  # old name
    p.add_argument(
        "--lease-duration",
        type=float,
        default=_WORKER.lease_duration,
        help="seconds without renewal before a lease expires (3)",
    )
    p.add_argument(
        "--checkpoint-interval",
        type=float,
        default=_WORKER.checkpoint_interval,
        help="seconds between snapshots+checkpoint (5)",
    )
    p.add_argument(
        "--min-get-interval",
        type=float,
        default=_READER.min_get_interval,
        help="seconds between GetRecords per shard (0.2: Kinesis's 5/s)",
    )
    p.add_argument(
        "--stats-interval",
        type=float,
        default=10.0,
        help="seconds between JSON stats log lines (10; 0: never)",
    )
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tickwire.logs import configure_logging

    # JSON lines: CloudWatch Logs (awslogs driver) keeps them searchable by field.
    configure_logging(args.log_level)
    if not args.stream:
        print("tickwire worker: --stream (or TICKWIRE_STREAM) is required", file=sys.stderr)
        return 2
    sys.path.insert(0, ".")  # --rules modules from the current folder, as Python does
    if (problem := setup_problem(args.region)) is not None:
        print(f"tickwire worker: {problem}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except RulesNotFound as exc:
        print(f"tickwire worker: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C
        return 130
    return 0


async def serve(args: argparse.Namespace) -> None:
    from infra.aws.dynamodb import DynamoTables
    from infra.aws.kinesis import KinesisStream

    stream = await KinesisStream.open(
        args.stream,
        endpoint_url=args.kinesis_endpoint_url or args.endpoint_url,
        region=args.region,
        create_shards=args.shards if args.create else None,
    )
    tables = DynamoTables(
        lease_table=args.lease_table,
        snapshot_table=args.snapshot_table,
        endpoint_url=args.dynamodb_endpoint_url or args.endpoint_url,
        region_name=args.region,
    )
    connections: Any = None
    broadcaster: Any = None
    try:
        await tables.start()
        if args.create:
            await tables.ensure_tables()
        engine_settings = EngineSettings(tick_rate=args.tick_rate, send_rate=args.send_rate)
        rules = (
            load_rules(args.rules)
            if args.rules
            else Arena(ArenaSettings(max_players=args.match_size, tick_rate=args.tick_rate))
        )
        worker: Worker[Any] = Worker(
            stream=stream,
            leases=tables.leases,
            snapshots=tables.snapshots,
            rules=rules,
            settings=WorkerSettings(
                lease_duration=args.lease_duration,
                # The ratios of the defaults: renew 4 times per lease, fence a quarter early.
                renew_interval=args.lease_duration / 4,
                fence_margin=args.lease_duration / 4,
                checkpoint_interval=args.checkpoint_interval,
                reader=ReaderSettings(min_get_interval=args.min_get_interval),
            ),
            engine_settings=engine_settings,
            worker_id=args.worker_id,
        )
        if args.connections_endpoint:
            from broadcaster.connections.aws_wire import AwsWireConnections
            from broadcaster.fanout import Broadcaster

            connections = AwsWireConnections(args.connections_endpoint, args.region or "us-east-1")
            broadcaster = Broadcaster(connections, None, worker.on_gone)
            worker.sink = broadcaster
            await broadcaster.start()
        from tickwire.gc_tuning import tune_gc

        tune_gc()
        # The first SIGTERM/SIGINT drains; a second (whoever sent it will not wait for the
        # drain) exits at once: tickwire.signals, logged as JSON events.
        signals = StopSignals("tickwire worker", worker.stop, announce=_announce)
        signals.install()
        emf = _emf_exporter(worker, broadcaster)
        stats = asyncio.create_task(_log_stats(worker, args.stats_interval, emf))
        log.info(
            json.dumps(
                {"event": "worker_started", "worker": worker.worker_id, "stream": args.stream}
            )
        )
        try:
            await worker.run()
        finally:
            stats.cancel()
            stopping = [signals.stop_task] if signals.stop_task is not None else []
            await asyncio.gather(stats, *stopping, return_exceptions=True)
        log.info(json.dumps({"event": "worker_stopped", **worker.stats()}, default=str))
    finally:
        if broadcaster is not None:
            await broadcaster.stop()
        if connections is not None:
            await connections.close()
        await tables.close()
        await stream.close()


def _announce(sig: signal.Signals, second: bool) -> None:
    event = "worker_exit_now" if second else "worker_stopping"
    log.warning(json.dumps({"event": event, "signal": sig.name}))


def _emf_exporter(worker: Worker[Any], broadcaster: Any) -> tuple[Any, Any] | None:
    """On AWS (``TICKWIRE_METRICS=emf``, set by the stack) the worker's and broadcaster's
    figures go to CloudWatch as Embedded Metric Format lines on stdout."""
    from tickwire.metrics import EmfBackend, Metrics, backend_from_env

    backend = backend_from_env()
    if broadcaster is None or not isinstance(backend, EmfBackend):
        return None
    from tickwire.exporter import StatsExporter

    return StatsExporter(Metrics(backend), worker, broadcaster), backend


async def _log_stats(worker: Worker[Any], interval: float, emf: tuple[Any, Any] | None) -> None:
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        log.info(json.dumps({"event": "worker_stats", **worker.stats()}, default=str))
        if emf is not None:
            exporter, backend = emf
            exporter.collect()
            backend.flush()
