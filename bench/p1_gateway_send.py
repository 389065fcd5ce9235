"""P1, gateway side: messages/s delivered through the gateway's in-process send path
(``Gateway.post_to_connection``) to aiohttp WebSocket clients, vs a bare aiohttp server
sending the same bytes with ``ws.send_bytes``.

Each server runs in its own process with the same clients connected (from this process,
counting what they receive). A burst is ``rounds`` send ticks; each tick sends one ~200 B
binary message to every connection, then yields to the event loop (as the broadcaster
does once per send tick). The figure is messages received by the clients / wall time from
the burst request to the last message received. The gateway's account throttle is lifted
for the run (P1 measures the send path, not AWS's 10,000/s quota); every post still makes
the full checks (throttle bucket, 410, 413, client buffer 429) and meters.

Prints both rates (median of the reps, with the spread) and the ratio (target >= 0.8).

    python bench/p1_gateway_send.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from multiprocessing.connection import Connection

import aiohttp
from _server_pair import compare, server_pair
from aiohttp import web

TARGET = 0.8
PAYLOAD = b"\x83\xa1t\xcd\x01\x00\xa1a\x07\xa1e" + bytes(range(256))[:188]  # ~200 B msgpack-like
STAGE = "bench"


# -- servers (run in their own processes by _server_pair) -----------------------------
async def serve(kind: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    if kind == "gateway":
        from infra.local.gateway import Gateway, GatewaySettings
        from infra.local.gateway.model import Stage, WebSocketApi

        gateway: Gateway | None = None

        async def burst(request: web.Request) -> web.Response:
            assert gateway is not None
            rounds = int(request.query["rounds"])
            ids = list(gateway.connections)
            post = gateway.post_to_connection
            errors = 0
            started = time.perf_counter()
            for _ in range(rounds):
                for cid in ids:
                    try:
                        await post(cid, PAYLOAD)
                    except Exception:
                        errors += 1
                await asyncio.sleep(0)  # one send tick
            return web.json_response({"s": time.perf_counter() - started, "errors": errors})

        settings = GatewaySettings(account_rate_per_s=1e9, account_burst=1_000_000_000)
        gateway = Gateway(
            WebSocketApi(name="p1", stage=Stage(name=STAGE)),
            settings,
            extra_routes=[web.post("/burst", burst)],
        )
        await gateway.start("127.0.0.1", 0)
        pipe.send(gateway.port)
        await loop.run_in_executor(None, pipe.recv)  # "stop"
        await gateway.stop()
    else:
        sockets: set[web.WebSocketResponse] = set()

        async def ws_handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(compress=False)
            await ws.prepare(request)
            sockets.add(ws)
            try:
                async for _msg in ws:
                    pass
            finally:
                sockets.discard(ws)
            return ws

        async def bare_burst(request: web.Request) -> web.Response:
            rounds = int(request.query["rounds"])
            targets = list(sockets)
            errors = 0
            started = time.perf_counter()
            for _ in range(rounds):
                for ws in targets:
                    try:
                        await ws.send_bytes(PAYLOAD)
                    except Exception:
                        errors += 1
                await asyncio.sleep(0)
            return web.json_response({"s": time.perf_counter() - started, "errors": errors})

        app = web.Application()
        app.router.add_get(f"/{STAGE}", ws_handler)
        app.router.add_post("/burst", bare_burst)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        pipe.send(runner.addresses[0][1])
        await loop.run_in_executor(None, pipe.recv)
        await runner.cleanup()
    pipe.send("stopped")


# -- clients --------------------------------------------------------------------------------
async def measure(port: int, conns: int, rounds: int) -> tuple[float, int]:
    """One burst: (messages/s received, send errors reported by the server)."""
    expected = conns * rounds
    received = 0
    done = asyncio.Event()
    # limit=0: every WebSocket holds a connector slot (the default caps them at 100).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [
            await session.ws_connect(f"ws://127.0.0.1:{port}/{STAGE}", max_msg_size=0)
            for _ in range(conns)
        ]

        async def count(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal received
            async for _msg in ws:
                received += 1
                if received == expected:
                    done.set()

        readers = [asyncio.create_task(count(ws)) for ws in sockets]
        await asyncio.sleep(0.2)  # every connection is registered server-side
        started = time.perf_counter()
        async with session.post(f"http://127.0.0.1:{port}/burst?rounds={rounds}") as r:
            report = await r.json()
        try:
            await asyncio.wait_for(done.wait(), 120)
        except TimeoutError:
            print(f"  only {received} of {expected} messages arrived", file=sys.stderr)
        elapsed = time.perf_counter() - started
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    return received / elapsed, int(report["errors"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 reps of 60k messages (under a minute)"
    )
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--conns", type=int, default=200, help="WebSocket clients (200)")
    parser.add_argument("--rounds", type=int, default=None, help="send ticks per burst")
    parser.add_argument("--profile", default=None, help="write the gateway's cProfile here")
    args = parser.parse_args()
    reps = args.reps or (4 if args.quick else 11)
    rounds = args.rounds or (300 if args.quick else 1000)

    def one(kind: str, port: int) -> float:
        rate, errors = asyncio.run(measure(port, args.conns, rounds))
        if errors:
            print(f"  {kind}: {errors} send errors", file=sys.stderr)
        return rate

    with server_pair("p1_gateway_send", args.profile) as ports:
        return compare(
            reps,
            one,
            ports,
            figure="P1 gateway-side",
            unit="msg/s",
            labels={
                "bare": "baseline (bare aiohttp ws.send_bytes):",
                "gateway": "gateway post_to_connection:",
            },
            target=TARGET,
        )


if __name__ == "__main__":
    sys.exit(main())
