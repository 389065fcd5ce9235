"""Client messages: route selection, error frames, frame limits (design note: messages)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp

from infra.local.gateway import GatewaySettings
from infra.local.gateway.model import Integration, Route

FORBIDDEN = re.compile(
    r'\{"message": "Forbidden", "connectionId":"[A-Za-z0-9_=-]{16}", "requestId":"[A-Za-z0-9_=-]+"\}'
)


async def test_forbidden_frame_keeps_the_connection_open(kit, event_log):
    api = kit.api_with(Route("hello", kit.proxy(kit.function("m", "ok"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            for text in ('{"action": "nope"}', "not json", '{"other": 1}', "[1, 2]"):
                await ws.send_str(text)
                msg = await ws.receive(timeout=10)
                assert FORBIDDEN.fullmatch(msg.data), msg.data
            await ws.send_str('{"action": "hello", "x": 1}')
            entry = await event_log.wait_for(lambda e: True)
    event = entry["event"]
    assert event["body"] == '{"action": "hello", "x": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert (ctx["routeKey"], ctx["eventType"]) == ("hello", "MESSAGE")
    assert "messageId" in ctx and "headers" not in event


async def test_default_route_takes_non_json_and_unmatched(kit, event_log):
    api = kit.api_with(
        Route("hello", kit.proxy(kit.function("m", "ok"))),
        Route("$default", kit.proxy(kit.function("d", "ok"))),
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            for text in ("plain text", '{"action": "other"}', '{"action": "hello"}'):
                await ws.send_str(text)
            await event_log.wait_for(lambda e: len(event_log.entries()) >= 3)
    routes = {e["body"]: e["requestContext"]["routeKey"] for e in event_log.events()}
    assert routes == {
        "plain text": "$default",
        '{"action": "other"}': "$default",
        '{"action": "hello"}': "hello",
    }


async def test_composed_selection_expression(kit):
    api = kit.api_with(
        Route(
            "chat/send",
            Integration("MOCK", response_templates={"$default": "sent"}),
            route_response_selection_expression="$default",
            route_response_keys=("$default",),
        ),
        expression="${request.body.kind}/${request.body.verb}",
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str(json.dumps({"kind": "chat", "verb": "send"}))
            assert (await ws.receive(timeout=10)).data == "sent"
            await ws.send_str(json.dumps({"kind": "chat"}))
            assert FORBIDDEN.fullmatch((await ws.receive(timeout=10)).data)


async def test_failing_integration_sends_internal_server_error(kit, event_log):
    api = kit.api_with(Route("boom", kit.proxy(kit.function("b", "boom"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action": "boom"}')
            msg = await ws.receive(timeout=30)
            body = json.loads(msg.data)
            assert body["message"] == "Internal server error"
            assert msg.data.startswith('{"message": "Internal server error", "connectionId":"')
            await ws.send_str('{"action": "boom"}')
            assert (
                json.loads((await ws.receive(timeout=30)).data)["message"]
                == "Internal server error"
            )


async def test_two_way_route_returns_the_integration_answer(kit, event_log):
    api = kit.api_with(
        Route(
            "shout",
            kit.proxy(kit.function("r", "reply")),
            route_response_selection_expression="$default",
            route_response_keys=("$default",),
        ),
        Route("quiet", kit.proxy(kit.function("q", "reply"))),
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action": "quiet"}')  # one-way: the answer is dropped
            await ws.send_str('{"action": "shout"}')
            assert (await ws.receive(timeout=30)).data == '{"ACTION": "SHOUT"}'


async def test_binary_frame_closes_1003(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_bytes(b"\x00\x01")
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1003)


async def test_frame_over_32kb_closes_1009(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str("x" * (32 * 1024))  # exactly the limit: fine
            assert FORBIDDEN.fullmatch((await ws.receive(timeout=10)).data) is not None
            await ws.send_str("x" * (32 * 1024 + 1))
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1009)


async def test_fragmented_message_limit_is_128kb(kit):
    chunk = b"y" * (30 * 1024)
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            # 4 x 30 KB frames = 120 KB: one message, accepted (and routed: Forbidden).
            frames = [kit.raw_frame(chunk, 0x1, False)]
            frames += [kit.raw_frame(chunk, 0x0, False) for _ in range(2)]
            frames.append(kit.raw_frame(chunk, 0x0, True))
            kit.send_raw(ws, b"".join(frames))
            assert FORBIDDEN.fullmatch((await ws.receive(timeout=10)).data) is not None
            # 5 x 30 KB = 150 KB: over the message limit.
            frames = [kit.raw_frame(chunk, 0x1, False)]
            frames += [kit.raw_frame(chunk, 0x0, False) for _ in range(3)]
            frames.append(kit.raw_frame(chunk, 0x0, True))
            kit.send_raw(ws, b"".join(frames))
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1009)


async def test_invalid_utf8_closes_1007(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            kit.send_raw(ws, kit.raw_frame(b"\xff\xfe bad", 0x1))
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1007)


async def test_deeply_nested_json_is_just_unrouted(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str("[" * 30_000)
            assert FORBIDDEN.fullmatch((await ws.receive(timeout=10)).data) is not None


async def test_account_throttle_is_shared_with_management_calls(kit):
    settings = GatewaySettings(account_rate_per_s=0.01, account_burst=6)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:  # the connect takes a token: 5 left
            cid = await kit.connection_id_of(ws)  # 4 left
            client = kit.management_client(gw)
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=cid, Data=b"1"
            )  # 3 left
            await ws.receive(timeout=10)
            for _ in range(3):
                await gw.post_to_connection(cid, b"x")
                await ws.receive(timeout=10)
            # Empty now: a message gets the throttle frame, a post a 429.
            await ws.send_str('{"action": "x"}')
            assert json.loads((await ws.receive(timeout=10)).data)["message"] == "Too Many Requests"
            try:
                await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"2")
            except client.exceptions.LimitExceededException as exc:
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            else:
                raise AssertionError("no 429")
    assert gw.metrics.throttled["message"] == 1 and gw.metrics.throttled["management"] == 1


async def test_request_model_failure_gets_bad_request_body(kit, event_log):
    schema = {
        "type": "object",
        "required": ["action", "seq"],
        "properties": {"seq": {"type": "integer", "minimum": 1}},
    }
    api = kit.api_with(
        Route("input", kit.proxy(kit.function("m", "ok")), request_models={"$default": schema})
    )
    bad = re.compile(
        r'\{"message" : "Bad request body", "connectionId": "[A-Za-z0-9_=-]{16}", "messageId": "[A-Za-z0-9_=-]+"\}'
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            for text in ('{"action": "input"}', '{"action": "input", "seq": 0}'):
                await ws.send_str(text)
                assert bad.fullmatch((await ws.receive(timeout=10)).data)
            await ws.send_str('{"action": "input", "seq": 3}')
            entry = await event_log.wait_for(lambda e: True)
    assert entry["event"]["body"] == '{"action": "input", "seq": 3}'
    assert len(event_log.entries()) == 1  # the invalid ones never reached the function


async def test_stage_throttle_limits_messages(kit):
    from dataclasses import replace

    # DefaultRouteSettings throttle each route on its own, after routing (AWS's
    # route-level throttling); a message no route takes is answered Forbidden, unthrottled.
    api = kit.api_with(Route("x", Integration("MOCK")), Route("y", Integration("MOCK")))
    api = replace(
        api, stage=replace(api.stage, throttling_rate_limit=0.01, throttling_burst_limit=2)
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            for action in ("x", "x", "x", "y", "y", "nope"):
                await ws.send_str(json.dumps({"action": action}))
            answers = [json.loads((await ws.receive(timeout=10)).data)["message"] for _ in "ab"]
    assert answers == ["Too Many Requests", "Forbidden"]
