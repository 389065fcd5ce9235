"""Connection lifecycle: $disconnect codes, idle and duration closes, connection rate,
half-open handshakes, graceful stop (design note: quotas, $disconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

from infra.local.gateway import GatewaySettings
from infra.local.gateway.model import Route


def _disconnects(event_log):
    return [e for e in event_log.events() if e["requestContext"]["eventType"] == "DISCONNECT"]


async def test_disconnect_status_codes(kit, event_log):
    api = kit.api_with(Route("$disconnect", kit.proxy(kit.function("d", "ok"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(gw.ws_url)
        await kit.connection_id_of(ws)
        kit.send_raw(ws, kit.raw_frame(b"", 0x8))  # a close frame without a status
        await ws.receive(timeout=10)
        ws2 = await session.ws_connect(gw.ws_url)
        await ws2.close(code=4000, message=b"bye")
        await event_log.wait_for(lambda e: len(_disconnects(event_log)) == 2)
    got = {
        (e["requestContext"]["disconnectStatusCode"], e["requestContext"]["disconnectReason"])
        for e in _disconnects(event_log)
    }
    assert got == {(1005, "Client-side close frame status not set"), (4000, "bye")}


async def test_idle_timeout_closes_and_traffic_resets_it(kit, event_log):
    settings = GatewaySettings(idle_timeout_s=0.6)
    api = kit.api_with(Route("$disconnect", kit.proxy(kit.function("d", "ok"))))
    async with kit.running(api, settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as busy, session.ws_connect(gw.ws_url) as idle:
            busy_id = await kit.connection_id_of(busy)
            started = time.monotonic()

            async def keep_busy() -> None:  # gateway -> client data resets the timer too
                while True:
                    await gw.post_to_connection(busy_id, b"tick")
                    assert (await busy.receive(timeout=10)).data == "tick"
                    await asyncio.sleep(0.1)

            keeper = asyncio.create_task(keep_busy())
            msg = await idle.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
            assert time.monotonic() - started >= 0.3
            await asyncio.sleep(1.0)
            assert not keeper.done() and not busy.closed
            keeper.cancel()
        entry = await event_log.wait_for(lambda e: bool(_disconnects(event_log)))
        assert entry["event"]["requestContext"]["disconnectStatusCode"] == 1001


async def test_maximum_connection_duration(kit):
    settings = GatewaySettings(max_connection_duration_s=0.8)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            started = time.monotonic()
            msg = None
            while msg is None or msg.type != aiohttp.WSMsgType.CLOSE:  # active all along
                with contextlib.suppress(ConnectionError):
                    await ws.send_str("keepalive")
                msg = await ws.receive(timeout=10)
                await asyncio.sleep(0.05)
            assert msg.data == 1001
            assert time.monotonic() - started >= 0.6


async def test_new_connection_rate_gives_429(kit):
    settings = GatewaySettings(new_connections_per_s=0.01, new_connections_burst=2)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        first = await session.ws_connect(gw.ws_url)
        second = await session.ws_connect(gw.ws_url)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gw.ws_url)
        assert info.value.status == 429
        await first.close()
        await second.close()


async def _half_open_closed(kit, count: int, timeout_s: float) -> None:
    settings = GatewaySettings(handshake_timeout_s=timeout_s)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        sockets: list = []
        try:
            # Opened from a thread: the gateway's loop must keep accepting meanwhile.
            opened = time.monotonic()
            sockets = await asyncio.to_thread(
                lambda: [kit.half_open(gw.port) for _ in range(count)]
            )
            # The last socket opened at `last`; all must be closed by last + timeout
            # (plus slack for this shared machine).
            last = time.monotonic()
            limit = timeout_s + 3.0

            def all_closed() -> float:
                for sock in sockets:
                    sock.settimeout(max(0.1, limit - (time.monotonic() - last)))
                    assert sock.recv(1024) == b"", "the gateway answered a half-open handshake"
                return time.monotonic() - last

            if time.monotonic() - opened < timeout_s * 0.8:  # not closed before its time
                sockets[0].setblocking(False)
                with pytest.raises(BlockingIOError):
                    sockets[0].recv(1)
                sockets[0].setblocking(True)
            elapsed = await asyncio.to_thread(all_closed)
            assert elapsed < limit
            async with session.ws_connect(gw.ws_url) as ws:  # real clients still connect
                await kit.connection_id_of(ws)
        finally:
            for sock in sockets:
                sock.close()


async def test_thousand_half_open_handshakes_are_closed(kit):
    await _half_open_closed(kit, 1000, 2.0)


async def test_stop_closes_connections_with_1001(kit, event_log):
    api = kit.api_with(Route("$disconnect", kit.proxy(kit.function("d", "ok"))))
    async with aiohttp.ClientSession() as session:
        async with kit.running(api) as gw:
            ws = await session.ws_connect(gw.ws_url)
            await kit.connection_id_of(ws)
            stopping = asyncio.create_task(gw.stop())
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
            await stopping
        # $disconnect ran before stop() returned.
        assert _disconnects(event_log)[0]["requestContext"]["disconnectStatusCode"] == 1001
        summary = gw.metrics.summary()
        assert "connection minutes: 1" in summary
