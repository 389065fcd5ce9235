"""GameClient over a real WebSocket on 127.0.0.1 (the StateServer in conftest.py)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tickwire.client import (
    Backoff,
    ClientClosed,
    ClientSettings,
    ConnectFailed,
    GameClient,
    InputError,
    NotConnected,
)
from tickwire.client.lifecycle import ClientState

StateServer = Any  # the fixture's type, defined in conftest.py (not importable here)
FAST = ClientSettings(backoff=Backoff(base=0.01, cap=0.05, max_attempts=5))
WAIT = 20.0  # generous: the machine is shared and slow


async def test_inputs_are_acked_and_latency_measured(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=FAST)
    try:
        await client.wait_for(lambda c: c.stats.messages > 0, WAIT)
        seqs = [await client.send_input((1.0, 0.0)) for _ in range(3)]
        assert seqs == [1, 2, 3]
        await client.wait_for(lambda c: c.ack_seq >= 3, WAIT)
        assert server.players["alice"].seqs == [1, 2, 3]
        assert len(client.stats.latencies) == 3
        assert all(0 <= s < WAIT for s in client.stats.latencies)
        assert client.inputs.pending == ()
        assert client.self_id == server.players["alice"].entity_id
        assert client.tick >= 0
    finally:
        await client.close()


async def test_latency_callback_and_aim_fire_reach_server(server: StateServer) -> None:
    samples: list[float] = []
    client = await GameClient.connect(
        server.url, "tok-a", decode=False, settings=FAST, on_latency=samples.append
    )
    async with client:
        seq = await client.send_input((0.0, -1.0), aim=(0.6, 0.8), fire=True)
        await client.wait_for(lambda c: c.ack_seq >= seq, WAIT)
        assert len(samples) == 1
        with pytest.raises(InputError):
            await client.send_input((5.0, 0.0))
        # A refused input consumes no seq.
        assert await client.send_input((0.0, 0.0)) == seq + 1


async def test_bad_token_fails_with_status(server: StateServer) -> None:
    with pytest.raises(ConnectFailed) as info:
        await GameClient.connect(server.url, "wrong", decode=False, settings=FAST)
    assert info.value.status == 401


async def test_token_provider_is_called_again_after_401(server: StateServer) -> None:
    tokens = iter(["expired", "tok-a"])
    calls: list[str] = []

    async def provider() -> str:
        calls.append(tok := next(tokens))
        return tok

    client = await GameClient.connect(server.url, provider, decode=False, settings=FAST)
    async with client:
        assert calls == ["expired", "tok-a"]
        assert client.connected


async def test_retryable_handshake_statuses_back_off_then_connect(server: StateServer) -> None:
    server.refuse_next = [429, 502]
    client = await GameClient.connect(
        server.url, "tok-a", decode=False, settings=FAST, rng=random.Random(1)
    )
    async with client:
        assert server.connects == 1 and client.stats.connects == 1


async def test_unreachable_server_gives_up(unused_port: int) -> None:
    settings = ClientSettings(backoff=Backoff(base=0.01, cap=0.02, max_attempts=3))
    with pytest.raises(ConnectFailed):
        await GameClient.connect(
            f"ws://127.0.0.1:{unused_port}/local", "t", decode=False, settings=settings
        )


async def test_reconnects_after_server_close_and_gets_full_state(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=FAST)
    async with client:
        seq = await client.send_input((1.0, 0.0))
        await client.wait_for(lambda c: c.ack_seq >= seq, WAIT)
        await server.kick("alice")  # 1001, as AWS after 2 hours or 10 idle minutes
        await client.wait_for(lambda c: c.stats.reconnects == 1 and c.connected, WAIT)
        assert client.stats.last_close_code == 1001
        assert client.state is ClientState.OPEN
        before = client.stats.messages
        await client.wait_for(lambda c: c.stats.messages > before, WAIT)
        # Seqs keep rising across the reconnect; the server applies the new one.
        seq2 = await client.send_input((0.0, 1.0))
        assert seq2 == seq + 1
        await client.wait_for(lambda c: c.ack_seq >= seq2, WAIT)
        assert server.connects == 2


async def test_gives_up_when_server_stays_down(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=FAST)
    async with client:
        server.tokens.clear()  # every reconnect is now refused with 401
        await server.kick("alice")
        await client.wait_for(lambda c: c.failure is not None, WAIT)
        assert isinstance(client.failure, ConnectFailed)
        assert client.failure.status == 401
        assert client.state is ClientState.FAILED
        with pytest.raises(ConnectFailed):  # the reason it gave up, not a bare NotConnected
            await client.send_input((0.0, 0.0))
    assert client.state is ClientState.CLOSED
    with pytest.raises(ClientClosed):
        await client.send_input((0.0, 0.0))


async def test_the_simplest_bot_loop_rides_out_a_reconnect(server: StateServer) -> None:
    """send_input while reconnecting waits for the new connection instead of raising."""
    reconnecting = asyncio.Event()

    async def token() -> str:
        if reconnecting.is_set():
            await asyncio.sleep(0.3)  # a slow token service: the loop sends meanwhile
        return "tok-a"

    client = await GameClient.connect(server.url, token, decode=False, settings=FAST)
    async with client:
        sent: list[tuple[int, float]] = []

        async def bot() -> None:
            while True:  # the loop a newcomer writes: no try/except
                started = asyncio.get_running_loop().time()
                seq = await client.send_input((1.0, 0.0))
                sent.append((seq, asyncio.get_running_loop().time() - started))
                await asyncio.sleep(0.01)

        loop_task = asyncio.create_task(bot())
        await client.wait_for(lambda c: len(sent) >= 3, WAIT)
        reconnecting.set()
        await server.kick("alice")
        await client.wait_for(lambda c: c.stats.reconnects == 1, WAIT)
        count = len(sent)
        await client.wait_for(lambda c: len(sent) >= count + 3, WAIT)
        assert not loop_task.done(), loop_task
        loop_task.cancel()
        seqs = [seq for seq, _ in sent]
        assert seqs == list(range(1, len(seqs) + 1))  # no seq lost or skipped
        assert max(waited for _, waited in sent) >= 0.2  # one send waited for the reconnect
        await client.wait_for(lambda c: c.ack_seq >= seqs[-1], WAIT)


async def test_send_wait_zero_raises_at_once_while_reconnecting(server: StateServer) -> None:
    settings = ClientSettings(backoff=Backoff(base=0.5, cap=0.5, max_attempts=5), send_wait=0)
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=settings)
    async with client:
        server.tokens.clear()  # reconnects are refused, slowly
        await server.kick("alice")
        await client.wait_for(lambda c: not c.connected, WAIT)
        assert client.state is ClientState.RECONNECTING
        with pytest.raises(NotConnected):
            await client.send_input((0.0, 0.0))


async def test_close_is_idempotent_and_final(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-b", decode=False, settings=FAST)
    assert client.state is ClientState.OPEN
    await client.close()
    await client.close()
    assert not client.connected and client.state is ClientState.CLOSED
    with pytest.raises(ClientClosed):
        await client.send_input((0.0, 0.0))
    # The server sees the close and stops sending to the socket.
    async with asyncio.timeout(WAIT):
        while "bob" in server.sockets:  # noqa: ASYNC110 - polling another task's dict
            await asyncio.sleep(0.01)


async def test_many_clients_share_a_session(server: StateServer) -> None:
    import aiohttp

    server.tokens.update({f"tok-{i}": f"bot{i}" for i in range(20)})
    async with aiohttp.ClientSession() as session:
        clients = await asyncio.gather(
            *(
                GameClient.connect(server.url, f"tok-{i}", decode=False, session=session)
                for i in range(20)
            )
        )
        try:
            for c in clients:
                await c.send_input((0.5, 0.5))
            for c in clients:
                await c.wait_for(lambda c: c.ack_seq >= 1, WAIT)
        finally:
            await asyncio.gather(*(c.close() for c in clients))
        assert not session.closed  # a shared session belongs to the caller


async def test_world_view_follows_both_players(server: StateServer) -> None:
    alice = await GameClient.connect(server.url, "tok-a", settings=FAST)
    bob = await GameClient.connect(server.url, "tok-b", settings=FAST)
    try:
        await alice.wait_for(lambda c: len(c.world) == 2, WAIT)
        bob_id = server.players["bob"].entity_id
        start = alice.world.entities()[bob_id]["x"]
        seq = await bob.send_input((1.0, 0.0))
        await bob.wait_for(lambda c: c.ack_seq >= seq, WAIT)
        # Alice sees Bob move right; Bob sees himself as his own entity.
        await alice.wait_for(lambda c: c.world.entities()[bob_id]["x"] > start + 1, WAIT)
        assert bob.world.own() is not None and bob.world.self_id == bob_id
        assert alice.world.meta == {"w": 1000}
    finally:
        await alice.close()
        await bob.close()


async def test_undecodable_message_triggers_resync(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", settings=FAST)
    async with client:
        await client.wait_for(lambda c: c.world.tick >= 0, WAIT)
        await server.sockets["alice"].send_bytes(b"\x95\xc4\x18" + b"\x07" * 24)
        await client.wait_for(lambda c: c.stats.reconnects == 1 and c.connected, WAIT)
        assert client.stats.bad_messages == 1
        before = client.stats.messages
        await client.wait_for(lambda c: c.stats.messages > before, WAIT)


async def test_waiting_ends_when_the_client_gives_up(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=FAST)
    async with client:
        server.tokens.clear()
        await server.kick("alice")
        with pytest.raises(ConnectFailed):
            await client.wait_for(lambda c: c.ack_seq > 100, WAIT)


async def test_prediction_replays_unacknowledged_inputs(server: StateServer) -> None:
    from tickwire.client import kinematic_step

    now = [1000.0]
    client = await GameClient.connect(
        server.url, "tok-a", settings=FAST, step=kinematic_step(50.0), clock=lambda: now[0]
    )
    async with client:
        assert client.predicted_position() is None or client.world.own() is not None
        await client.wait_for(lambda c: c.world.own() is not None, WAIT)
        server.hold_inputs = True  # the server stops applying: everything stays pending
        base = client.predicted_position()
        assert base is not None
        await client.send_input((1.0, 0.0))  # sent at t=1000
        now[0] += 0.5
        await client.send_input((0.0, -1.0))  # sent at t=1000.5
        now[0] += 0.2
        px, py = client.predicted_position()  # type: ignore[misc]
        own = client.world.own()
        # 0.5 s right at 50 u/s, then 0.2 s up, on top of the server's (unmoving) position.
        assert (px, py) == pytest.approx((own["x"] + 25.0, own["y"] - 10.0))
        server.hold_inputs = False
        seq = await client.send_input((0.0, 0.0))
        await client.wait_for(lambda c: c.ack_seq >= seq, WAIT)
        # Everything acknowledged: the prediction is the server's position.
        assert client.predicted_position() == pytest.approx(
            (client.world.own()["x"], client.world.own()["y"])
        )


async def test_no_reconnect_after_the_match_ended(server: StateServer) -> None:
    client = await GameClient.connect(server.url, "tok-a", decode=False, settings=FAST)
    async with client:
        await client.wait_for(lambda c: c.stats.messages > 0, WAIT)
        await server.end_match("alice")
        with pytest.raises(ClientClosed, match="ended"):
            await client.wait_for(lambda c: False, WAIT)
        assert client.ended and not client.connected
        assert client.state is ClientState.ENDED
        assert client.stats.reconnects == 0 and server.connects == 1
    assert client.state is ClientState.ENDED and client.ended  # close() keeps why it ended


@pytest.mark.parametrize("server_closes", [True, False])
async def test_no_reconnect_after_being_replaced(server: StateServer, server_closes: bool) -> None:
    client = await GameClient.connect(server.url, "tok-a", settings=FAST)
    async with client:
        await client.wait_for(lambda c: c.stats.messages > 0, WAIT)
        await server.replace("alice", close=server_closes)
        with pytest.raises(ClientClosed, match="replaced"):
            await client.wait_for(lambda c: False, WAIT)
        assert client.replaced and not client.connected
        assert client.state is ClientState.REPLACED
        assert client.stats.reconnects == 0 and server.connects == 1
    assert client.state is ClientState.REPLACED
