"""The broadcaster's connection lifecycle: the transition table and its illegal moves."""

from __future__ import annotations

import itertools

import pytest

from broadcaster.connection import CONNECTION, Connection, Event, Phase
from infra.lifecycle import IllegalTransition

POSTABLE = (Phase.NEW, Phase.LIVE, Phase.RESYNC)


def _at(phase: Phase) -> Connection:
    conn = Connection("m", "p", "c")
    conn.phase = phase
    return conn


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(Phase, Event)))
def test_every_pair_moves_as_the_table_says_or_raises(phase: Phase, event: Event) -> None:
    conn = _at(phase)
    if not CONNECTION.allows(phase, event):
        with pytest.raises(IllegalTransition) as err:
            conn.handle(event)
        assert (err.value.state, err.value.event) == (phase, event)
        assert "c" in str(err.value)  # names the connection
        assert conn.phase is phase  # an illegal event changes nothing
    else:
        want = CONNECTION.next(phase, event)
        assert conn.handle(event) is want and conn.phase is want


def test_the_policy_the_table_writes_down() -> None:
    for phase in POSTABLE:
        # a delivered post makes the baseline known; an unknown outcome loses it
        assert CONNECTION.next(phase, Event.DELIVERED) is Phase.LIVE
        assert CONNECTION.next(phase, Event.FAILED) is Phase.RESYNC
        # a 429 changes nothing: the next delta covers the update
        assert CONNECTION.next(phase, Event.THROTTLED) is phase
        assert CONNECTION.next(phase, Event.GONE) is Phase.GONE
        assert CONNECTION.next(phase, Event.LEFT) is Phase.LEAVING
        # only LEAVING and GONE connections are forgotten
        assert not CONNECTION.allows(phase, Event.FORGOTTEN)
    steps = list(CONNECTION)
    # nothing brings a gone or closed connection back
    assert all(after is phase for phase, _, after in steps if phase in (Phase.GONE, Phase.CLOSED))
    assert not any(phase is Phase.CLOSED for phase, _, _ in steps)
    # a connection that left is never posted to afresh: no way back to a postable phase
    assert all(after not in POSTABLE for phase, _, after in steps if phase is Phase.LEAVING)


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
        assert conn.handle(event) is phase
    with pytest.raises(IllegalTransition, match="DELIVERED is not allowed in CLOSED"):
        conn.handle(Event.DELIVERED)
