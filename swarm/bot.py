"""One bot: a lean WebSocket player that measures what it sees.

A bot connects with its own token, then one task per bot reads state messages and a
process-wide pacer (swarm.fleet) sends its inputs, so pacing costs one timer per process.
Bots decode only the message header (``peek``: tick and ack seq), never the whole state.

Measurements, all into the process's current :class:`~swarm.stats.Sample`:

- connect: from starting the handshake (token included) to the open WebSocket.
- ack (input->ack latency, performance.md's definition): from sending input ``seq`` to the
  first state message whose ack is >= ``seq``; every input gets its own figure.
- delay (tick-to-receive): the protocol's header carries no server clock, so this is the
  arrival of tick ``n`` against the bot's earliest-seen arrival on the same tick clock
  (receive time minus ``n / tick_hz``, minus that offset's minimum so far): how much later
  than the fastest message each message arrived. It needs the server's simulation rate
  (``tick_hz``); a wrong rate shows as a delay growing steadily over the run.

Backpressure: a bot keeps at most MAX_PENDING_INPUTS unacknowledged inputs; older ones
are counted as ``timeout:ack`` and dropped.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from infra.metering import metered_units
from swarm.behaviour import Behaviour
from swarm.errors import TokenError
from swarm.settings import MAX_PENDING_INPUTS
from swarm.stats import Sample
from swarm.tokens import TokenSource

__all__ = ["Bot", "Peek", "encode_input"]

Peek = Callable[[bytes], Any]


def encode_input(seq: int, move: tuple[float, float], aim: tuple[float, float], fire: bool) -> str:
    """The input frame of COMMON.md, formatted directly (no json.dumps on the hot path)."""
    return (
        f'{{"action":"input","seq":{seq},"move":[{move[0]:.3f},{move[1]:.3f}],'
        f'"aim":[{aim[0]:.3f},{aim[1]:.3f}],"fire":{"true" if fire else "false"}}}'
    )


class Bot:
    """The state of one bot; the fleet owns its lifecycle (connect, run, close)."""

    __slots__ = (
        "ack_timeout",
        "behaviour",
        "closing",
        "index",
        "match",
        "min_offset",
        "pending",
        "player",
        "rng",
        "seq",
        "tick_period",
        "ws",
    )

    def __init__(
        self,
        index: int,
        *,
        match: str,
        player: str,
        behaviour: Behaviour,
        rng: random.Random,
        ack_timeout: float,
        tick_hz: float,
    ) -> None:
        self.index, self.match, self.player = index, match, player
        self.behaviour, self.rng = behaviour, rng
        self.ack_timeout = ack_timeout
        self.tick_period = 1.0 / tick_hz
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()
        self.min_offset: float | None = None
        self.closing = False

    @property
    def open(self) -> bool:
        return self.ws is not None and not self.ws.closed and not self.closing

    async def connect(
        self,
        session: aiohttp.ClientSession,
        url: str,
        tokens: TokenSource,
        connect_timeout: float,
        sample: Callable[[], Sample],
    ) -> bool:
        """Open the WebSocket; on failure count the error by kind and return False."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(connect_timeout):
                token = await tokens.token(match=self.match, player=self.player)
                self.ws = await session.ws_connect(
                    url,
                    params={"token": token},
                    autoclose=False,
                    autoping=True,
                    max_msg_size=0,
                    compress=0,
                )
        except TokenError as exc:
            sample().error(str(exc))
            return False
        except aiohttp.WSServerHandshakeError as exc:
            sample().error(f"refused:{exc.status}")
            return False
        except TimeoutError:
            sample().error("timeout:connect")
            return False
        except (aiohttp.ClientError, OSError) as exc:
            sample().error(f"connect:{type(exc).__name__}")
            return False
        current = sample()
        current.record("connect", (time.perf_counter() - started) * 1e6)
        current.counters["connects"] += 1
        return True

    async def read(self, peek: Peek, sample: Callable[[], Sample]) -> None:
        """Read until the socket closes; every message is counted and measured."""
        ws = self.ws
        assert ws is not None
        pending = self.pending
        binary, text = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT
        while True:
            msg = await ws.receive()
            now = time.perf_counter()
            current = sample()
            if msg.type is binary:
                data: bytes = msg.data
                size = len(data)
                counters = current.counters
                counters["msgs_in"] += 1
                counters["bytes_in"] += size
                counters["units_in"] += metered_units(size)
                try:
                    header = peek(data)
                    tick, ack = int(header.tick), int(header.ack_seq)
                except Exception:  # any undecodable header is a protocol error, counted
                    current.error("decode")
                    continue
                if pending and pending[0][0] <= ack:
                    record = current.record
                    while pending and pending[0][0] <= ack:
                        record("ack", (now - pending.popleft()[1]) * 1e6)
                # tick-to-receive: this message's lateness against the earliest-seen
                # arrival on the server's tick clock (see the module docstring)
                offset = now - tick * self.tick_period
                if self.min_offset is None or offset < self.min_offset:
                    self.min_offset = offset
                current.record("delay", (offset - self.min_offset) * 1e6)
            elif msg.type is text:
                current.counters["msgs_in"] += 1
                current.counters["bytes_in"] += len(msg.data.encode())
                current.error(f"frame:{_frame_message(msg.data)}")
            else:
                if not self.closing:
                    code = ws.close_code if ws.close_code is not None else 1006
                    current.error(f"closed:{code}")
                    current.counters["closes"] += 1
                return

    async def send_input(self, now: float, t: float, sample: Sample) -> None:
        """Send this slot's input (if the behaviour wants one); expire stale pending acks."""
        pending = self.pending
        while pending and (
            now - pending[0][1] > self.ack_timeout or len(pending) >= MAX_PENDING_INPUTS
        ):
            pending.popleft()
            sample.error("timeout:ack")
        choice = self.behaviour.next_input(self.rng, t)
        if choice is None or self.ws is None:
            return
        self.seq += 1
        frame = encode_input(self.seq, choice.move, choice.aim, choice.fire)
        pending.append((self.seq, now))
        await self.ws.send_str(frame)
        counters = sample.counters
        counters["msgs_out"] += 1
        counters["bytes_out"] += len(frame)
        counters["units_out"] += metered_units(len(frame))


def _frame_message(text: str) -> str:
    """The ``message`` of a gateway text frame (``Forbidden``...), else ``text``."""
    try:
        value = json.loads(text)
    except ValueError:
        return "text"
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])[:40]
    return "text"
