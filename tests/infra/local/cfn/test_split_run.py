"""tickwire's rendered stack split over processes, all through the real SDK: the gateway runs
the template with its Kinesis integrations sent to moto_server, a ``tickwire worker``
process consumes that stream and answers through the gateway's ``@connections`` API, and a
real client sees its inputs acknowledged."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import msgpack

from broadcaster.codec import peek_header
from infra.aws.stack import dump_stack, render_stack
from infra.local.cfn.cli import add_template_arguments, load_from_args, pick_api, services_from_args
from infra.local.gateway import Gateway, GatewaySettings
from ingest.tokens import mint

SECRET = "a-local-test-secret-of-at-least-32-bytes"
TIMEOUT = 60.0


def _args(stack: Path, endpoint: str) -> object:
    import argparse

    parser = argparse.ArgumentParser()
    add_template_arguments(parser)
    return parser.parse_args(
        ["--template", str(stack), "--kinesis-endpoint-url", endpoint]
        + [f"--parameter={p}" for p in ("ImageUri=i", "VpcId=v", "Subnets=s",
                                          f"JwtSecret={SECRET}", "StageName=local")]
    )  # fmt: skip


async def test_gateway_worker_and_client(moto_reset: str, tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    stack.write_text(dump_stack(render_stack(), "json"))
    args = _args(stack, moto_reset)
    loaded = load_from_args(args)  # type: ignore[arg-type]
    assert loaded is not None
    services = await asyncio.to_thread(services_from_args, args)  # type: ignore[arg-type]
    gateway = Gateway(
        pick_api(loaded, None), GatewaySettings(lambda_workers_per_function=1), services
    )
    await gateway.start("127.0.0.1", 0)
    (stream,) = loaded.streams
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "worker", "--endpoint-url", moto_reset, "--create",
        "--stream", stream, "--connections-endpoint", gateway.management_url,
        "--stats-interval", "0",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        token = mint(SECRET, match="split-1", player="ann")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{gateway.ws_url}?token={token}") as ws:
                await ws.send_str(json.dumps({"action": "input", "seq": 1, "move": [1, 0]}))
                deadline = asyncio.get_running_loop().time() + TIMEOUT
                acked = False
                while not acked:
                    assert asyncio.get_running_loop().time() < deadline, "no acknowledged state"
                    try:
                        message = await ws.receive(timeout=5)
                    except TimeoutError:
                        continue
                    assert message.type == aiohttp.WSMsgType.BINARY, message
                    # msgpack per docs/protocol.md; its header carries the acknowledged seq
                    assert msgpack.unpackb(message.data, raw=False) is not None
                    acked = peek_header(message.data).ack_seq >= 1
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(worker.communicate(), TIMEOUT)
        await gateway.stop()
        await services["kinesis"].close()  # type: ignore[attr-defined]
        await args.template_aws.stop()  # the embedded AWS services_from_args started
    assert worker.returncode == 0, errors.decode()[-2000:]
