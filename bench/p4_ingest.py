"""P4: client messages/s routed into the embedded stream, vs a bare aiohttp server.

The measured path is tickwire's whole ingest hot path: the local gateway receives a text
frame, selects the route (``$request.body.action``), renders the route's real Kinesis
request template (authorizer context from the JWT checked on $connect, ``$util``
escaping, base64), and the embedded Kinesis service appends the record to the embedded
stream. The baseline, in the same run, is a bare aiohttp WebSocket server that receives
and drops the same frames. A separate client process (one per rep) opens the connections
and sends every frame as fast as the server takes them; the server times from "go" to the
last message handled. Connections are made before timing (the $connect authorizer Lambda
is not part of the figure). The gateway's account throttle (10,000 messages/s on AWS) is
lifted for the run: P4 measures routing cost, not the quota.

Prints both rates (median of the reps, with the spread) and the ratio (target >= 0.5).

``--paced``: the load a game server sees instead of a blast: 400 connections each sending
10 frames a second (random phases) for 20 s. Both servers keep up, so the rates are equal;
the figure is the server's CPU per message (``time.process_time`` of the serving process
from "go" to the last message), as the ratio bare / tickwire (target >= 0.5: routing a
message into the stream costs at most twice receiving and dropping it).

    python bench/p4_ingest.py [--quick] [--paced]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection

import aiohttp
from aiohttp import web

from infra.local.cfn.tickwire_stack import load_tickwire_stack
from infra.local.gateway import Gateway, GatewaySettings
from infra.local.gateway.model import WebSocketApi
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis
from ingest.records import decode
from ingest.tokens import mint

SECRET = "p4-bench-secret-0123456789abcdefghijkl"
TARGET = 0.5


def frame(seq: int) -> str:
    return json.dumps(
        {
            "action": "input",
            "seq": seq,
            "move": [0.5, -1.0],
            "aim": [1.0, 0.0],
            "fire": seq % 3 == 0,
        },
        separators=(",", ":"),
    )


# -- client process ----------------------------------------------------------------------
def client_main(urls: list[str], per_conn: int, pipe: Connection, rate: float = 0.0) -> None:
    asyncio.run(_client(urls, per_conn, pipe, rate))


async def _client(urls: list[str], per_conn: int, pipe: Connection, rate: float) -> None:
    frames = [frame(i) for i in range(1, per_conn + 1)]
    # limit=0: aiohttp's default pool of 100 would hold the 101st connect for ever.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(u, max_msg_size=0) for u in urls]
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "go"
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def blast(ws: aiohttp.ClientWebSocketResponse) -> None:
            if rate > 0:  # paced: one frame every 1/rate s, from a random phase
                due = start + random.random() / rate
                for f in frames:
                    await asyncio.sleep(max(0.0, due - loop.time()))
                    due += 1 / rate
                    await ws.send_str(f)
                return
            for f in frames:
                await ws.send_str(f)

        await asyncio.gather(*(blast(ws) for ws in sockets))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "close"
        for ws in sockets:
            await ws.close()
    pipe.send("closed")


async def drive(
    urls: list[str], per_conn: int, done: asyncio.Event, rate: float = 0.0
) -> tuple[float, float]:
    """Run one client process against ``urls``; (seconds, CPU seconds of this serving
    process) from go until ``done``."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=client_main, args=(urls, per_conn, theirs, rate), daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        ready = await asyncio.wait_for(loop.run_in_executor(None, ours.recv), 120)
        assert ready == "ready"
        started, cpu = time.perf_counter(), time.process_time()
        ours.send("go")
        await asyncio.wait_for(done.wait(), 300)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        ours.send("close")
        await asyncio.wait_for(loop.run_in_executor(None, ours.recv), 60)
        return elapsed, cpu
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()


# -- baseline: a bare aiohttp server -------------------------------------------------------
async def baseline(conns: int, per_conn: int, rate: float = 0.0) -> tuple[float, float]:
    """(messages/s, CPU seconds per message)."""
    total = conns * per_conn
    done = asyncio.Event()
    count = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal count
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                count += 1
                if count == total:
                    done.set()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        elapsed, cpu = await drive([f"http://127.0.0.1:{port}/"] * conns, per_conn, done, rate)
    finally:
        await runner.cleanup()
    return total / elapsed, cpu / total


# -- tickwire: gateway -> route -> template -> embedded stream -------------------------------
class CountingService:
    """EmbeddedKinesisService that sets ``done`` once ``target`` records were accepted."""

    def __init__(self, inner: EmbeddedKinesisService, target: int, done: asyncio.Event) -> None:
        self.inner, self.target, self.done, self.ok = inner, target, done, 0

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        return self._count(*(await self.inner.call(action, body)))

    # an ImmediateBackend, as the embedded Kinesis is under `tickwire up`
    def answers_now(self, action: str) -> bool:
        return self.inner.answers_now(action)

    def call_now(self, action: str, body: bytes) -> tuple[int, bytes]:
        return self._count(*self.inner.call_now(action, body))

    def _count(self, status: int, out: bytes) -> tuple[int, bytes]:
        if status == 200:
            self.ok += 1
            if self.ok == self.target:
                self.done.set()
        return status, out


def tickwire_stack() -> tuple[WebSocketApi, str, int]:
    """tickwire's own API as ``tickwire up`` and AWS run it (routes, request templates,
    the JWT authorizer), its stream's name and shard count."""
    stack = load_tickwire_stack({"JwtSecret": SECRET})
    ((stream_name, shards),) = stack.streams.items()
    # The stage's throttle (AWS's 10,000/s default) lifted: P4 measures the machine.
    stage = replace(stack.api.stage, throttling_burst_limit=10**9, throttling_rate_limit=1e12)
    return replace(stack.api, stage=stage), stream_name, shards


async def gateway(conns: int, per_conn: int, rate: float = 0.0) -> tuple[float, float]:
    """(messages/s, CPU seconds per message)."""
    total = conns * per_conn
    api, stream_name, shards = tickwire_stack()
    registry = EmbeddedKinesis()
    stream = registry.create_stream(stream_name, shard_count=shards)
    done = asyncio.Event()
    service = CountingService(EmbeddedKinesisService(registry), conns + total, done)
    settings = GatewaySettings(
        account_rate_per_s=1e12,
        account_burst=10**12,
        new_connections_per_s=1e6,
        new_connections_burst=10**6,
    )
    gw = Gateway(api, settings, {"kinesis": service})
    await gw.start(port=0)
    try:
        urls = [
            f"{gw.ws_url}?token={mint(SECRET, match=f'm{i % 8}', player=f'p{i}')}"
            for i in range(conns)
        ]
        elapsed, cpu = await drive(urls, per_conn, done, rate)
        # the figure counts only if every record is in the stream and decodes
        n = 0
        for shard in await stream.list_shards():
            it: str | None = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
            while it is not None:
                result = await stream.get_records(it)
                for r in result.records:
                    decode(r.data)
                n += len(result.records)
                it = result.next_iterator if result.records else None
        assert n >= conns + total, (n, conns + total)
        m = gw.metrics
        print(f"    ({m.messages_in_callback} of {m.messages_in} handled in the read callback)")
    finally:
        await gw.stop()
    return total / elapsed, cpu / total


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}/s (min {min(values):,.0f}, max {max(values):,.0f})"


async def main_async(args: argparse.Namespace) -> int:
    if args.paced:
        return await paced(args)
    conns, per_conn, reps = (20, 1000, 3) if args.quick else (50, 2000, 5)
    base: list[float] = []
    ours: list[float] = []
    for _ in range(reps):  # interleaved, so drift on a shared machine hits both alike
        base.append((await baseline(conns, per_conn))[0])
        ours.append((await gateway(conns, per_conn))[0])
    ratio = statistics.median(ours) / statistics.median(base)
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    print(f"P4 ingest: {conns} connections x {per_conn} input frames, {reps} reps")
    print(f"  baseline (bare aiohttp, receive and drop): {spread(base)}")
    print(f"  tickwire (route + template + embedded stream): {spread(ours)}")
    print(
        f"  ratio {ratio:.2f} (per-rep {min(ratios):.2f}..{max(ratios):.2f}), "
        f"target >= {TARGET}: {'PASS' if ratio >= TARGET else 'FAIL'}"
    )
    return 0


async def paced(args: argparse.Namespace) -> int:
    conns, rate = 400, 10.0
    seconds, reps = (10.0, 2) if args.quick else (20.0, 3)
    per_conn = int(seconds * rate)
    base: list[float] = []
    ours: list[float] = []
    for _ in range(reps):
        base.append((await baseline(conns, per_conn, rate))[1])
        ours.append((await gateway(conns, per_conn, rate))[1])
    ratio = statistics.median(base) / statistics.median(ours)
    ratios = [b / o for o, b in zip(ours, base, strict=True)]

    def us(values: list[float]) -> str:
        v = [x * 1e6 for x in values]
        return f"{statistics.median(v):.1f} us (min {min(v):.1f}, max {max(v):.1f})"

    print(
        f"P4 ingest, paced: {conns} connections x {rate:g} frames/s for {seconds:g} s, {reps} reps"
    )
    print(f"  baseline (bare aiohttp, receive and drop): {us(base)} CPU per message")
    print(f"  tickwire (route + template + embedded stream): {us(ours)} CPU per message")
    print(
        f"  ratio bare/tickwire {ratio:.2f} (per-rep {min(ratios):.2f}..{max(ratios):.2f}), "
        f"target >= {TARGET}: {'PASS' if ratio >= TARGET else 'FAIL'}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, under ~60 s")
    parser.add_argument(
        "--paced", action="store_true", help="400 connections x 10 frames/s; CPU per message"
    )
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
