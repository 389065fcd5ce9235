"""Gateway lifecycle and composition: extra routes on the same port, URLs, double stop."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from infra.local.gateway import Gateway
from infra.local.gateway.errors import ConfigurationError


async def _token(_request: web.Request) -> web.Response:
    return web.Response(text="a-token")


async def test_extra_routes_share_the_port_without_shadowing(kit):
    routes = [web.get("/", _token), web.get("/token", _token)]
    async with kit.running(kit.api_with(), extra_routes=routes) as gw, aiohttp.ClientSession() as s:
        for path in ("/", "/token"):
            async with s.get(gw.url + path) as r:
                assert (r.status, await r.text()) == (200, "a-token")
        async with s.ws_connect(gw.ws_url) as ws:
            await kit.connection_id_of(ws)
        assert gw.management_url == f"{gw.url}/local" and gw.wss_url is None


def test_routes_that_would_shadow_the_gateway_are_refused(kit):
    for path in ("/local", "/local/@connections/x", "/metrics"):
        with pytest.raises(ConfigurationError):
            Gateway(kit.api_with(), extra_routes=[web.get(path, _token)])


async def test_stop_twice_and_run_returns(kit):
    import asyncio

    gw = Gateway(kit.api_with())
    await gw.start("127.0.0.1", 0)
    runner = asyncio.create_task(gw.run())
    await gw.stop()
    await gw.stop()
    await asyncio.wait_for(runner, 10)
