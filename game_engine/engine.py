"""The authoritative engine core: matches, ordering, idempotency, ticks. No I/O.

Theory of operation. Records arrive with :meth:`Engine.submit` (in stream order, tagged
with their shard and sequence number) and wait in their match's queue; :meth:`Engine.tick`
first applies every queued record in order (so what arrived during tick N is applied at
the start of tick N+1), then steps ALL matches together with the rules, then ends the
matches that are over. Idempotency is two-level: a record at or below the last one this
match took from the same shard is a replay and is skipped at submit; an input whose
``seq`` is at or below its player's last applied one is skipped at apply (producer
retries put the same input in the stream twice under different sequence numbers).

Backpressure: each match's queue holds at most ``max_queue_per_match`` records; when it
is full :meth:`submit` returns ``False`` and the caller must hold the record (and stop
reading that shard) until a tick has drained the queue: nothing accepted is dropped, the
stream keeps it. A tick applies at most ``max_records_per_match_per_tick`` records per
match, so a flood in one match cannot stretch every match's tick; the rest waits, in
order, for the next tick. And one player cannot fill its match's queue (which would pause
the whole shard, every match on it): an input that finds ``max_inputs_queued_per_player``
inputs of the same player still waiting is refused at submit, counted as
``input.rejected.flood`` (a client at 10 Hz has about one input per 30 Hz tick waiting).
A refused input is not applied and so not acknowledged: the player's ``dropped`` count
and ``dropped_seq`` (the latest refused seq) rise instead, and travel in every state
message (``docs/protocol.md``), so a client knows what the server never applied.

A rules hook that raises anything but :class:`~game_engine.errors.RulesError` while a
record is applied (``create_match``, ``admit``, ``validate``, ``apply``, ``remove``) is a
bug in that match's rules, not in the worker: the match ends at once (reason ``error``,
logged with the record), the record is set aside in :attr:`Engine.faults`, and every
other match goes on. Replaying the same record after a failover ends the match the same
way (the rules are deterministic), so a poison input cannot stop a worker twice.

A match is created by its first join and ends when the rules end it or when it has had no
players for ``empty_timeout`` seconds; its result is logged as one JSON line. Its
lifecycle (empty, playing, ended, dropped) is the table ``game_engine.lifecycles.MATCH``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import operator
from collections import Counter, deque
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from game_engine.errors import InputRejected, JoinRefused
from game_engine.events import Event, Input, Join, Leave
from game_engine.frame import MatchFrame, PlayerSlot
from game_engine.lifecycles import MATCH, MatchEvent, MatchState
from game_engine.rules import MatchView, Rules, World
from game_engine.snapshot_codec import Snapshot, decode_snapshot, encode_snapshot
from infra.lifecycle import Lifecycle

__all__ = [
    "Engine",
    "EngineSettings",
    "Fault",
    "Match",
    "Member",
    "TickReport",
    "match_seed",
]

C = TypeVar("C")
log = logging.getLogger("tickwire.engine")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Engine limits. Rates in Hz, times in seconds."""

    # Simulation rate: 30 Hz keeps a 240 u/s player moving 8 units a tick (smooth enough
    # for the arena's 16-unit radius) at a tick cost measured in bench/p5_tick.py.
    tick_rate: float = 30.0
    # Send rate: 20 Hz is Colyseus's default patch rate; each send costs one @connections
    # call per player, and AWS meters those (10,000/s per account), so it is lower.
    send_rate: float = 20.0
    # Records waiting in one match's queue; beyond it submit() says no (backpressure).
    max_queue_per_match: int = 1024
    # Inputs of one player waiting for a tick; beyond it the player's inputs are refused
    # (counted as input.rejected.flood) instead of filling the match's queue.
    max_inputs_queued_per_player: int = 32
    # Records one match may apply in one tick; the rest wait for the next tick.
    max_records_per_match_per_tick: int = 256
    # A match with no players for this long ends (spectators do not count).
    empty_timeout: float = 30.0
    # Players whose id starts with this join as spectators: they see the whole match,
    # have no entity, take no slot of the rules' match size, and their inputs are refused.
    spectator_prefix: str = "watch-"
    # Rows allocated up front; the world doubles when full.
    initial_capacity: int = 16
    # Matches one worker runs at most; a join that would create one more is refused and
    # counted (tokens are signed, so this only bounds a misconfigured or abused deployment).
    max_matches: int = 4096
    # Records whose rules hook raised, kept for inspection (Engine.faults); older ones go.
    max_faults_kept: int = 100


# The slot of a spectator: it has no entity in the rules' arrays.
SPECTATOR_SLOT = -1
# Read once per match per tick (_end_matches): a module constant, not an enum lookup.
_PLAYING = MatchState.PLAYING
# A frame's players in slot order.
_BY_SLOT = operator.attrgetter("slot")
_new_tuple = tuple.__new__


@dataclass(slots=True)
class Member:
    player_id: str
    connection_id: str
    slot: int
    last_seq: int = 0
    # Inputs refused unapplied (the flood bound) and the latest one's seq: never acked.
    dropped: int = 0
    dropped_seq: int = 0


@dataclass(slots=True)
class Match:
    match_id: str
    row: int
    # EMPTY until a player takes a slot (game_engine.lifecycles.MATCH).
    lifecycle: Lifecycle[MatchState, MatchEvent] = field(init=False)
    members: dict[str, Member] = field(default_factory=dict)
    queue: deque[tuple[Event, str | None, int]] = field(default_factory=deque)
    # Inputs of each player waiting in ``queue`` (the per-player flood bound).
    queued_inputs: Counter[str] = field(default_factory=Counter)
    # The shard this match's records come from, and the last sequence number it applied
    # (``through``) and accepted into its queue (``cursor``) from that shard.
    shard_id: str | None = None
    through: int = -1
    cursor: int = -1
    empty_ticks: int = 0

    def __post_init__(self) -> None:
        self.lifecycle = Lifecycle(MATCH, MatchState.EMPTY, self.match_id)

    @property
    def state(self) -> MatchState:
        return self.lifecycle.state

    def has_players(self) -> bool:
        """Whether a member holds a slot (spectators do not)."""
        return any(m.slot != SPECTATOR_SLOT for m in self.members.values())


@dataclass(frozen=True, slots=True)
class Fault:
    """A record set aside because a rules hook raised while applying it."""

    match_id: str
    event: Event
    error: str


@dataclass(frozen=True, slots=True)
class TickReport:
    tick: int
    applied: int
    ended: tuple[tuple[str, dict[str, Any]], ...]


def match_seed(match_id: str) -> int:
    """A match's seed: a hash of its id (never Python's salted ``hash``)."""
    digest = hashlib.blake2b(match_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class Engine(Generic[C]):
    """Every match of one worker, stepped together. Single-threaded: call from one loop."""

    def __init__(self, rules: Rules[C], settings: EngineSettings | None = None) -> None:
        self.rules = rules
        self.settings = settings or EngineSettings()
        self.world = World(rules.schema(), self.settings.initial_capacity)
        self.matches: dict[str, Match] = {}
        self.counters: Counter[str] = Counter()
        self.ticks = 0
        self._free_rows = list(range(self.world.capacity))
        self._active = np.zeros(self.world.capacity, dtype=bool)
        self._gone: dict[tuple[str, str, str], None] = {}
        self._final_frames: list[tuple[str | None, MatchFrame]] = []
        self._ended_now: list[tuple[str, dict[str, Any]]] = []
        self.faults: deque[Fault] = deque(maxlen=self.settings.max_faults_kept)
        # (match, player, older connection) of players who connected again: the worker
        # has the sink close those connections (take_replaced).
        self._replaced: list[tuple[str, str, str]] = []
        self._empty_limit = max(1, round(self.settings.empty_timeout * self.settings.tick_rate))

    # -- intake ---------------------------------------------------------------------------
    def submit(
        self, event: Event, shard_id: str | None = None, sequence: str | None = None
    ) -> bool:
        """Queue one record for the next tick. ``False``: the match's queue is full, hold it."""
        seq = int(sequence) if sequence is not None else -1
        match = self.matches.get(event.match)
        if match is None:
            if not isinstance(event, Join):
                self.counters["record.unknown_match"] += 1
                return True
            if len(self.matches) >= self.settings.max_matches:
                self.counters["join.refused.worker_full"] += 1
                return True
            try:
                match = self._create(event.match)
            except Exception as exc:  # create_match raised: a bug in the rules
                self._fault(event.match, event, exc)
                return True
        if shard_id is not None and shard_id == match.shard_id and seq <= match.cursor:
            self.counters["record.replayed"] += 1
            return True
        if len(match.queue) >= self.settings.max_queue_per_match:
            self.counters["record.held"] += 1
            return False
        if shard_id is not None:
            if shard_id != match.shard_id:
                match.shard_id, match.through = shard_id, -1
            match.cursor = seq
        if isinstance(event, Input):
            waiting = match.queued_inputs[event.player]
            if waiting >= self.settings.max_inputs_queued_per_player:
                self.counters["input.rejected.flood"] += 1
                member = match.members.get(event.player)
                # (A producer retry of an input already refused is not counted again.)
                if member is not None and event.seq > max(member.last_seq, member.dropped_seq):
                    # Taken from the stream and refused, never applied: not acknowledged
                    # either; the client learns it from dropped/dropped_seq.
                    member.dropped += 1
                    member.dropped_seq = max(member.dropped_seq, event.seq)
                return True
            match.queued_inputs[event.player] = waiting + 1
        match.queue.append((event, shard_id, seq))
        return True

    def gone(self, match_id: str, player_id: str, connection_id: str) -> None:
        """A :data:`~game_engine.frame.GoneCallback`: a leave at the start of the next tick."""
        if match_id in self.matches:
            self._gone[(match_id, player_id, connection_id)] = None

    # -- the tick -------------------------------------------------------------------------
    def tick(self) -> TickReport:
        """Apply what arrived since the last tick, step every match, end finished ones."""
        for match_id, player_id, conn in self._gone:
            match = self.matches.get(match_id)
            if match is not None:
                leave = Leave(match_id, player_id, conn)
                try:
                    self._leave(match, leave, "gone")
                except Exception as exc:  # rules.remove raised: end this match only
                    self._fault(match_id, leave, exc)
        self._gone.clear()
        applied = 0
        budget = self.settings.max_records_per_match_per_tick
        for match in list(self.matches.values()):
            queue = match.queue
            for _ in range(min(budget, len(queue))):
                event, shard_id, seq = queue.popleft()
                if isinstance(event, Input):
                    match.queued_inputs[event.player] -= 1
                if shard_id is not None and shard_id == match.shard_id:
                    match.through = seq
                applied += 1
                try:
                    self._apply(match, event)
                except Exception as exc:  # a rules hook raised: end this match only
                    self._fault(match.match_id, event, exc)
                    break
        self.rules.step(self.world)
        self.world.tick[self._active] += 1
        self.ticks += 1
        ended, self._ended_now = self._ended_now, []
        ended.extend(self._end_matches())
        return TickReport(self.ticks, applied, tuple(ended))

    def _fault(self, match_id: str, event: Event, exc: Exception) -> None:
        """A rules hook raised on ``event``: set the record aside and end its match."""
        self.faults.append(Fault(match_id, event, repr(exc)))
        self.counters["record.set_aside.rules_error"] += 1
        record = {"type": type(event).__name__.lower(), "player": event.player, "t": event.t}
        if isinstance(event, Input):
            record |= {"seq": event.seq, "payload": dict(event.payload)}
        log.error(
            json.dumps(
                {"event": "rules_error", "match": match_id, "error": repr(exc), "record": record},
                default=repr,
            )
        )
        match = self.matches.get(match_id)
        if match is None:
            return
        try:
            result = self.rules.result(self.world, match.row)
        except Exception:  # the rules are broken for this match: log what we know
            result = {}
        result |= {"reason": "error", "shard": match.shard_id, "error": repr(exc)}
        log.info(json.dumps({"event": "match_ended", "match": match_id, **result}, default=repr))
        try:
            self._final_frames.append((match.shard_id, self._frame(match, ended=True)))
        except Exception:  # views raised too: the players get no final frame
            self.counters["frame.failed"] += 1
        self.counters["match.ended.error"] += 1
        self._remove(match, MatchEvent.END)
        self._ended_now.append((match_id, result))

    def _apply(self, match: Match, event: Event) -> None:
        if isinstance(event, Input):
            member = match.members.get(event.player)
            if member is None:
                self.counters["input.not_member"] += 1
                return
            if event.seq <= member.last_seq:
                self.counters["input.duplicate"] += 1
                return
            # A rejected input still counts as consumed: its seq is acknowledged, so the
            # client's prediction does not wait for it forever.
            member.last_seq = event.seq
            if member.slot == SPECTATOR_SLOT:
                self.counters["input.rejected.spectator"] += 1
                return
            try:
                command = self.rules.validate(event.payload)
            except InputRejected as exc:
                self.counters[f"input.rejected.{exc.reason}"] += 1
                return
            self.rules.apply(self.world, match.row, member.slot, command)
            self.counters["input.applied"] += 1
        elif isinstance(event, Join):
            member = match.members.get(event.player)
            if member is not None:
                if member.connection_id != event.conn:
                    self._replaced.append((match.match_id, event.player, member.connection_id))
                member.connection_id = event.conn
                self.counters["join.reconnect"] += 1
                return
            if event.player.startswith(self.settings.spectator_prefix):
                # A spectator watches the whole match: no entity, no slot, no inputs.
                match.members[event.player] = Member(event.player, event.conn, SPECTATOR_SLOT)
                self.counters["join.spectator"] += 1
                return
            try:
                slot = self.rules.admit(self.world, match.row)
            except JoinRefused as exc:
                self.counters[f"join.refused.{exc.reason}"] += 1
                return
            match.members[event.player] = Member(event.player, event.conn, slot)
            match.lifecycle.handle(MatchEvent.ADMITTED)
            self.counters["join.admitted"] += 1
        else:
            self._leave(match, event, "leave")

    def _leave(self, match: Match, event: Leave, why: str) -> None:
        member = match.members.get(event.player)
        # A leave of an older connection (the player has reconnected since) is stale.
        if member is None or member.connection_id != event.conn:
            self.counters[f"{why}.stale"] += 1
            return
        if member.slot != SPECTATOR_SLOT:
            self.rules.remove(self.world, match.row, member.slot)
        del match.members[event.player]
        if member.slot != SPECTATOR_SLOT and not match.has_players():
            match.lifecycle.handle(MatchEvent.LAST_LEFT)
        self.counters[f"{why}.removed"] += 1

    def _end_matches(self) -> Iterable[tuple[str, dict[str, Any]]]:
        ended_by_rules = self.rules.ended(self.world)
        for match in list(self.matches.values()):
            if match.lifecycle.state is _PLAYING:
                match.empty_ticks = 0
            else:
                match.empty_ticks += 1
            by_rules = bool(ended_by_rules[match.row])
            if not by_rules and match.empty_ticks < self._empty_limit:
                continue
            result = self.rules.result(self.world, match.row)
            slots = {m.slot: m.player_id for m in match.members.values()}
            for key in ("scores", "deaths"):
                if isinstance(result.get(key), dict):
                    result[key] = {slots.get(s, str(s)): v for s, v in result[key].items()}
            result["reason"] = "rules" if by_rules else "empty"
            result["shard"] = match.shard_id
            log.info(json.dumps({"event": "match_ended", "match": match.match_id, **result}))
            if by_rules:
                self._final_frames.append((match.shard_id, self._frame(match, ended=True)))
            self.counters[f"match.ended.{result['reason']}"] += 1
            self._remove(match, MatchEvent.END)
            yield match.match_id, result

    def take_replaced(self) -> list[tuple[str, str, str]]:
        """``(match, player, connection)`` of older connections of players who connected
        again since the last call: each is to be told and closed (one player, one
        connection; the newer one gets the state)."""
        replaced, self._replaced = self._replaced, []
        return replaced

    def skip_ticks(self, count: int) -> None:
        """Advance every match's tick counter by ``count`` without simulating (a replay
        skipping a timeline too long to run tick by tick)."""
        if count > 0:
            self.world.tick[self._active] += count

    # -- frames -----------------------------------------------------------------------------
    def frames(
        self,
        skip_shards: Container[str | None] = (),
        valid_until: Mapping[str | None, float] | None = None,
    ) -> list[MatchFrame]:
        """One frame per match with players (copies); the final frames of matches ended
        since the last call come first. Matches of ``skip_shards`` (a worker's fenced
        leases) get none, and their final frames are dropped; ``valid_until`` gives each
        shard's frames their fencing deadline (``MatchFrame.valid_until``)."""
        finals, self._final_frames = self._final_frames, []
        until = valid_until or {}
        out = [
            dataclasses.replace(frame, valid_until=until.get(shard, math.inf)) if until else frame
            for shard, frame in finals
            if shard not in skip_shards
        ]
        matches = [m for m in self.matches.values() if m.members and m.shard_id not in skip_shards]
        if matches:
            views = self.rules.views(self.world, [m.row for m in matches])
            out.extend(
                self._frame(m, v, valid_until=until.get(m.shard_id, math.inf))
                for m, v in zip(matches, views, strict=True)
            )
        return out

    def _frame(
        self,
        match: Match,
        view: MatchView | None = None,
        ended: bool = False,
        valid_until: float = math.inf,
    ) -> MatchFrame:
        if view is None:
            view = self.rules.views(self.world, [match.row])[0]
        entity, vx, vy = view.slot_entity.tolist(), view.slot_x.tolist(), view.slot_y.tolist()
        # Every field, in PlayerSlot's order, through tuple.__new__: the named tuple's own
        # __new__ is a Python function, and this is made per player per send tick.
        players = tuple(
            [
                _new_tuple(
                    PlayerSlot,
                    (
                        m.player_id,
                        m.connection_id,
                        -1,
                        m.last_seq,
                        0.0,
                        0.0,
                        True,
                        m.dropped,
                        m.dropped_seq,
                    ),
                )
                if (slot := m.slot) == SPECTATOR_SLOT
                else _new_tuple(
                    PlayerSlot,
                    (
                        m.player_id,
                        m.connection_id,
                        entity[slot],
                        m.last_seq,
                        vx[slot],
                        vy[slot],
                        False,
                        m.dropped,
                        m.dropped_seq,
                    ),
                )
                for m in sorted(match.members.values(), key=_BY_SLOT)
            ]
        )
        # (positionally, in MatchFrame's field order: one is made per match per send tick)
        return MatchFrame(
            match.match_id,
            int(self.world.tick[match.row]),
            view.ids,
            view.kind,
            view.x,
            view.y,
            view.fields,
            players,
            view.view_radius,
            view.meta,
            ended,
            valid_until,
        )

    # -- rows -------------------------------------------------------------------------------
    def _create(self, match_id: str) -> Match:
        if not self._free_rows:
            old = self.world.capacity
            self.world.grow(old * 2)
            self._active = np.concatenate([self._active, np.zeros(old, dtype=bool)])
            self._free_rows = list(range(old, old * 2))
        row = self._free_rows.pop(0)
        self.world.clear(row)
        self.world.seed[row] = match_seed(match_id)
        try:
            self.rules.create_match(self.world, row)
        except Exception:
            self.world.clear(row)
            self._free_rows.insert(0, row)
            raise
        self._active[row] = True
        match = Match(match_id, row)
        self.matches[match_id] = match
        self.counters["match.created"] += 1
        return match

    def _remove(self, match: Match, why: MatchEvent) -> None:
        """Free the match's row: it ended (``END``) or is forgotten (``DROP``)."""
        match.lifecycle.handle(why)
        self.world.clear(match.row)
        self._active[match.row] = False
        self._free_rows.append(match.row)
        self._free_rows.sort()
        del self.matches[match.match_id]

    # -- shards, snapshots, hashes ------------------------------------------------------------
    def matches_of(self, shard_id: str) -> list[str]:
        return [m.match_id for m in self.matches.values() if m.shard_id == shard_id]

    def pending_min(self, shard_id: str) -> int | None:
        """The lowest sequence number of ``shard_id`` still waiting in a queue."""
        heads = [
            m.queue[0][2] for m in self.matches.values() if m.queue and m.queue[0][1] == shard_id
        ]
        return min(heads) if heads else None

    def drop_shard(self, shard_id: str) -> list[str]:
        """Forget every match of a shard (its lease is lost, or it ended): no result logged."""
        dropped = self.matches_of(shard_id)
        for match_id in dropped:
            self._remove(self.matches[match_id], MatchEvent.DROP)
        return dropped

    def snapshot(self, match_id: str, wall_ms: int = 0) -> bytes:
        """The match's state as of the last tick boundary (queued records excluded);
        ``wall_ms``: the epoch ms of that tick, where a successor's fast-forward starts."""
        match = self.matches[match_id]
        return encode_snapshot(
            rules=self.rules.name,
            match_id=match_id,
            shard_id=match.shard_id,
            through=match.through,
            empty_ticks=match.empty_ticks,
            members=[
                (m.player_id, m.connection_id, m.slot, m.last_seq, m.dropped, m.dropped_seq)
                for m in match.members.values()
            ],
            columns=self.world.row(match.row),
            wall_ms=wall_ms,
        )

    def restore(self, data: bytes, shard_id: str | None = None) -> str:
        """Load a snapshot as a live match (replacing one with the same id).

        ``shard_id``: the shard the match now reads from, when it differs from the
        snapshot's (a child shard after a reshard): the snapshot's progress does not apply.
        """
        return self.restore_decoded(decode_snapshot(data, rules=self.rules.name), shard_id)

    def restore_decoded(self, snap: Snapshot, shard_id: str | None = None) -> str:
        """:meth:`restore` of a snapshot already decoded."""
        if snap.match_id in self.matches:
            self._remove(self.matches[snap.match_id], MatchEvent.DROP)
        match = self._create(snap.match_id)
        self.world.load_row(match.row, snap.columns)
        match.shard_id, match.through, match.cursor = snap.shard_id, snap.through, snap.through
        if shard_id is not None and shard_id != snap.shard_id:
            match.shard_id, match.through, match.cursor = shard_id, -1, -1
        match.empty_ticks = snap.empty_ticks
        for player_id, conn, slot, last_seq, dropped, dropped_seq in snap.members:
            match.members[player_id] = Member(player_id, conn, slot, last_seq, dropped, dropped_seq)
        if match.has_players():
            match.lifecycle.handle(MatchEvent.ADMITTED)
        self.counters["match.restored"] += 1
        return snap.match_id

    def match_hash(self, match_id: str) -> bytes:
        match = self.matches[match_id]
        h = hashlib.blake2b(self.world.row_hash(match.row), digest_size=16)
        for m in sorted(match.members.values(), key=lambda m: m.player_id):
            h.update(f"{m.player_id}\0{m.slot}\0{m.last_seq}\0".encode())
        return h.digest()

    def state_hash(self) -> str:
        """A hash of every match's state, independent of row placement."""
        h = hashlib.blake2b(digest_size=16)
        for match_id in sorted(self.matches):
            h.update(match_id.encode() + b"\0" + self.match_hash(match_id))
        return h.hexdigest()

    def last_seqs(self) -> Mapping[tuple[str, str], int]:
        return {
            (m.match_id, p.player_id): p.last_seq
            for m in self.matches.values()
            for p in m.members.values()
        }
