"""``tickwire gateway --template``, the command itself: it starts the embedded AWS,
creates the template's resources, says what it does not model, and serves the API whose
direct DynamoDB integrations reach that embedded AWS."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import aiohttp

from .conftest import TEMPLATES

TIMEOUT = 60.0


async def test_the_command_runs_a_template_on_the_embedded_aws() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "gateway",
        "--template", str(TEMPLATES / "direct" / "template.yaml"),
        "--parameter", "StageName=cli", "--port", "0", "--stack-name", "cli",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = ""
        while not url:
            line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
            assert line, "the gateway exited before printing its URL"
            if line.startswith("WebSocket:"):
                url = line.split()[-1]
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{url}?name=grace")
            await ws.send_str('{"action": "whoami"}')
            assert json.loads((await ws.receive(timeout=TIMEOUT)).data)["you"] == "grace"
            await ws.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    text = stderr.decode()
    assert "embedded AWS (moto): http://127.0.0.1:" in text
    assert "created DynamoDB table cli-ConnectionsTable" in text
    assert "created Step Functions state machine cli-Workflow" in text
    assert "not modelled locally: Seeder (Custom::SeedTable)" in text
    assert process.returncode == 0, text
