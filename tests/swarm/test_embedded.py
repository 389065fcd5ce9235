"""A short swarm against the whole stack: ``tickwire.embedded.EmbeddedGame`` (what
``tickwire up`` runs: gateway from the stack template, JWT authorizer, VTL routes into the
embedded stream, engine worker, broadcaster over the in-process @connections path)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from swarm.config import SwarmConfig
from swarm.report import build_report
from swarm.runner import run_swarm
from tickwire.embedded import EmbeddedGame


@pytest.fixture
async def game() -> AsyncIterator[Any]:
    async with EmbeddedGame(port=0) as running:
        yield running


async def test_short_swarm_against_tickwire_up(game: Any) -> None:
    config = SwarmConfig(
        url=game.ws_url,
        bots=20,
        matches=2,
        duration_s=3.0,
        interval_s=1.0,
        secret=game.jwt_secret,
        seed=7,
        behaviour="mix",
    )
    report = build_report(await run_swarm(config), p99_limit_ms=5000)
    s = report["summary"]
    # the swarm sharing the loop with the server may fall behind on a loaded machine
    # (pacer:behind, a swarm-side condition); anything the server caused fails the test
    assert set(s["errors"]) <= {"pacer:behind"}, s["errors"]
    assert s["connected_min"] == 20
    # the engine acknowledges inputs: latencies exist and are sane
    ack = s["latency_ms"]["ack"]
    assert ack["count"] > 0 and 0 < ack["p50"] < 2000
    # one state message per player per send tick (20 Hz) reaches the bots
    assert 10 <= report["aws"]["connections_calls_per_player_per_s"] <= 21
    assert report["aws"]["units_per_message"] == 1.0
    metering = game.gateway.metrics
    assert metering.messages_in >= s["msgs_out"]  # the gateway saw every input we sent


async def test_token_url_mode_against_the_local_token_route(game: Any) -> None:
    config = SwarmConfig(
        url=game.ws_url,
        bots=4,
        matches=1,
        duration_s=1.0,
        interval_s=1.0,
        token_url=f"{game.http_url}/token",
        seed=8,
    )
    result = await run_swarm(config)
    assert set(result.overall.errors) <= {"pacer:behind"}, result.overall.errors
    assert result.overall.counters["connects"] == 4


async def test_wrong_secret_is_refused_by_the_authorizer(game: Any) -> None:
    config = SwarmConfig(
        url=game.ws_url,
        bots=3,
        matches=1,
        duration_s=1.0,
        interval_s=1.0,
        secret="not-the-secret-" + "x" * 32,
        seed=9,
    )
    result = await run_swarm(config)
    assert result.overall.errors == {"refused:401": 3}


@pytest.mark.soak
async def test_soak_two_bot_processes_against_tickwire_up(game: Any) -> None:
    """64 bots in two spawned processes for 20 s (run with -m soak)."""
    config = SwarmConfig(
        url=game.ws_url,
        bots=64,
        matches=4,
        duration_s=20.0,
        ramp_s=2.0,
        procs=2,
        secret=game.jwt_secret,
        behaviour="mix",
    )
    report = build_report(await run_swarm(config), p99_limit_ms=1000)
    s = report["summary"]
    assert set(s["errors"]) <= {"pacer:behind"}, s["errors"]
    assert s["connected_min"] == 64 and not s["crashes"]
    assert report["aws"]["units_per_message"] == 1.0
