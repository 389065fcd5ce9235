"""P3: AWS-wire broadcast, signed PostToConnection calls/s per core.

The local gateway (with its HTTP ``@connections`` API) and N WebSocket clients reading
every message run in a child process; this process only posts. Each implementation posts
the same messages (~200 B state deltas) round-robin to the N connections with the same
number of posts in flight, and the figure is calls per CPU-second of this process (so it
is "per core" whatever the other core is doing), plus the wall-clock rate:

- candidate: ``broadcaster.connections.aws_wire.AwsWireConnections`` (hand SigV4, pooled
  aiohttp session);
- baseline: ``broadcaster.connections.sdk.SdkConnections`` (aioboto3 post_to_connection
  with one long-lived client).

Every call must answer 200. Every AWS-wire request's Authorization header is recorded and
re-computed afterwards with botocore's own ``SigV4Auth`` (outside the timed region): the
figure is void unless all of them match. Target: >= 5x the baseline.

    python bench/p3_aws_wire.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CLIENTS = 50
CONCURRENCY = 64
TARGET = 5.0


# -- the child: gateway + readers ----------------------------------------------------------
async def serve() -> None:
    import aiohttp

    from infra.local.gateway import Gateway, GatewaySettings
    from infra.local.gateway.model import Stage, WebSocketApi

    api = WebSocketApi(
        name="p3",
        route_selection_expression="$request.body.action",
        routes={},
        stage=Stage(name="bench"),
    )
    # The account throttle is lifted: this measures the sender, not the quota.
    settings = GatewaySettings(
        account_rate_per_s=1e9, account_burst=10**9, client_buffer_bytes=64 * 1024 * 1024
    )
    gw = Gateway(api, settings)
    await gw.start("127.0.0.1", 0)
    received = [0]
    async with aiohttp.ClientSession() as session:
        ids = []
        sockets = []
        for _ in range(CLIENTS):
            ws = await session.ws_connect(gw.ws_url)
            await ws.send_str('{"action": "__whoami__"}')
            ids.append(json.loads((await ws.receive()).data)["connectionId"])
            sockets.append(ws)

        async def read(ws: Any) -> None:
            async for _ in ws:
                received[0] += 1

        tasks = [asyncio.create_task(read(ws)) for ws in sockets]
        print(json.dumps({"endpoint": gw.management_url, "ids": ids}), flush=True)
        # run until the parent closes our stdin
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for t in tasks:
            t.cancel()
    await gw.stop()


# -- the parent: posting -------------------------------------------------------------------
async def blast(conns: Any, ids: list[str], total: int) -> tuple[float, float]:
    body = bytes([0x95, 0xC4, 0x18]) + os.urandom(197)
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await conns.post(ids[i % len(ids)], body)

    # warm the pool first (connections, credentials) outside the measurement
    await asyncio.gather(*(conns.post(ids[i % len(ids)], body) for i in range(CONCURRENCY)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.process_time() - cpu0, time.perf_counter() - wall0


def verify(records: list[tuple[str, bytes, dict[str, str], str]], region: str) -> int:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    bad = 0
    creds = Credentials(
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("AWS_SESSION_TOKEN"),
    )
    for url, body, headers, _ in records:
        req = AWSRequest(method="POST", url=url, data=body)
        req.context["timestamp"] = headers["X-Amz-Date"]
        auth = SigV4Auth(creds, "execute-api", region)
        auth._modify_request_before_signing(req)
        canonical = auth.canonical_request(req)
        auth._inject_signature_to_request(
            req, auth.signature(auth.string_to_sign(req, canonical), req)
        )
        bad += req.headers["Authorization"] != headers["Authorization"]
    return bad


async def measure(
    endpoint: str, ids: list[str], total_wire: int, total_sdk: int, reps: int
) -> None:
    from broadcaster.connections.aws_wire import AwsWireConnections
    from broadcaster.connections.sdk import SdkConnections

    region = "us-east-1"
    wire_rates, sdk_rates, wire_wall, sdk_wall = [], [], [], []
    records: list[tuple[str, bytes, dict[str, str], str]] = []
    for rep in range(reps):
        wire = AwsWireConnections(endpoint, region, max_connections=CONCURRENCY)
        sign = wire.signer.sign

        def recording_sign(cid: str, body: bytes, creds: Any, ts: str, _s: Any = sign) -> Any:
            url, headers = _s(cid, body, creds, ts)
            records.append((url, body, headers, cid))
            return url, headers

        wire.signer.sign = recording_sign  # type: ignore[method-assign]
        sdk = SdkConnections(endpoint, region, max_pool_connections=CONCURRENCY)
        order = [("wire", wire), ("sdk", sdk)] if rep % 2 == 0 else [("sdk", sdk), ("wire", wire)]
        for name, conns in order:
            total = total_wire if name == "wire" else total_sdk
            cpu, wall = await blast(conns, ids, total)
            if name == "wire":
                wire_rates.append(total / cpu)
                wire_wall.append(total / wall)
            else:
                sdk_rates.append(total / cpu)
                sdk_wall.append(total / wall)
            await conns.close()
        print(
            f"  rep {rep + 1}: aws_wire {wire_rates[-1]:,.0f}/s per core "
            f"({wire_wall[-1]:,.0f}/s wall), aioboto3 {sdk_rates[-1]:,.0f}/s per core "
            f"({sdk_wall[-1]:,.0f}/s wall)",
            flush=True,
        )
    bad = verify(records, region)
    med_w, med_s = statistics.median(wire_rates), statistics.median(sdk_rates)
    ratios = [w / s for w, s in zip(wire_rates, sdk_rates, strict=True)]
    print(
        f"P3 AWS-wire: {CLIENTS} connections, {CONCURRENCY} in flight, {reps} reps, "
        f"{total_wire} wire / {total_sdk} SDK posts per rep, all answered 200"
    )
    print(
        f"  aws_wire: {med_w:,.0f} calls/s per core (spread {min(wire_rates):,.0f}-"
        f"{max(wire_rates):,.0f}); wall {statistics.median(wire_wall):,.0f}/s"
    )
    print(
        f"  baseline aioboto3: {med_s:,.0f} calls/s per core (spread {min(sdk_rates):,.0f}-"
        f"{max(sdk_rates):,.0f}); wall {statistics.median(sdk_wall):,.0f}/s"
    )
    print(
        f"  ratio: {med_w / med_s:.1f}x (per-rep spread {min(ratios):.1f}-{max(ratios):.1f}x); "
        f"target >= {TARGET:.0f}x: {'PASS' if med_w / med_s >= TARGET else 'FAIL'}"
    )
    print(
        f"  SigV4: {len(records) - bad}/{len(records)} AWS-wire requests equal botocore "
        f"SigV4Auth's signature{'' if bad == 0 else ' -- FIGURE VOID'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer posts and reps (~30 s)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            import uvloop

            uvloop.run(serve())
        except ImportError:
            asyncio.run(serve())
        return 0
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
    os.environ.setdefault("AWS_SESSION_TOKEN", "bench-token")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        reps, wire_n, sdk_n = (3, 6000, 1200) if args.quick else (5, 20000, 4000)
        # Both implementations run on uvloop (as tickwire's worker does when available).
        run = asyncio.run
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            pass
        run(measure(info["endpoint"], info["ids"], wire_n, sdk_n, reps))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
