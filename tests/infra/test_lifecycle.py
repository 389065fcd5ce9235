"""The transition tables: the helper, and properties every lifecycle table must have."""

from __future__ import annotations

import enum
from typing import Any

import pytest

from broadcaster.connection import CONNECTION, Phase
from game_engine.lifecycles import LEASE, MATCH, WORKER, LeaseState, MatchState, WorkerState
from infra.lifecycle import (
    SERVICE,
    IllegalTransition,
    Lifecycle,
    ServiceState,
    TransitionTable,
)
from infra.local.gateway.connection import CONNECTION as GATEWAY_CONNECTION
from infra.local.gateway.connection import ConnectionState
from tickwire.client.lifecycle import CLIENT, FINAL, ClientState


class Door(enum.Enum):
    SHUT = "shut"
    OPEN = "open"


class Push(enum.Enum):
    OPEN = "open"
    SHUT = "shut"


DOOR = TransitionTable(
    "door", {(Door.SHUT, Push.OPEN): Door.OPEN, (Door.OPEN, Push.SHUT): Door.SHUT}
)


def test_handle_follows_the_table() -> None:
    door = Lifecycle(DOOR, Door.SHUT, "front")
    assert door.handle(Push.OPEN) is Door.OPEN
    assert door.handle(Push.SHUT) is Door.SHUT
    assert door.state is Door.SHUT
    assert repr(door) == "<door front: SHUT>" and repr(Lifecycle(DOOR, Door.OPEN)) == "<door: OPEN>"


def test_an_event_the_table_lacks_raises_and_changes_nothing() -> None:
    door = Lifecycle(DOOR, Door.SHUT, "front")
    with pytest.raises(IllegalTransition, match="door front: SHUT is not allowed in SHUT") as info:
        door.handle(Push.SHUT)
    assert (info.value.state, info.value.event) == (Door.SHUT, Push.SHUT)
    assert door.state is Door.SHUT
    assert DOOR.allows(Door.SHUT, Push.OPEN) and not DOOR.allows(Door.OPEN, Push.OPEN)
    assert sorted((s.name, e.name, n.name) for s, e, n in DOOR) == [
        ("OPEN", "SHUT", "SHUT"),
        ("SHUT", "OPEN", "OPEN"),
    ]


# Every lifecycle table of the project, its first state and its final states.
TABLES: list[tuple[TransitionTable[Any, Any], enum.Enum, frozenset[Any]]] = [
    (MATCH, MatchState.EMPTY, frozenset({MatchState.ENDED, MatchState.DROPPED})),
    (
        LEASE,
        LeaseState.REPLAYING,
        frozenset(
            {LeaseState.LOST, LeaseState.RELEASED, LeaseState.FINISHED, LeaseState.ABANDONED}
        ),
    ),
    (WORKER, WorkerState.NEW, frozenset({WorkerState.STOPPED})),
    (CLIENT, ClientState.CONNECTING, FINAL - {ClientState.FAILED}),
    (CONNECTION, Phase.NEW, frozenset({Phase.GONE, Phase.CLOSED})),
    (SERVICE, ServiceState.NEW, frozenset({ServiceState.STOPPED})),
    (GATEWAY_CONNECTION, ConnectionState.CONNECTING, frozenset({ConnectionState.CLOSED})),
]


def _events(table: TransitionTable[Any, Any]) -> list[Any]:
    event_type = type(next(iter(table))[1])
    return list(event_type)


@pytest.mark.parametrize(("table", "initial", "final"), TABLES, ids=[t[0].name for t in TABLES])
def test_every_state_is_reachable_from_the_first(
    table: TransitionTable[Any, Any], initial: enum.Enum, final: frozenset[Any]
) -> None:
    reached, frontier = {initial}, [initial]
    while frontier:
        state = frontier.pop()
        for before, _, after in table:
            if before is state and after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(type(initial))


@pytest.mark.parametrize(("table", "initial", "final"), TABLES, ids=[t[0].name for t in TABLES])
def test_final_states_are_never_left_and_unlisted_pairs_raise(
    table: TransitionTable[Any, Any], initial: enum.Enum, final: frozenset[Any]
) -> None:
    for state in type(initial):
        for event in _events(table):
            if table.allows(state, event):
                after = table.next(state, event)
                if state in final:
                    assert after is state, (state, event)
            else:
                with pytest.raises(IllegalTransition):
                    table.next(state, event)
