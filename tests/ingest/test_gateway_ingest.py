"""End to end through tickwire's real local gateway: the JWT authorizer as the $connect
Lambda, the routes' real request templates, and the embedded stream as the Kinesis
backend. What the engine would read is decoded with ingest.records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from infra.aws.stack.templates import kinesis_request_template
from infra.local.gateway import Gateway, GatewaySettings
from infra.local.gateway.model import Authorizer, Integration, LambdaFunction, Route, WebSocketApi
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis, EmbeddedStream
from ingest.records import InputRecord, JoinRecord, LeaveRecord, Record, decode
from ingest.tokens import mint

SECRET = "gateway-test-secret-0123456789abcdef"
ORIGIN = "https://play.example.com"


def kinesis(kind: str) -> Integration:
    return Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        request_templates={"$default": kinesis_request_template(kind, "actions")},  # type: ignore[arg-type]
        template_selection_expression="\\$default",
    )


def api() -> WebSocketApi:
    auth = Authorizer(
        "jwt",
        LambdaFunction(
            "jwt",
            "ingest.authorizer.handler",
            environment={"TICKWIRE_JWT_SECRET": SECRET, "TICKWIRE_ALLOWED_ORIGINS": ORIGIN},
        ),
        ("route.request.querystring.token",),
    )
    return WebSocketApi(
        name="ingest-test",
        routes={
            "$connect": Route(
                "$connect", kinesis("join"), authorization_type="CUSTOM", authorizer=auth
            ),
            "input": Route("input", kinesis("input")),
            "$disconnect": Route("$disconnect", kinesis("leave")),
        },
    )


@pytest.fixture
async def running() -> AsyncIterator[tuple[Gateway, EmbeddedStream]]:
    registry = EmbeddedKinesis()
    stream = registry.create_stream("actions", shard_count=2)
    gateway = Gateway(
        api(), GatewaySettings(lambda_prewarm=False), {"kinesis": EmbeddedKinesisService(registry)}
    )
    await gateway.start(port=0)
    try:
        yield gateway, stream
    finally:
        await gateway.stop()


async def records_of(stream: EmbeddedStream, want: int, limit_s: float = 30.0) -> list[Record]:
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        out: list[Record] = []
        for shard in await stream.list_shards():
            it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
            out.extend(decode(r.data) for r in (await stream.get_records(it)).records)
        if len(out) >= want or asyncio.get_running_loop().time() > deadline:
            return out
        await asyncio.sleep(0.05)


async def test_join_inputs_leave_reach_the_stream(
    running: tuple[Gateway, EmbeddedStream],
) -> None:
    gateway, stream = running
    token = mint(SECRET, match="m-7", player="alice")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"{gateway.ws_url}?token={token}&match=m-7", headers={"Origin": ORIGIN}
        )
        for seq in (1, 2, 3):
            await ws.send_str(
                json.dumps({"action": "input", "seq": seq, "move": [1, 0], "say": 'it\'s "ü" </x>'})
            )
        await ws.close()
    got = await records_of(stream, 5)
    assert [type(r) for r in got] == [
        JoinRecord,
        InputRecord,
        InputRecord,
        InputRecord,
        LeaveRecord,
    ]
    assert {(r.match, r.player) for r in got} == {("m-7", "alice")}
    inputs = [r for r in got if isinstance(r, InputRecord)]
    assert [r.seq for r in inputs] == [1, 2, 3]
    assert inputs[0].payload["say"] == 'it\'s "ü" </x>'
    assert len({r.conn for r in got}) == 1
    assert stream.shard_for("m-7") in {s.shard_id for s in await stream.list_shards()}


@pytest.mark.parametrize(
    ("query", "origin", "status"),
    [
        ("", ORIGIN, 401),  # no token: identity source missing
        ("?token=not-a-jwt", ORIGIN, 401),
        (
            f"?token={mint('another-secret-0123456789abcdefghij', match='m', player='p')}",
            ORIGIN,
            401,
        ),
        (f"?token={mint(SECRET, match='m', player='p')}&match=other", ORIGIN, 403),
        (f"?token={mint(SECRET, match='m', player='p')}", "https://play.example.com.evil", 403),
        (f"?token={mint(SECRET, match='m', player='p')}", None, 403),
    ],
    ids=["no-token", "malformed", "wrong-secret", "other-match", "evil-origin", "no-origin"],
)
async def test_refused_handshakes(
    running: tuple[Gateway, EmbeddedStream], query: str, origin: str | None, status: int
) -> None:
    gateway, stream = running
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gateway.ws_url + query, headers=headers)
    assert info.value.status == status
    assert await records_of(stream, 0, limit_s=0) == []
