"""Posting: the posts to one connection, and their outcomes.

:class:`Poster` is the posting half of :class:`broadcaster.fanout.Broadcaster` (its base
class): it starts the post of one update (one message, or the parts of a split one) to
one :class:`~broadcaster.connection.Connection`, inline (:meth:`Poster._post_inline`) or
in a task (:meth:`Poster._post_message`, :meth:`Poster._post_parts`); it paces and times
the post out, and accounts for every outcome through the connection's lifecycle table
(:meth:`Poster._delivered`, :meth:`Poster._settle`). :mod:`broadcaster.fanout` decides,
per send tick, who gets what; this module delivers it. Every message, batched or not,
goes through these methods.

Eager posts. A ``Connections`` with a synchronous ``post_now`` (the embedded gateway's
in-process post, the engine process's link: both queue the message and return) gets a
one-part message that needs no waiting posted inline by that call: a task per message
costs more than everything else together. Anything else (parts, pacing, a delay) is
posted in a task through the async ``post``. The counters of posts that complete inline are
added up in a :class:`Tally` and added to the stats once per run of messages.

Backpressure policy (per connection; the per-tick policy is in :mod:`broadcaster.fanout`):

- At most one update in flight per connection (``Connection.in_flight``). The final
  message of an ended match waits in ``Connection.final`` and is sent as soon as the
  previous post completes.
- Overall: at most ``max_in_flight`` posts running (a semaphore); pacing by
  :class:`~broadcaster.rate.SendRate` (an optional cap, the account throttle, and AIMD
  on 429s).
- 410: the connection is forgotten, ``on_gone(match, player, connection)`` is called once,
  and it is never posted to again (remembered in a bounded set, ``gone_memory``).
- 429: the update is not counted as delivered (the next delta covers it); the connection
  backs off with full jitter (exponential, capped); when several connections get 429s at
  once (the account throttle, not one slow reader) the global rate is cut (AIMD).
- A post unanswered after ``post_timeout_s`` is abandoned (a stuck reader cannot hold a
  slot for ever).
- 403/413/unknown outcome: counted as errors; the next message to that connection is a
  full state (we no longer know what it holds), after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Coroutine
from typing import Any

from broadcaster.connection import Connection, Event, Phase
from broadcaster.connections import Connections
from broadcaster.errors import ConnectionGone, PostError, PostFailed, Throttled
from broadcaster.rate import SendRate
from broadcaster.rows import BatchRows
from broadcaster.settings import BroadcastSettings
from broadcaster.stats import BroadcastStats
from game_engine.frame import GoneCallback, MatchFrame
from infra.backoff import Backoff

__all__ = ["Poster", "Tally"]

log = logging.getLogger(__name__)


class Tally:
    """Deliveries not yet added to the stats: message and byte counts, and the latency
    observations as runs of messages published at the same time."""

    __slots__ = ("bytes", "messages", "published", "run", "sent")

    def __init__(self) -> None:
        self.messages = self.bytes = self.sent = self.run = 0
        self.published = 0.0

    def flush(self, stats: BroadcastStats, rate: SendRate, now: float) -> None:
        if self.run:
            stats.latency.observe_many(now - self.published, self.run)
            self.run = 0
        if self.messages:
            stats.messages += self.messages
            stats.bytes += self.bytes
            rate.on_successes(now, self.messages)
            stats.rate_limit_per_s = rate.rate
            self.messages = self.bytes = 0
        stats.sent += self.sent
        self.sent = 0


class Poster:
    """The posting half of :class:`~broadcaster.fanout.Broadcaster`, which sets up the
    state declared here in its ``__init__``."""

    settings: BroadcastSettings
    stats: BroadcastStats
    _connections: Connections
    _on_gone: GoneCallback | None
    _clock: Callable[[], float]
    _rng: random.Random
    _rate: SendRate
    _pending: dict[str, tuple[MatchFrame, float]]
    _conns: dict[str, Connection]
    _match_conns: dict[str, set[str]]
    _gone: dict[str, None]
    _tasks: set[asyncio.Task[None]]
    _slots: asyncio.Semaphore
    # The connections' synchronous post (None: posts only in tasks); see module docs.
    _post_now: Callable[[str, bytes], None] | None
    _tally: Tally
    _active: int  # post tasks started and not finished
    _busy: bool  # the run loop is preparing a batch
    _idle: asyncio.Event

    def _send_final(self, conn: Connection, delay: float) -> None:
        """Post ``conn.final`` (the ended match's last message); the fan-out's part."""
        raise NotImplementedError

    def _check_idle(self) -> None:
        if not self._pending and not self._busy and self._active == 0:
            self._idle.set()

    def _flush(self) -> None:
        """Add the tallied deliveries to the stats."""
        self._tally.flush(self.stats, self._rate, self._clock())

    def _forget(self, conn: Connection) -> None:
        conn.handle(Event.FORGOTTEN)
        if self._conns.get(conn.connection_id) is conn:
            del self._conns[conn.connection_id]
            self.stats.players.pop(conn.connection_id, None)

    def _close(self, cid: str) -> None:
        """The connection left its match: forget it once its post in flight completes."""
        conn = self._conns.get(cid)
        if conn is None:
            return
        conn.handle(Event.LEFT)
        if not conn.in_flight:
            self._forget(conn)

    # -- starting a post ---------------------------------------------------------------------
    def _post_message(
        self,
        conn: Connection,
        frame: MatchFrame,
        message: bytes,
        rows: BatchRows,
        row: int,
        published: float,
        delay: float = 0.0,
    ) -> None:
        """Post a one-part update to ``conn``; once delivered, the connection holds row
        ``row`` of ``rows``. Inline when it can be (see the module docstring)."""
        wait = 0.0
        if self._may_post_inline(delay):
            rate = self._rate
            wait = 0.0 if math.isinf(rate.rate) else rate.delay(self._clock())
            if wait <= 0:
                self._post_inline(conn, message, rows, row, published)
                return
        post = self._post(conn, [message], rows, row, published, delay, wait)
        self._start_task(conn, frame, post)

    def _may_post_inline(self, delay: float) -> bool:
        """May a one-part message be posted inline now, pacing allowing? Only with a
        synchronous ``post_now``, no delay, and a free slot (only tasks take slots: all taken means a
        post must wait its turn)."""
        return (
            self._post_now is not None
            and delay <= 0
            and self.stats.in_flight < self.settings.max_in_flight
        )

    def _post_parts(
        self,
        conn: Connection,
        frame: MatchFrame,
        parts: list[bytes],
        rows: BatchRows,
        row: int,
        published: float,
        delay: float = 0.0,
    ) -> None:
        """Post the parts of a split update to ``conn``, one after another, in a task."""
        self._start_task(conn, frame, self._post(conn, parts, rows, row, published, delay))

    def _post_inline(
        self,
        conn: Connection,
        data: bytes,
        rows: BatchRows,
        row: int,
        published: float,
    ) -> None:
        """Post through ``post_now`` and settle the outcome here."""
        post_now = self._post_now
        assert post_now is not None
        try:
            post_now(conn.connection_id, data)
        except Exception as exc:
            self._post_failed(conn, rows, row, published, exc)
        else:
            self._delivered(conn, rows, row, published, len(data))

    def _post_failed(
        self, conn: Connection, rows: BatchRows, row: int, published: float, exc: Exception
    ) -> None:
        """Settle a ``post_now`` that raised ``exc``."""
        if not isinstance(exc, PostError):  # a broken Connections: an unknown outcome
            exc = PostFailed(conn.connection_id, repr(exc))
        self._settle(conn, rows, row, published, exc)

    def _start_task(
        self, conn: Connection, frame: MatchFrame, post: Coroutine[Any, Any, None]
    ) -> None:
        """Run ``post`` (a :meth:`_post`) in a task: ``conn`` is in flight until it ends."""
        conn.valid_until = frame.valid_until
        conn.in_flight = True
        self._active += 1
        self._spawn(post)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(
        self,
        conn: Connection,
        messages: list[bytes],
        rows: BatchRows,
        row: int,
        published: float,
        delay: float,
        reserved: float = 0.0,
    ) -> None:
        """Post the parts in a task."""
        error: PostError | None = None
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._slots:
                self.stats.in_flight += 1
                try:
                    await self._send_parts(conn, messages, reserved)
                finally:
                    self.stats.in_flight -= 1
        except PostError as exc:
            error = exc
        except Exception as exc:  # a broken Connections: an unknown outcome, as inline
            error = PostFailed(conn.connection_id, repr(exc))
        except BaseException:
            conn.in_flight = False
            self._active -= 1
            raise
        self._settle(conn, rows, row, published, error)
        self._active -= 1
        self._flush()
        self._check_idle()

    async def _send_parts(self, conn: Connection, messages: list[bytes], reserved: float) -> None:
        for k, data in enumerate(messages):
            # the first part's slot may have been reserved already (see _post_message)
            wait = reserved if k == 0 and reserved > 0 else self._rate.delay(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            self._check_fence(conn)
            try:
                async with asyncio.timeout(self.settings.post_timeout_s):
                    await self._connections.post(conn.connection_id, data)
            except TimeoutError as exc:
                raise PostFailed(conn.connection_id, "post timed out") from exc
            self._posted(conn, data)

    def _check_fence(self, conn: Connection) -> None:
        """Refuse to post a frame past its lease deadline (``MatchFrame.valid_until``)."""
        if self._clock() > conn.valid_until:
            self.stats.frames_fenced += 1
            raise PostFailed(conn.connection_id, "lease fenced: not posted")

    # -- outcomes ----------------------------------------------------------------------------
    def _settle(
        self,
        conn: Connection,
        rows: BatchRows,
        row: int,
        published: float,
        error: PostError | None,
    ) -> None:
        """Account for the outcome of a post; the connection is free again."""
        conn.in_flight = False
        if error is None:
            self._delivered(conn, rows, row, published)
            return
        if isinstance(error, ConnectionGone):
            self._gone_away(conn)
        elif isinstance(error, Throttled):
            self._throttled(conn)
        else:
            self._failed(conn, error)
        if conn.final is not None or conn.phase is Phase.LEAVING:
            self._next(conn)

    def _posted(self, conn: Connection, data: bytes) -> None:
        """One message (or part) went out."""
        tally = self._tally
        tally.messages += 1
        tally.bytes += len(data)
        conn.stats.bytes += len(data)

    def _delivered(
        self, conn: Connection, rows: BatchRows, row: int, published: float, size: int = 0
    ) -> None:
        """The post of an update succeeded: the connection holds row ``row`` of ``rows``
        (and is free again: not in flight). ``size``: the bytes of its one message posted
        inline (the parts of a post in a task are counted as they go, by _posted)."""
        pstats, tally = conn.stats, self._tally
        if size:
            tally.messages += 1
            tally.bytes += size
            pstats.bytes += size
        if conn.rows is None:
            self.stats.full_states += 1
            pstats.full_states += 1
        conn.delivered(rows, row)
        pstats.sent += 1
        tally.sent += 1
        if published != tally.published:
            if tally.run:
                self.stats.latency.observe_many(self._clock() - tally.published, tally.run)
            tally.published, tally.run = published, 0
        tally.run += 1
        if conn.final is not None or conn.phase is Phase.LEAVING:
            self._next(conn)

    def _throttled(self, conn: Connection) -> None:
        conn.handle(Event.THROTTLED)
        now = self._clock()
        stats = self.stats
        self._rate.on_throttled(now, conn.connection_id)
        stats.rate_limit_per_s, stats.rate_cuts = self._rate.rate, self._rate.cuts
        stats.throttled += 1
        conn.stats.throttled += 1
        self._backoff(conn, now)

    def _failed(self, conn: Connection, error: PostError) -> None:
        """403, 413, unknown outcome: we no longer know what the client holds."""
        log.warning("post to %s failed: %s", conn.connection_id, error)
        conn.lost(Event.FAILED)
        self.stats.errors += 1
        conn.stats.errors += 1
        self._backoff(conn, self._clock())

    def _backoff(self, conn: Connection, now: float) -> None:
        s = self.settings
        retry = Backoff(s.backoff_base_s, s.backoff_max_s, max_attempts=None)  # the one policy
        conn.backoff_until = now + retry.delay(conn.attempts, self._rng)
        conn.attempts += 1

    def _next(self, conn: Connection) -> None:
        """After a post: the ended match's last message, or forget a closed connection."""
        if conn.final is not None:
            self._send_final(conn, conn.backoff_until - self._clock())
        elif conn.phase is Phase.LEAVING:
            self._forget(conn)

    def _gone_away(self, conn: Connection) -> None:
        conn.handle(Event.GONE)
        self.stats.gone += 1
        self._forget(conn)
        conn.final = None
        self._gone[conn.connection_id] = None
        if len(self._gone) > self.settings.gone_memory:
            del self._gone[next(iter(self._gone))]
        ids = self._match_conns.get(conn.match_id)
        if ids is not None:
            ids.discard(conn.connection_id)
        if self._on_gone is not None:
            try:
                self._on_gone(conn.match_id, conn.player_id, conn.connection_id)
            except Exception:
                log.exception("on_gone callback failed for %s", conn.connection_id)
