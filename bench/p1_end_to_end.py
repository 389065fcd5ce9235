"""P1: state messages delivered/s by the embedded gateway through the broadcaster.

Workload: the reference game on the real engine, MATCHES matches of 16 players moving
(P7's input profile), its frames recorded for TICKS send ticks. WebSocket clients (aiohttp)
run in a child process and count what they receive; a run ends when every client has every
message. Three ways to deliver the same messages to the same clients, one after another in
each rep:

- baseline: a bare aiohttp server that sends each client the bytes the broadcaster would
  send it (precomputed: view, delta, framing), tick by tick with ``send_bytes``, without
  compression (like the gateway and API Gateway);
- direct path: the local gateway, the same precomputed bytes posted through
  ``DirectConnections`` (the gateway's in-process PostToConnection with its checks);
- end to end: the local gateway and a ``Broadcaster`` fed the recorded frames, computing
  views and deltas itself (each tick published once the previous one is delivered).

Figure: messages delivered per second, each as a ratio to the baseline (median of reps,
spread printed). Target for the direct path: >= 0.8.

    python bench/p1_end_to_end.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import statistics
import subprocess
import sys
import time
from typing import Any

TARGET = 0.8
TICK_RATE, SEND_RATE, INPUT_RATE = 30.0, 20.0, 10.0


# -- the child: clients ---------------------------------------------------------------------
async def clients(url: str, count: int, whoami: bool) -> None:
    import aiohttp

    loop = asyncio.get_running_loop()
    received = [0]
    expected = [0]
    done = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = []
        ids = []
        for _ in range(count):
            ws = await session.ws_connect(url, max_msg_size=0, compress=0)
            if whoami:
                await ws.send_str('{"action": "__whoami__"}')
                ids.append(json.loads((await ws.receive()).data)["connectionId"])
            sockets.append(ws)

        async def read(ws: Any) -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    received[0] += 1
                    if expected[0] and received[0] >= expected[0]:
                        done.set()

        tasks = [asyncio.create_task(read(ws)) for ws in sockets]
        print(json.dumps({"ids": ids}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        # Each line is a cumulative count to wait for (messages may arrive before it does).
        while line := await reader.readline():
            expected[0] = int(line)
            if received[0] < expected[0]:
                await done.wait()
            done.clear()
            print("done", flush=True)
        for t in tasks:
            t.cancel()
        for ws in sockets:
            await ws.close()


class Child:
    def __init__(self, url: str, count: int, whoami: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--clients", url, str(count), str(int(whoami))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.ids: list[str] = json.loads(self.proc.stdout.readline())["ids"]

    async def expect(self, n: int) -> None:
        """Returns when the clients have received ``n`` messages in all."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        line = await asyncio.to_thread(self.proc.stdout.readline)
        assert line.strip() == "done", line

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- the workload -----------------------------------------------------------------------------
def record_frames(matches: int, ticks: int) -> list[list[Any]]:
    from game_engine.arena import Arena
    from game_engine.engine import Engine
    from game_engine.events import Input, Join
    from game_engine.scheduler import send_due

    rng = random.Random(7)
    eng: Engine[object] = Engine(Arena())
    keys = [(f"m{m}", f"p{p}", f"c{m * 16 + p}") for m in range(matches) for p in range(16)]
    for key in keys:
        eng.submit(Join(*key))
    out, tick, seq = [], 0, 0
    while len(out) < ticks:
        tick += 1
        if tick % round(TICK_RATE / INPUT_RATE) == 1:
            seq += 1
            for key in keys:
                eng.submit(Input(*key, seq, {"move": [rng.uniform(-1, 1), rng.uniform(-1, 1)]}))
        eng.tick()
        if send_due(tick, TICK_RATE, SEND_RATE):
            out.append(eng.frames())
    return out


def rebind(frames: list[list[Any]], ids: list[str]) -> list[list[Any]]:
    """The recorded frames with the placeholder connection ids replaced by real ones."""

    def slot(p: Any) -> Any:
        return dataclasses.replace(p, connection_id=ids[int(p.connection_id[1:])])

    return [
        [dataclasses.replace(f, players=tuple(slot(p) for p in f.players)) for f in tick]
        for tick in frames
    ]


def precompute(frames: list[list[Any]], settings: Any) -> list[list[tuple[int, bytes]]]:
    """Per send tick: (client index, message) in the broadcaster's order."""
    from broadcaster.codec import Header
    from broadcaster.delta import diff
    from broadcaster.parts import split_update
    from broadcaster.views import MatchTable

    base: dict[str, Any] = {}
    out = []
    for tick in frames:
        msgs = []
        for frame in tick:
            table = MatchTable.from_frame(frame, settings.position_scale)
            for i, p in enumerate(frame.players):
                prev = base.get(p.connection_id)
                header = Header(
                    frame.tick,
                    p.ack_seq,
                    0,
                    1,
                    prev is None,
                    False,
                    0 if prev is None else prev.tick,
                    p.entity_id,
                    settings.position_scale,
                )
                update, base[p.connection_id] = diff(
                    prev, table.view(p, i), table, settings.position_tolerance
                )
                idx = int(p.connection_id[1:])
                msgs.extend((idx, m) for m in split_update(header, update))
        out.append(msgs)
    return out


# -- the three runs ---------------------------------------------------------------------------
async def run_bare(messages: list[list[tuple[int, bytes]]], count: int) -> float:
    from aiohttp import web

    sockets: list[Any] = []
    ready = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        # as the gateway (and API Gateway): no permessage-deflate
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        sockets.append(ws)
        if len(sockets) == count:
            ready.set()
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    child = await asyncio.to_thread(Child, f"ws://127.0.0.1:{port}/", count, False)
    await ready.wait()
    total = sum(len(t) for t in messages)
    waiter = asyncio.create_task(child.expect(total))
    t0 = time.perf_counter()
    for tick in messages:
        for idx, data in tick:
            await sockets[idx].send_bytes(data)
    await waiter
    elapsed = time.perf_counter() - t0
    child.close()
    await runner.cleanup()
    return total / elapsed


async def run_gateway(
    frames: list[list[Any]], messages: list[list[tuple[int, bytes]]], count: int, full: bool
) -> float:
    from broadcaster.connections.direct import DirectConnections
    from broadcaster.fanout import Broadcaster
    from infra.local.gateway import Gateway, GatewaySettings
    from infra.local.gateway.model import Stage, WebSocketApi

    api = WebSocketApi(
        name="p1",
        route_selection_expression="$request.body.action",
        routes={},
        stage=Stage(name="bench"),
    )
    # The account throttle is lifted: this measures delivery, not the quota.
    gw = Gateway(api, GatewaySettings(account_rate_per_s=1e9, account_burst=10**9))
    await gw.start("127.0.0.1", 0)
    child = await asyncio.to_thread(Child, gw.ws_url, count, True)
    conns = DirectConnections(gw)
    total = sum(len(t) for t in messages)
    waiter = asyncio.create_task(child.expect(total))
    t0 = time.perf_counter()
    if full:
        bc = Broadcaster(conns)
        await bc.start()
        for tick in rebind(frames, child.ids):
            bc.publish(tick)
            await bc.drain(60)
        await bc.stop()
    else:
        ids = child.ids
        for tick in messages:
            for idx, data in tick:
                await conns.post(ids[idx], data)
    await waiter
    elapsed = time.perf_counter() - t0
    child.close()
    await gw.stop()
    return total / elapsed


async def measure(matches: int, ticks: int, reps: int) -> None:
    from broadcaster.fanout import BroadcastSettings

    frames = record_frames(matches, ticks)
    messages = precompute(frames, BroadcastSettings())
    count = matches * 16
    total = sum(len(t) for t in messages)
    bare, direct, full = [], [], []
    for rep in range(reps):
        b = await run_bare(messages, count)
        d = await run_gateway(frames, messages, count, full=False)
        f = await run_gateway(frames, messages, count, full=True)
        bare.append(b)
        direct.append(d)
        full.append(f)
        print(
            f"  rep {rep + 1}: bare {b:,.0f}/s, direct path {d:,.0f}/s ({d / b:.2f}), "
            f"end to end {f:,.0f}/s ({f / b:.2f})",
            flush=True,
        )
    rd = [d / b for d, b in zip(direct, bare, strict=True)]
    rf = [f / b for f, b in zip(full, bare, strict=True)]
    print(
        f"P1: {count} clients ({matches} matches x 16), {ticks} send ticks, {total} messages "
        f"per run (avg {sum(len(m) for t in messages for _, m in t) / total:.0f} B), {reps} reps"
    )
    print(
        f"  baseline bare aiohttp send_bytes: {statistics.median(bare):,.0f} messages/s "
        f"(spread {min(bare):,.0f}-{max(bare):,.0f})"
    )
    print(
        f"  gateway direct path: {statistics.median(direct):,.0f}/s, ratio "
        f"{statistics.median(rd):.2f} (spread {min(rd):.2f}-{max(rd):.2f}); target >= {TARGET}: "
        f"{'PASS' if statistics.median(rd) >= TARGET else 'FAIL'}"
    )
    print(
        f"  end to end (Broadcaster: views, deltas, posts): {statistics.median(full):,.0f}/s, "
        f"ratio {statistics.median(rf):.2f} (spread {min(rf):.2f}-{max(rf):.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clients, ticks, reps")
    parser.add_argument("--clients", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        url, count, whoami = args.clients
        asyncio.run(clients(url, int(count), bool(int(whoami))))
        return 0
    matches, ticks, reps = (8, 60, 3) if args.quick else (20, 100, 5)
    asyncio.run(measure(matches, ticks, reps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
