"""Hypothesis stateful test of the connection lifecycle through real clients.

Rules: connect, send an unrouted message, post (to open and to closed ids), delete, and
client-side close. Invariants: a post to an open id is delivered (and only to it); a post
to a closed or unknown id is 410 and delivers nothing; the gateway's open connections are
exactly the model's.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import aiohttp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from infra.local.gateway import Gateway, GatewaySettings, GoneException
from infra.local.gateway.connection import ConnectionState
from infra.local.gateway.model import WebSocketApi


class Lifecycle(RuleBasedStateMachine):
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = Gateway(WebSocketApi(name="stateful"), GatewaySettings())
        self.run(self.gateway.start("127.0.0.1", 0))
        self.session: aiohttp.ClientSession = self.run(self._session())
        self.sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self.open: set[str] = set()
        self.counter = 0

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @rule(target=ids)
    def connect(self) -> str:
        async def go() -> str:
            ws = await self.session.ws_connect(self.gateway.ws_url)
            await ws.send_str('{"action": "whoami"}')
            cid = str(json.loads((await ws.receive(timeout=10)).data)["connectionId"])
            self.sockets[cid] = ws
            return cid

        cid = self.run(go())
        self.open.add(cid)
        return cid

    @rule(cid=ids)
    def send_unrouted(self, cid: str) -> None:
        if cid not in self.open:
            return

        async def go() -> None:
            ws = self.sockets[cid]
            await ws.send_str("hello?")
            msg = await ws.receive(timeout=10)
            assert json.loads(msg.data)["connectionId"] == cid

        self.run(go())

    @rule(cid=ids, payload=st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
    def post(self, cid: str, payload: bytes) -> None:
        self.counter += 1
        data = self.counter.to_bytes(4, "big") + payload  # unique: never mistaken

        async def go() -> None:
            try:
                await self.gateway.post_to_connection(cid, data)
            except GoneException:
                assert cid not in self.open, "410 for an open connection"
                return
            assert cid in self.open, "a post to a closed connection was accepted"
            msg = await self.sockets[cid].receive(timeout=10)
            got = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            assert got == data

        self.run(go())

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(sorted(self.open)))

        async def go() -> None:
            await self.gateway.delete_connection(cid)
            msg = await self.sockets[cid].receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1000)
            await self._gone(cid)

        self.run(go())
        self.open.discard(cid)

    @precondition(lambda self: bool(self.open))
    @rule(data=st.data())
    def client_close(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(sorted(self.open)))

        async def go() -> None:
            await self.sockets[cid].close()
            await self._gone(cid)

        self.run(go())
        self.open.discard(cid)

    async def _gone(self, cid: str) -> None:
        for _ in range(400):
            if cid not in self.gateway.connections:
                return
            await asyncio.sleep(0.025)
        raise AssertionError(f"{cid} still in the table")

    @invariant()
    def open_connections_match(self) -> None:
        live = {
            cid for cid, c in self.gateway.connections.items() if c.state is ConnectionState.OPEN
        }
        assert live == self.open

    def teardown(self) -> None:
        async def close() -> None:
            await self.session.close()
            await self.gateway.stop()

        try:
            self.run(close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


Lifecycle.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycle = Lifecycle.TestCase
