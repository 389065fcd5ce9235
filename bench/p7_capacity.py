"""P7: players sustained by ``tickwire up`` with the swarm on the same machine.

performance.md's load profile: matches of 16, the server's 30 Hz simulation and 20 Hz
state, each bot sending a random movement input at 10 Hz; input->ack latency from sending
``seq`` to the first state whose ack >= seq; 20 s measured per step after ramp-up; a step
passes with p99 <= 100 ms and 0 errors (and every bot connected). The bot count steps up
until a step fails; the figure is the largest passing step, and players per server core
(the embedded game is one process: one core).

Baseline, measured in the same run: P1's bare fan-out ceiling, a bare aiohttp server
sending a state-sized binary message to the same number of clients as fast as it can
(median of ``--reps``, spread printed). The figure is printed as a ratio against it:
(players x 20 Hz) / ceiling messages per second, i.e. the share of a bare server's
fan-out that the whole stack (gateway, stream, engine, broadcaster) delivers at the
latency target.

Layout: the game runs in this process (``tickwire.embedded.EmbeddedGame``) or at
``--url`` (e.g. a ``tickwire up`` started by hand); the bots always run in a spawned child
process, so server and swarm each get a core of this 2-core machine.

    python bench/p7_capacity.py            # steps 250..3000, 20 s each
    python bench/p7_capacity.py --quick    # < 60 s: baseline + two short steps
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from swarm.config import SwarmConfig
from swarm.report import build_report, render_table, write_report
from swarm.runner import run_swarm

MATCH_SIZE = 16
SEND_HZ = 20.0
INPUT_HZ = 10.0
P99_LIMIT_MS = 100.0
# A steady-state delta of a 16-player match is about this size (P6 targets <= 4 B per
# moving entity plus the 27 B header/array framing).
STATE_BYTES = 100


# -- baseline: bare fan-out ---------------------------------------------------------------


def _count_clients(url: str, clients: int, seconds: float, out: Any) -> None:
    """Child process: ``clients`` WebSockets that count what they receive."""

    async def main() -> None:
        counts = [0] * clients
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            sockets = [await s.ws_connect(url, max_msg_size=0) for _ in range(clients)]
            out.put("ready")

            async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.BINARY:
                        counts[i] += 1

            tasks = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
            await asyncio.sleep(seconds + 1.0)
            for t in tasks:
                t.cancel()
            for ws in sockets:
                await ws.close()
        out.put(sum(counts))

    asyncio.run(main())


async def bare_fanout(clients: int, seconds: float) -> float:
    """Messages/s a bare aiohttp server sends to ``clients`` sockets (one core)."""
    payload = bytes(STATE_BYTES)
    sockets: list[web.WebSocketResponse] = []
    all_in = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        if len(sockets) == clients:
            all_in.set()
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(
        target=_count_clients, args=(f"ws://127.0.0.1:{port}/", clients, seconds, out)
    )
    child.start()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(all_in.wait(), 60)
        await loop.run_in_executor(None, out.get, True, 60)
        sent = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            for ws in sockets:
                await ws.send_bytes(payload)
            sent += len(sockets)
            await asyncio.sleep(0)  # let the transport flush
        received = await loop.run_in_executor(None, out.get, True, 60)
    finally:
        await loop.run_in_executor(None, child.join, 30)
        await runner.cleanup()
    # the client counts what arrived in the window (plus what was in flight at its end)
    return float(min(sent, received)) / seconds


# -- the stack under the swarm ------------------------------------------------------------


@contextlib.asynccontextmanager
async def game_target(args: argparse.Namespace) -> Any:
    """(ws_url, secret, game or None) of the server under test."""
    if args.url:
        yield args.url, args.secret, None
        return
    from dataclasses import replace

    from infra.local.gateway.settings import GatewaySettings
    from tickwire.embedded import EmbeddedGame, UpSettings  # the lead's composition root

    # P7 measures the machine, not the AWS account: the local gateway's copy of the
    # account throttle (10,000 requests/s, which caps 20 Hz + 10 Hz at 333 players) is
    # lifted, as a quota increase would lift it on AWS; P8 and the planner cover the quota.
    gateway = replace(
        GatewaySettings(),
        account_rate_per_s=args.account_rate,
        account_burst=int(args.account_rate),
    )
    async with EmbeddedGame(UpSettings(port=0, gateway=gateway)) as game:
        yield game.ws_url, game.jwt_secret, game


async def step(args: argparse.Namespace, bots: int, seconds: float) -> dict[str, Any]:
    async with game_target(args) as (url, secret, _game):
        config = SwarmConfig(
            url=url,
            bots=bots,
            matches=-(-bots // MATCH_SIZE),
            duration_s=seconds,
            input_hz=INPUT_HZ,
            secret=secret,
            spawn=True,  # the bots get their own process (and core)
            interval_s=2.0,
            tick_hz=args.tick_hz,
            behaviour="wander",
        )
        result = await run_swarm(config)
    return build_report(result, server_cores=1.0, p99_limit_ms=P99_LIMIT_MS)


async def main(args: argparse.Namespace) -> int:
    steps = [int(s) for s in args.steps.split(",")]
    measure = args.measure
    reps = args.reps
    if args.quick:
        steps = steps[:2] if args.steps != DEFAULT_STEPS else [64, 160]
        measure, reps = 6.0, 2
        args.refine = min(args.refine, 1)
    print(f"P7 capacity: steps {steps}, {measure:g} s measured per step", flush=True)
    baseline_clients = min(steps[-1], 1000)
    ceilings = [
        await bare_fanout(baseline_clients, 3.0 if args.quick else 5.0) for _ in range(reps)
    ]
    ceiling = statistics.median(ceilings)
    print(
        f"baseline (P1 bare fan-out, {baseline_clients} clients, {STATE_BYTES} B): "
        f"{ceiling:,.0f} msg/s median of {reps} (spread {min(ceilings):,.0f}..{max(ceilings):,.0f})",
        flush=True,
    )
    best: dict[str, Any] | None = None
    failed: int | None = None
    queue = list(steps)
    refine = args.refine
    while queue:
        bots = queue.pop(0)
        report = await step(args, bots, measure)
        s = report["summary"]
        ack = s["latency_ms"]["ack"]
        ok = report["capacity"]["passed"]
        print(
            f"  {bots:>5} players: p50 {ack['p50']} p99 {ack['p99']} ms, "
            f"{s['msgs_in_per_s']:,.0f} state msg/s, errors {s['error_count']} "
            f"{dict(sorted(s['errors'].items())[:3])} -> {'pass' if ok else 'FAIL'}",
            flush=True,
        )
        if args.report_dir:
            write_report(report, Path(args.report_dir) / f"p7-{bots}.json")
        if ok:
            best = report
        else:
            failed = bots
            queue = []
        # Bisect between the last pass and the first failure, in whole matches.
        if not queue and failed is not None and refine > 0:
            low = best["summary"]["bots"] if best else 0
            mid = (low + failed) // 2 // MATCH_SIZE * MATCH_SIZE
            if low < mid < failed:
                refine -= 1
                queue = [mid]
    if best is None:
        print("P7: no step passed")
        return 1
    players = best["summary"]["bots"]
    ratio = players * SEND_HZ / ceiling
    print(render_table(best))
    print(
        f"P7: {players} players sustained (target >= 2,000), {players:.0f} players per core; "
        f"{players * SEND_HZ:,.0f} state msg/s = {ratio:.2f} x the bare fan-out ceiling"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "players": players,
                    "players_per_core": players,
                    "baseline_msgs_per_s": ceiling,
                    "ratio": round(ratio, 3),
                }
            )
        )
    return 0


DEFAULT_STEPS = "100,250,500,1000,1500,2000,2500,3000"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="finish in about a minute")
    p.add_argument("--steps", default=DEFAULT_STEPS)
    p.add_argument("--refine", type=int, default=3, help="bisection steps after a failure")
    p.add_argument("--measure", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--reps", type=int, default=3, help="baseline repetitions")
    p.add_argument("--url", help="an already running server (else EmbeddedGame in-process)")
    p.add_argument("--secret", help="its JWT secret (with --url)")
    p.add_argument("--tick-hz", type=float, default=30.0, help="the server's simulation rate")
    p.add_argument(
        "--account-rate",
        type=float,
        default=1_000_000.0,
        help="the local gateway's account throttle for the run (requests/s)",
    )
    p.add_argument("--report-dir", help="write each step's swarm report here")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    if arguments.report_dir:
        Path(arguments.report_dir).mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(arguments)))
