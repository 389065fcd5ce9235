"""GameClient on the whole embedded stack (tickwire.embedded.EmbeddedGame): real tokens,
authorizer, VTL routes, stream, engine and broadcaster deltas."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from game_engine.arena import ArenaSettings
from infra.local.gateway import GatewaySettings
from tickwire.client import Backoff, ClientSettings, ConnectFailed, GameClient, kinematic_step
from tickwire.embedded import EmbeddedGame

WAIT = 30.0
FAST = ClientSettings(backoff=Backoff(base=0.05, cap=0.5, max_attempts=8))


@pytest.fixture
async def game(unused_port: int) -> AsyncIterator[EmbeddedGame]:
    # AWS's 2-hour connection limit shrunk to 3 s; a view radius covering the arena.
    settings = GatewaySettings(max_connection_duration_s=3.0, lambda_prewarm=False)
    async with EmbeddedGame(
        port=unused_port, gateway=settings, arena=ArenaSettings(view_radius=2400.0)
    ) as running:
        yield running


async def test_play_reconnect_and_resume(game: EmbeddedGame) -> None:
    minted: list[str] = []

    def token() -> str:
        minted.append(tok := game.token("m", "ann"))
        return tok

    client = await GameClient.connect(game.ws_url, token, settings=FAST, step=kinematic_step(240.0))
    async with client:
        await client.wait_for(lambda c: c.world.own() is not None, WAIT)
        x0 = client.world.own()["x"]
        seq = await client.send_input((-1.0, 0.0) if x0 > 800 else (1.0, 0.0))
        await client.wait_for(lambda c: c.ack_seq >= seq, WAIT)
        await client.wait_for(lambda c: abs(c.world.own()["x"] - x0) > 20, WAIT)
        assert client.stats.latencies and client.stats.bad_messages == 0
        # The gateway closes the connection at the (shrunk) 2-hour limit: the client
        # re-mints its token, reconnects and gets a full state from the broadcaster.
        await client.wait_for(lambda c: c.stats.reconnects >= 1 and c.connected, WAIT)
        assert client.stats.last_close_code == 1001
        assert len(minted) >= 2
        full_before = client.world.messages
        await client.wait_for(
            lambda c: c.world.messages > full_before and c.world.own() is not None, WAIT
        )
        nxt = await client.send_input((0.0, 1.0))
        assert nxt == seq + 1
        await client.wait_for(lambda c: c.ack_seq >= nxt, WAIT)
        assert client.stats.bad_messages == 0
        assert client.predicted_position() is not None


async def test_invalid_token_is_refused_without_retrying_forever(game: EmbeddedGame) -> None:
    def bad_token() -> str:
        return "not-a-jwt"

    with pytest.raises(ConnectFailed) as info:
        await GameClient.connect(game.ws_url, bad_token, settings=FAST)
    assert info.value.status in (401, 403)


async def test_a_second_connection_of_a_player_replaces_the_first(game: EmbeddedGame) -> None:
    first = await GameClient.connect(game.ws_url, game.token("m2", "bea"), settings=FAST)
    async with first:
        await first.wait_for(lambda c: c.world.own() is not None, WAIT)
        second = await GameClient.connect(game.ws_url, game.token("m2", "bea"), settings=FAST)
        async with second:
            await first.wait_for(lambda c: c.replaced and not c.connected, WAIT)
            seq = await second.send_input((1.0, 0.0))
            await second.wait_for(lambda c: c.ack_seq >= seq, WAIT)
            assert first.stats.reconnects == 0 and not second.replaced
