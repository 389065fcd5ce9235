"""The match, lease and worker lifecycles follow their tables (game_engine.lifecycles)."""

from __future__ import annotations

from typing import Any

import pytest
from test_worker import until, worker

from game_engine.arena import Arena, ArenaSettings
from game_engine.engine import Engine, EngineSettings
from game_engine.events import Join, Leave
from game_engine.lifecycles import (
    LEASE,
    MATCH,
    WORKER,
    LeaseEvent,
    LeaseState,
    MatchEvent,
    MatchState,
    WorkerEvent,
    WorkerState,
)
from game_engine.worker import Worker
from infra.lifecycle import IllegalTransition, Lifecycle
from infra.local.stream import EmbeddedKinesis
from infra.local.tables import EmbeddedTables

SHARD = "shardId-000000000000"


def _path(table: Any, state: Any, *events: Any) -> Any:
    life = Lifecycle(table, state)
    for event in events:
        life.handle(event)
    return life.state


def test_the_tables_legal_paths() -> None:
    m = MatchEvent
    assert _path(MATCH, MatchState.EMPTY, m.ADMITTED, m.ADMITTED, m.LAST_LEFT) is MatchState.EMPTY
    assert _path(MATCH, MatchState.EMPTY, m.ADMITTED, m.END) is MatchState.ENDED
    assert _path(MATCH, MatchState.EMPTY, m.DROP) is MatchState.DROPPED
    le = LeaseEvent
    assert _path(LEASE, LeaseState.REPLAYING, le.CAUGHT_UP, le.FINISH) is LeaseState.FINISHED
    assert _path(LEASE, LeaseState.REPLAYING, le.LOSE) is LeaseState.LOST
    assert _path(LEASE, LeaseState.REPLAYING, le.RELEASE) is LeaseState.RELEASED
    assert _path(LEASE, LeaseState.REPLAYING, le.CAUGHT_UP, le.ABANDON) is LeaseState.ABANDONED
    w = WorkerEvent
    assert _path(WORKER, WorkerState.NEW, w.START, w.START, w.STOP, w.STOP, w.STOPPED) is (
        WorkerState.STOPPED
    )
    assert _path(WORKER, WorkerState.NEW, w.STOP, w.STOPPED, w.START) is WorkerState.STOPPED


@pytest.mark.parametrize(
    ("table", "state", "event"),
    [
        (MATCH, MatchState.ENDED, MatchEvent.ADMITTED),  # a player joins a match that ended
        (MATCH, MatchState.EMPTY, MatchEvent.LAST_LEFT),  # nobody was playing
        (MATCH, MatchState.DROPPED, MatchEvent.END),  # a forgotten match gets a result
        (LEASE, LeaseState.REPLAYING, LeaseEvent.FINISH),  # finished before it caught up
        (LEASE, LeaseState.LOST, LeaseEvent.RELEASE),  # released after it was lost
        (LEASE, LeaseState.LIVE, LeaseEvent.CAUGHT_UP),  # a second fast-forward
        (WORKER, WorkerState.NEW, WorkerEvent.STOPPED),  # a stop finished that never began
        (WORKER, WorkerState.RUNNING, WorkerEvent.STOPPED),
    ],
)
def test_illegal_transitions_raise(table: Any, state: Any, event: Any) -> None:
    life = Lifecycle(table, state, "x")
    with pytest.raises(IllegalTransition, match=f"{event.name} is not allowed in {state.name}"):
        life.handle(event)
    assert life.state is state


# -- the match, through the engine ---------------------------------------------------------


def test_a_match_plays_while_a_player_holds_a_slot_and_ends_when_empty() -> None:
    eng = Engine(Arena(), EngineSettings(tick_rate=30.0, empty_timeout=0.1))
    eng.submit(Join("m", "watch-1", "c0"))
    eng.tick()
    match = eng.matches["m"]
    assert match.state is MatchState.EMPTY  # a spectator is not a player
    eng.submit(Join("m", "a", "c1"))
    eng.submit(Join("m", "b", "c2"))
    eng.tick()
    assert match.state is MatchState.PLAYING
    eng.submit(Leave("m", "a", "c1"))
    eng.tick()
    assert match.state is MatchState.PLAYING  # b still plays
    eng.submit(Leave("m", "b", "c2"))
    eng.tick()
    assert match.state is MatchState.EMPTY and match.empty_ticks == 1
    ended = [mid for _ in range(5) for mid, _ in eng.tick().ended]
    assert ended == ["m"] and match.state is MatchState.ENDED
    with pytest.raises(IllegalTransition, match="match m: ADMITTED is not allowed in ENDED"):
        match.lifecycle.handle(MatchEvent.ADMITTED)


def test_a_rejoin_within_one_tick_keeps_the_match_playing() -> None:
    eng = Engine(Arena(), EngineSettings(tick_rate=30.0, empty_timeout=0.1))
    eng.submit(Join("m", "a", "c1"))
    eng.tick()
    eng.submit(Leave("m", "a", "c1"))
    eng.submit(Join("m", "a", "c2"))
    eng.tick()
    assert eng.matches["m"].state is MatchState.PLAYING and eng.matches["m"].empty_ticks == 0


def test_a_dropped_shard_drops_its_matches_and_a_restore_plays_again() -> None:
    eng = Engine(Arena(ArenaSettings(max_players=4)))
    eng.submit(Join("m", "a", "c1"), SHARD, "1")
    eng.tick()
    data = eng.snapshot("m")
    match = eng.matches["m"]
    assert eng.drop_shard(SHARD) == ["m"] and match.state is MatchState.DROPPED
    eng.restore(data)
    restored = eng.matches["m"]
    assert restored.state is MatchState.PLAYING
    eng.restore(data)  # a second restore replaces the match
    assert restored.state is MatchState.DROPPED
    assert eng.matches["m"].state is MatchState.PLAYING


# -- the worker and its leases, on the embedded stream and tables -----------------------------


def _worker(tables: EmbeddedTables) -> Worker[Any]:
    return worker(EmbeddedKinesis().create_stream("actions", 1), tables, "w1")


async def _live(w: Worker[Any]) -> Any:
    """The worker's lease of the one shard, once it is LIVE."""
    await until(lambda: SHARD in w._owned and w._owned[SHARD].lifecycle.state is LeaseState.LIVE)
    return w._owned[SHARD]


async def test_a_lease_goes_live_after_its_fast_forward_and_is_released_on_stop() -> None:
    tables = EmbeddedTables()
    w = _worker(tables)
    assert w.state is WorkerState.NEW
    await w.start()
    await w.start()  # harmless
    assert w.state is WorkerState.RUNNING
    owned = await _live(w)
    await w.stop()
    assert w.state is WorkerState.STOPPED and owned.lifecycle.state is LeaseState.RELEASED
    lease = await tables.leases.get(SHARD)
    assert lease is not None and lease.owner is None


async def test_abandon_lets_the_lease_go_without_a_write() -> None:
    tables = EmbeddedTables()
    w = _worker(tables)
    await w.start()
    owned = await _live(w)
    await w.abandon()
    await w.stop()  # harmless after abandon()
    assert w.state is WorkerState.STOPPED and owned.lifecycle.state is LeaseState.ABANDONED
    lease = await tables.leases.get(SHARD)
    assert lease is not None and lease.owner == "w1"  # left to expire, as after a crash


async def test_a_stop_that_comes_before_the_start_wins() -> None:
    tables = EmbeddedTables()
    w = _worker(tables)
    await w.stop()
    await w.start()
    await w.run()  # returns at once: already stopped
    assert w.state is WorkerState.STOPPED and w.shards == []
    assert await tables.leases.list_leases() == []  # it never looked at the stream
