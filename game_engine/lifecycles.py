"""The engine's lifecycles as tables: a match, a held lease, a worker.

Each is an enum of states, an enum of events and one :class:`infra.lifecycle.TransitionTable`;
the engine and the worker report events and never assign a state, and an event a table
does not list raises :class:`infra.lifecycle.IllegalTransition`.

A match (:class:`game_engine.engine.Match`)::

    EMPTY ──ADMITTED──▶ PLAYING ──LAST_LEFT──▶ EMPTY        (spectators do not count)
    EMPTY, PLAYING ──END──▶ ENDED     the rules ended it, it stayed empty too long, or a
                                      rules hook raised: its result is logged
    EMPTY, PLAYING ──DROP──▶ DROPPED  its shard's lease is gone, or a snapshot replaced it:
                                      forgotten, no result

A lease this worker holds (``game_engine.worker``)::

    REPLAYING ──CAUGHT_UP──▶ LIVE     the takeover's fast-forward put its matches in play
    REPLAYING, LIVE ──LOSE──▶ LOST          a renew, snapshot or checkpoint write refused
    REPLAYING, LIVE ──RELEASE──▶ RELEASED   given back (a graceful stop, a failed takeover)
    LIVE ──FINISH──▶ FINISHED               read to SHARD_END and checkpointed (reshard)
    REPLAYING, LIVE ──ABANDON──▶ ABANDONED  let go without a write (a crash, a stop timeout)

A worker (:class:`game_engine.worker.Worker`)::

    NEW ──START──▶ RUNNING ──STOP──▶ STOPPING ──STOPPED──▶ STOPPED
    NEW ──STOP──▶ STOPPING            (stopping a worker never started)
    NEW, RUNNING, STOPPING ──ABANDON──▶ STOPPING   (abandon() is a stop without writes)

``start()`` on a running worker does nothing, and so does ``start()`` after ``stop()``
(a stop signal that comes before the start wins: the worker never takes a lease); a
second ``stop()`` or ``abandon()`` waits for or repeats the first, and an ``abandon()``
racing a ``stop()`` may finish it first. These are the table's self-steps; the steps it
leaves out (finishing a stop never begun, a lease event after the lease is gone, a
player admitted to an ended match) raise.
"""

from __future__ import annotations

import enum

from infra.lifecycle import TransitionTable

__all__ = [
    "LEASE",
    "MATCH",
    "WORKER",
    "LeaseEvent",
    "LeaseState",
    "MatchEvent",
    "MatchState",
    "WorkerEvent",
    "WorkerState",
]


class MatchState(enum.Enum):
    EMPTY = "empty"
    PLAYING = "playing"
    ENDED = "ended"
    DROPPED = "dropped"


class MatchEvent(enum.Enum):
    ADMITTED = "admitted"
    LAST_LEFT = "last_left"
    END = "end"
    DROP = "drop"


MATCH: TransitionTable[MatchState, MatchEvent] = TransitionTable(
    "match",
    {
        (MatchState.EMPTY, MatchEvent.ADMITTED): MatchState.PLAYING,
        (MatchState.PLAYING, MatchEvent.ADMITTED): MatchState.PLAYING,
        (MatchState.PLAYING, MatchEvent.LAST_LEFT): MatchState.EMPTY,
        (MatchState.EMPTY, MatchEvent.END): MatchState.ENDED,
        (MatchState.PLAYING, MatchEvent.END): MatchState.ENDED,
        (MatchState.EMPTY, MatchEvent.DROP): MatchState.DROPPED,
        (MatchState.PLAYING, MatchEvent.DROP): MatchState.DROPPED,
    },
)


class LeaseState(enum.Enum):
    REPLAYING = "replaying"
    LIVE = "live"
    LOST = "lost"
    RELEASED = "released"
    FINISHED = "finished"
    ABANDONED = "abandoned"


class LeaseEvent(enum.Enum):
    CAUGHT_UP = "caught_up"
    LOSE = "lose"
    RELEASE = "release"
    FINISH = "finish"
    ABANDON = "abandon"


LEASE: TransitionTable[LeaseState, LeaseEvent] = TransitionTable(
    "lease",
    {
        (LeaseState.REPLAYING, LeaseEvent.CAUGHT_UP): LeaseState.LIVE,
        (LeaseState.REPLAYING, LeaseEvent.LOSE): LeaseState.LOST,
        (LeaseState.LIVE, LeaseEvent.LOSE): LeaseState.LOST,
        (LeaseState.REPLAYING, LeaseEvent.RELEASE): LeaseState.RELEASED,
        (LeaseState.LIVE, LeaseEvent.RELEASE): LeaseState.RELEASED,
        (LeaseState.LIVE, LeaseEvent.FINISH): LeaseState.FINISHED,
        (LeaseState.REPLAYING, LeaseEvent.ABANDON): LeaseState.ABANDONED,
        (LeaseState.LIVE, LeaseEvent.ABANDON): LeaseState.ABANDONED,
    },
)


class WorkerState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class WorkerEvent(enum.Enum):
    START = "start"
    STOP = "stop"
    ABANDON = "abandon"
    STOPPED = "stopped"


WORKER: TransitionTable[WorkerState, WorkerEvent] = TransitionTable(
    "worker",
    {
        (WorkerState.NEW, WorkerEvent.START): WorkerState.RUNNING,
        (WorkerState.RUNNING, WorkerEvent.START): WorkerState.RUNNING,
        (WorkerState.STOPPING, WorkerEvent.START): WorkerState.STOPPING,
        (WorkerState.STOPPED, WorkerEvent.START): WorkerState.STOPPED,
        (WorkerState.NEW, WorkerEvent.STOP): WorkerState.STOPPING,
        (WorkerState.RUNNING, WorkerEvent.STOP): WorkerState.STOPPING,
        (WorkerState.STOPPING, WorkerEvent.STOP): WorkerState.STOPPING,
        (WorkerState.STOPPED, WorkerEvent.STOP): WorkerState.STOPPED,
        (WorkerState.NEW, WorkerEvent.ABANDON): WorkerState.STOPPING,
        (WorkerState.RUNNING, WorkerEvent.ABANDON): WorkerState.STOPPING,
        (WorkerState.STOPPING, WorkerEvent.ABANDON): WorkerState.STOPPING,
        (WorkerState.STOPPED, WorkerEvent.ABANDON): WorkerState.STOPPED,
        (WorkerState.STOPPING, WorkerEvent.STOPPED): WorkerState.STOPPED,
        (WorkerState.STOPPED, WorkerEvent.STOPPED): WorkerState.STOPPED,
    },
)
