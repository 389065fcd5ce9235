"""The fan-out against the real local gateway, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from broadcaster.connections.direct import DirectConnections
from broadcaster.errors import PostFailed
from broadcaster.fanout import Broadcaster, BroadcastSettings
from broadcaster.rate import RateSettings
from broadcaster.views import MatchTable
from infra.local.gateway import GatewaySettings


class Recording:
    """A Connections wrapper that records every post (a recording fake over the real one)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.posts: list[str] = []

    async def post(self, connection_id: str, data: bytes) -> None:
        self.posts.append(connection_id)
        await self.inner.post(connection_id, data)

    async def close(self) -> None:
        await self.inner.close()


def _moving_frames(
    build: Any,
    players: list[Any],
    n: int,
    ticks: int,
    radius: float,
    seed: int = 3,
    match: str = "m1",
) -> Iterator[Any]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    x, y = rng.uniform(0, 400, n), rng.uniform(0, 400, n)
    for tick in range(1, ticks + 1):
        x, y = x + rng.uniform(-3, 3, n), y + rng.uniform(-3, 3, n)
        slots = tuple(
            p.__class__(
                p.player_id,
                p.connection_id,
                p.entity_id,
                tick,
                float(x[p.entity_id - 1]),
                float(y[p.entity_id - 1]),
            )
            for p in players
        )
        yield build.frame(
            tick,
            ids,
            x,
            y,
            players=slots,
            radius=radius,
            match_id=match,
            hp=rng.integers(90, 101, n),
        )


async def test_each_player_gets_its_view_as_a_full_state_then_deltas(build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(4)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        bc = Broadcaster(DirectConnections(gw))
        await bc.start()
        try:
            for frame in _moving_frames(build, players, 60, 8, radius=150.0):
                bc.publish([frame])
                for c in clients:
                    await c.wait_tick(frame.tick)
                settings = bc.settings
                table = MatchTable.from_frame(frame, settings.position_scale)
                for c, slot in zip(clients, frame.players, strict=True):
                    view = table.view(slot)
                    np.testing.assert_array_equal(c.world.ids, view.ids)
                    got = np.stack([c.world.columns[k] for k in table.names], axis=1)
                    # exact but for positions, which are within the tolerance
                    assert np.abs(got - view.values).max() <= settings.position_tolerance
                    np.testing.assert_array_equal(got[:, 2:], view.values[:, 2:])
                    assert c.world.ack_seq == frame.tick and c.world.self_id == slot.entity_id
        finally:
            await bc.stop()
        for c in clients:
            assert [h.full for h in c.headers] == [True] + [False] * 7
            assert c.world.meta == {"arena": [1000, 1000]}
            await c.close()
        assert bc.stats.sent == 32 and bc.stats.full_states == 4 and bc.stats.gone == 0
        assert bc.stats.latency.count == 32
        assert all(p.sent == 8 for p in bc.stats.players.values())


async def test_410_removes_the_player_on_first_gone_and_never_retries(
    build: Any, live: Any
) -> None:
    gone: list[tuple[str, str, str]] = []
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(3)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        conns = Recording(DirectConnections(gw))
        bc = Broadcaster(conns, on_gone=lambda m, p, c: gone.append((m, p, c)))
        await bc.start()
        frames = list(_moving_frames(build, players, 10, 12, radius=1e9))
        bc.publish([frames[0]])
        for c in clients:
            await c.wait_tick(1)
        leaver = clients[1]
        await leaver.close()
        for frame in frames[1:]:  # the engine keeps listing the player until it sees the leave
            bc.publish([frame])
            await clients[0].wait_tick(frame.tick)
            await clients[2].wait_tick(frame.tick)
        assert await bc.drain(30), (bc.stats, bc._tasks, gone)
        await bc.stop()
        assert gone == [("m1", "p1", leaver.connection_id)]
        # one post that answered 410 (plus the first full state), never a retry
        assert conns.posts.count(leaver.connection_id) == 2
        assert bc.stats.gone == 1 and leaver.connection_id not in bc.stats.players
        for c in (clients[0], clients[2]):
            assert c.world.tick == 12
            await c.close()


async def test_a_slow_readers_429s_do_not_delay_anyone_else(build: Any, live: Any) -> None:
    # above a full state in parts (fast readers never reach it), far below what a reader
    # that stopped reading leaves queued
    settings = GatewaySettings(client_buffer_bytes=256 * 1024)
    async with live.gateway(settings) as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(9)]
        sock, slow_id = await live.slow_reader(gw)
        ids = [c.connection_id for c in clients] + [slow_id]
        players = [build.player(f"p{i}", cid, entity=i + 1) for i, cid in enumerate(ids)]
        # The gateway's send to a reader that stopped reading waits for the socket to drain;
        # the fan-out abandons it after post_timeout_s, and the next post answers 429.
        bc = Broadcaster(DirectConnections(gw), BroadcastSettings(post_timeout_s=0.3))
        await bc.start()
        # big deltas (positions and hp change) so the slow reader's kernel buffers fill
        ticks = 0
        try:
            for frame in _moving_frames(build, players, 8000, 400, radius=1e9):
                bc.publish([frame])
                for c in clients:
                    await c.wait_tick(frame.tick)
                ticks = frame.tick
                if bc.stats.players[slow_id].throttled >= 3 and ticks >= 20:
                    break
        finally:
            await bc.stop()
            sock.close()
        slow = bc.stats.players[slow_id]
        assert slow.throttled >= 3 and slow.sent < ticks
        # every fast client got every tick: nothing merged, nothing skipped
        for c in clients:
            assert [h.tick for h in c.headers if h.part_index == 0] == list(range(1, ticks + 1))
            assert bc.stats.players[c.connection_id].merged == 0
            await c.close()
        assert bc.stats.rate_cuts == 0  # one slow reader is not the account throttle
        assert bc.stats.throttled == slow.throttled and bc.stats.errors == slow.errors
        assert bc.stats.throttled / (bc.stats.messages + bc.stats.throttled) < 0.2


async def test_account_throttle_429s_cut_the_rate_and_every_world_stays_exact(
    build: Any, live: Any
) -> None:
    settings = GatewaySettings(account_rate_per_s=150.0, account_burst=40)
    async with live.gateway(settings) as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(12)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        bc = Broadcaster(
            DirectConnections(gw),
            BroadcastSettings(rate=RateSettings(increase_per_s=20.0, min_rate_per_s=10.0)),
        )
        await bc.start()
        frames = list(_moving_frames(build, players, 40, 60, radius=1e9))
        for frame in frames:  # 12 players at 40 Hz: about 3x the account's rate
            bc.publish([frame])
            await asyncio.sleep(0.025)
        assert await bc.drain(30)
        # one more frame after the storm: everyone converges to it exactly
        await asyncio.sleep(1.0)
        bc.publish(
            [
                frames[-1].__class__(
                    **{
                        **{f: getattr(frames[-1], f) for f in frames[-1].__dataclass_fields__},
                        "tick": 61,
                    }
                )
            ]
        )
        for c in clients:
            await c.wait_tick(61)
        await bc.stop()
        assert bc.stats.throttled > 0 and bc.stats.rate_cuts >= 1
        assert bc.stats.merged > 0
        table = MatchTable.from_frame(frames[-1], bc.settings.position_scale)
        for c, slot in zip(clients, frames[-1].players, strict=True):
            np.testing.assert_array_equal(c.world.ids, table.view(slot).ids)
            await c.close()


async def test_rate_cap_lowers_each_players_rate_predictably(build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(10)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        bc = Broadcaster(
            DirectConnections(gw), BroadcastSettings(rate=RateSettings(cap_per_s=50.0, burst=1))
        )
        await bc.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for frame in _moving_frames(build, players, 20, 40, radius=1e9):  # 10 players x 20 Hz
            bc.publish([frame])
            await asyncio.sleep(0.05)
        await bc.stop()  # lets the posts waiting for their slot finish
        elapsed = loop.time() - started
        sent = bc.stats.messages
        assert bc.stats.rate_limit_per_s == 50.0
        # at most cap * time (+1 for the first slot); the rest merged, not queued
        assert sent <= 50.0 * elapsed + 2
        assert sent >= 0.5 * 50.0 * elapsed
        assert bc.stats.merged >= 400 - sent - 10
        for c in clients:
            assert not c.errors
            await c.close()


async def test_final_message_of_an_ended_match_is_sent_and_state_is_dropped(
    build: Any, live: Any
) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        players = [build.player("p0", client.connection_id, entity=1)]
        bc = Broadcaster(DirectConnections(gw))
        await bc.start()
        frames = list(_moving_frames(build, players, 5, 3, radius=1e9))
        bc.publish([frames[0]])
        bc.publish([frames[1]])  # replaces frame 0 before it is sent: counted, not lost
        last = frames[2]
        ended = last.__class__(
            **{**{f: getattr(last, f) for f in last.__dataclass_fields__}, "ended": True}
        )
        await client.wait_tick(2)
        bc.publish([ended])
        await client.wait_tick(3)
        assert await bc.drain(30)
        await bc.stop()
        await bc.stop()  # harmless twice
        assert client.world.ended and client.headers[-1].ended
        assert bc.stats.players == {}
        await client.close()


class LosesAnswers(Recording):
    """Delivers every post but reports the chosen ones as failed: an unknown outcome, as
    when a response is lost (a fake over the real path, not a mock)."""

    def __init__(self, inner: Any, fail: set[int]) -> None:
        super().__init__(inner)
        self.fail = fail

    async def post(self, connection_id: str, data: bytes) -> None:
        await super().post(connection_id, data)
        if len(self.posts) in self.fail:
            raise PostFailed(connection_id, "response lost")


async def test_unknown_outcome_resyncs_with_a_full_state(build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        players = [build.player("p0", client.connection_id, entity=1)]
        conns = LosesAnswers(DirectConnections(gw), fail={3})
        bc = Broadcaster(conns, BroadcastSettings(backoff_base_s=0.0))
        await bc.start()
        for frame in _moving_frames(build, players, 30, 8, radius=1e9):
            bc.publish([frame])
            assert await bc.drain(30)
            await client.wait_tick(frame.tick)
        await bc.stop()
        # message 3 was delivered but reported failed: message 4 is a full state again
        assert [h.full for h in client.headers] == [True, False, False, True] + [False] * 4
        assert not client.errors and client.world.tick == 8
        assert bc.stats.errors == 1 and bc.stats.full_states == 2
        await client.close()


class RecordingNow(Recording):
    """Recording, with the inner connections' synchronous post: the broadcaster posts
    one-part messages inline through it."""

    def post_now(self, connection_id: str, data: bytes) -> None:
        self.posts.append(connection_id)
        self.inner.post_now(connection_id, data)


class EagerLosesAnswers(RecordingNow):
    """LosesAnswers on the inline path: delivers every post, reports the chosen ones as
    failed."""

    def __init__(self, inner: Any, fail: set[int]) -> None:
        super().__init__(inner)
        self.fail = fail

    def post_now(self, connection_id: str, data: bytes) -> None:
        super().post_now(connection_id, data)
        if len(self.posts) in self.fail:
            raise PostFailed(connection_id, "response lost")


async def test_inline_posts_reach_every_client_in_order(build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(3)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        conns = RecordingNow(DirectConnections(gw))
        bc = Broadcaster(conns)
        await bc.start()
        for frame in _moving_frames(build, players, 40, 10, radius=150.0):
            bc.publish([frame])
            assert await bc.drain(30)
            table = MatchTable.from_frame(frame, bc.settings.position_scale)
            for c, slot in zip(clients, frame.players, strict=True):
                await c.wait_tick(frame.tick)
                np.testing.assert_array_equal(c.world.ids, table.view(slot).ids)
        await bc.stop()
        assert bc.stats.sent == 30 and bc.stats.errors == 0 and len(conns.posts) == 30
        for c in clients:
            assert not c.errors and [h.full for h in c.headers] == [True] + [False] * 9
            await c.close()


async def test_eager_post_failure_resyncs_with_a_full_state(build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        players = [build.player("p0", client.connection_id, entity=1)]
        conns = EagerLosesAnswers(DirectConnections(gw), fail={3})
        bc = Broadcaster(conns, BroadcastSettings(backoff_base_s=0.0))
        await bc.start()
        for frame in _moving_frames(build, players, 30, 8, radius=1e9):
            bc.publish([frame])
            assert await bc.drain(30)
            await client.wait_tick(frame.tick)
        await bc.stop()
        assert [h.full for h in client.headers] == [True, False, False, True] + [False] * 4
        assert not client.errors and client.world.tick == 8 and bc.stats.errors == 1
        await client.close()


def test_batch_headers_are_the_struct_headers(build: Any) -> None:
    from broadcaster.codec import HEADER_STRUCT, PROTOCOL_VERSION
    from broadcaster.fanout import _HEAD, _ONE_PART, _headers

    frames = [
        build.frame(7, [1], [0.0], [0.0], match_id="a"),
        dataclasses.replace(build.frame(2**32 + 5, [1], [0.0], [0.0], match_id="b"), ended=True),
    ]
    listed = [
        (0, build.player("p", "c", entity=1, ack=3)),
        (1, build.player("q", "d", ack=2**32 + 9)._replace(dropped=7, dropped_seq=11)),
    ]
    base_ticks = [6, 2**32 + 1]
    full = [True, False]
    got = _headers(frames, [fi for fi, _ in listed], [s for _, s in listed], base_ticks, 4, full)
    for k, ((fi, slot), base_tick) in enumerate(zip(listed, base_ticks, strict=True)):
        want = _ONE_PART + HEADER_STRUCT.pack(
            PROTOCOL_VERSION,
            (2 if frames[fi].ended else 0) | (1 if full[k] else 0),
            0,
            1,
            4,
            frames[fi].tick & 0xFFFFFFFF,
            slot.ack_seq & 0xFFFFFFFF,
            base_tick & 0xFFFFFFFF,
            slot.entity_id,
            slot.dropped,
            slot.dropped_seq,
        )
        assert got[k * _HEAD : (k + 1) * _HEAD] == want


async def test_batched_deltas_over_the_limit_are_split_and_applied(build: Any, live: Any) -> None:
    """A small frame limit: deltas of the per-tick batch go out in parts (parts'
    split), the clients join them, and every world stays exact."""
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        clients = [await live.connect(session, gw) for _ in range(2)]
        players = [
            build.player(f"p{i}", c.connection_id, entity=i + 1) for i, c in enumerate(clients)
        ]
        bc = Broadcaster(DirectConnections(gw), BroadcastSettings(max_message_bytes=120))
        await bc.start()
        frames = list(_moving_frames(build, players, 80, 6, radius=1e9))
        for frame in frames:
            # big moves: every entity needs a correction each tick
            frame.x[:] += np.float32(50.0 * frame.tick)
            bc.publish([frame])
            assert await bc.drain(30)
            table = MatchTable.from_frame(frame, bc.settings.position_scale)
            for c, slot in zip(clients, frame.players, strict=True):
                await c.wait_tick(frame.tick)
                view = table.view(slot)
                got = np.stack([c.world.columns[k] for k in table.names], axis=1)
                assert np.abs(got - view.values).max() <= bc.settings.position_tolerance
        await bc.stop()
        for c in clients:
            assert not c.errors
            deltas = [h for h in c.headers if not h.full]
            assert any(h.part_count > 1 for h in deltas)
            await c.close()
        assert bc.stats.errors == 0


async def test_a_batch_that_fails_resyncs_its_players(
    build: Any, live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the batched deltas (injected on the 3rd batch) costs that send tick: the
    players then get full states and their worlds are exact again."""
    import broadcaster.fanout as fanout

    real = fanout.diff_rows
    calls = [0]

    def failing_once(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(fanout, "diff_rows", failing_once)
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        players = [build.player("p0", client.connection_id, entity=1)]
        bc = Broadcaster(DirectConnections(gw))
        await bc.start()
        for frame in _moving_frames(build, players, 20, 8, radius=1e9):
            bc.publish([frame])
            assert await bc.drain(30)
        await client.wait_tick(8)
        await bc.stop()
        # tick 1 full; tick 2 a delta; tick 3's batch failed; tick 4 full again
        assert [h.tick for h in client.headers] == [1, 2, 4, 5, 6, 7, 8]
        assert [h.full for h in client.headers] == [True, False, True, False, False, False, False]
        assert not client.errors and bc.stats.errors == 1
        await client.close()


@pytest.mark.parametrize("wire", ["direct", "aws_wire"])
async def test_a_replaced_connection_is_told_and_closed(build: Any, live: Any, wire: str) -> None:
    """A player connected again: the older connection gets one REPLACED message (its
    client must not reconnect), then DeleteConnection closes it with 1000, as AWS does;
    the newer one keeps getting state. aws_wire signs the DELETE; the gateway verifies."""
    from broadcaster.connections.aws_wire import AwsWireConnections

    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        old, new = await live.connect(session, gw), await live.connect(session, gw)
        conns: Any = (
            DirectConnections(gw)
            if wire == "direct"
            else AwsWireConnections(gw.management_url, "us-east-1")
        )
        bc = Broadcaster(conns, BroadcastSettings())
        await bc.start()
        try:
            player = build.player("p", new.connection_id, entity=1)
            bc.publish([build.frame(5, [1], [0.0], [0.0], players=(player,))])
            bc.replaced("m1", "p", old.connection_id)
            await new.wait_tick(5)
            async with asyncio.timeout(10):
                await old._task  # the read loop ends when the gateway closes it
            assert [h.replaced for h in old.headers] == [True]
            assert old.world.replaced and old.world.tick == -1 and not old.errors
            assert old.ws.close_code == 1000
            assert bc.stats.replaced == 1 and not new.world.replaced
        finally:
            await bc.stop()
            await conns.close()
            await new.close()


async def test_a_frame_past_its_lease_deadline_is_not_posted(build: Any, live: Any) -> None:
    """MatchFrame.valid_until: a worker's fencing deadline. A frame still waiting when it
    passes (the process was frozen between publishing and sending) is never posted."""
    import time

    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        bc = Broadcaster(DirectConnections(gw), BroadcastSettings())
        await bc.start()
        try:
            player = build.player("p", client.connection_id, entity=1)
            frame = build.frame(3, [1], [0.0], [0.0], players=(player,))
            bc.publish([dataclasses.replace(frame, valid_until=time.monotonic() - 0.001)])
            assert await bc.drain(10)
            assert bc.stats.frames_fenced == 1 and client.world.tick == -1
            bc.publish([dataclasses.replace(frame, tick=4, valid_until=time.monotonic() + 60)])
            await client.wait_tick(4)
            assert bc.stats.frames_fenced == 1
        finally:
            await bc.stop()
            await client.close()
