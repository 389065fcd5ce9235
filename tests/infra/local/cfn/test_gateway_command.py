"""``tickwire gateway --template``: the command runs tickwire's own rendered stack from a
file, with ``--parameter`` values, and real clients connect through its authorizer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ingest.tokens import mint
from tickwire.cli import main

SECRET = "a-local-test-secret-of-at-least-32-bytes"
TIMEOUT = 60.0
STREAM = "tickwire-local-ActionStream"


async def _url_from(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
        assert line, "the gateway exited before printing its URL"
        if line.startswith("WebSocket:"):
            return line.split()[-1]


async def _gateway(tmp_path: Path, *flags: str) -> asyncio.subprocess.Process:
    """``tickwire gateway`` on tickwire's rendered stack, with the parameters every test
    needs and ``flags``."""
    stack = tmp_path / "stack.yaml"
    assert main(["template", "-o", str(stack)]) == 0
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "gateway", "--template", str(stack),
        "--parameter", "ImageUri=local", "--parameter", "VpcId=vpc-1",
        "--parameter", "Subnets=subnet-1", "--parameter", f"JwtSecret={SECRET}",
        "--port", "0", "--state-dir", str(tmp_path), "--lambda-workers-per-function", "1",
        *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def test_gateway_runs_the_rendered_stack(
    tmp_path: Path, moto_reset: str, read_stream: Any
) -> None:
    process = await _gateway(
        tmp_path, "--parameter", "StageName=play", "--kinesis-endpoint-url", moto_reset
    )
    try:
        url = await _url_from(process)
        assert url.endswith("/play")
        token = mint(SECRET, match="m1", player="p1")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, timeout=TIMEOUT)
            assert refused.value.status == 401  # no token: the identity source is missing
            async with session.ws_connect(f"{url}?token={token}", timeout=TIMEOUT) as ws:
                await ws.send_str('{"action":"input","seq":1,"move":[1,0]}')
                await ws.send_str('{"action":"dance"}')
                reply = json.loads((await ws.receive(timeout=TIMEOUT)).data)
                assert reply["message"] == "Forbidden"
        # $disconnect runs after the close: wait for its record before stopping
        shards, records = await read_stream(moto_reset, STREAM, at_least=3)
        assert shards == 4  # on-demand: the loader's starting shard count
        assert sorted(json.loads(r["Data"])["type"] for r in records) == ["input", "join", "leave"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    text = stderr.decode()
    assert "routes $connect, $disconnect, input" in text
    assert "stream tickwire-local-ActionStream: 4 shard(s)" in text
    assert process.returncode == 0, text


async def test_gateway_defaults_to_embedded_streams_served_as_a_kinesis_endpoint(
    tmp_path: Path, read_stream: Any, unused_port: int
) -> None:
    """Without --aws-endpoint-url the records go to embedded streams in the gateway's
    process; --kinesis-port serves them to other processes through the real SDK."""
    process = await _gateway(
        tmp_path,
        "--parameter", "StreamMode=PROVISIONED", "--parameter", "ShardCount=2",
        "--kinesis-port", str(unused_port),
    )  # fmt: skip
    try:
        url = await _url_from(process)
        token = mint(SECRET, match="m1", player="p1")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{url}?token={token}", timeout=TIMEOUT) as ws:
                await ws.send_str('{"action":"input","seq":1,"move":[1,0]}')
        shards, records = await read_stream(f"http://127.0.0.1:{unused_port}", STREAM, at_least=3)
        assert shards == 2
        assert sorted(json.loads(r["Data"])["type"] for r in records) == ["input", "join", "leave"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, stderr.decode()


def test_gateway_reports_template_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n"
                   "    Properties: {ProtocolType: HTTP}\n")  # fmt: skip
    assert main(["gateway", "--template", str(bad), "--port", "0"]) == 2
    assert "Api: ProtocolType 'HTTP': only WEBSOCKET APIs run locally" in capsys.readouterr().err
