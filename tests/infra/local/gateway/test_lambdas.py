"""The local Lambda runtime: isolation, blocking handlers, timeouts, the context object."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from infra.local.gateway.model import LambdaFunction, Route


async def test_each_function_sees_its_own_environment(kit, event_log):
    api = kit.api_with(
        Route("a", kit.proxy(kit.function("fa", "environment", FUNCTION_SECRET="alpha"))),
        Route("b", kit.proxy(kit.function("fb", "environment", OTHER_SECRET="beta"))),
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action": "a"}')
            await ws.send_str('{"action": "b"}')
            await event_log.wait_for(lambda e: len(event_log.entries()) == 2)
    by_name = {e["env"]["AWS_LAMBDA_FUNCTION_NAME"]: e for e in event_log.entries()}
    assert by_name["fa"]["env"] == {
        "FUNCTION_SECRET": "alpha",
        "OTHER_SECRET": None,
        "AWS_LAMBDA_FUNCTION_NAME": "fa",
    }
    assert by_name["fb"]["env"]["FUNCTION_SECRET"] is None
    ctx = by_name["fa"]["context"]
    assert ctx["function_name"] == "fa" and ctx["memory_limit_in_mb"] == "128"
    assert 0 < ctx["remaining_ms"] <= 3000
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:fa"
    assert ctx["aws_request_id"]


async def test_a_blocking_handler_does_not_stall_other_connections(kit, event_log):
    sleeper = LambdaFunction(
        "slow", "fixture_handlers.sleeper", kit.HANDLERS, {"SLEEP_S": "2.5"}, timeout_s=10
    )
    api = kit.api_with(Route("sleep", kit.proxy(sleeper)))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as blocked, session.ws_connect(gw.ws_url) as other:
            await blocked.send_str('{"action": "sleep"}')
            await event_log.wait_for(lambda e: True)  # the handler is now sleeping
            started = time.monotonic()
            cid = await kit.connection_id_of(other)
            await gw.post_to_connection(cid, b"fast")
            assert (await other.receive(timeout=10)).data == "fast"
            assert time.monotonic() - started < 2.0


async def test_handler_timeout_gives_internal_server_error(kit, event_log):
    slow = LambdaFunction(
        "slow", "fixture_handlers.sleeper", kit.HANDLERS, {"SLEEP_S": "30"}, timeout_s=0.5
    )
    api = kit.api_with(Route("sleep", kit.proxy(slow)))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action": "sleep"}')
            msg = await ws.receive(timeout=30)
            assert json.loads(msg.data)["message"] == "Internal server error"


async def test_import_error_is_reported_per_invocation(kit):
    broken = LambdaFunction("broken", "no_such_module.handler", kit.HANDLERS)
    api = kit.api_with(Route("$connect", kit.proxy(broken)))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        for _ in range(2):
            try:
                await session.ws_connect(gw.ws_url)
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 502
            else:
                raise AssertionError("connected through a broken $connect")


async def test_concurrent_invocations_use_several_workers(kit, event_log):
    sleeper = LambdaFunction(
        "slow", "fixture_handlers.sleeper", kit.HANDLERS, {"SLEEP_S": "1.0"}, timeout_s=10
    )
    api = kit.api_with(Route("sleep", kit.proxy(sleeper)))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(gw.ws_url) for _ in range(3)]
        started = time.monotonic()
        for ws in sockets:
            await ws.send_str('{"action": "sleep"}')
        await event_log.wait_for(lambda e: len(event_log.entries()) == 3)
        # Three 1 s handlers overlapped (serially they would need 3 s plus start-up).
        assert time.monotonic() - started < 2.9
        for ws in sockets:
            await ws.close()
        await asyncio.sleep(0)
