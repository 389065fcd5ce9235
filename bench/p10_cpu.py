"""P10: server CPU per player-second on P7's profile, against a bare floor in the same run.

The server under test is ``tickwire up`` run as its own process, as users run it (its
default ``--procs``), with the reference game. The load is the same for it and the floor:
``--players`` WebSocket clients (matches of 16) in ``--client-procs`` processes of their
own, each sending a movement input as a text frame at 10 Hz with a rising ``seq`` and
reading everything the server sends. CPU is user + system time of the server's whole
process tree, from ``/proc``, over the steady window (after ``--warmup``).

The floor: a bare aiohttp server (the WebSocket library tickwire's gateway is built on)
that reads the same text frames and drops them, and sends every connection one binary
frame 20 times a second, of the average size the clients received from tickwire in this
run; it does nothing else. The figure is tickwire's CPU per player-second divided by the
floor's (target <= 2).

``--profile`` also samples the server's processes with py-spy during the window and
prints where the time goes, by area (the leaf-most frame in tickwire's own packages or
a known library decides the area).

    python bench/p10_cpu.py                 # 400 players, 10 s warm-up, 20 s window, 3 reps
    python bench/p10_cpu.py --quick         # 160 players, 1 rep: about a minute
    python bench/p10_cpu.py --players 1000 --profile
    python bench/p10_cpu.py --window 60 --reps 1 --loop-probe-ms 2   # stalls over 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _up_process import UpProcess, free_port, tree_cpu_seconds

MATCH_SIZE = 16
INPUT_HZ = 10.0
SEND_HZ = 20.0
TARGET = 2.0


# -- the load: the same clients for both servers ------------------------------------------


async def _client(url: str, seq0: int, stop_at: float, marks: list[float], counts: Any) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        rng = random.Random(seq0)
        seq = 0
        loop = asyncio.get_running_loop()

        async def reader() -> None:
            async for msg in ws:
                now = loop.time()
                i = 0 if now < marks[0] else (1 if now < marks[1] else 2)
                counts[i][0] += 1
                counts[i][1] += len(msg.data)

        task = asyncio.create_task(reader())
        next_at = loop.time() + rng.random() / INPUT_HZ
        while loop.time() < stop_at:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += 1 / INPUT_HZ
            seq += 1
            x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
            await ws.send_str(
                f'{{"action":"input","seq":{seq},"move":[{x:.3f},{y:.3f}],'
                f'"aim":[1.000,0.000],"fire":false}}'
            )
        task.cancel()


def _load(urls: list[str], start: float, warmup: float, window: float, pipe: Connection) -> None:
    """One client process: its share of the players; sends back (messages, bytes) received
    within the window."""

    async def main() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        offset = loop.time() - time.time()
        marks = [start + warmup + offset, start + warmup + window + offset]
        counts = [[0, 0], [0, 0], [0, 0]]
        clients = []
        for i, url in enumerate(urls):
            clients.append(asyncio.create_task(_client(url, i, marks[1] + 0.5, marks, counts)))
            await asyncio.sleep(0.002)  # a steady ramp, not a connect storm
        results = await asyncio.gather(*clients, return_exceptions=True)
        errors = sum(1 for r in results if isinstance(r, BaseException))
        return counts[1][0], counts[1][1], errors

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:
        result = asyncio.run(main())
    pipe.send(result)


def run_load(
    urls: list[str],
    procs: int,
    warmup: float,
    window: float,
    server_pid: int,
    up: UpProcess | None = None,
) -> dict[str, Any]:
    """Run the clients; measure the server tree's CPU (and, with ``up``, its loop stalls)
    over the window."""
    ctx = mp.get_context("spawn")
    start = time.time() + 2.0  # time for the client processes to import
    pipes, children = [], []
    for k in range(procs):
        mine, theirs = ctx.Pipe()
        p = ctx.Process(target=_load, args=(urls[k::procs], start, warmup, window, theirs))
        p.start()
        pipes.append(mine)
        children.append(p)
    time.sleep(max(0.0, start + warmup - time.time()))
    mark = up.stall_mark() if up is not None else None
    cpu0 = tree_cpu_seconds(server_pid)
    client_cpu0 = sum(sum(tree_cpu_seconds(p.pid).values()) for p in children)  # type: ignore[arg-type]
    time.sleep(window)
    cpu1 = tree_cpu_seconds(server_pid)
    stall = up.stall_window(mark) if up is not None and mark is not None else None
    client_cpu1 = sum(sum(tree_cpu_seconds(p.pid).values()) for p in children)  # type: ignore[arg-type]
    results = [pipe.recv() for pipe in pipes]
    for p in children:
        p.join(30)
    per_pid = {pid: cpu1.get(pid, 0.0) - cpu0.get(pid, 0.0) for pid in cpu1}
    return {
        "cpu_s": sum(per_pid.values()),
        "per_pid": per_pid,
        "client_cpu_s": client_cpu1 - client_cpu0,
        "messages": sum(r[0] for r in results),
        "bytes": sum(r[1] for r in results),
        "errors": sum(r[2] for r in results),
        "stall": stall,
    }


# -- the floor -------------------------------------------------------------------------------


async def _floor_serve(port: int, size: int, ready: Connection) -> None:
    from aiohttp import WSMsgType, web

    sockets: set[web.WebSocketResponse] = set()
    payload = bytes([0x95]) + os.urandom(max(0, size - 1))

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
        finally:
            sockets.discard(ws)
        return ws

    async def sender() -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += 1 / SEND_HZ
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            for ws in list(sockets):
                if not ws.closed:
                    await ws.send_bytes(payload)

    app = web.Application()
    app.router.add_get("/local", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    task = asyncio.create_task(sender())
    ready.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, ready.recv)
    task.cancel()
    await runner.cleanup()


def _floor_main(port: int, size: int, ready: Connection) -> None:
    import uvloop

    uvloop.run(_floor_serve(port, size, ready))


# -- the profile ----------------------------------------------------------------------------

# (area, substrings of a frame's file); the first area matched from the leaf up wins.
AREAS = [
    ("link (engine <-> gateway)", ("infra/local/link/", "connections/link.py")),
    ("engine tick", ("game_engine/arena.py", "game_engine/engine.py", "game_engine/rules.py")),
    ("engine intake (records)", ("game_engine/consumer.py", "ingest/records.py", "game_engine/")),
    ("broadcaster", ("broadcaster/",)),
    (
        "ingest: VTL + stream append",
        ("infra/local/vtl/", "infra/local/stream.py", "kinesis_service"),
    ),
    (
        "gateway: read loop",
        ("gateway/sessions.py", "gateway/routing.py", "gateway/integrations.py"),
    ),
    ("gateway: sends", ("gateway/server.py", "gateway/frames.py")),
    ("metrics/loop watch", ("tickwire/exporter.py", "tickwire/loopwatch.py", "prometheus_client")),
    ("aiohttp (WebSocket I/O)", ("aiohttp/",)),
    ("msgpack/numpy", ("msgpack", "numpy")),
    ("asyncio/uvloop", ("asyncio/", "uvloop")),
]


def profile_start(pids: list[int], seconds: float, folder: Path) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy")
    if spy is None:
        print("  (py-spy not installed: pip install py-spy; no profile)")
        return []
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "--format",
                "raw",
                "-r",
                "200",
                "-d",
                str(int(seconds)),
                "--nonblocking",
                "-p",
                str(pid),
                "-o",
                str(folder / f"{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def profile_report(folder: Path) -> None:
    for path in sorted(folder.glob("*.txt")):
        areas: Counter[str] = Counter()
        total = 0
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            area = "other"
            for frame in reversed(frames):
                hit = next((a for a, keys in AREAS if any(k in frame for k in keys)), None)
                if hit:
                    area = hit
                    break
            areas[area] += n
        if total:
            print(f"  profile of pid {path.stem} ({total} samples, Python frames only):")
            for area, n in areas.most_common():
                print(f"    {100 * n / total:5.1f} %  {area}")


# -- the run ----------------------------------------------------------------------------------


def measure_tickwire(args: argparse.Namespace) -> dict[str, Any]:
    from ingest.tokens import mint

    probe = ["--loop-probe-ms", str(args.loop_probe_ms)] if args.loop_probe_ms else []
    with UpProcess(*probe, procs=args.procs) as up:
        secret = up.secret
        urls = [
            f"{up.ws_url}?token="
            + mint(secret, match=f"m{i // MATCH_SIZE}", player=f"p{i}", ttl=3600)
            for i in range(args.players)
        ]
        assert up.process is not None
        folder = Path(args.profile_dir or tempfile.mkdtemp(prefix="p10-profile-"))
        folder.mkdir(parents=True, exist_ok=True)
        spies: list[subprocess.Popen[bytes]] = []
        if args.profile:
            delay = 2.0 + args.warmup
            pids = list(up.cpu())

            def later() -> None:
                time.sleep(delay)
                spies.extend(profile_start(pids, args.window, folder))

            import threading

            threading.Thread(target=later, daemon=True).start()
        result = run_load(urls, args.client_procs, args.warmup, args.window, up.process.pid, up)
        for spy in spies:
            spy.wait(60)
        if args.profile:
            profile_report(folder)
        if not args.profile_dir:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def measure_floor(args: argparse.Namespace, size: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port = free_port()
    mine, theirs = ctx.Pipe()
    server = ctx.Process(target=_floor_main, args=(port, size, theirs), daemon=True)
    server.start()
    mine.recv()
    urls = [f"ws://127.0.0.1:{port}/local"] * args.players
    try:
        assert server.pid is not None
        return run_load(urls, args.client_procs, args.warmup, args.window, server.pid)
    finally:
        mine.send("stop")
        server.join(10)


def per_player_second_ms(result: dict[str, Any], args: argparse.Namespace) -> float:
    return 1000.0 * result["cpu_s"] / (args.players * args.window)


def main(args: argparse.Namespace) -> int:
    print(
        f"P10: {args.players} players (matches of {MATCH_SIZE}), inputs at {INPUT_HZ:g} Hz, "
        f"{args.warmup:g} s warm-up, {args.window:g} s window, {args.reps} rep(s)",
        flush=True,
    )
    ours, floors = [], []
    for rep in range(args.reps):
        t = measure_tickwire(args)
        if not t["messages"]:
            print("  tickwire delivered nothing: no figure")
            return 1
        size = round(t["bytes"] / t["messages"])
        f = measure_floor(args, size)
        a, b = per_player_second_ms(t, args), per_player_second_ms(f, args)
        ours.append(a)
        floors.append(b)
        rate = t["messages"] / (args.players * args.window)
        print(
            f"  rep {rep + 1}: tickwire {a:.3f} ms CPU per player-second "
            f"({', '.join(f'{c:.1f}' for c in t['per_pid'].values())} s by process; "
            f"{rate:.1f} state msg/s per player, avg {size} B, client errors {t['errors']}); "
            f"floor {b:.3f} ms ({f['messages'] / (args.players * args.window):.1f} msg/s "
            f"per player); ratio {a / b:.2f}",
            flush=True,
        )
        stall = t["stall"]
        if stall is not None:
            print(f"         gateway process: {stall.summary()}", flush=True)
    a, b = statistics.median(ours), statistics.median(floors)
    ratios = [x / y for x, y in zip(ours, floors, strict=True)]
    print(
        f"P10: tickwire {a:.3f} ms CPU per player-second, floor {b:.3f} ms: "
        f"{a / b:.2f} x the floor (spread {min(ratios):.2f}..{max(ratios):.2f}; target <= "
        f"{TARGET:g})"
    )
    return 0 if a / b <= TARGET else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--players", type=int, default=400)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--procs", type=int, default=None, help="tickwire up --procs (its default)")
    p.add_argument("--client-procs", type=int, default=None)
    p.add_argument(
        "--loop-probe-ms",
        type=float,
        default=None,
        help="tickwire up --loop-probe-ms (its default, 10; 2 to resolve stalls near 5 ms)",
    )
    p.add_argument("--profile", action="store_true", help="py-spy the server in the window")
    p.add_argument("--profile-dir", help="keep py-spy's raw stacks here")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.players, args.warmup, args.window, args.reps = 160, 6.0, 10.0, 1
    if args.client_procs is None:
        args.client_procs = max(1, -(-args.players // 500))
    return args


if __name__ == "__main__":
    sys.exit(main(parse()))
