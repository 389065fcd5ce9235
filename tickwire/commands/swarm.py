"""``tickwire swarm``: load-test a tickwire server (``tickwire up`` or a stack) with bots."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ingest.tokens import resolve_secret
from swarm.behaviour import BEHAVIOURS
from swarm.config import DEFAULT_PEEK, DEFAULT_TICK_HZ, SwarmConfig
from swarm.errors import SwarmError
from swarm.settings import ACK_TIMEOUT_S, CONNECT_TIMEOUT_S, INTERVAL_S, MAX_NEW_CONNECTIONS_PER_S
from tickwire.loops import event_loop_runner


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "swarm",
        help="load-test a server with a swarm of bots",
        description="Connect N bots (each with its own token) to a tickwire WebSocket URL, "
        "play for a fixed time, and report latency percentiles, throughput, errors and the "
        "AWS bill/quota view of the run.",
    )
    p.add_argument(
        "--url",
        required=True,
        help="ws:// or wss:// URL of the API stage (ws://127.0.0.1:8080/local for tickwire up)",
    )
    p.add_argument("--bots", type=int, default=100)
    p.add_argument(
        "--matches",
        type=int,
        default=None,
        help="default: bots / 16 rounded up (the reference game admits 16 per match)",
    )
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds after ramp-up")
    p.add_argument(
        "--ramp", type=float, default=0.0, help="ramp-up seconds (the cap still applies)"
    )
    p.add_argument("--input-hz", type=float, default=10.0)
    p.add_argument("--procs", type=int, default=1, help="bot processes (one per core)")
    tokens = p.add_mutually_exclusive_group()
    tokens.add_argument(
        "--secret",
        help="JWT secret to mint tokens (default: TICKWIRE_JWT_SECRET, else the local dev "
        "secret in ~/.tickwire/jwt-secret, as tickwire token and tickwire up use)",
    )
    tokens.add_argument("--token-url", help="GET URL?match=&player= returning a token")
    p.add_argument("--state-dir", type=Path, default=None, help="where the local dev secret lives")
    p.add_argument("--audience", default=os.environ.get("TICKWIRE_JWT_AUDIENCE", "tickwire"))
    p.add_argument("--issuer", default=os.environ.get("TICKWIRE_JWT_ISSUER", "tickwire"))
    p.add_argument("--behaviour", choices=BEHAVIOURS, default="wander")
    p.add_argument(
        "--max-connect-rate",
        type=float,
        default=MAX_NEW_CONNECTIONS_PER_S,
        help="new connections/s cap (AWS quota: 500/s per account and Region)",
    )
    p.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds per interval line")
    p.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S)
    p.add_argument("--ack-timeout", type=float, default=ACK_TIMEOUT_S)
    p.add_argument(
        "--tick-rate",
        dest="tick_hz",
        type=float,
        default=DEFAULT_TICK_HZ,
        help="the server's simulation rate, Hz (30; tickwire up --tick-rate)",
    )
    p.add_argument("--tick-hz", dest="tick_hz", type=float, help=argparse.SUPPRESS)  # old name
    p.add_argument("--peek", default=DEFAULT_PEEK, help="module:function reading a header")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--server-cores", type=float, default=1.0, help="for players per core")
    p.add_argument("--p99-limit", type=float, default=100.0, help="ms, for the verdict")
    p.add_argument("--prices", default=None, help="price table JSON (default: the shipped one)")
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument("--html", help="write the self-contained HTML report here")
    p.add_argument(
        "--render-task",
        action="store_true",
        help="print the ECS Fargate task definition for running this swarm on AWS and exit",
    )
    p.set_defaults(func=run, swarm_parser=p)


def _task_argv(args: argparse.Namespace) -> list[str]:
    """The options given on this command line (those that differ from the defaults)."""
    parser: argparse.ArgumentParser = args.swarm_parser
    argv: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "render_task", "state_dir"):
            continue
        if action.help == argparse.SUPPRESS:  # an old flag name: its new one carries it
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        argv += [action.option_strings[0], str(value)]
    return argv


def _config(args: argparse.Namespace) -> SwarmConfig:
    secret = None
    if args.token_url is None:  # as tickwire token: --secret, the variable, the local secret
        secret = resolve_secret(args.secret, args.state_dir)
    return SwarmConfig(
        url=args.url,
        bots=args.bots,
        matches=args.matches if args.matches is not None else -(-args.bots // 16),
        duration_s=args.duration,
        ramp_s=args.ramp,
        input_hz=args.input_hz,
        procs=args.procs,
        secret=secret,
        token_url=args.token_url,
        audience=args.audience,
        issuer=args.issuer,
        behaviour=args.behaviour,
        max_connect_rate=args.max_connect_rate,
        interval_s=args.interval,
        connect_timeout_s=args.connect_timeout,
        ack_timeout_s=args.ack_timeout,
        tick_hz=args.tick_hz,
        peek=args.peek,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    from swarm.display import IntervalPrinter
    from swarm.fleet import Schedule
    from swarm.prices import load_prices
    from swarm.report import build_report, render_table, write_report
    from swarm.runner import run_swarm

    if args.render_task:
        from infra.aws.swarm_task import TaskTemplateError, render_task_json

        try:
            print(render_task_json(_task_argv(args)))
        except TaskTemplateError as exc:
            print(f"tickwire swarm: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        config = _config(args)
        prices = load_prices(args.prices)
    except SwarmError as exc:
        print(f"tickwire swarm: {exc}", file=sys.stderr)
        return 2
    schedule = Schedule(config)
    # What the summary will count: whole intervals (--duration rounded up to --interval).
    measured_s = (schedule.intervals - schedule.steady_index) * schedule.interval
    print(
        f"swarm {config.run_id}: {config.bots} bots in {config.matches} matches, "
        f"{config.procs} process(es), ramp {schedule.ramp_s:.1f} s, measured "
        f"{measured_s:g} s -> {config.url}",
        flush=True,
    )
    if args.secret is None and args.token_url is None and "TICKWIRE_JWT_SECRET" not in os.environ:
        print("tokens: minted with the local dev secret (tickwire up's)", flush=True)
    printer = IntervalPrinter(bots=config.bots, interval_s=config.interval_s, end_s=schedule.end_s)
    try:
        result = event_loop_runner()(run_swarm(config, on_interval=printer))
    except KeyboardInterrupt:
        printer.close()
        print("tickwire swarm: interrupted", file=sys.stderr)
        return 130
    printer.close()
    report = build_report(
        result, prices=prices, server_cores=args.server_cores, p99_limit_ms=args.p99_limit
    )
    print(render_table(report))
    if args.report:
        write_report(report, args.report)
        print(f"report: {args.report}")
    if args.html:
        from swarm.html import write_html

        write_html(report, args.html)
        print(f"html: {args.html}")
    return 0 if report["capacity"]["passed"] else 1
