"""Errors by kind, each provoked for real on a local server."""

from __future__ import annotations

from typing import Any

from swarm.config import SwarmConfig
from swarm.runner import run_swarm


def cfg(server: Any, **kw: Any) -> SwarmConfig:
    base: dict[str, Any] = dict(
        url=server.url,
        bots=6,
        matches=2,
        duration_s=2.0,
        interval_s=1.0,
        token_url=server.token_url,
        tick_hz=20.0,
        seed=2,
        connect_timeout_s=5.0,
    )
    base.update(kw)
    return SwarmConfig(**base)


async def test_refused_handshakes_are_counted_by_status(ack_server: Any) -> None:
    ack_server.refuse_status = 429
    result = await run_swarm(cfg(ack_server))
    assert result.overall.errors == {"refused:429": 6}
    assert result.overall.counters["connects"] == 0


async def test_token_service_failures_are_counted(ack_server: Any) -> None:
    result = await run_swarm(cfg(ack_server, token_url=ack_server.token_url + "-missing"))
    assert result.overall.errors == {"token:404": 6}


async def test_a_bad_token_is_refused_401(ack_server: Any) -> None:
    # a token from another issuer's secret: the server's JWT check refuses it
    from aiohttp import web

    async def wrong(request: web.Request) -> web.Response:
        return web.json_response({"token": "e30.e30.sig"})

    runner = web.AppRunner(web.Application())
    runner.app.router.add_get("/t", wrong)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        result = await run_swarm(cfg(ack_server, token_url=f"http://127.0.0.1:{port}/t"))
    finally:
        await runner.cleanup()
    assert result.overall.errors == {"refused:401": 6}


async def test_server_closes_are_counted_with_their_code(ack_server: Any) -> None:
    ack_server.close_after = 1.0
    result = await run_swarm(cfg(ack_server))
    assert result.overall.errors["closed:1011"] == 6
    assert result.intervals[-1].sample.connected == 0


async def test_inputs_never_acked_time_out(ack_server: Any) -> None:
    ack_server.ack = False
    result = await run_swarm(cfg(ack_server, ack_timeout_s=0.5))
    assert result.overall.errors["timeout:ack"] > 6 * 5
    assert result.overall.percentiles("ack")["count"] == 0


async def test_nothing_listening_is_a_connect_error(unused_port: int) -> None:
    config = SwarmConfig(
        url=f"ws://127.0.0.1:{unused_port}/x",
        bots=3,
        matches=1,
        duration_s=1.0,
        interval_s=1.0,
        token_url=f"http://127.0.0.1:{unused_port}/t",
    )
    result = await run_swarm(config)
    assert result.overall.errors == {"token:ClientConnectorError": 3}
