"""The fan-out: one message per player per send tick, many posts in flight.

Theory of operation. The engine calls :meth:`Broadcaster.publish` with the match frames of
a send tick; it stores them (the newest frame per match wins) and returns. The run loop
takes the stored frames of a send tick together and sorts their players
(:meth:`Broadcaster._collect`): merged (a post still in flight, or backing off), or in the
batch. Every player of the batch gets its message from one computation over every match
of the tick (:func:`~broadcaster.tick.tick_views`, :func:`~broadcaster.batch.diff_rows`):
its view, then a delta against what its connection was last *delivered*, or a full state
when that is not known (first message, resync), with the NumPy work done once per tick.
The headers of the whole batch are packed at once and each message comes out whole
(header and body in one buffer); a message over the limit is split into parts; each is
posted through :class:`broadcaster.posting.Poster` (inline while pacing allows). An
ended match's last message to a connection still in flight is a batch of one, sent when
that post completes. The posting itself (inline and task posts, pacing, backoff,
410/429/error handling) is :class:`broadcaster.posting.Poster`, the base class of
:class:`Broadcaster`; each connection's lifecycle is :mod:`broadcaster.connection`; the
settings are :class:`broadcaster.settings.BroadcastSettings`, re-exported here.

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
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from broadcaster.batch import diff_rows
from broadcaster.codec import (
    FLAG_ENDED,
    FLAG_FULL,
    HEADER_SIZE,
    PROTOCOL_VERSION,
    Header,
    Update,
    encode,
    peek_header,
)
from broadcaster.columns import NIL, pack
from broadcaster.connection import Connection
from broadcaster.connections import Connections
from broadcaster.errors import PostError
from broadcaster.parts import split_body
from broadcaster.posting import Poster, Tally
from broadcaster.rate import SendRate
from broadcaster.rows import BatchRows
from broadcaster.settings import BroadcastSettings
from broadcaster.stats import BroadcastStats
from broadcaster.tick import SlotColumns, signature, slot_columns, tick_views
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
    frames: Sequence[MatchFrame],
    frame_of: Sequence[int],
    slots: Sequence[PlayerSlot],
    base_ticks: Sequence[int] | npt.NDArray[np.int64],
    scale: int,
    full: Sequence[bool] | None = None,
    columns: SlotColumns | None = None,
) -> bytes:
    """``_ONE_PART`` + the header of each player's one-part message (player ``k``:
    ``slots[k]`` of ``frames[frame_of[k]]``), concatenated (``_HEAD`` bytes each): what
    ``HEADER_STRUCT.pack`` gives, for all at once. ``full[k]``: player ``k`` gets a full
    state (None: nobody does). ``columns``: :func:`~broadcaster.tick.slot_columns` of
    ``slots``, if the caller has it."""
    cols = slot_columns(slots) if columns is None else columns
    rec = np.zeros(len(slots), _HEADER_RECORD)
    rec["marker"] = np.frombuffer(_ONE_PART, np.uint8)
    rec["version"] = PROTOCOL_VERSION
    which = np.asarray(frame_of, np.intp)
    flags = np.array([FLAG_ENDED if f.ended else 0 for f in frames], np.uint8)[which]
    if full is not None:
        flags |= np.asarray(full, np.bool_).astype(np.uint8) * np.uint8(FLAG_FULL)
    rec["flags"] = flags
    rec["part_count"] = 1
    rec["scale"] = scale
    rec["tick"] = np.array([f.tick & 0xFFFFFFFF for f in frames], np.uint32)[which]
    rec["ack_seq"] = np.array(cols.ack_seq, np.int64) & 0xFFFFFFFF
    rec["base_tick"] = np.asarray(base_ticks, np.int64) & 0xFFFFFFFF
    rec["self_id"] = cols.entity_id
    if cols.dropped is not None and cols.dropped_seq is not None:  # rare: flooding players
        rec["dropped"] = np.array(cols.dropped, np.int64) & 0xFFFFFFFF
        rec["dropped_seq"] = np.array(cols.dropped_seq, np.int64) & 0xFFFFFFFF
    return rec.tobytes()


class _Listing:
    """The players of one batch as parallel lists (no object per player): player ``k``
    is ``slots[k]`` of frame ``frame_of[k]``, posting to ``conns[k]`` a frame published
    at ``published[k]``."""

    __slots__ = ("conns", "frame_of", "published", "slots")

    def __init__(self) -> None:
        self.frame_of: list[int] = []
        self.slots: list[PlayerSlot] = []
        self.conns: list[Connection] = []
        self.published: list[float] = []

    @classmethod
    def one(cls, slot: PlayerSlot, conn: Connection, published: float) -> _Listing:
        listing = cls()
        listing.frame_of.append(0)
        listing.slots.append(slot)
        listing.conns.append(conn)
        listing.published.append(published)
        return listing


class _Batch(NamedTuple):
    """The messages of one batch, ready to post (each as one part: header, then body);
    once message ``k`` is delivered, its connection holds row ``k`` of ``rows``."""

    frames: Sequence[MatchFrame]
    players: _Listing
    messages: list[bytes]
    rows: BatchRows


def _holds_rows_of(conns: Sequence[Connection], rows: BatchRows) -> bool:
    """Does connection ``k`` hold row ``k`` of ``rows``, for every ``k`` and row?"""
    return rows.players == len(conns) and all(
        conn.rows is rows and conn.row == k for k, conn in enumerate(conns)
    )


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
        self._conns: dict[str, Connection] = {}
        self._match_conns: dict[str, set[str]] = {}
        self._gone: dict[str, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.settings.max_in_flight)
        # A synchronous post (in-process gateway, engine link): one-part messages inline.
        self._post_now = getattr(connections, "post_now", None)
        # per column layout, the arrays of the last batch's baselines (batch.BatchRows)
        self._rows: dict[tuple[Any, ...], BatchRows] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._tally = Tally()
        self._active = 0  # post tasks started and not finished
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
        """Every connection of these frames (one column layout) gets its message, all
        computed in one batch."""
        frames = [frame for frame, _ in group]
        ncols = 3 + len(frames[0].fields)
        players = _Listing()
        presents: list[set[str] | None] = []
        for fi, (frame, published) in enumerate(group):
            try:
                present = self._collect(fi, frame, published, ncols, players)
            except Exception:
                log.exception("frame of match %s cannot be sent", frame.match_id)
                self.stats.errors += 1
                present = None
            presents.append(present)
        if players.slots:
            batch = self._prepare(frames, players, key)
            if batch is not None:
                await self._post_batch(batch)
        for (frame, _), present in zip(group, presents, strict=True):
            if present is not None:
                self._after(frame, present)

    def _prepare(
        self, frames: Sequence[MatchFrame], players: _Listing, key: tuple[Any, ...] | None
    ) -> _Batch | None:
        """The messages of ``players``; ``key``: the column layout whose last batch may be
        the steady state's baselines (None: a batch of its own). None when the batch
        cannot be computed: its connections are resynced, the send tick is lost for them."""
        s = self.settings
        conns = players.conns
        prev = None if key is None else self._rows.pop(key, None)
        if prev is not None and _holds_rows_of(conns, prev):
            # the steady state: every connection holds its row of the last batch
            bases, base_ticks, full, metas = None, prev.ticks, None, None
        else:
            bases = [conn.baseline() for conn in conns]
            base_ticks = np.array([conn.base_tick() for conn in conns], np.int64)
            full = [base is None for base in bases]
            metas = self._metas(frames, players.frame_of, full)
            prev = None
        try:
            columns = slot_columns(players.slots)
            views = tick_views(frames, players.frame_of, players.slots, s.position_scale, columns)
            headers = _headers(
                frames,
                players.frame_of,
                players.slots,
                base_ticks,
                s.position_scale,
                full,
                columns,
            )
            messages, rows = diff_rows(
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
                metas,
                headers,
            )
        except Exception:
            log.exception("send tick of %d matches cannot be sent", len(frames))
            self.stats.errors += len(frames)
            for conn in conns:
                conn.lost()  # resync these with full states
            return None
        if key is not None:
            self._rows[key] = rows
        return _Batch(frames, players, messages, rows)

    @staticmethod
    def _metas(
        frames: Sequence[MatchFrame], frame_of: Sequence[int], full: list[bool]
    ) -> list[bytes] | None:
        """Per player, the packed match meta of a full state, nil in a delta."""
        if not any(full):
            return None
        packed: dict[int, bytes] = {}
        metas = []
        for fi, whole in zip(frame_of, full, strict=True):
            if not whole:
                metas.append(NIL)
                continue
            meta = packed.get(fi)
            if meta is None:
                meta = packed[fi] = pack(dict(frames[fi].meta))
            metas.append(meta)
        return metas

    def _post_range(self, batch: _Batch, start: int, stop: int, delay: float = 0.0) -> None:
        """Post messages ``start`` to ``stop`` of ``batch``, each in parts when it is over
        the limit."""
        limit = self.settings.max_message_bytes
        messages, frames, rows = batch.messages, batch.frames, batch.rows
        players = batch.players
        conns, frame_of, published = players.conns, players.frame_of, players.published
        # _post_message's decision, taken once for the run: inline unless pacing says wait
        inline, rate = self._may_post_inline(delay), self._rate
        post_now, delivered = self._post_now, self._delivered
        for k in range(start, stop):
            message = messages[k]
            if len(message) > limit:
                header, body = peek_header(message), b"\x94" + message[_HEAD:]
                parts = split_body(header, body, limit)
                frame = frames[frame_of[k]]
                self._post_parts(conns[k], frame, parts, rows, k, published[k], delay)
            elif inline and post_now is not None and rate.rate == math.inf:
                # _post_inline written out: this runs for nearly every player every send tick
                conn = conns[k]
                try:
                    post_now(conn.connection_id, message)
                except Exception as exc:
                    self._post_failed(conn, rows, k, published[k], exc)
                else:
                    delivered(conn, rows, k, published[k], len(message))
            else:
                frame = frames[frame_of[k]]
                self._post_message(conns[k], frame, message, rows, k, published[k], delay)

    async def _post_batch(self, batch: _Batch) -> None:
        """Post every message of ``batch``, yielding to the event loop every
        ``yield_every`` messages (the gateway may share it)."""
        every = self.settings.yield_every
        count = len(batch.messages)
        for start in range(0, count, every):
            if start:
                await asyncio.sleep(0)
            self._post_range(batch, start, min(start + every, count))
            self._flush()

    def _send_final(self, conn: Connection, delay: float) -> None:
        """The ended match's last message to ``conn``, after ``delay``: a batch of one."""
        assert conn.final is not None
        frame, slot, published = conn.final
        conn.final = None
        batch = self._prepare([frame], _Listing.one(slot, conn, published), None)
        if batch is not None:
            self._post_range(batch, 0, 1, delay)
            self._flush()

    def _collect(
        self, fi: int, frame: MatchFrame, published: float, ncols: int, players: _Listing
    ) -> set[str]:
        """Sort the players of ``frame`` (index ``fi`` in the batch): merged (in flight,
        backing off) or in the batch (added to ``players``). Returns the connections
        present."""
        present: set[str] = set()
        now = self._clock()
        gone, conns, stats = self._gone, self._conns, self.stats
        match_id = frame.match_id
        add_slot, add_conn = players.slots.append, players.conns.append
        listed = 0
        same_columns: BatchRows | None = None
        for slot in frame.players:
            cid = slot.connection_id
            if cid in gone:
                continue
            present.add(cid)
            conn = conns.get(cid)
            if conn is None or conn.match_id != match_id or conn.player_id != slot.player_id:
                conn = conns[cid] = Connection(match_id, slot.player_id, cid)
                stats.players[cid] = conn.stats
            if conn.in_flight or now < conn.backoff_until:
                conn.stats.merged += 1
                stats.merged += 1
                if frame.ended:
                    conn.final = (frame, slot, published)
                    if not conn.in_flight:
                        self._send_final(conn, conn.backoff_until - now)
                continue
            rows = conn.rows
            if rows is not None and rows is not same_columns:
                if rows.values.shape[1] != ncols:
                    conn.lost()  # the rules changed the fields: only a full state will do
                else:
                    same_columns = rows  # most connections hold rows of one batch
            add_slot(slot)
            add_conn(conn)
            listed += 1
        players.frame_of += [fi] * listed
        players.published += [published] * listed
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
