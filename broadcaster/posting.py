"""Posting: per-connection state and the posts to one connection, outcomes included.

:class:`Poster` is the posting half of :class:`broadcaster.fanout.Broadcaster` (its base
class): it frames a connection's update, starts its post (inline or in a task), paces and
times it out, and accounts for the outcome. :mod:`broadcaster.fanout` decides, per send
tick, who gets what; this module delivers it.

Eager posts. With ``Connections.eager`` (the embedded gateway's in-process post, which
never suspends) a one-part message that needs no waiting is posted by stepping the post's
coroutine inline (:meth:`Poster._dispatch`): a task per message costs more than
everything else together. A post that suspends after all is finished by a task
(:class:`_Resume`). Anything else (parts, pacing, a delay) is posted in a task.

Backpressure policy (per connection; the per-tick policy is in :mod:`broadcaster.fanout`):

- At most one update in flight per connection (``_Conn.in_flight``). The final message
  of an ended match waits in ``_Conn.final`` and is sent as soon as the previous post
  completes.
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
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from broadcaster.batch import BatchRows
from broadcaster.codec import Header, Update
from broadcaster.connections import Connections
from broadcaster.delta import diff
from broadcaster.errors import ConnectionGone, PostError, PostFailed, Throttled
from broadcaster.framing import frame_update
from broadcaster.rate import SendRate
from broadcaster.settings import BroadcastSettings
from broadcaster.stats import BroadcastStats, PlayerStats
from broadcaster.views import MatchTable, Snapshot
from game_engine.frame import GoneCallback, MatchFrame, PlayerSlot
from infra.backoff import Backoff

__all__ = ["Poster"]

log = logging.getLogger(__name__)


class _Conn:
    """One connection: what it was last delivered, its post in flight, its backoff."""

    __slots__ = (
        "_base",
        "attempts",
        "backoff_until",
        "closed",
        "connection_id",
        "final",
        "in_flight",
        "match_id",
        "player_id",
        "row",
        "rows",
        "stats",
        "valid_until",
    )

    def __init__(self, match_id: str, player_id: str, connection_id: str) -> None:
        self.match_id = match_id
        self.player_id = player_id
        self.connection_id = connection_id
        # What the connection was last delivered: a Snapshot, or row ``row`` of a
        # batch's baselines (made into a Snapshot only when something asks).
        self._base: Snapshot | None = None
        self.rows: BatchRows | None = None
        self.row = 0
        self.in_flight = False
        self.backoff_until = 0.0
        self.attempts = 0
        # The ended match's last message, waiting for the post in flight.
        self.final: tuple[MatchTable, PlayerSlot, float] | None = None
        self.closed = False  # no longer in its match: drop after the post in flight
        self.stats = PlayerStats(match_id, player_id)
        # The fencing deadline of the frame being posted (MatchFrame.valid_until).
        self.valid_until = math.inf

    @property
    def baseline(self) -> Snapshot | None:
        if self.rows is not None:
            self._base, self.rows = self.rows.baseline(self.row), None
        return self._base

    @baseline.setter
    def baseline(self, value: Snapshot | None) -> None:
        self._base, self.rows = value, None

    def base_tick(self) -> int:
        """The tick of the baseline, without making it a Snapshot."""
        rows = self.rows
        if rows is not None:
            return rows.tick_list[self.row]
        return 0 if self._base is None else self._base.tick


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
    _conns: dict[str, _Conn]
    _match_conns: dict[str, set[str]]
    _gone: dict[str, None]
    _tasks: set[asyncio.Task[None]]
    _slots: asyncio.Semaphore
    _eager: bool
    _active: int  # post tasks launched and not finished
    _busy: bool  # the run loop is preparing a batch
    _idle: asyncio.Event

    def _check_idle(self) -> None:
        if not self._pending and not self._busy and self._active == 0:
            self._idle.set()

    def _forget(self, conn: _Conn) -> None:
        if self._conns.get(conn.connection_id) is conn:
            del self._conns[conn.connection_id]
            self.stats.players.pop(conn.connection_id, None)

    def _launch(
        self,
        conn: _Conn,
        table: MatchTable,
        slot: PlayerSlot,
        published: float,
        delay: float = 0.0,
    ) -> None:
        cur = table.view(slot)
        done = diff(conn.baseline, cur, table, self.settings.position_tolerance)
        self._start(conn, table, slot, published, done, delay)

    def _start(
        self,
        conn: _Conn,
        table: MatchTable,
        slot: PlayerSlot,
        published: float,
        done: tuple[Update, Snapshot],
        delay: float = 0.0,
    ) -> None:
        """Frame the update and start its post (the connection is now in flight)."""
        base = conn.baseline
        header = self._header(table.frame, slot, None if base is None else base.tick)
        update, baseline = done
        messages = frame_update(header, update, self.settings.max_message_bytes)
        self._begin(conn, table.frame, messages, baseline, published, delay)

    def _header(self, frame: MatchFrame, slot: PlayerSlot, base_tick: int | None) -> Header:
        """The header of a one-part message; ``base_tick`` None: a full state."""
        return Header(
            frame.tick,
            slot.ack_seq,
            0,
            1,
            base_tick is None,
            frame.ended,
            0 if base_tick is None else base_tick,
            slot.entity_id,
            self.settings.position_scale,
            dropped=slot.dropped,
            dropped_seq=slot.dropped_seq,
        )

    def _begin(
        self,
        conn: _Conn,
        frame: MatchFrame,
        messages: list[bytes],
        baseline: Snapshot,
        published: float,
        delay: float = 0.0,
    ) -> None:
        if conn.final is not None and conn.final[0].frame is frame:
            conn.final = None
        conn.valid_until = frame.valid_until
        conn.in_flight = True
        self._active += 1
        self._dispatch(conn, messages, baseline, published, delay)

    def _dispatch(
        self, conn: _Conn, messages: list[bytes], cur: Snapshot, published: float, delay: float
    ) -> None:
        """Post ``messages`` to ``conn`` (already marked in flight).

        With ``Connections.eager`` (a post that normally completes without suspending, and
        uses nothing bound to the current task), a one-part message that needs no waiting
        is posted right here: its coroutine is stepped once and, when it finishes, settled
        without a task (a task per message costs more than everything else together). A
        post that suspends after all is finished by a task (:class:`_Resume`).
        """
        wait = 0.0
        if self._eager and delay <= 0 and len(messages) == 1 and not self._slots.locked():
            wait = self._rate.delay(self._clock())
            if wait <= 0:
                data = messages[0]
                coro = self._connections.post(conn.connection_id, data)
                try:
                    pending = coro.send(None)
                except StopIteration:
                    self._posted(conn, data)
                    self._settle(conn, cur, published, None)
                    return
                except PostError as exc:
                    self._settle(conn, cur, published, exc)
                    return
                except Exception as exc:  # a broken Connections: an unknown outcome
                    self._settle(conn, cur, published, PostFailed(conn.connection_id, repr(exc)))
                    return
                rest = _Resume(coro, pending)
                self._spawn(self._post(conn, messages, cur, published, 0.0, 0.0, rest))
                return
        self._spawn(self._post(conn, messages, cur, published, delay, wait))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _backoff(self, conn: _Conn, now: float) -> None:
        s = self.settings
        retry = Backoff(s.backoff_base_s, s.backoff_max_s, max_attempts=None)  # the one policy
        conn.backoff_until = now + retry.delay(conn.attempts, self._rng)
        conn.attempts += 1

    async def _post(
        self,
        conn: _Conn,
        messages: list[bytes],
        cur: Snapshot,
        published: float,
        delay: float,
        reserved: float = 0.0,
        rest: _Resume | None = None,
    ) -> None:
        """Post the parts in a task; ``rest``: the first part's post was started by
        :meth:`_dispatch` and suspended, this finishes it."""
        error: BaseException | None = None
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._slots:
                self.stats.in_flight += 1
                try:
                    await self._post_parts(conn, messages, reserved, rest)
                finally:
                    self.stats.in_flight -= 1
        except PostError as exc:
            error = exc
        except BaseException:
            conn.in_flight = False
            self._active -= 1
            raise
        self._settle(conn, cur, published, error)

    def _settle(
        self, conn: _Conn, cur: Snapshot, published: float, error: BaseException | None
    ) -> None:
        """Account for the outcome of the post of ``cur``; the connection is free again."""
        stats, pstats = self.stats, conn.stats
        if error is None:
            now = self._clock()
            if conn.baseline is None:
                stats.full_states += 1
                pstats.full_states += 1
            conn.baseline = cur
            conn.attempts = 0
            stats.sent += 1
            pstats.sent += 1
            stats.latency.observe(now - published)
        elif isinstance(error, ConnectionGone):
            self._gone_away(conn)
        elif isinstance(error, Throttled):
            now = self._clock()
            self._rate.on_throttled(now, conn.connection_id)
            stats.rate_limit_per_s, stats.rate_cuts = self._rate.rate, self._rate.cuts
            stats.throttled += 1
            pstats.throttled += 1
            self._backoff(conn, now)
        else:
            log.warning("post to %s failed: %s", conn.connection_id, error)
            stats.errors += 1
            pstats.errors += 1
            conn.baseline = None  # unknown what it holds now: resync with a full state
            self._backoff(conn, self._clock())
        conn.in_flight = False
        self._next(conn)
        self._active -= 1
        self._check_idle()

    def _next(self, conn: _Conn) -> None:
        """After a post: the ended match's last message, or forget a closed connection."""
        if conn.final is not None:
            table, slot, when = conn.final
            self._launch(conn, table, slot, when, conn.backoff_until - self._clock())
        elif conn.closed:
            self._forget(conn)

    def _posted(self, conn: _Conn, data: bytes) -> None:
        self._rate.on_success(self._clock())
        stats = self.stats
        stats.messages += 1
        stats.bytes += len(data)
        conn.stats.bytes += len(data)
        stats.rate_limit_per_s = self._rate.rate

    async def _post_parts(
        self, conn: _Conn, messages: list[bytes], reserved: float, rest: _Resume | None
    ) -> None:
        for k, data in enumerate(messages):
            if k == 0 and rest is not None:
                wait = 0.0  # started already (see _dispatch)
            else:
                # the first part's slot may have been reserved already (see _dispatch)
                wait = reserved if k == 0 and reserved > 0 else self._rate.delay(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            if k > 0 or rest is None:
                self._check_fence(conn)
            try:
                async with asyncio.timeout(self.settings.post_timeout_s):
                    if k == 0 and rest is not None:
                        await rest
                    else:
                        await self._connections.post(conn.connection_id, data)
            except TimeoutError as exc:
                raise PostFailed(conn.connection_id, "post timed out") from exc
            self._posted(conn, data)

    def _check_fence(self, conn: _Conn) -> None:
        """Refuse to post a frame past its lease deadline (``MatchFrame.valid_until``)."""
        if self._clock() > conn.valid_until:
            self.stats.frames_fenced += 1
            raise PostFailed(conn.connection_id, "lease fenced: not posted")

    def _gone_away(self, conn: _Conn) -> None:
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


class _Resume:
    """Awaiting it finishes a coroutine that was stepped outside any task and suspended
    on ``pending``: sends and throws are passed through, as ``await`` would."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
