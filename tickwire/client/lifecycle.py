"""The game client's lifecycle as a table (:class:`tickwire.client.GameClient`).

::

    CONNECTING ──CONNECTED──▶ OPEN ──DROPPED──▶ RECONNECTING ──CONNECTED──▶ OPEN
    CONNECTING, RECONNECTING ──GAVE_UP──▶ FAILED          (retries exhausted)
    OPEN ──MATCH_ENDED──▶ ENDING ──DROPPED──▶ ENDED       (the server's close: no reconnect)
    OPEN, ENDING ──SUPERSEDED──▶ REPLACING ──DROPPED──▶ REPLACED
                        (the player connected again elsewhere: a reconnect would take the
                        newer connection's place)
    any state ──CLOSE──▶ CLOSED; but ENDING, ENDED ──CLOSE──▶ ENDED and REPLACING,
                        REPLACED ──CLOSE──▶ REPLACED: close() keeps why the client ended

CLOSED, ENDED, REPLACED and FAILED are final. Messages still arriving while a final
close finishes its closing handshake change nothing (self-steps), and so does a second
``close()``.
"""

from __future__ import annotations

import enum

from infra.lifecycle import TransitionTable

__all__ = ["CLIENT", "FINAL", "ClientEvent", "ClientState"]


class ClientState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    ENDING = "ending"
    REPLACING = "replacing"
    CLOSED = "closed"
    ENDED = "ended"
    REPLACED = "replaced"
    FAILED = "failed"


class ClientEvent(enum.Enum):
    CONNECTED = "connected"  # a handshake succeeded
    DROPPED = "dropped"  # the connection closed without close() (server, network)
    MATCH_ENDED = "match_ended"  # a state message with the ENDED flag
    SUPERSEDED = "superseded"  # a state message with the REPLACED flag
    GAVE_UP = "gave_up"  # connecting failed for good
    CLOSE = "close"  # close() was called


# The states a client never leaves (but for a failed one's close()).
FINAL = frozenset({ClientState.CLOSED, ClientState.ENDED, ClientState.REPLACED, ClientState.FAILED})

_S, _E = ClientState, ClientEvent

CLIENT: TransitionTable[ClientState, ClientEvent] = TransitionTable(
    "client",
    {
        (_S.CONNECTING, _E.CONNECTED): _S.OPEN,
        (_S.CONNECTING, _E.GAVE_UP): _S.FAILED,
        (_S.CONNECTING, _E.CLOSE): _S.CLOSED,
        (_S.OPEN, _E.DROPPED): _S.RECONNECTING,
        (_S.OPEN, _E.MATCH_ENDED): _S.ENDING,
        (_S.OPEN, _E.SUPERSEDED): _S.REPLACING,
        (_S.OPEN, _E.CLOSE): _S.CLOSED,
        (_S.RECONNECTING, _E.CONNECTED): _S.OPEN,
        (_S.RECONNECTING, _E.GAVE_UP): _S.FAILED,
        (_S.RECONNECTING, _E.CLOSE): _S.CLOSED,
        (_S.ENDING, _E.MATCH_ENDED): _S.ENDING,
        (_S.ENDING, _E.SUPERSEDED): _S.REPLACING,
        (_S.ENDING, _E.DROPPED): _S.ENDED,
        (_S.ENDING, _E.CLOSE): _S.ENDED,
        (_S.REPLACING, _E.SUPERSEDED): _S.REPLACING,
        (_S.REPLACING, _E.MATCH_ENDED): _S.REPLACING,
        (_S.REPLACING, _E.DROPPED): _S.REPLACED,
        (_S.REPLACING, _E.CLOSE): _S.REPLACED,
        (_S.FAILED, _E.CLOSE): _S.CLOSED,
        # Final: a second close(), and messages still arriving during the closing handshake.
        **{
            (final, event): final
            for final in (_S.CLOSED, _S.ENDED, _S.REPLACED)
            for event in (_E.CLOSE, _E.MATCH_ENDED, _E.SUPERSEDED)
        },
    },
)
