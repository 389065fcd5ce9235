"""``tickwire up``: the whole game in one process (see :mod:`tickwire.embedded`).

Serves tickwire's own stack, loaded from the CloudFormation template ``tickwire template``
renders, on 127.0.0.1:8080: the WebSocket API and ``@connections`` (stage ``local``), the
browser page at ``/``, local tokens at ``/token`` and Prometheus figures at ``/metrics``;
with the embedded Kinesis stream and tables and one engine worker with its broadcaster.
SIGINT or SIGTERM drains within ``--stop-timeout`` seconds: the engine finishes its tick
and snapshots, in-flight posts finish, then every connection is closed with 1001.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from game_engine.errors import RulesNotFound
from infra.local.gateway.guard import UP_PROTECTIONS
from tickwire.commands import plain_help
from tickwire.commands.gateway import add_settings_flags
from tickwire.embedded import EmbeddedGame, UpSettings
from tickwire.engines import EngineProcessError
from tickwire.gc_tuning import GcPacer
from tickwire.loops import event_loop_runner
from tickwire.ports import error_line
from tickwire.signals import StopSignals

log = logging.getLogger("tickwire.up")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = UpSettings()
    p = subparsers.add_parser(
        "up",
        help="run the whole game locally: gateway, stream, engine, broadcaster, page",
        description=plain_help(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default=d.host, help=f"address to bind ({d.host})")
    p.add_argument("--port", type=int, default=d.port, help=f"HTTP/WebSocket port ({d.port})")
    p.add_argument(
        "--tls-port", type=int, default=None, help="also serve HTTPS/WSS here (local CA)"
    )
    p.add_argument(
        "--stage", default=d.stage, help=f"API stage, the first path segment ({d.stage})"
    )
    p.add_argument("--state-dir", type=Path, default=None, help="local secret and CA (~/.tickwire)")
    p.add_argument("--shards", type=int, default=d.shards, help=f"stream shards ({d.shards})")
    p.add_argument(
        "--tick-rate", type=float, default=d.engine.tick_rate, help="simulation rate, Hz (30)"
    )
    p.add_argument(
        "--send-rate", type=float, default=d.engine.send_rate, help="state send rate, Hz (20)"
    )
    p.add_argument(
        "--rules",
        default=None,
        help="your game's rules as module:attribute (default: the reference arena)",
    )
    p.add_argument(
        "--match-size", type=int, default=d.arena.max_players, help="players per match (16)"
    )
    p.add_argument(
        "--view-radius",
        type=float,
        default=d.arena.view_radius,
        help=f"interest radius in world units ({d.arena.view_radius:g})",
    )
    p.add_argument(
        "--account-rate",
        type=float,
        default=d.gateway.account_rate_per_s,
        help="the account throttle, requests/s shared by client messages and @connections "
        "calls (AWS's default quota: 10000; raise it to measure the machine, not the quota)",
    )
    p.add_argument(
        "--account-burst",
        type=int,
        default=d.gateway.account_burst,
        help="the account throttle's burst (AWS: 5000)",
    )
    p.add_argument(
        "--procs",
        type=int,
        default=None,
        help="processes: 1 runs everything in one; N > 1 runs the gateway in one and the "
        "engine (worker + broadcaster) in N - 1 more (default: 2 when the machine has 2+ "
        "cores, else 1)",
    )
    p.add_argument(
        "--loop-probe-ms",
        type=_positive,
        default=d.loop_probe_s * 1000,
        help="period of the loop-stall probe served at /metrics, ms (10; finer sees shorter "
        "stalls and costs more CPU)",
    )
    p.add_argument(
        "--no-tokens", action="store_true", help="do not serve /token (tokens from elsewhere)"
    )
    p.add_argument(
        "--stop-timeout", type=float, default=d.stop_timeout_s, help="graceful stop bound, s (10)"
    )
    p.add_argument("--log-level", default="INFO")
    guard = p.add_argument_group(
        "protections of the other clients (the gateway's local policies; 0 turns one off)"
    )
    add_settings_flags(guard, list(GUARD_SETTINGS), UP_PROTECTIONS)
    p.set_defaults(func=run)


# GatewaySettings fields `up` has flags for, beyond the account throttle (the same flags
# as `tickwire gateway`).
GUARD_SETTINGS = (
    "connection_message_rate_per_s",
    "connection_message_burst",
    "flood_close_after_s",
    "slow_reader_bytes",
    "slow_reader_close_after_s",
    "ping_interval_s",
    "pong_timeout_s",
    "failed_connects_per_source_per_s",
    "failed_connects_per_source_burst",
)


def settings_from(args: argparse.Namespace) -> UpSettings:
    d = UpSettings()
    return UpSettings(
        host=args.host,
        port=args.port,
        tls_port=args.tls_port,
        stage=args.stage,
        state_dir=args.state_dir,
        rules=args.rules,
        gateway=replace(
            d.gateway,
            account_rate_per_s=args.account_rate,
            account_burst=args.account_burst,
            **protections(args),
        ),
        engine=replace(d.engine, tick_rate=args.tick_rate, send_rate=args.send_rate),
        arena=replace(d.arena, max_players=args.match_size, view_radius=args.view_radius),
        issue_tokens=not args.no_tokens,
        stop_timeout_s=args.stop_timeout,
        procs=args.procs if args.procs is not None else default_procs(),
        loop_probe_s=args.loop_probe_ms / 1000,
        # Every engine process leases at least one shard.
        shards=max(args.shards, (args.procs or default_procs()) - 1),
    )


def protections(args: argparse.Namespace) -> dict[str, Any]:
    """The gateway's protections: on in `tickwire up` (a plain GatewaySettings has them
    off), each flag given replacing its value."""
    given = {k: v for k in GUARD_SETTINGS if (v := getattr(args, k, None)) is not None}
    return {**UP_PROTECTIONS, **given}


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def default_procs() -> int:
    """Two processes (gateway, engine) on a machine with two or more cores, else one."""
    return 2 if (os.cpu_count() or 1) > 1 else 1


def run(args: argparse.Namespace) -> int:
    from tickwire.logs import configure_logging

    configure_logging(args.log_level)
    sys.path.insert(0, ".")  # --rules modules from the current folder, as Python does
    try:
        event_loop_runner()(serve(settings_from(args)))
    except EngineProcessError as exc:
        print(f"tickwire up: {exc}", file=sys.stderr)
        return 1
    except (OSError, RulesNotFound) as exc:
        print(error_line("tickwire up", exc, {"--port": args.port, "--tls-port": args.tls_port}, args.host), file=sys.stderr)  # fmt: skip
        return 1
    return 0


async def serve(settings: UpSettings) -> None:
    game = EmbeddedGame(settings)
    await game.start()
    # The socket loop collects on a timer: no long collector pauses (tickwire.gc_tuning).
    pacer = GcPacer()
    pacer.start()
    # The first SIGINT/SIGTERM drains, a second one exits at once (tickwire.signals).
    async with StopSignals("tickwire up") as signals:
        print(banner(game), flush=True)
        running = asyncio.create_task(game.run())
        waiting = asyncio.create_task(signals.wait())
        try:
            await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            print("tickwire up: stopping (draining connections)...", flush=True)
            await game.stop()
            running.cancel()
            await asyncio.wait([running])
            await pacer.stop()
    if running.done() and not running.cancelled() and running.exception() is not None:
        raise running.exception()  # type: ignore[misc]


def banner(game: EmbeddedGame) -> str:
    s = game.settings
    lines = [
        "tickwire is up.",
        f"  play in a browser:  {game.http_url}/",
        f"  WebSocket API:      {game.ws_url}?token=JWT",
        f"  @connections:       {game.http_url}/{s.stage}/@connections/{{connectionId}}",
        f"  metrics:            {game.http_url}/metrics",
        "  a token:            tickwire token --match arena-1 --player alice"
        + (f" --state-dir {s.state_dir}" if s.state_dir else ""),
    ]
    if s.issue_tokens:
        lines.append(
            f"                      or GET {game.http_url}/token?match=arena-1&player=alice"
        )
    if game.gateway.settings.require_signature and game.gateway.settings.sigv4_secrets is None:
        from infra.local.gateway.credentials import local_credentials

        # @connections verifies SigV4: the keys a tool outside this process may sign with.
        keys = local_credentials(game.gateway.state_dir).export_lines()
        lines.append(f"  @connections keys:  {keys[0]}; {keys[1]}")
    if game.gateway.ca is not None:
        lines.append(f"  TLS:                export AWS_CA_BUNDLE={game.gateway.ca.bundle_path}")
    if game.engines is not None:
        lines.append(
            f"  processes:          gateway {os.getpid()}, "
            f"engine {', '.join(map(str, game.engines.pids))} (--procs)"
        )
    lines.append("Ctrl-C stops (graceful drain).")
    return "\n".join(lines)
