"""The fan-out: one message per player per send tick, many posts in flight.

Theory of operation. The engine calls :meth:`Broadcaster.publish` with the frames of a
send tick; it stores them (the newest frame per match wins) and returns. The run loop takes
the stored frames of a send tick together. Players without a usable baseline (first
message, resync) get a full state match by match (:class:`~broadcaster.views.MatchTable`,
:func:`~broadcaster.delta.diff`). All the others are computed in one batch over every
match of the tick (:func:`~broadcaster.tick.tick_views`,
:func:`~broadcaster.batch.diff_rows`): views, the delta against what each connection was
last *delivered*, and the encoded body, with the NumPy work done once per tick. Then each
message is framed under the limit (the headers of a whole batch packed at once) and
posted: with ``Connections.eager`` (the embedded gateway's in-process post, which never
suspends) by stepping the post's coroutine inline, else in a post task. The posting
itself (per-connection state, inline and task posts, pacing, backoff, 410/429/error
handling) is :class:`broadcaster.posting.Poster`, the base class of
:class:`Broadcaster`; the settings are :class:`broadcaster.settings.BroadcastSettings`,
re-exported here.

Backpressure policy (what is bounded, merged, dropped; the per-connection outcomes, 410,
429, timeouts and errors, are in :mod:`broadcaster.posting`):

- Frames: at most one stored per match; a newer frame replaces an unsent one
  (``stats.frames_replaced``). Nothing is lost by that: deltas are against what each
  connection was last delivered, not against the previous frame.
- Per connection: at most one update in flight. A connection whose post is still in
  flight at a send tick is skipped (``merged``): its next delta covers both ticks. Posts
  are never queued behind a slow player. The final message of an ended match is the one
  exception: it is sent as soon as the previous post completes.
- Overall: at most ``max_in_flight`` posts running; pacing by :class:`~broadcaster.rate.SendRate`
  (an optional cap, the account throttle, and AIMD on 429s). When pacing holds posts back,
  connections stay in flight longer and their ticks merge, so a cap of R requests/s gives
  each of N players about R/N messages/s (``stats.rate_limit_per_s`` reports R).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from broadcaster.batch import BatchRows, diff_rows
from broadcaster.codec import FLAG_ENDED, HEADER_SIZE, PROTOCOL_VERSION, Header, Update, encode
from broadcaster.connections import Connections
from broadcaster.delta import diff
from broadcaster.errors import PostError, PostFailed
from broadcaster.framing import split_body
from broadcaster.posting import Poster, _Conn, _Resume
from broadcaster.rate import SendRate
from broadcaster.settings import BroadcastSettings
from broadcaster.stats import BroadcastStats
from broadcaster.tick import signature, tick_views
from broadcaster.views import MatchTable, Snapshot
from game_engine.frame import GoneCallback, MatchFrame, PlayerSlot

__all__ = ["BroadcastSettings", "Broadcaster"]

log = logging.getLogger(__name__)


# A one-part message starts [header, ...: fixarray(5), then bin8 of HEADER_SIZE bytes.
_ONE_PART = b"\x95\xc4" + bytes((HEADER_SIZE,))
# ... as NumPy records, to pack the headers of a whole batch at once (HEADER_STRUCT's
# fields, little-endian, unaligned, after the three marker bytes).
_HEADER_RECORD = np.dtype(
    [
        ("marker", "u1", (3,)),
        ("version", "u1"),
        ("flags", "u1"),
        ("part_index", "<u2"),
        ("part_count", "<u2"),
        ("scale", "<u2"),
        ("tick", "<u4"),
        ("ack_seq", "<u4"),
        ("base_tick", "<u4"),
        ("self_id", "<i4"),
        ("dropped", "<u4"),
        ("dropped_seq", "<u4"),
    ]
)
_HEAD = _HEADER_RECORD.itemsize
assert _HEAD == len(_ONE_PART) + HEADER_SIZE


def _headers(
    frames: list[MatchFrame],
    listed: list[tuple[int, PlayerSlot]],
    base_ticks: list[int],
    scale: int,
) -> bytes:
    """``_ONE_PART`` + the header of each listed player's one-part delta, concatenated
    (``_HEAD`` bytes each): what ``HEADER_STRUCT.pack`` gives, for all at once."""
    rec = np.zeros(len(listed), _HEADER_RECORD)
    rec["marker"] = np.frombuffer(_ONE_PART, np.uint8)
    rec["version"] = PROTOCOL_VERSION
    frame_of = np.fromiter((fi for fi, _ in listed), np.intp, len(listed))
    rec["flags"] = np.array([FLAG_ENDED if f.ended else 0 for f in frames], np.uint8)[frame_of]
    rec["part_count"] = 1
    rec["scale"] = scale
    rec["tick"] = np.array([f.tick & 0xFFFFFFFF for f in frames], np.uint32)[frame_of]
    rec["ack_seq"] = [slot.ack_seq & 0xFFFFFFFF for _, slot in listed]
    rec["base_tick"] = [t & 0xFFFFFFFF for t in base_ticks]
    rec["self_id"] = [slot.entity_id for _, slot in listed]
    if any(slot.dropped for _, slot in listed):  # rare: only flooding players have any
        rec["dropped"] = [slot.dropped & 0xFFFFFFFF for _, slot in listed]
        rec["dropped_seq"] = [slot.dropped_seq & 0xFFFFFFFF for _, slot in listed]
    return rec.tobytes()


class Broadcaster(Poster):
    """Implements ``FrameSink``: ``publish`` frames; ``start``/``run``/``stop``.

    The broadcaster does not own ``connections``: its owner closes it after ``stop()``.
    """

    def __init__(
        self,
        connections: Connections,
        settings: BroadcastSettings | None = None,
        on_gone: GoneCallback | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or BroadcastSettings()
        self._connections = connections
        self._on_gone = on_gone
        self._clock = clock
        self._rng = rng or random.Random()
        self._rate = SendRate(self.settings.rate, clock())
        self._pending: dict[str, tuple[MatchFrame, float]] = {}
        self._wake = asyncio.Event()
        self._conns: dict[str, _Conn] = {}
        self._match_conns: dict[str, set[str]] = {}
        self._gone: dict[str, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        self._eager = bool(getattr(connections, "eager", False))
        # per column layout, the arrays of the last batch's baselines (batch.BatchRows)
        self._rows: dict[tuple[Any, ...], BatchRows] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._active = 0  # post tasks launched and not finished
        self._busy = False  # the run loop is preparing a batch
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = BroadcastStats(rate_limit_per_s=self._rate.rate)

    # -- FrameSink -------------------------------------------------------------------------
    def publish(self, frames: list[MatchFrame]) -> None:
        """Store the frames of one send tick and return at once (newest per match wins)."""
        if self._stopped:
            return
        now = self._clock()
        for frame in frames:
            if frame.match_id in self._pending:
                self.stats.frames_replaced += 1
            self._pending[frame.match_id] = (frame, now)
        self._idle.clear()
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = asyncio.create_task(self.run(), name="broadcaster")

    async def run(self) -> None:
        """Send every published frame until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            self.stats.send_ticks += 1
            self._busy = True
            try:
                await self._send_tick(list(batch.values()))
            finally:
                self._busy = False
            self._check_idle()

    async def stop(self) -> None:
        """Stop sending; in-flight posts get ``stop_timeout_s`` to finish. Harmless twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.settings.stop_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._idle.set()

    async def drain(self, within_s: float) -> bool:
        """Wait until every published frame is sent and no post is in flight."""
        try:
            await asyncio.wait_for(self._idle.wait(), within_s)
        except TimeoutError:
            return False
        return True

    # -- sending ---------------------------------------------------------------------------
    async def _send_tick(self, batch: list[tuple[MatchFrame, float]]) -> None:
        """Send the frames of one send tick: frames with the same columns together."""
        groups: dict[tuple[Any, ...], list[tuple[MatchFrame, float]]] = {}
        now = self._clock()
        for frame, published in batch:
            if now > frame.valid_until:
                # Its worker's lease may be someone else's by now: post nothing of it.
                self.stats.frames_fenced += 1
                continue
            try:
                key = signature(frame)
            except ValueError:
                # A frame that cannot be sent (bad fields) costs that match one send
                # tick, never the broadcaster.
                log.exception("frame of match %s cannot be sent", frame.match_id)
                self.stats.errors += 1
                continue
            groups.setdefault(key, []).append((frame, published))
        for key, group in groups.items():
            await self._send_group(key, group)
        for key in [k for k in self._rows if k not in groups]:
            del self._rows[key]  # no frames with these columns any more

    async def _send_group(
        self, key: tuple[Any, ...], group: list[tuple[MatchFrame, float]]
    ) -> None:
        """Every connection of these frames (one column layout) gets its message.

        Connections without a usable baseline (first message, resync) get a full state
        match by match; all the others get their deltas from one batch over every match
        (:func:`broadcaster.tick.tick_views`, :func:`broadcaster.batch.diff_rows`).
        """
        frames = [frame for frame, _ in group]
        ncols = 3 + len(frames[0].fields)
        listed: list[tuple[int, PlayerSlot]] = []
        targets: list[tuple[_Conn, float]] = []
        presents: list[set[str] | None] = []
        for fi, (frame, published) in enumerate(group):
            try:
                present = self._collect(fi, frame, published, ncols, listed, targets)
            except Exception:
                log.exception("frame of match %s cannot be sent", frame.match_id)
                self.stats.errors += 1
                present = None
            presents.append(present)
        if listed:
            s = self.settings
            conns = [conn for conn, _ in targets]
            prev = self._rows.pop(key, None)
            bases: list[Snapshot] | None = None
            if (
                prev is not None
                and prev.players == len(conns)
                and all(conn.rows is prev for conn in conns)
                and [conn.row for conn in conns] == list(range(len(conns)))
            ):
                base_ticks = prev.tick_list  # the steady state
            else:
                # gather the baselines one by one
                base_ticks = [conn.base_tick() for conn in conns]
                bases = [conn.baseline for conn in conns]  # type: ignore[misc]
            try:
                views = tick_views(frames, listed, s.position_scale)
                bodies, rows = diff_rows(
                    views.owner,
                    views.counts,
                    views.ids,
                    views.values,
                    bases,
                    views.ticks,
                    views.names,
                    views.dtypes,
                    s.position_tolerance,
                    prev,
                )
            except Exception:
                log.exception("send tick of %d matches cannot be sent", len(frames))
                self.stats.errors += len(frames)
                for conn in conns:
                    conn.baseline = None  # resync these with full states
            else:
                self._rows[key] = rows
                await self._post_batch(frames, listed, targets, base_ticks, bodies, rows)
        for (frame, _), present in zip(group, presents, strict=True):
            if present is not None:
                self._after(frame, present)

    async def _post_batch(
        self,
        frames: list[MatchFrame],
        listed: list[tuple[int, PlayerSlot]],
        targets: list[tuple[_Conn, float]],
        base_ticks: list[int],
        bodies: list[bytes],
        rows: BatchRows,
    ) -> None:
        """Header, frame and post every batched delta.

        The common case is inlined (this runs once per player per send tick): with
        eager connections and no pacing, a one-part message is posted by stepping its
        coroutine here, and a post that completes is accounted for on the spot, the
        counters shared by the batch added once. Anything else (parts, pacing, a post
        that suspends or fails) goes through :meth:`_begin` and :meth:`_settle`.
        """
        s = self.settings
        limit, every = s.max_message_bytes, s.yield_every
        stats, rate = self.stats, self._rate
        post = self._connections.post
        latency = stats.latency
        inline = self._eager and math.isinf(rate.rate)
        now = self._clock()
        sent = nbytes = 0
        # one latency observation per run of messages published together
        lat_published, lat_count = 0.0, 0
        headers = _headers(frames, listed, base_ticks, s.position_scale)
        locked = self._slots.locked()  # only tasks take slots: changes when we yield
        for k, body in enumerate(bodies):
            fi, slot = listed[k]
            conn, published = targets[k]
            frame = frames[fi]
            data = headers[k * _HEAD : k * _HEAD + _HEAD] + body
            size = len(data)
            if size > limit:
                header = self._header(frame, slot, base_ticks[k])
                messages = split_body(header, b"\x94" + body, limit)
                self._begin(conn, frame, messages, rows.baseline(k), published)
            elif not inline or locked:
                self._begin(conn, frame, [data], rows.baseline(k), published)
            else:
                if conn.final is not None and conn.final[0].frame is frame:
                    conn.final = None
                coro = post(conn.connection_id, data)
                try:
                    pending = coro.send(None)
                except StopIteration:
                    # delivered: what _posted and _settle do, the shared counters later
                    sent += 1
                    nbytes += size
                    pstats = conn.stats
                    pstats.bytes += size
                    pstats.sent += 1
                    conn._base, conn.rows, conn.row = None, rows, k
                    conn.attempts = 0
                    if published != lat_published:
                        if lat_count:
                            latency.observe_many(now - lat_published, lat_count)
                        lat_published, lat_count = published, 0
                    lat_count += 1
                    if conn.final is not None or conn.closed:
                        self._next(conn)
                except Exception as exc:
                    conn.in_flight = True
                    self._active += 1
                    if not isinstance(exc, PostError):  # a broken Connections
                        exc = PostFailed(conn.connection_id, repr(exc))
                    self._settle(conn, rows.baseline(k), published, exc)
                else:
                    conn.in_flight = True
                    self._active += 1
                    rest = _Resume(coro, pending)
                    cur = rows.baseline(k)
                    self._spawn(self._post(conn, [data], cur, published, 0.0, 0.0, rest))
            if k % every == every - 1:
                if lat_count:
                    latency.observe_many(now - lat_published, lat_count)
                    lat_count = 0
                await asyncio.sleep(0)  # the gateway may share the event loop
                now = self._clock()
                locked = self._slots.locked()
        if lat_count:
            latency.observe_many(now - lat_published, lat_count)
        if sent:
            stats.messages += sent
            stats.sent += sent
            stats.bytes += nbytes
            rate.on_successes(self._clock(), sent)
            stats.rate_limit_per_s = rate.rate

    def _collect(
        self,
        fi: int,
        frame: MatchFrame,
        published: float,
        ncols: int,
        listed: list[tuple[int, PlayerSlot]],
        targets: list[tuple[_Conn, float]],
    ) -> set[str]:
        """Sort the players of ``frame``: merged (in flight, backing off), full states
        (started here), deltas (appended to the batch). Returns the connections present."""
        present: set[str] = set()
        now = self._clock()
        table: MatchTable | None = None
        gone, conns, stats = self._gone, self._conns, self.stats
        mine: list[tuple[int, PlayerSlot]] = []
        my_targets: list[tuple[_Conn, float]] = []
        single: list[tuple[_Conn, PlayerSlot, int]] = []
        match_id = frame.match_id
        for i, slot in enumerate(frame.players):
            cid = slot.connection_id
            if cid in gone:
                continue
            present.add(cid)
            conn = conns.get(cid)
            if conn is None or conn.match_id != match_id or conn.player_id != slot.player_id:
                conn = conns[cid] = _Conn(match_id, slot.player_id, cid)
                stats.players[cid] = conn.stats
            if conn.in_flight or now < conn.backoff_until:
                conn.stats.merged += 1
                stats.merged += 1
                if frame.ended:
                    if table is None:
                        table = MatchTable.from_frame(frame, self.settings.position_scale)
                    conn.final = (table, slot, published)
                    if not conn.in_flight:
                        self._launch(conn, table, slot, published, conn.backoff_until - now)
                continue
            rows = conn.rows
            if rows is not None:
                usable = rows.values.shape[1] == ncols
            else:
                base = conn._base
                usable = base is not None and base.values.shape[1] == ncols
            if usable:
                mine.append((fi, slot))
                my_targets.append((conn, published))
            else:
                single.append((conn, slot, i))
        if single:
            if table is None:
                table = MatchTable.from_frame(frame, self.settings.position_scale)
            tolerance = self.settings.position_tolerance
            for conn, slot, i in single:
                done = diff(conn.baseline, table.view(slot, i), table, tolerance)
                self._start(conn, table, slot, published, done)
        listed.extend(mine)
        targets.extend(my_targets)
        return present

    def _after(self, frame: MatchFrame, present: set[str]) -> None:
        """Forget the connections that left the match, or all of an ended match."""
        for cid in self._match_conns.get(frame.match_id, set()) - present:
            self._close(cid)
        if frame.ended:
            for cid in present:
                self._close(cid)  # now, or when its post in flight completes
            self._match_conns.pop(frame.match_id, None)
        else:
            self._match_conns[frame.match_id] = present

    def replaced(self, match_id: str, player_id: str, connection_id: str) -> None:
        """The player connected again: its older connection gets one message with the
        REPLACED flag (its client must not reconnect) and is closed with DeleteConnection
        (close 1000, as AWS closes it). Best effort: a connection already gone is fine."""
        if self._stopped:
            return
        self.stats.replaced += 1
        self._close(connection_id)
        self._spawn(self._replace(connection_id))

    async def _replace(self, connection_id: str) -> None:
        header = Header(0, 0, 0, 1, False, False, 0, -1, self.settings.position_scale)
        notice = encode(header._replace(replaced=True), Update())
        with contextlib.suppress(PostError):
            await self._connections.post(connection_id, notice)
        # Connections without DeleteConnection leave the close to the client (it stops on
        # REPLACED) or to the gateway's idle timeout.
        delete = getattr(self._connections, "delete", None)
        if delete is not None:
            with contextlib.suppress(PostError):
                await delete(connection_id)

    def _close(self, cid: str) -> None:
        conn = self._conns.get(cid)
        if conn is None:
            return
        if conn.in_flight:
            conn.closed = True
        else:
            self._forget(conn)
