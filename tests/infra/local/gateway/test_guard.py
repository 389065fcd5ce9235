"""The protections of the other clients (guard.py): pure decisions with a fake clock, then
each policy against a real gateway on 127.0.0.1 with real sockets and shrunk settings.
(The figures under load, against ``tickwire up``: tests/faults/test_hostile.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest

from infra.local.gateway import GatewaySettings
from infra.local.gateway.errors import GoneException, LimitExceededException
from infra.local.gateway.guard import Episode, SourceFailures
from infra.local.gateway.model import Authorizer, Integration, Route

# linux/tcp.h: the first byte of tcp_info is the state; 1 is ESTABLISHED.
_ESTABLISHED = 1


def test_an_episode_holds_until_cleared_or_broken_by_a_gap():
    episode = Episode(gap_s=1.0)
    assert not episode.active
    assert episode.hit(10.0) == 0.0
    assert episode.hit(10.5) == 0.5 and episode.hit(11.4) == pytest.approx(1.4)
    assert episode.hit(12.5) == 0.0  # 1.1 s without a hit: a new episode
    episode.clear()
    assert not episode.active and episode.hit(13.0) == 0.0


def test_source_failures_block_one_source_and_forget_the_oldest(kit):
    clock = kit.Clock()
    failures = SourceFailures(rate=1.0, burst=2, max_sources=2, clock=clock)
    assert failures.begin("a")  # never failed: nothing charged
    failures.end("a", failed=True)
    assert failures.begin("a")  # has failed: pays up front...
    failures.end("a", failed=False)  # ...and is given it back on success
    assert failures.begin("a")
    failures.end("a", failed=True)
    assert not failures.begin("a") and failures.begin("b")  # "a" has none left
    clock.now = 1.0  # one failure's worth back
    assert failures.begin("a")
    failures.end("a", failed=True)
    failures.end("b", failed=True)
    failures.end("c", failed=True)  # a third source: "a", the oldest, is forgotten
    assert failures.begin("a")


def test_handshakes_in_flight_cannot_outrun_a_failing_sources_limit(kit):
    failures = SourceFailures(rate=1.0, burst=3, max_sources=10, clock=kit.Clock())
    assert failures.begin("a")
    failures.end("a", failed=True)  # 2 left
    in_flight = [failures.begin("a") for _ in range(10)]  # a storm, all at once
    assert in_flight == [True, True] + [False] * 8


def test_settings_refuse_negative_policies():
    with pytest.raises(ValueError):
        GatewaySettings(pong_timeout_s=-1)
    GatewaySettings(ping_interval_s=0, connection_message_rate_per_s=0)  # 0: off


def mock_api(kit):
    return kit.api_with(Route("echo", Integration("MOCK")))


async def test_a_flooder_gets_one_throttle_frame_then_close_1008(kit):
    settings = GatewaySettings(
        connection_message_rate_per_s=50, connection_message_burst=10, flood_close_after_s=0.5
    )
    async with kit.running(mock_api(kit), settings) as gw, aiohttp.ClientSession() as session:
        flooder = await session.ws_connect(gw.ws_url)
        honest = await session.ws_connect(gw.ws_url)
        frames = []

        async def read(ws):
            async for msg in ws:
                frames.append(json.loads(msg.data)["message"])

        reading = asyncio.create_task(read(flooder))
        started = time.monotonic()
        async with asyncio.timeout(10):
            while not flooder.closed:
                for _ in range(20):
                    await flooder.send_str('{"action": "echo"}')
                await honest.send_str('{"action": "echo"}')  # 20 a second: within its rate
                await asyncio.sleep(0.05)
        await reading
        took = time.monotonic() - started
        assert (flooder.close_code, frames) == (1008, ["Too Many Requests"])
        assert 0.5 <= took < 3
        assert gw.metrics.policy_closes == {"message_rate": 1}
        assert gw.metrics.throttled["connection"] > 100
        assert not honest.closed
        await honest.close()


def never_reading_socket(port: int, receive_buffer: int = 4096) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET /local HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # the 101, and not a byte more
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


async def test_a_client_that_never_answers_a_ping_is_closed(kit):
    settings = GatewaySettings(ping_interval_s=0.2, pong_timeout_s=0.3)
    async with kit.running(mock_api(kit), settings) as gw, aiohttp.ClientSession() as session:
        honest = await session.ws_connect(gw.ws_url)  # aiohttp answers pings as it reads
        reading = asyncio.create_task(honest.receive())
        sleeper = await asyncio.to_thread(never_reading_socket, gw.port)
        try:
            async with asyncio.timeout(10):
                while tcp_state(sleeper) == _ESTABLISHED:  # noqa: ASYNC110 (kernel state)
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # several more ping rounds for the honest client
            assert gw.metrics.policy_closes == {"ping_timeout": 1}
            assert gw.metrics.closes[1008] == 1
            assert not honest.closed and not reading.done()
        finally:
            sleeper.close()
            reading.cancel()
            await honest.close()


async def test_a_reader_whose_buffer_stays_full_is_closed_and_posts_never_wait(kit):
    settings = GatewaySettings(
        ping_interval_s=0,  # only the buffer policy
        slow_reader_bytes=64 * 1024,
        slow_reader_close_after_s=0.3,
        client_buffer_bytes=256 * 1024,
    )
    async with kit.running(mock_api(kit), settings) as gw:
        sleeper = await asyncio.to_thread(never_reading_socket, gw.port)
        try:
            (conn,) = gw.connections.values()
            payload = b"x" * 30_000
            outcomes: list[str] = []
            started = time.monotonic()
            async with asyncio.timeout(10):
                while True:
                    try:
                        gw.post_now(conn.connection_id, payload)  # never awaits the reader
                        outcomes.append("200")
                    except LimitExceededException:
                        outcomes.append("429")
                    except GoneException:
                        break
                    await asyncio.sleep(0.01)
            assert time.monotonic() - started >= 0.3
            assert "200" in outcomes
            assert gw.metrics.policy_closes == {"slow_reader": 1}
            async with asyncio.timeout(5):
                while gw.connections:  # noqa: ASYNC110 (the read loop saw the abort)
                    await asyncio.sleep(0.02)
            assert gw.metrics.closes[1008] == 1
        finally:
            sleeper.close()


async def test_failed_handshakes_from_one_source_are_refused_before_the_authorizer(kit, event_log):
    auth = Authorizer(
        "auth", kit.function("auth", "authorizer"), ("route.request.querystring.token",)
    )
    api = kit.api_with(Route("$connect", None, authorization_type="CUSTOM", authorizer=auth))
    settings = GatewaySettings(
        failed_connects_per_source_per_s=0.5, failed_connects_per_source_burst=3
    )
    async with kit.running(api, settings) as gw, aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(8):
            try:
                ws = await session.ws_connect(f"{gw.ws_url}?token=deny")
                await ws.close()
                statuses.append(101)
            except aiohttp.WSServerHandshakeError as exc:
                statuses.append(exc.status)
        assert statuses == [403] * 3 + [429] * 5
        assert len(event_log.events()) == 3  # the authorizer ran for the first three only
        assert gw.metrics.throttled["connect_source"] == 5
        assert gw.metrics.throttled["connect"] == 0  # nothing spent of the account quota


async def test_pings_are_not_data_the_idle_timeout_still_closes(kit):
    settings = GatewaySettings(idle_timeout_s=0.6, ping_interval_s=0.1, pong_timeout_s=0.3)
    async with kit.running(mock_api(kit), settings) as gw, aiohttp.ClientSession() as session:
        idle = await session.ws_connect(gw.ws_url)  # answers every ping, sends no data
        started = time.monotonic()
        msg = await idle.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE and idle.close_code == 1001
        assert 0.5 <= time.monotonic() - started < 3
        assert not gw.metrics.policy_closes


def test_tickwire_up_turns_the_protections_on_and_its_flags_change_them():
    from tickwire.cli import build_parser
    from tickwire.commands.up import settings_from

    on = settings_from(build_parser("up").parse_args(["up"])).gateway
    assert on.connection_message_rate_per_s == 100 and on.ping_interval_s == 10
    assert on.slow_reader_close_after_s == 5 and on.failed_connects_per_source_per_s == 10
    off = settings_from(
        build_parser("up").parse_args(["up", "--ping-interval-s", "0", "--pong-timeout-s", "1"])
    ).gateway
    assert (off.ping_interval_s, off.pong_timeout_s) == (0, 1)
    plain = GatewaySettings()  # API Gateway's behaviour: none of them
    assert not (plain.connection_message_rate_per_s or plain.ping_interval_s)
