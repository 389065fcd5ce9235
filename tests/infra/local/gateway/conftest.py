"""Helpers for the gateway tests: start a gateway on free ports, build APIs, read events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.config import Config

from infra.local.gateway import Gateway, GatewaySettings
from infra.local.gateway.model import (
    Integration,
    LambdaFunction,
    Route,
    Stage,
    WebSocketApi,
)

HANDLERS = Path(__file__).parent / "lambdas"


def function(name: str, handler: str, **env: str) -> LambdaFunction:
    return LambdaFunction(
        name=name, handler=f"fixture_handlers.{handler}", code_path=HANDLERS, environment=env
    )


def proxy(fn: LambdaFunction) -> Integration:
    return Integration("AWS_PROXY", function=fn)


def api_with(
    *routes: Route, stage: str = "local", expression: str = "$request.body.action"
) -> WebSocketApi:
    return WebSocketApi(
        name="test",
        route_selection_expression=expression,
        routes={r.key: r for r in routes},
        stage=Stage(name=stage),
    )


class EventLog:
    """The JSON-lines file the fixture handlers append to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def events(self) -> list[dict[str, Any]]:
        return [e["event"] for e in self.entries()]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], limit_s: float = 30.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            for entry in self.entries():
                if predicate(entry):
                    return entry
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no matching event in {self.entries()!r}")
            await asyncio.sleep(0.05)


@pytest.fixture
def event_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EventLog:
    path = tmp_path / "events.jsonl"
    # Workers inherit the parent's environment, so every function logs here.
    monkeypatch.setenv("EVENT_LOG", str(path))
    return EventLog(path)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@contextlib.asynccontextmanager
async def running(
    api: WebSocketApi,
    settings: GatewaySettings | None = None,
    *,
    tls: bool = False,
    state_dir: Path | None = None,
    **kwargs: Any,
) -> AsyncIterator[Gateway]:
    gateway = Gateway(api, settings or GatewaySettings(), state_dir=state_dir, **kwargs)
    await gateway.start("127.0.0.1", 0, tls_port=0 if tls else None)
    try:
        yield gateway
    finally:
        await gateway.stop()


def management_client(gateway: Gateway, *, tls: bool = False) -> Any:
    """A real boto3 apigatewaymanagementapi client for this gateway (no retries)."""
    url = gateway.tls_management_url if tls else gateway.management_url
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url,
        region_name="us-east-1",
        verify=str(gateway.ca_bundle) if tls else None,
        config=Config(retries={"total_max_attempts": 1}),
    )


async def connection_id_of(ws: aiohttp.ClientWebSocketResponse) -> str:
    """Learn a connection's id from the Forbidden frame an unrouted message gets."""
    await ws.send_str('{"action": "__whoami__"}')
    msg = await ws.receive(timeout=30)
    return str(json.loads(msg.data)["connectionId"])


def raw_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 5.2), for what aiohttp's client cannot send."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes([first, 0x80 | n])
    elif n < 65536:
        header = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def send_raw(ws: aiohttp.ClientWebSocketResponse, data: bytes) -> None:
    transport = ws._writer.transport  # the client's socket: for hand-made frames only
    transport.write(data)


class Clock:
    """A clock a test moves by hand (``clock.now = 1.5``), for the pure throttles."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def half_open(port: int) -> socket.socket:
    """A TCP connection that never finishes its upgrade request."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /local HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


@pytest.fixture
def kit() -> Any:
    """This module's helpers (tests import nothing under --import-mode=importlib)."""
    import sys

    return sys.modules[__name__]
