"""Short swarms against a real local server (tests/swarm/conftest.py's AckServer)."""

from __future__ import annotations

from typing import Any

from swarm.config import SwarmConfig
from swarm.runner import run_swarm


def config(server: Any, **kw: object) -> SwarmConfig:
    base: dict[str, object] = dict(
        url=server.url,
        bots=20,
        matches=2,
        duration_s=3.0,
        interval_s=1.0,
        token_url=server.token_url,
        tick_hz=20.0,
        seed=1,
    )
    base.update(kw)
    return SwarmConfig(**base)  # type: ignore[arg-type]


async def test_short_swarm_measures_acks_and_traffic(ack_server: Any) -> None:
    result = await run_swarm(config(ack_server))
    steady = result.steady
    assert set(steady.errors) <= {"pacer:behind"}, steady.errors  # loaded-machine slack
    assert steady.counters["connects"] == 0  # connects happen during the ramp...
    assert result.overall.counters["connects"] == 20  # ...and are all counted
    ack = steady.percentiles("ack")
    assert ack["count"] > 20 * 3 * 10 * 0.5  # about 10 inputs/s/bot, acked
    assert 0 < ack["p50"] < 1000
    assert steady.counters["msgs_in"] > 20 * 3 * 20 * 0.5
    assert ack_server.inputs >= steady.counters["msgs_out"]
    assert ack_server.bad_inputs == 0
    assert all(i.sample.connected == 20 for i in result.intervals if i.phase == "steady")
    assert steady.connection_seconds > 20 * 3 * 0.9


async def test_secret_mode_mints_a_token_per_bot_with_ingest_tokens(ack_server: Any) -> None:
    result = await run_swarm(
        config(ack_server, token_url=None, secret=ack_server.secret, bots=8, duration_s=1.0)
    )
    assert set(result.overall.errors) <= {"pacer:behind"}, result.overall.errors
    assert ack_server.connects == 8
    assert len({player for _, player in ack_server.players.values()}) == 8


async def test_match_prefix_with_bad_characters_is_a_token_error(ack_server: Any) -> None:
    result = await run_swarm(
        config(
            ack_server,
            token_url=None,
            secret=ack_server.secret,
            bots=2,
            matches=1,
            duration_s=1.0,
            match_prefix="bad prefix",
        )
    )
    assert result.overall.errors == {"token:invalid-id": 2}
