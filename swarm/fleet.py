"""The bots of one process: ramp-up, input pacing, interval samples, bounded stop.

Lifecycle (the whole run is a fixed schedule from a start time shared by all processes)::

    start ── ramp (connects at <= cap/s) ── warm-up (one interval) ── measured ── stop
    |<- phase "ramp" intervals ------------------------------------>|<- "steady" ->|

Intervals are aligned to the start time, so every process's interval ``k`` covers the
same wall-clock span and the parent can merge them. At the end the fleet closes every
socket (close 1000, bounded by the connect timeout), sends its last interval and a
``done`` message, and returns: a run always stops by itself.

Tasks: one per bot (connect, then read), one ramp task, one pacer, one flusher, all in a
TaskGroup owned by :meth:`Fleet.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from swarm.behaviour import make_behaviour
from swarm.bot import Bot, Peek
from swarm.config import SwarmConfig
from swarm.ramp import plan_ramp
from swarm.settings import PACER_HZ
from swarm.stats import Sample
from swarm.tokens import SecretTokens, TokenSource, UrlTokens

__all__ = ["Emit", "Fleet", "Schedule", "resolve_peek"]

Emit = Callable[[dict[str, Any]], None]


def resolve_peek(spec: str | Peek) -> Peek:
    """``module:function`` (picklable, for child processes) or a callable."""
    if callable(spec):
        return spec
    module, _, name = spec.partition(":")
    func = getattr(importlib.import_module(module), name)
    assert callable(func)
    return func  # type: ignore[no-any-return]


class Schedule:
    """The run's timeline in seconds from the common start."""

    def __init__(self, config: SwarmConfig) -> None:
        self.interval = config.interval_s
        ramp = plan_ramp(
            len(config.bots_of(0)), config.ramp_s, config.max_connect_rate, config.procs
        )
        self.ramp_s = ramp.seconds
        # The warm-up interval lets the last connects finish before measuring.
        self.steady_index = math.ceil(self.ramp_s / self.interval) + 1
        self.intervals = self.steady_index + math.ceil(config.duration_s / self.interval)
        self.end_s = self.intervals * self.interval

    def phase(self, index: int) -> str:
        return "steady" if index >= self.steady_index else "ramp"


class Fleet:
    """Runs the bots of process ``proc`` from ``start_epoch`` (a ``time.time()`` value)."""

    def __init__(
        self,
        config: SwarmConfig,
        proc: int,
        emit: Emit,
        *,
        start_epoch: float,
        peek: str | Peek | None = None,
    ) -> None:
        self.config, self.proc, self.emit = config, proc, emit
        self.peek = resolve_peek(peek if peek is not None else config.peek)
        self.schedule = Schedule(config)
        self.ramp = plan_ramp(
            len(config.bots_of(proc)), config.ramp_s, config.max_connect_rate, config.procs
        )
        self.t0 = time.perf_counter() + (start_epoch - time.time())
        self.sample = Sample()
        self.slots = max(1, round(PACER_HZ / config.input_hz))
        self.buckets: list[list[Bot]] = [[] for _ in range(self.slots)]
        self.bots: list[Bot] = []
        # Connection-time integral: open sockets x seconds, for connection minutes.
        self.connected = 0
        self._conn_accum = 0.0
        self._conn_last = self.t0
        self._stopping = False
        self._lives: set[asyncio.Task[None]] = set()

    def _current(self) -> Sample:
        return self.sample

    def _gauge(self, delta: int) -> None:
        now = time.perf_counter()
        self._conn_accum += self.connected * max(0.0, now - self._conn_last)
        self._conn_last = now
        self.connected += delta

    async def _sleep_until(self, at: float) -> None:
        # Always yields, so a loop that is behind schedule still lets the readers run.
        await asyncio.sleep(max(0.0, at - time.perf_counter()))

    def _tokens(self, session: aiohttp.ClientSession) -> TokenSource:
        c = self.config
        if c.secret is not None:
            return SecretTokens(c.secret, audience=c.audience, issuer=c.issuer)
        assert c.token_url is not None
        return UrlTokens(c.token_url, session)

    async def run(self) -> None:
        c = self.config
        seed = c.seed if c.seed is not None else random.randrange(1 << 30)
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            tokens = self._tokens(session)
            async with asyncio.TaskGroup() as group:
                ramp = group.create_task(self._ramp(group, session, tokens, seed))
                pacer = group.create_task(self._pacer())
                await self._flusher()
                ramp.cancel()
                pacer.cancel()
                await self._close_all()
                for task in self._lives:
                    task.cancel()  # connects still pending, or closes that timed out
        self.emit({"kind": "done", "proc": self.proc})

    async def _ramp(
        self,
        group: asyncio.TaskGroup,
        session: aiohttp.ClientSession,
        tokens: TokenSource,
        seed: int,
    ) -> None:
        c = self.config
        for offset, index in zip(self.ramp.offsets, c.bots_of(self.proc), strict=True):
            await self._sleep_until(self.t0 + offset)
            match = c.match_of(index)
            rng = random.Random(seed * 1_000_003 + index)
            bot = Bot(
                index,
                match=match,
                player=c.player_of(index),
                behaviour=make_behaviour(c.behaviour, match=match, rng=rng),
                rng=rng,
                ack_timeout=c.ack_timeout_s,
                tick_hz=c.tick_hz,
            )
            self.bots.append(bot)
            self._lives.add(group.create_task(self._life(bot, session, tokens)))

    async def _life(self, bot: Bot, session: aiohttp.ClientSession, tokens: TokenSource) -> None:
        c = self.config
        if not await bot.connect(session, c.url, tokens, c.connect_timeout_s, self._current):
            return
        if self._stopping:
            bot.closing = True
            assert bot.ws is not None
            await bot.ws.close()
            return
        self._gauge(+1)
        bucket = self.buckets[bot.index % self.slots]
        bucket.append(bot)
        try:
            await bot.read(self.peek, self._current)
        except (aiohttp.ClientError, OSError) as exc:
            if not bot.closing:
                self.sample.error(f"closed:{type(exc).__name__}")
        finally:
            bucket.remove(bot)
            self._gauge(-1)

    async def _pacer(self) -> None:
        period = 1.0 / PACER_HZ
        k = 0
        while True:
            await self._sleep_until(self.t0 + k * period)
            now = time.perf_counter()
            t = now - self.t0
            for bot in list(self.buckets[k % self.slots]):
                if bot.open:
                    try:
                        await bot.send_input(now, t, self.sample)
                    except (aiohttp.ClientError, OSError, RuntimeError):
                        pass  # the socket is closing; its reader counts the close
            # A pacer that fell behind catches up slot by slot (every bot still gets its
            # input, late), but never by more than one input period: beyond that it drops
            # the missed slots rather than sending a burst.
            k += 1
            due = int((time.perf_counter() - self.t0) / period)
            if due - k > self.slots:
                self.sample.error("pacer:behind", due - k)
                k = due

    async def _flusher(self) -> None:
        schedule = self.schedule
        for index in range(schedule.intervals):
            await self._sleep_until(self.t0 + (index + 1) * schedule.interval)
            self._flush(index)

    def _flush(self, index: int) -> None:
        self._gauge(0)
        sample, self.sample = self.sample, Sample()
        sample.connected = self.connected
        sample.connection_seconds = self._conn_accum
        self._conn_accum = 0.0
        self.emit(
            {
                "kind": "interval",
                "proc": self.proc,
                "index": index,
                "t": (index + 1) * self.schedule.interval,
                "phase": self.schedule.phase(index),
                "sample": sample.encode(),
            }
        )

    async def _close_all(self) -> None:
        self._stopping = True
        open_bots = [bot for bot in self.bots if bot.ws is not None and not bot.ws.closed]
        for bot in self.bots:
            bot.closing = True

        async def close(bot: Bot) -> None:
            assert bot.ws is not None
            with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError):
                await bot.ws.close()

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.connect_timeout_s):
                await asyncio.gather(*(close(bot) for bot in open_bots))
