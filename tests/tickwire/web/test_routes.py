"""The page's routes, mounted through the real local gateway's ``extra_routes``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest

from infra.local.gateway import Gateway, GatewaySettings
from infra.local.gateway.model import WebSocketApi
from tickwire.web import MAX_LISTED_MATCHES, STATIC_FILES, routes

SECRET = "test-secret-for-the-page-routes-0123456789"


def mint(match: str, player: str) -> str:
    return jwt.encode({"sub": player, "match": match, "exp": 2_000_000_000}, SECRET, "HS256")


async def serve(token_provider: object, matches: object = None) -> Gateway:
    gateway = Gateway(
        WebSocketApi(name="page-test"),
        GatewaySettings(lambda_prewarm=False),
        extra_routes=routes(token_provider, lambda req: f"ws://{req.host}/local", matches),  # type: ignore[arg-type]
    )
    await gateway.start(port=0)
    return gateway


@pytest.fixture
async def page() -> AsyncIterator[tuple[Gateway, aiohttp.ClientSession]]:
    gateway = await serve(mint)
    async with aiohttp.ClientSession() as session:
        try:
            yield gateway, session
        finally:
            await gateway.stop()


async def test_page_and_static_files(page: tuple[Gateway, aiohttp.ClientSession]) -> None:
    gateway, http = page
    async with http.get(gateway.url + "/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html = await resp.text()
    assert '<canvas id="view"' in html and "/static/app.js" in html
    for name in ("app.js", "render.js", "style.css"):
        async with http.get(f"{gateway.url}/static/{name}") as resp:
            assert resp.status == 200, name
            assert resp.content_type == STATIC_FILES[name][1]
            assert resp.headers["Cache-Control"] == "no-store"
    # Only the listed files: nothing else in the package is reachable.
    for name in ("__init__.py", "..%2F__init__.py", "index.html.bak", "protocol.py"):
        async with http.get(f"{gateway.url}/static/{name}") as resp:
            assert resp.status == 404, name


async def test_config_and_token(page: tuple[Gateway, aiohttp.ClientSession]) -> None:
    gateway, http = page
    async with http.get(gateway.url + "/config.json") as resp:
        config = await resp.json()
    assert config == {
        "ws_url": f"ws://127.0.0.1:{gateway.port}/local",
        "tokens": True,
        "matches": False,
    }
    async with http.get(gateway.url + "/token", params={"match": "m-1", "player": "ann"}) as resp:
        body = await resp.json()
    claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["match"]) == ("ann", "m-1")
    for bad in ({"match": "m"}, {"match": "", "player": "p"}, {"match": "a b", "player": "p"},
                {"match": "m", "player": "x" * 65}, {"match": "m", "player": "é"}):  # fmt: skip
        async with http.get(gateway.url + "/token", params=bad) as resp:
            assert resp.status == 400, bad
            assert "must be 1-64 characters" in await resp.text()


async def test_no_token_route_without_a_provider() -> None:
    gateway = await serve(None)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(gateway.url + "/token?match=m&player=p") as resp:
                assert resp.status == 404
            async with http.get(gateway.url + "/config.json") as resp:
                assert (await resp.json())["tokens"] is False
            async with http.get(gateway.url + "/matches.json") as resp:
                assert resp.status == 404
    finally:
        await gateway.stop()


async def test_matches_listing_is_sorted_and_bounded() -> None:
    running = {f"m{i:03d}": i % 5 for i in range(300)}
    gateway = await serve(None, lambda: running)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(gateway.url + "/config.json") as resp:
                assert (await resp.json())["matches"] is True
            async with http.get(gateway.url + "/matches.json") as resp:
                listed = await resp.json()
    finally:
        await gateway.stop()
    assert len(listed) == MAX_LISTED_MATCHES
    assert listed[0] == {"match": "m004", "players": 4}  # fullest first, then by name
    counts = [m["players"] for m in listed]
    assert counts == sorted(counts, reverse=True)


async def test_favicon_is_served(page: tuple[Gateway, aiohttp.ClientSession]) -> None:
    gateway, http = page
    for path in ("/favicon.ico", "/static/favicon.svg"):
        async with http.get(gateway.url + path) as resp:
            assert resp.status == 200, path
            assert resp.content_type == "image/svg+xml"
            assert (await resp.text()).startswith("<svg")


def test_tokens_are_served_on_loopback_listeners_only() -> None:
    from tickwire.web import listener_is_loopback

    # The socket a request was accepted on: 127/8 and ::1 are loopback; a wildcard or a
    # real interface address (tickwire up --host 0.0.0.0) is not, so /token answers 404.
    for sockname in (("127.0.0.1", 8080), ("127.3.2.1", 80), ("::1", 8080, 0, 0)):
        assert listener_is_loopback(sockname), sockname
    for sockname in (("0.0.0.0", 8080), ("192.168.1.20", 8080), ("::", 80, 0, 0), "/tmp/s", None):
        assert not listener_is_loopback(sockname), sockname
