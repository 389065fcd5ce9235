"""$connect: held upgrade, status codes, subprotocols, event shape, ids (design note)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from infra.local.gateway import GoneException
from infra.local.gateway.model import Route


async def test_no_connect_route_accepts(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            cid = await kit.connection_id_of(ws)
            assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", cid)


async def test_connect_status_codes(kit, event_log):
    api = kit.api_with(Route("$connect", kit.proxy(kit.function("c", "status_from_query"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        for status in (401, 403, 429, 500):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(f"{gw.ws_url}?status={status}")
            assert info.value.status == status
        async with session.ws_connect(f"{gw.ws_url}?status=200") as ws:
            assert not ws.closed


async def test_connect_handler_that_raises_gives_502(kit, event_log):
    api = kit.api_with(Route("$connect", kit.proxy(kit.function("c", "boom"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gw.ws_url)
        assert info.value.status == 502


async def test_upgrade_is_held_and_posts_during_connect_are_gone(kit, event_log):
    api = kit.api_with(Route("$connect", kit.proxy(kit.function("c", "slow_ok", SLEEP_S="1.5"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        connecting = asyncio.create_task(session.ws_connect(gw.ws_url))
        entry = await event_log.wait_for(lambda e: True)
        cid = entry["event"]["requestContext"]["connectionId"]
        assert not connecting.done()
        with pytest.raises(GoneException):
            await gw.post_to_connection(cid, b"too early")
        ws = await connecting
        await gw.post_to_connection(cid, b"now")
        assert (await ws.receive(timeout=10)).data == "now"
        await ws.close()


async def test_subprotocol_only_when_echoed(kit, event_log):
    echo = kit.proxy(kit.function("c", "echo_protocol", ECHO_PROTOCOL="game.v2"))
    async with (
        kit.running(kit.api_with(Route("$connect", echo))) as gw,
        aiohttp.ClientSession() as s,
    ):
        async with s.ws_connect(gw.ws_url, protocols=("game.v1", "game.v2")) as ws:
            assert ws.protocol == "game.v2"
        async with s.ws_connect(gw.ws_url, protocols=("other",)) as ws:
            assert ws.protocol is None
    # Without a $connect route nothing is echoed either.
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url, protocols=("game.v1",)) as ws:
            assert ws.protocol is None


async def test_connect_event_shape(kit, event_log):
    api = kit.api_with(Route("$connect", kit.proxy(kit.function("c", "ok"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{gw.ws_url}?a=1&a=2&b=x", headers={"X-Test": "yes"}):
            pass
        async with session.ws_connect(gw.ws_url):
            pass
    with_query, without_query = event_log.events()
    assert with_query["queryStringParameters"] == {"a": "2", "b": "x"}
    assert with_query["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert with_query["headers"]["X-Test"] == "yes"
    assert with_query["multiValueHeaders"]["X-Test"] == ["yes"]
    assert with_query["isBase64Encoded"] is False and "body" not in with_query
    assert "queryStringParameters" not in without_query
    ctx = with_query["requestContext"]
    assert ctx["routeKey"] == "$connect" and ctx["eventType"] == "CONNECT"
    assert ctx["messageDirection"] == "IN" and ctx["stage"] == "local"
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", ctx["requestTime"])
    assert isinstance(ctx["connectedAt"], int) and isinstance(ctx["requestTimeEpoch"], int)
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["domainName"] == f"127.0.0.1:{gw.port}"
    assert {"requestId", "extendedRequestId", "connectionId", "apiId"} <= set(ctx)


async def test_unknown_stage_and_plain_get(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(f"{gw.url}/prod")
        assert info.value.status == 403
        async with session.get(gw.ws_url.replace("ws://", "http://")) as r:
            assert r.status == 426


async def test_aws_iam_connect_needs_a_valid_sigv4_signature(kit):
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed(url: str, secret: str) -> dict[str, str]:
        http = url.replace("ws://", "http://", 1)
        request = AWSRequest(method="GET", url=http, headers={"Host": urlsplit(url).netloc})
        SigV4Auth(Credentials("testing", secret), "execute-api", "us-east-1").add_auth(request)
        return dict(request.headers.items())

    api = kit.api_with(Route("$connect", None, authorization_type="AWS_IAM"))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        for headers in ({}, signed(gw.ws_url, "a-forged-secret")):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(gw.ws_url, headers=headers)
            assert info.value.status == 403
        # the process's own credentials (tests/conftest.py) are keys the gateway knows
        async with session.ws_connect(gw.ws_url, headers=signed(gw.ws_url, "testing")) as ws:
            assert not ws.closed


async def test_client_that_leaves_during_connect_leaves_no_trace(kit, event_log):
    import base64
    import os
    import socket

    api = kit.api_with(
        Route("$connect", kit.proxy(kit.function("c", "slow_ok", SLEEP_S="1.0"))),
        Route("$disconnect", kit.proxy(kit.function("d", "ok"))),
    )
    async with kit.running(api) as gw:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /local HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        sock = socket.create_connection(("127.0.0.1", gw.port))
        sock.sendall(request)
        await event_log.wait_for(lambda e: True)  # $connect is running
        sock.close()
        for _ in range(100):
            if not gw.connections:
                break
            await asyncio.sleep(0.1)
        assert gw.connections == {}
        async with aiohttp.ClientSession() as session, session.ws_connect(gw.ws_url) as ws:
            await kit.connection_id_of(ws)
    # $disconnect runs only for connections that were connected (one: the client above).
    types = [e["requestContext"]["eventType"] for e in event_log.events()]
    assert types.count("DISCONNECT") == 1
