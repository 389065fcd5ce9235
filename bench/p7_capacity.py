"""P7: players sustained by ``tickwire up`` with the swarm on the same machine.

performance.md's load profile: matches of 16, the server's 30 Hz simulation and 20 Hz
state, each bot sending a random movement input at 10 Hz; input->ack latency from sending
``seq`` to the first state whose ack >= seq; 20 s measured per step after ramp-up; a step
passes with p99 <= 100 ms and 0 errors (and every bot connected). The bot count steps up
until a step fails, then bisects (in whole matches) between the last pass and the first
failure; each step runs ``--step-reps`` times (3) and passes when most runs pass, since a
shared VM stalls now and then. Every error of a run (ramp included: a refused connect, a
late pacer, a decode failure) fails it, and the line names the criterion that failed.
The figure is the largest passing step, with where it stops: ``server``, ``bot-bound``
(a bot process near a whole core, or its input pacer behind schedule: then the figure
measures the bots, and ``--bot-procs`` may move it), or ``machine-bound`` (server and
bots together near every core of this machine).

Baseline, measured in the same run: P1's bare fan-out ceiling, reused from
``bench/p1_end_to_end.py``: a bare aiohttp server sending the reference game's state
messages (as the broadcaster would build them) to 16 clients per match, as fast as the
clients take them (median of ``--reps``, spread printed). The figure is printed as a ratio against it:
(players x 20 Hz) / ceiling messages per second, i.e. the share of a bare server's
fan-out that the whole stack (gateway, stream, engine, broadcaster) delivers at the
latency target.

Layout, as users run it: each step starts ``tickwire up`` as its own process (its default
``--procs``: gateway and engine processes; ``--procs`` to choose), or uses ``--url``; the
bots run in ``--bot-procs`` spawned processes. Each step also prints the server's CPU per
player-second and cores used (its whole process tree, from /proc, over the steady
window), the bots' cores, and the gateway loop's stalls over 5 ms in the window
(:mod:`tickwire.loopwatch`: wall-clock, and the loop's own, on-CPU part).

    python bench/p7_capacity.py            # steps 250..3000, 20 s each
    python bench/p7_capacity.py --quick    # < 60 s: baseline + two short steps
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _up_process import UpProcess, tree_cpu_seconds

from swarm.config import SwarmConfig
from swarm.fleet import Schedule
from swarm.report import build_report, failed_criteria, render_table, write_report
from swarm.runner import SPAWN_LEAD_S, run_swarm

MATCH_SIZE = 16
SEND_HZ = 20.0
INPUT_HZ = 10.0
STALL_PROBE_MS = 2.0
P99_LIMIT_MS = 100.0
# A bot process using more than this share of a core is the bottleneck, not the server.
BOT_BUSY = 0.9
# The whole machine (every process) above this share of its cores: it is full.
MACHINE_BUSY = 0.92


# -- baseline: P1's bare fan-out ----------------------------------------------------------


async def bare_fanout(matches: int, ticks: int) -> float:
    """P1's baseline, reused from bench/p1_end_to_end.py: a bare aiohttp server sending
    the broadcaster's precomputed state messages of the reference game (``matches`` x 16
    clients in a child process, ``ticks`` send ticks); messages delivered per second."""
    import p1_end_to_end as p1  # bench/ is on sys.path: this file's folder

    from broadcaster.fanout import BroadcastSettings

    messages = p1.precompute(p1.record_frames(matches, ticks), BroadcastSettings())
    return float(await p1.run_bare(messages, matches * MATCH_SIZE))


# -- the stack under the swarm ------------------------------------------------------------


class Sampler(threading.Thread):
    """Samples, every half second, the CPU seconds of this benchmark's whole process tree
    (the server under test and the swarm's processes are its children) and the server's
    own tree, and its loop-stall histograms; bounded by the run's length."""

    def __init__(self, up: UpProcess | None, seconds: float) -> None:
        super().__init__(daemon=True)
        self.up = up
        self.seconds = seconds
        self.samples: list[tuple[float, dict[int, float], set[int], Any, tuple[float, float]]] = []

    def run(self) -> None:
        end = time.time() + self.seconds
        while time.time() < end:
            server = set(self.up.cpu()) if self.up is not None else set()
            marks = self.up.stall_mark() if self.up is not None else None
            self.samples.append(
                (time.time(), tree_cpu_seconds(os.getpid()), server, marks, machine_cpu())
            )
            time.sleep(0.5)

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """CPU used between the samples nearest ``t0`` and ``t1`` (epoch seconds)."""
        inside = [x for x in self.samples if t0 - 0.5 <= x[0] <= t1 + 0.5] or self.samples
        a, b = inside[0], inside[-1]
        seconds = max(b[0] - a[0], 1e-9)
        # A process that ended inside the window counts up to its last sample.
        last: dict[int, float] = {}
        for sample in inside:
            last.update(sample[1])
        used = {pid: last[pid] - a[1].get(pid, 0.0) for pid in last}
        server_pids = set().union(*(x[2] for x in inside))
        server = sum(v for pid, v in used.items() if pid in server_pids)
        me = os.getpid()
        bots = {pid: v for pid, v in used.items() if pid not in server_pids and pid != me}
        stall = None
        if self.up is not None and a[3] is not None and b[3] is not None:
            stall = self.up.window_between(a[3], b[3])
        busy, total = (b[4][0] - a[4][0]), (b[4][1] - a[4][1])
        return {
            "seconds": seconds,
            "server_cores": server / seconds,
            "bot_cores": sum(bots.values()) / seconds,
            "busiest_bot_process": max(bots.values(), default=0.0) / seconds,
            "machine_busy": busy / total if total else 0.0,
            "stall": stall,
        }


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of every core, from /proc/stat: the whole machine's load,
    this benchmark's processes or not."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return float(total - idle), float(total)


async def step(args: argparse.Namespace, bots: int, seconds: float) -> dict[str, Any]:
    """One step: a fresh ``tickwire up`` process (or the --url server) and the swarm in
    ``--bot-procs`` processes of their own; the report with this step's CPU figures."""
    with contextlib.ExitStack() as stack:
        up: UpProcess | None = None
        if args.url:
            url, secret = args.url, args.secret
        else:
            # the loop-stall probe at 2 ms, so a stall over 5 ms cannot hide between probes
            # (tickwire up's default 10 ms costs less CPU but resolves less)
            up = stack.enter_context(
                UpProcess(
                    "--loop-probe-ms",
                    str(STALL_PROBE_MS),
                    procs=args.procs,
                    account_rate=args.account_rate,
                )
            )
            url, secret = up.ws_url, up.secret
        config = SwarmConfig(
            url=url,
            bots=bots,
            matches=-(-bots // MATCH_SIZE),
            duration_s=seconds,
            input_hz=INPUT_HZ,
            secret=secret,
            spawn=True,  # the bots get processes of their own
            procs=args.bot_procs,
            interval_s=2.0,
            tick_hz=args.tick_hz,
            behaviour="wander",
        )
        schedule = Schedule(config)
        sampler = Sampler(up, SPAWN_LEAD_S + schedule.end_s + 5.0)
        started = time.time()
        sampler.start()
        result = await run_swarm(config)
        sampler.join()
    # The swarm's steady window, from its common start (SPAWN_LEAD_S after the launch).
    t0 = started + SPAWN_LEAD_S + schedule.steady_index * schedule.interval
    cpu = sampler.window(t0, started + SPAWN_LEAD_S + schedule.end_s)
    report = build_report(result, server_cores=cpu["server_cores"], p99_limit_ms=P99_LIMIT_MS)
    # The verdict counts every error of the measured window (the swarm's own report counts
    # the ramp's too: a bot process that reaches the common start late on a loaded
    # machine is behind its pacer before the first connect). Ramp errors are printed.
    window_errors = dict(result.steady.errors)
    if result.crashes:
        window_errors["process:crash"] = len(result.crashes)
    failed = failed_criteria(
        p99_ms=result.steady.percentiles("ack")["p99"],
        p99_limit_ms=P99_LIMIT_MS,
        errors=window_errors,
        connected_min=report["summary"]["connected_min"],
        bots=bots,
    )
    report["capacity"].update(passed=not failed, failed=failed)
    report["window_errors"] = window_errors
    report["ramp_errors"] = {
        k: v - window_errors.get(k, 0)
        for k, v in report["summary"]["errors"].items()
        if v - window_errors.get(k, 0)
    }
    report["cpu"] = {
        "server_ms_per_player_s": 1000.0 * cpu["server_cores"] / bots,
        "server_cores": cpu["server_cores"],
        "bot_cores": cpu["bot_cores"],
        "busiest_bot_process": cpu["busiest_bot_process"],
        "machine_busy": cpu["machine_busy"],
        "stall": cpu["stall"].summary() if cpu["stall"] is not None else None,
        "own_stalls_over_5ms": cpu["stall"].own_over(0.005) if cpu["stall"] is not None else None,
    }
    report["bound"] = bound(report)
    return report


def bound(report: dict[str, Any]) -> str:
    """Who ran out: the bots (a bot process near a whole core), the machine (every core
    near full, this run's processes or others: a bot or server process then waits for a
    core, and the pacer falls behind without being busy), the server, or nobody."""
    cpu = report["cpu"]
    if cpu["busiest_bot_process"] > BOT_BUSY:
        return "bot-bound"
    if cpu["machine_busy"] > MACHINE_BUSY:
        return f"machine-bound: every core {100 * cpu['machine_busy']:.0f} % busy"
    if report["summary"]["errors"].get("pacer:behind", 0):
        return "bots behind schedule without a busy core: starved by other load"
    return "server"


async def main(args: argparse.Namespace) -> int:
    steps = [int(s) for s in args.steps.split(",")]
    measure = args.measure
    reps = args.reps
    if args.quick:
        steps = steps[:2] if args.steps != DEFAULT_STEPS else [64, 160]
        measure, reps = 6.0, 2
        args.refine = min(args.refine, 1)
        args.step_reps = 1
    print(f"P7 capacity: steps {steps}, {measure:g} s measured per step", flush=True)
    matches, ticks = (8, 60) if args.quick else (20, 100)  # P1's own sizes
    ceilings = [await bare_fanout(matches, ticks) for _ in range(reps)]
    ceiling = statistics.median(ceilings)
    print(
        f"baseline (P1 bare fan-out: {matches * MATCH_SIZE} clients, the reference game's "
        f"state messages): {ceiling:,.0f} msg/s, median of {reps} "
        f"(spread {min(ceilings):,.0f}..{max(ceilings):,.0f})",
        flush=True,
    )
    best: dict[str, Any] | None = None
    failed: int | None = None
    last_bound = ""
    queue = list(steps)
    refine = args.refine
    while queue:
        bots = queue.pop(0)
        # A shared VM stalls now and then: each step runs --step-reps times and passes
        # when most of its runs pass (the p99 printed is the median of the runs).
        reports = []
        for _ in range(args.step_reps):
            reports.append(await step(args, bots, measure))
        passes = [r for r in reports if r["capacity"]["passed"]]
        ok = 2 * len(passes) > len(reports)
        p99s = sorted(r["summary"]["latency_ms"]["ack"]["p99"] or float("inf") for r in reports)
        report = passes[0] if ok else reports[0]
        s = report["summary"]
        ack = s["latency_ms"]["ack"]
        cpu = report["cpu"]
        failed_why = "; ".join(report["capacity"]["failed"]) if not ok else ""
        print(
            f"  {bots:>5} players: p50 {ack['p50']} ms, p99 median {statistics.median(p99s)} ms "
            f"(runs: {', '.join(f'{p:g}' for p in p99s)}), {s['msgs_in_per_s']:,.0f} state "
            f"msg/s, errors in the window {[sum(r['window_errors'].values()) for r in reports]} "
            f"{dict(sorted(report['window_errors'].items())[:3])}, in the ramp "
            f"{report['ramp_errors'] or 0} -> {'pass' if ok else 'FAIL'}"
            f"{f' ({failed_why})' if failed_why else ''} [{report['bound']}]\n"
            f"         server {cpu['server_ms_per_player_s']:.3f} ms CPU per player-second "
            f"({cpu['server_cores']:.2f} cores), bots {cpu['bot_cores']:.2f} cores (busiest "
            f"process {100 * cpu['busiest_bot_process']:.0f} %), machine "
            f"{100 * cpu['machine_busy']:.0f} % busy; {cpu['stall']}",
            flush=True,
        )
        if args.report_dir:
            write_report(report, Path(args.report_dir) / f"p7-{bots}.json")
        if ok:
            best = report
        else:
            failed = bots
            last_bound = report["bound"]
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
    cores = best["cpu"]["server_cores"]
    print(render_table(best))
    stops = f"first failure at {failed} players [{last_bound}]" if failed else "no step failed"
    print(
        f"P7: {players} players sustained (target >= 1,000) on {cores:.2f} server cores "
        f"({best['cpu']['server_ms_per_player_s']:.3f} ms CPU per player-second); "
        f"{players * SEND_HZ:,.0f} state msg/s = {ratio:.2f} x the bare fan-out ceiling; "
        f"{stops}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "players": players,
                    "server_cores": round(cores, 2),
                    "server_ms_per_player_s": round(best["cpu"]["server_ms_per_player_s"], 3),
                    "stops": last_bound or None,
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
    p.add_argument("--step-reps", type=int, default=3, help="runs per step (majority passes)")
    p.add_argument("--url", help="an already running server (else tickwire up per step)")
    p.add_argument("--procs", type=int, default=None, help="tickwire up --procs (its default)")
    p.add_argument("--bot-procs", type=int, default=1, help="processes for the bots (1)")
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
