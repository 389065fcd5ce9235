"""GameClient against tickwire's own local API Gateway (infra.local.gateway.Gateway).

The API here is a small model: an ``input`` route integrated with Kinesis ``PutRecord``
(recorded by the gateway's RecordingService), no authorizer. A poster task plays the
broadcaster: it sends every open connection a ``broadcaster.codec`` full state through
``Gateway.post_to_connection``, acknowledging the highest seq the route recorded from it.
This exercises the real gateway's frames, close codes and connection limits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from broadcaster.codec import Block, Header, Update, encode
from infra.local.gateway import Gateway, GatewaySettings, RecordingService
from infra.local.gateway.errors import GatewayError
from infra.local.gateway.model import Integration, Route, WebSocketApi
from tickwire.client import Backoff, ClientSettings, GameClient

WAIT = 20.0
FAST = ClientSettings(backoff=Backoff(base=0.02, cap=0.1, max_attempts=8))
TEMPLATE = (
    '{"StreamName": "actions", "PartitionKey": "$context.connectionId", '
    '"Data": "$util.base64Encode($input.body)"}'
)


def api(with_input_route: bool = True) -> WebSocketApi:
    routes = {}
    if with_input_route:
        routes["input"] = Route(
            "input",
            Integration(
                "AWS",
                uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
                request_templates={"$default": TEMPLATE},
                template_selection_expression="\\$default",
            ),
        )
    return WebSocketApi(name="client-test", routes=routes)


class Poster:
    """Plays the broadcaster: a full state per connection every ``period`` seconds."""

    def __init__(self, gateway: Gateway, kinesis: RecordingService, period: float = 0.03):
        self.gateway, self.kinesis, self.period = gateway, kinesis, period
        self.tick = 0

    def acks(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for call in self.kinesis.calls:
            body: Any = call.json()
            seq = json.loads(base64.b64decode(body["Data"]))["seq"]
            out[body["PartitionKey"]] = max(out.get(body["PartitionKey"], 0), seq)
        return out

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            self.tick += 1
            acks = self.acks()
            ids = list(self.gateway.connections)
            block = Block(
                np.arange(1, len(ids) + 1, dtype=np.uint32),
                {"kind": np.zeros(len(ids), np.uint8), "x": np.full(len(ids), 160, np.int32),
                 "y": np.full(len(ids), self.tick, np.int32)},
            )  # fmt: skip
            for i, cid in enumerate(ids):
                header = Header(self.tick, acks.get(cid, 0), 0, 1, True, False, 0, i + 1, 16)
                with contextlib.suppress(GatewayError):
                    await self.gateway.post_to_connection(cid, encode(header, Update(adds=block)))


@pytest.fixture
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Gateway, Poster]]:
    # indirect parametrisation: {"settings": {...}, "input_route": bool}
    options: dict[str, Any] = getattr(request, "param", {})
    settings = GatewaySettings(lambda_prewarm=False, **options.get("settings", {}))
    kinesis = RecordingService()
    gateway = Gateway(api(options.get("input_route", True)), settings, {"kinesis": kinesis})
    await gateway.start(port=0)
    poster = Poster(gateway, kinesis)
    task = asyncio.create_task(poster.run())
    try:
        yield gateway, poster
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await gateway.stop()


async def test_inputs_reach_the_route_and_are_acked(stack: tuple[Gateway, Poster]) -> None:
    gateway, poster = stack
    client = await GameClient.connect(gateway.ws_url, "any", settings=FAST)
    async with client:
        await client.wait_for(lambda c: c.world.tick >= 0, WAIT)
        seqs = [await client.send_input((0.0, 1.0), aim=(1.0, 0.0)) for _ in range(5)]
        await client.wait_for(lambda c: c.ack_seq >= seqs[-1], WAIT)
        assert len(client.stats.latencies) == 5
        bodies = [json.loads(base64.b64decode(c.json()["Data"])) for c in poster.kinesis.calls]  # type: ignore[index]
        assert [b["seq"] for b in bodies] == [1, 2, 3, 4, 5]
        assert bodies[0] == {"action": "input", "seq": 1, "move": [0.0, 1.0], "aim": [1.0, 0.0]}


@pytest.mark.parametrize("stack", [{"settings": {"max_connection_duration_s": 1.0}}], indirect=True)
async def test_reconnects_after_the_connection_duration_limit(
    stack: tuple[Gateway, Poster],
) -> None:
    # AWS closes every connection after 2 hours (shrunk to 1 s): the client reconnects,
    # gets a full state on the new connection, and its seqs keep rising.
    gateway, _ = stack
    client = await GameClient.connect(gateway.ws_url, "any", settings=FAST)
    async with client:
        first = await client.send_input((1.0, 0.0))
        await client.wait_for(lambda c: c.ack_seq >= first, WAIT)
        await client.wait_for(lambda c: c.stats.reconnects >= 1 and c.connected, WAIT)
        assert client.stats.last_close_code == 1001
        before = client.world.messages
        await client.wait_for(lambda c: c.world.messages > before, WAIT)
        nxt = await client.send_input((0.0, 0.0))
        assert nxt == first + 1
        await client.wait_for(lambda c: c.ack_seq >= nxt, WAIT)


async def test_delete_connection_is_survived(stack: tuple[Gateway, Poster]) -> None:
    gateway, _ = stack
    client = await GameClient.connect(gateway.ws_url, "any", settings=FAST)
    async with client:
        await client.wait_for(lambda c: len(gateway.connections) == 1, WAIT)
        (cid,) = list(gateway.connections)
        await gateway.delete_connection(cid)  # DeleteConnection: the client sees 1000
        await client.wait_for(lambda c: c.stats.reconnects == 1 and c.connected, WAIT)
        await client.wait_for(lambda c: cid not in gateway.connections and c.world.tick >= 0, WAIT)


@pytest.mark.parametrize("stack", [{"input_route": False}], indirect=True)
async def test_forbidden_frame_is_counted_not_fatal(stack: tuple[Gateway, Poster]) -> None:
    # Without an input route (and no $default) the gateway answers AWS's Forbidden frame.
    gateway, _ = stack
    client = await GameClient.connect(gateway.ws_url, "any", settings=FAST)
    async with client:
        await client.send_input((0.0, 0.0))
        await client.wait_for(lambda c: c.stats.text_frames == 1, WAIT)
        assert json.loads(client.stats.last_text or "{}")["message"] == "Forbidden"
        assert client.connected
