"""The Lambda REQUEST authorizer on $connect (design note: authorizer)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from infra.local.gateway.model import Authorizer, Route


def _api(kit):
    auth = Authorizer(
        "auth", kit.function("auth", "authorizer"), ("route.request.querystring.token",)
    )
    return kit.api_with(
        Route(
            "$connect",
            kit.proxy(kit.function("c", "ok")),
            authorization_type="CUSTOM",
            authorizer=auth,
        ),
        Route("hello", kit.proxy(kit.function("m", "ok"))),
        Route("$disconnect", kit.proxy(kit.function("d", "ok"))),
    )


async def test_authorizer_outcomes(kit, event_log):
    async with kit.running(_api(kit)) as gw, aiohttp.ClientSession() as session:
        for query, status in (
            ("", 401),
            ("?token=", 401),
            ("?token=deny", 403),
            ("?token=raise", 401),
            ("?token=crash", 500),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(gw.ws_url + query)
            assert info.value.status == status, query
    events = event_log.events()
    # A missing or empty identity source never calls the function.
    assert [e["queryStringParameters"]["token"] for e in events] == ["deny", "raise", "crash"]
    first = events[0]
    assert first["type"] == "REQUEST"
    assert (
        first["methodArn"] == "arn:aws:execute-api:us-east-1:000000000000:tickwire0/local/$connect"
    )
    assert first["stageVariables"] == {}


async def test_context_reaches_every_later_event(kit, event_log):
    async with kit.running(_api(kit)) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url + "?token=allow-p7") as ws:
            await ws.send_str(json.dumps({"action": "hello"}))
            await event_log.wait_for(
                lambda e: e["event"]["requestContext"].get("eventType") == "MESSAGE"
            )
        await event_log.wait_for(
            lambda e: e["event"].get("requestContext", {}).get("eventType") == "DISCONNECT"
        )
    expected = {"principalId": "allow-p7", "playerId": "p7", "level": 3, "admin": False}
    by_type = {e["requestContext"]["eventType"]: e for e in event_log.events() if "type" not in e}
    assert set(by_type) == {"CONNECT", "MESSAGE", "DISCONNECT"}
    for event in by_type.values():
        assert event["requestContext"]["authorizer"] == expected


async def test_authorizer_context_over_8kb_gives_500(kit, event_log):
    auth = Authorizer("big", kit.function("big", "big_context_authorizer"), ())
    api = kit.api_with(Route("$connect", None, authorization_type="CUSTOM", authorizer=auth))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gw.ws_url)
        assert info.value.status == 500
