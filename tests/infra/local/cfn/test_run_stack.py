"""tickwire's rendered stack, loaded by the loader, served by the local gateway, and driven by
real WebSocket clients: the authorizer and the request templates that deploy to AWS are
the ones that run here, and the Kinesis calls they produce decode into stream records."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from infra.local.cfn import load_tickwire_stack
from infra.local.gateway import Gateway, GatewaySettings, RecordingService
from ingest.records import InputRecord, JoinRecord, LeaveRecord, decode
from ingest.tokens import mint

SECRET = "a-local-test-secret-of-at-least-32-bytes"
TIMEOUT = 30.0


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, RecordingService, str]]:
    loaded = load_tickwire_stack({"JwtSecret": SECRET})
    (stream,) = loaded.streams
    kinesis = RecordingService("kinesis")
    gw = Gateway(
        loaded.api,
        GatewaySettings(lambda_workers_per_function=1),
        aws_services={"kinesis": kinesis},
    )
    await gw.start("127.0.0.1", 0)
    try:
        yield gw, kinesis, stream
    finally:
        await gw.stop()


async def wait_for_calls(kinesis: RecordingService, count: int) -> list[dict[str, Any]]:
    import asyncio

    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while len(kinesis.calls) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(kinesis.calls)} PutRecord calls, expected {count}")
        await asyncio.sleep(0.02)
    calls = list(kinesis.calls)
    assert {c.action for c in calls} == {"PutRecord"}
    return [c.json() for c in calls]  # type: ignore[misc]


TRICKY = [
    '{"action":"input","seq":1,"move":[1,0],"aim":[0.5,-0.5],"fire":true}',
    '{"action":"input","seq":2,"move":[0,1],"chat":"it\'s \\"quoted\\" \\\\ é 😀 </script>"}',
    '{"action":"input","seq":3,"move":[-1,0],"nested":{"a":[1,{"b":null}]}}',
]


async def test_join_inputs_and_leave_reach_the_stream(
    gateway: tuple[Gateway, RecordingService, str],
) -> None:
    gw, kinesis, stream = gateway
    token = mint(SECRET, match="m-7", player="p-3")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{gw.ws_url}?token={token}", timeout=TIMEOUT) as ws:
            for text in TRICKY:
                await ws.send_str(text)
            await wait_for_calls(kinesis, 1 + len(TRICKY))
            await ws.send_str('{"action":"dance"}')  # no such route, and no $default
            reply = await ws.receive(timeout=TIMEOUT)
            assert json.loads(reply.data)["message"] == "Forbidden"
    requests = await wait_for_calls(kinesis, 2 + len(TRICKY))
    assert {r["StreamName"] for r in requests} == {stream}
    assert {r["PartitionKey"] for r in requests} == {"m-7"}
    records = [decode(base64.b64decode(r["Data"])) for r in requests]
    join, *inputs, leave = records
    assert isinstance(join, JoinRecord) and (join.match, join.player) == ("m-7", "p-3")
    assert isinstance(leave, LeaveRecord) and leave.conn == join.conn
    assert [type(r) for r in inputs] == [InputRecord] * len(TRICKY)
    raw_bodies = [json.loads(base64.b64decode(r["Data"]))["body"] for r in requests[1:-1]]
    assert raw_bodies == TRICKY
    assert [r.seq for r in inputs] == [1, 2, 3]  # type: ignore[attr-defined]


async def test_connect_without_a_valid_token_is_refused(
    gateway: tuple[Gateway, RecordingService, str],
) -> None:
    gw, kinesis, _ = gateway
    async with aiohttp.ClientSession() as session:
        for query in (
            "",
            "?token=not-a-jwt",
            "?token=" + mint("another-secret-that-is-32-bytes-long!", match="m", player="p"),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{gw.ws_url}{query}", timeout=TIMEOUT)
            assert refused.value.status == 401
    assert not kinesis.calls


async def test_records_reach_a_kinesis_endpoint(
    moto_reset: str, tmp_path: Any, read_stream: Any
) -> None:
    """With --kinesis-endpoint-url the template's stream is created at the endpoint (here
    moto_server) and the routes' PutRecord calls land there, readable with the real SDK."""
    import argparse
    import asyncio

    from infra.aws.stack import dump_stack, render_stack
    from infra.local.cfn.cli import (
        add_template_arguments,
        load_from_args,
        pick_api,
        services_from_args,
    )

    stack = tmp_path / "stack.json"
    stack.write_text(dump_stack(render_stack(), "json"))
    parser = argparse.ArgumentParser()
    add_template_arguments(parser)
    args = parser.parse_args(
        ["--template", str(stack), "--kinesis-endpoint-url", moto_reset]
        + [f"--parameter={p}" for p in ("ImageUri=i", "VpcId=v", "Subnets=s", f"JwtSecret={SECRET}",
                                          "StreamMode=PROVISIONED", "ShardCount=2")]
    )  # fmt: skip
    loaded = load_from_args(args)
    assert loaded is not None
    services = await asyncio.to_thread(services_from_args, args)
    gw = Gateway(pick_api(loaded, None), GatewaySettings(lambda_workers_per_function=1), services)
    await gw.start("127.0.0.1", 0)
    try:
        token = mint(SECRET, match="m-9", player="p-1")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{gw.ws_url}?token={token}", timeout=TIMEOUT) as ws:
                await ws.send_str(TRICKY[1])
                await ws.send_str('{"action":"dance"}')  # answered only after the input
                assert (
                    json.loads((await ws.receive(timeout=TIMEOUT)).data)["message"] == "Forbidden"
                )
    finally:
        await gw.stop()
        await services["kinesis"].close()  # type: ignore[attr-defined]
        await args.template_aws.stop()  # the embedded AWS services_from_args started
    (stream,) = loaded.streams
    shards, records = await read_stream(moto_reset, stream, at_least=3)
    assert shards == 2
    assert {r["PartitionKey"] for r in records} == {"m-9"}
    kinds = sorted(type(decode(r["Data"])).__name__ for r in records)
    assert kinds == ["InputRecord", "JoinRecord", "LeaveRecord"]


async def test_two_way_mock_route_from_a_template(
    two_way_template: Callable[[str], str],
) -> None:
    """A user's template with a two-way MOCK route: the integration response template
    (VTL) answers the client."""
    from infra.local.cfn import load_template

    template = two_way_template("""{"stage": "$context.stage", "route": "$context.routeKey"}""")
    gw = Gateway(load_template(template).api, GatewaySettings())
    await gw.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(gw.ws_url, timeout=TIMEOUT) as ws:
                await ws.send_str('{"action":"echo","text":"hé \\"there\\""}')
                reply = json.loads((await ws.receive(timeout=TIMEOUT)).data)
    finally:
        await gw.stop()
    assert reply == {"stage": "v1", "route": "echo"}
