"""The broadcaster's connection lifecycle: the transition table and its illegal moves."""

from __future__ import annotations

import itertools

import pytest

from broadcaster.connection import TRANSITIONS, Connection, Event, Phase
from broadcaster.errors import BroadcastError, ConnectionStateError

POSTABLE = (Phase.NEW, Phase.LIVE, Phase.RESYNC)


def _at(phase: Phase) -> Connection:
    conn = Connection("m", "p", "c")
    conn.phase = phase
    return conn


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(Phase, Event)))
def test_every_pair_moves_as_the_table_says_or_raises(phase: Phase, event: Event) -> None:
    conn = _at(phase)
    want = TRANSITIONS.get((phase, event))
    if want is None:
        with pytest.raises(ConnectionStateError) as err:
            conn.fire(event)
        assert isinstance(err.value, BroadcastError)
        assert (err.value.phase, err.value.event) == (phase, event)
        assert conn.phase is phase  # an illegal event changes nothing
    else:
        assert conn.fire(event) is want and conn.phase is want


def test_the_policy_the_table_writes_down() -> None:
    for phase in POSTABLE:
        # a delivered post makes the baseline known; an unknown outcome loses it
        assert TRANSITIONS[phase, Event.DELIVERED] is Phase.LIVE
        assert TRANSITIONS[phase, Event.FAILED] is Phase.RESYNC
        # a 429 changes nothing: the next delta covers the update
        assert TRANSITIONS[phase, Event.THROTTLED] is phase
        assert TRANSITIONS[phase, Event.GONE] is Phase.GONE
        assert TRANSITIONS[phase, Event.LEFT] is Phase.LEAVING
        # only LEAVING and GONE connections are forgotten
        assert (phase, Event.FORGOTTEN) not in TRANSITIONS
    # nothing brings a gone or closed connection back
    for (phase, _event), after in TRANSITIONS.items():
        if phase in (Phase.GONE, Phase.CLOSED):
            assert after is phase
    assert not any(phase is Phase.CLOSED for phase, _ in TRANSITIONS)
    # a connection that left is never posted to afresh: no way back to a postable phase
    assert all(
        after not in POSTABLE for (phase, _), after in TRANSITIONS.items() if phase is Phase.LEAVING
    )


def test_a_connections_life() -> None:
    conn = Connection("m", "p", "c")
    assert conn.phase is Phase.NEW and conn.baseline() is None and conn.base_tick() == 0
    for event, phase in [
        (Event.THROTTLED, Phase.NEW),
        (Event.DELIVERED, Phase.LIVE),
        (Event.THROTTLED, Phase.LIVE),
        (Event.FAILED, Phase.RESYNC),
        (Event.DELIVERED, Phase.LIVE),
        (Event.LOST, Phase.RESYNC),
        (Event.DELIVERED, Phase.LIVE),
        (Event.LEFT, Phase.LEAVING),
        (Event.DELIVERED, Phase.LEAVING),  # the post in flight when it left
        (Event.FORGOTTEN, Phase.CLOSED),
    ]:
        assert conn.fire(event) is phase
    with pytest.raises(ConnectionStateError, match="no transition for delivered in closed"):
        conn.fire(Event.DELIVERED)
