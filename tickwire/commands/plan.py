"""``tickwire plan``: shards, workers, the account throttle and the monthly bill."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from swarm.errors import SwarmError
from swarm.planner import DEFAULT_PLAYERS_PER_CORE, Workload


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plan",
        help="plan shards, workers, quotas and monthly cost for a player count",
        description="Capacity and cost plan for a tickwire deployment on AWS (pure "
        "calculation from the dated price table in swarm/prices.json).",
    )
    p.add_argument("--players", type=int, required=True, help="concurrent players")
    p.add_argument("--match-size", type=int, default=16)
    p.add_argument(
        "--send-rate",
        dest="send_hz",
        type=float,
        default=20.0,
        help="state messages per player per s (20; tickwire up --send-rate)",
    )
    p.add_argument("--send-hz", dest="send_hz", type=float, help=argparse.SUPPRESS)  # old name
    p.add_argument("--input-hz", type=float, default=10.0, help="inputs per player per s")
    p.add_argument(
        "--players-per-core",
        type=float,
        default=None,
        help=f"measured worker capacity (default {DEFAULT_PLAYERS_PER_CORE:g})",
    )
    p.add_argument(
        "--from-report",
        action="append",
        metavar="REPORT",
        help="swarm reports of one target (repeat it): players per core from the largest "
        "passing run, once a run with more bots failed (a passing run alone is no ceiling)",
    )
    p.add_argument("--record-bytes", type=int, default=300)
    p.add_argument("--state-bytes", type=int, default=300)
    p.add_argument("--task-vcpu", type=float, default=1.0)
    p.add_argument("--task-memory-gb", type=float, default=2.0)
    p.add_argument("--kinesis-mode", choices=("provisioned", "on-demand"), default="provisioned")
    p.add_argument(
        "--occupancy", type=float, default=1.0, help="share of the month at this concurrency (0-1]"
    )
    p.add_argument("--prices", default=None, help="price table JSON (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarm.ceiling import ceiling_from_reports
    from swarm.planner import plan, render_plan
    from swarm.prices import load_prices
    from swarm.report import load_report

    try:
        per_core = args.players_per_core
        if args.from_report:
            ceiling = ceiling_from_reports({p: load_report(p) for p in args.from_report})
            print(f"tickwire plan: {ceiling.describe()}", file=sys.stderr)
            per_core = ceiling.players_per_core
        workload = Workload(
            players=args.players,
            match_size=args.match_size,
            send_hz=args.send_hz,
            input_hz=args.input_hz,
            players_per_core=per_core if per_core is not None else DEFAULT_PLAYERS_PER_CORE,
            record_bytes=args.record_bytes,
            state_bytes=args.state_bytes,
            task_vcpu=args.task_vcpu,
            task_memory_gb=args.task_memory_gb,
            kinesis_mode=args.kinesis_mode,
            occupancy=args.occupancy,
        )
        result = plan(workload, load_prices(args.prices))
    except SwarmError as exc:
        print(f"tickwire plan: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=1) if args.json else render_plan(result))
    return 0
