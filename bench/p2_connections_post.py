"""P2: ``POST /@connections/{id}`` requests/s served by the local gateway, vs a bare
aiohttp handler that accepts and drops the body.

Each server runs in its own process (one core each at most, like the real gateway); the
load generator, in this process, keeps several keep-alive connections each with a window
of pipelined, pre-built HTTP/1.1 requests in flight, and reads responses by counting
status lines: a few microseconds per request, so the server is what is measured. For the
gateway every POST is a full PostToConnection: stage and SigV4-header check, account
throttle (lifted for the run: P2 measures the server, not AWS's 10,000/s quota), 410/413
checks, delivery to a real aiohttp WebSocket client (in this process, reading), metering.

Prints both rates (median of the reps, with the spread) and the ratio (target >= 0.7).

    python bench/p2_connections_post.py [--quick]
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

TARGET = 0.7
PAYLOAD = b"\x83\xa1t\xcd\x01\x00\xa1a\x07\xa1e" + bytes(range(256))[:188]  # ~200 B msgpack-like
# The key the bench's gateway verifies @connections signatures against (SigV4 is checked
# by default, as on AWS): each request is signed once, then sent over and over.
ACCESS_KEY, SECRET_KEY = "P2BENCHKEY", "p2-bench-secret"
STAGE = "bench"


# -- servers (run in their own processes by _server_pair) -----------------------------
async def serve(kind: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    if kind == "gateway":
        from infra.local.gateway import Gateway, GatewaySettings
        from infra.local.gateway.model import Stage, WebSocketApi

        settings = GatewaySettings(
            account_rate_per_s=1e9,
            account_burst=1_000_000_000,
            sigv4_secrets={ACCESS_KEY: SECRET_KEY},
        )
        gateway = Gateway(WebSocketApi(name="p2", stage=Stage(name=STAGE)), settings)
        await gateway.start("127.0.0.1", 0)
        pipe.send(gateway.port)
        await loop.run_in_executor(None, pipe.recv)  # "stop"
        await gateway.stop()
    else:

        async def drop(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/{stage}/@connections/{id}", drop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        pipe.send(runner.addresses[0][1])
        await loop.run_in_executor(None, pipe.recv)
        await runner.cleanup()
    pipe.send("stopped")


# -- load generator ----------------------------------------------------------------------------
def request_bytes(port: int, connection_id: str) -> bytes:
    """One signed PostToConnection request, as raw HTTP/1.1 bytes."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    quoted = connection_id.replace("=", "%3D")
    url = f"http://127.0.0.1:{port}/{STAGE}/@connections/{quoted}"
    request = AWSRequest(
        "POST", url, data=PAYLOAD, headers={"Content-Type": "application/octet-stream"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", "us-east-1").add_auth(request)
    head = (
        f"POST /{STAGE}/@connections/{quoted} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        + "".join(
            f"{name}: {value}\r\n"
            for name, value in request.headers.items()
            if name.lower() != "host"
        )
        + f"Content-Length: {len(PAYLOAD)}\r\n\r\n"
    )
    return head.encode() + PAYLOAD


async def blast(
    port: int, request: bytes, seconds: float, conns: int, window: int
) -> tuple[float, int]:
    """Requests/s answered 200 over ``seconds``, and the count of other answers."""
    ok = 0
    bad = 0
    stop_at = 0.0

    async def one() -> None:
        nonlocal ok, bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request * window)
        outstanding = window
        tail = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data = tail + chunk
            answered = data.count(b"HTTP/1.1 ")
            good = data.count(b"HTTP/1.1 200 ")
            tail = data[-16:]
            answered -= tail.count(b"HTTP/1.1 ")  # counted again with the next chunk
            good -= tail.count(b"HTTP/1.1 200 ")
            ok += good
            bad += answered - good
            outstanding -= answered
            if time.perf_counter() < stop_at:
                writer.write(request * answered)
                outstanding += answered
            elif outstanding <= 0:
                break
        writer.close()

    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(one() for _ in range(conns)))
    return ok / (time.perf_counter() - started), bad


async def measure(
    port: int, ws_url: str | None, seconds: float, conns: int, window: int
) -> tuple[float, int, int]:
    """One rep against one server: (rate, non-200 answers, messages the client received)."""
    received = 0
    async with aiohttp.ClientSession() as session:
        connection_id = "bare0000000000A="
        ws = None
        reader = None
        if ws_url is not None:
            ws = await session.ws_connect(ws_url, max_msg_size=0)
            await ws.send_str('{"action":"whoami"}')
            import json

            connection_id = json.loads((await ws.receive()).data)["connectionId"]

            async def count() -> None:
                nonlocal received
                async for _msg in ws:
                    received += 1

            reader = asyncio.create_task(count())
        rate, bad = await blast(port, request_bytes(port, connection_id), seconds, conns, window)
        if ws is not None and reader is not None:
            await asyncio.sleep(0.5)
            await ws.close()
            reader.cancel()
    return rate, bad, received


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="6 reps of 1.5 s each (under a minute)"
    )
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--conns", type=int, default=4, help="keep-alive connections (4)")
    parser.add_argument("--window", type=int, default=32, help="pipelined requests each (32)")
    parser.add_argument("--profile", default=None, help="write the gateway's cProfile here")
    args = parser.parse_args()
    reps = args.reps or (6 if args.quick else 15)
    seconds = args.seconds or (1.5 if args.quick else 2.0)

    def one(kind: str, port: int) -> float:
        ws_url = f"ws://127.0.0.1:{port}/{STAGE}" if kind == "gateway" else None
        rate, bad, received = asyncio.run(measure(port, ws_url, seconds, args.conns, args.window))
        if bad:
            print(f"  {kind}: {bad} non-200 answers", file=sys.stderr)
        if ws_url:
            print(f"  {received} messages delivered to the WebSocket client")
        return rate

    with server_pair("p2_connections_post", args.profile) as ports:
        return compare(
            reps,
            one,
            ports,
            figure="P2",
            unit="req/s",
            labels={
                "bare": "baseline (bare aiohttp handler, drops the body):",
                "gateway": "gateway PostToConnection:",
            },
            target=TARGET,
        )


if __name__ == "__main__":
    sys.exit(main())
