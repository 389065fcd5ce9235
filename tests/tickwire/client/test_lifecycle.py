"""The client's lifecycle table (tickwire.client.lifecycle), without a connection."""

from __future__ import annotations

import pytest

from infra.lifecycle import IllegalTransition, Lifecycle
from tickwire.client.lifecycle import CLIENT, ClientEvent, ClientState

E = ClientEvent


@pytest.mark.parametrize(
    ("events", "final"),
    [
        ((E.CONNECTED, E.DROPPED, E.CONNECTED, E.CLOSE), ClientState.CLOSED),
        ((E.CONNECTED, E.DROPPED, E.GAVE_UP), ClientState.FAILED),
        ((E.CONNECTED, E.DROPPED, E.GAVE_UP, E.CLOSE), ClientState.CLOSED),
        ((E.GAVE_UP,), ClientState.FAILED),
        ((E.CONNECTED, E.MATCH_ENDED, E.MATCH_ENDED, E.DROPPED, E.CLOSE), ClientState.ENDED),
        ((E.CONNECTED, E.MATCH_ENDED, E.CLOSE, E.MATCH_ENDED), ClientState.ENDED),
        ((E.CONNECTED, E.SUPERSEDED, E.MATCH_ENDED, E.DROPPED), ClientState.REPLACED),
        ((E.CONNECTED, E.MATCH_ENDED, E.SUPERSEDED, E.CLOSE), ClientState.REPLACED),
        ((E.CONNECTED, E.CLOSE, E.SUPERSEDED, E.CLOSE), ClientState.CLOSED),
    ],
)
def test_legal_paths(events: tuple[ClientEvent, ...], final: ClientState) -> None:
    life = Lifecycle(CLIENT, ClientState.CONNECTING)
    for event in events:
        life.handle(event)
    assert life.state is final


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (ClientState.CONNECTING, E.DROPPED),  # no connection to drop yet
        (ClientState.OPEN, E.CONNECTED),  # a second connection while one is open
        (ClientState.RECONNECTING, E.MATCH_ENDED),  # a message with no connection
        (ClientState.ENDING, E.CONNECTED),  # a reconnect after the match ended
        (ClientState.REPLACED, E.CONNECTED),  # a reconnect that would kick the newer one
        (ClientState.CLOSED, E.CONNECTED),
        (ClientState.FAILED, E.CONNECTED),
    ],
)
def test_illegal_transitions_raise(state: ClientState, event: ClientEvent) -> None:
    life = Lifecycle(CLIENT, state)
    with pytest.raises(IllegalTransition, match=f"client: {event.name} is not allowed"):
        life.handle(event)
    assert life.state is state
