"""Lifecycles as data: a transition table and the one place that applies it.

Theory of operation (after h11's ``_state.py``). A lifecycle is an enum of states, an enum
of events and a table ``{(state, event): next_state}`` written down in one place, next
to the class it governs. Code never assigns a state: it reports an event to
:meth:`Lifecycle.handle`, which looks the pair up and moves to the next state, or raises
:class:`IllegalTransition` when the table has no such pair (a bug in the caller: the
event cannot happen in that state). A pair that should change nothing is written into the
table as a step to the same state, so "harmless twice" is visible in the table too.

Users: the engine's matches, the worker and its leases (``game_engine.lifecycles``), the
broadcaster's connections (``broadcaster.connection``), the Python client
(``tickwire.client.lifecycle``), and :data:`SERVICE` here for the plain start/stop services
(``tickwire up``'s embedded game, its engine processes).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = [
    "SERVICE",
    "IllegalTransition",
    "Lifecycle",
    "ServiceEvent",
    "ServiceState",
    "TransitionTable",
]

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class IllegalTransition(RuntimeError):
    """An event the lifecycle's table does not allow in the current state (a bug)."""

    def __init__(self, table: str, subject: str, state: enum.Enum, event: enum.Enum) -> None:
        super().__init__(f"{_named(table, subject)}: {event.name} is not allowed in {state.name}")
        self.state = state
        self.event = event


class TransitionTable(Generic[S, E]):
    """An immutable ``{(state, event): next_state}`` table named for its errors."""

    __slots__ = ("_next", "name")

    def __init__(self, name: str, table: Mapping[tuple[S, E], S]) -> None:
        self.name = name
        self._next = dict(table)

    def next(self, state: S, event: E, subject: str = "") -> S:
        """The state ``event`` leads to from ``state``; raises :class:`IllegalTransition`."""
        try:
            return self._next[(state, event)]
        except KeyError:
            raise IllegalTransition(self.name, subject, state, event) from None

    def allows(self, state: S, event: E) -> bool:
        return (state, event) in self._next

    def __iter__(self) -> Iterator[tuple[S, E, S]]:
        """Every legal ``(state, event, next_state)``."""
        return ((state, event, after) for (state, event), after in self._next.items())


class Lifecycle(Generic[S, E]):
    """One thing's current state in a :class:`TransitionTable`; ``subject`` names it in
    errors (a match id, a shard id)."""

    __slots__ = ("state", "subject", "table")

    def __init__(self, table: TransitionTable[S, E], initial: S, subject: str = "") -> None:
        self.table = table
        self.state = initial
        self.subject = subject

    def handle(self, event: E) -> S:
        """Apply ``event``: the new state, or :class:`IllegalTransition` (state unchanged)."""
        self.state = self.table.next(self.state, event, self.subject)
        return self.state

    def __repr__(self) -> str:
        return f"<{_named(self.table.name, self.subject)}: {self.state.name}>"


def _named(table: str, subject: str) -> str:
    """``match m1``, or the table's name alone for a thing without a name."""
    return f"{table} {subject}" if subject else table


class ServiceState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class ServiceEvent(enum.Enum):
    START = "start"
    STOP = "stop"
    STOPPED = "stopped"


# A service started once and stopped once: a second start or stop changes nothing, and a
# stop before start wins (the start that follows does nothing).
SERVICE: TransitionTable[ServiceState, ServiceEvent] = TransitionTable(
    "service",
    {
        (ServiceState.NEW, ServiceEvent.START): ServiceState.RUNNING,
        (ServiceState.RUNNING, ServiceEvent.START): ServiceState.RUNNING,
        (ServiceState.STOPPING, ServiceEvent.START): ServiceState.STOPPING,
        (ServiceState.STOPPED, ServiceEvent.START): ServiceState.STOPPED,
        (ServiceState.NEW, ServiceEvent.STOP): ServiceState.STOPPING,
        (ServiceState.RUNNING, ServiceEvent.STOP): ServiceState.STOPPING,
        (ServiceState.STOPPING, ServiceEvent.STOP): ServiceState.STOPPING,
        (ServiceState.STOPPED, ServiceEvent.STOP): ServiceState.STOPPED,
        (ServiceState.STOPPING, ServiceEvent.STOPPED): ServiceState.STOPPED,
        (ServiceState.STOPPED, ServiceEvent.STOPPED): ServiceState.STOPPED,
    },
)
