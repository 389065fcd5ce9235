"""One connection as the broadcaster sees it: its lifecycle, and what it was last delivered.

Theory of operation. The broadcaster keeps one :class:`Connection` per connection id it
posts to. Its :class:`Phase` says what the broadcaster knows the client holds, and so what
its next message must be::

    NEW ──DELIVERED──▶ LIVE          first message (a full state) delivered
    LIVE ──FAILED, LOST──▶ RESYNC    outcome unknown (403, 413, 5xx, timeout, a broken
                                     Connections), or the baseline unusable (a send tick
                                     that failed, the rules changed the columns)
    NEW ──FAILED──▶ RESYNC
    RESYNC ──DELIVERED──▶ LIVE       a full state delivered
    NEW, LIVE, RESYNC ──THROTTLED──▶ (same)   429: not delivered, the next delta covers it
    NEW, LIVE, RESYNC, LEAVING ──LEFT──▶ LEAVING   no longer in its match (left,
                                     replaced, the match ended)
    LEAVING ──DELIVERED, THROTTLED, FAILED, LOST──▶ LEAVING   the post in flight when it
                                     left (or an ended match's last message) completes
    LEAVING ──FORGOTTEN──▶ CLOSED    dropped from the broadcaster's table
    NEW, LIVE, RESYNC, LEAVING ──GONE──▶ GONE   410: never posted to again
    GONE ──FORGOTTEN──▶ GONE

A connection in ``NEW`` or ``RESYNC`` gets a full state, one in ``LIVE`` a delta against
its baseline. Code reports events to :meth:`Connection.handle` and never assigns a phase;
an event :data:`CONNECTION` does not list raises
:class:`infra.lifecycle.IllegalTransition` (a bug in the broadcaster, never a client's
doing), as every lifecycle table in tickwire does.

Separately from the phase, ``in_flight`` is the per-connection backpressure bound: at most
one post in flight; a connection in flight at a send tick is skipped (merged).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

from broadcaster.stats import PlayerStats
from infra.lifecycle import TransitionTable

if TYPE_CHECKING:
    from broadcaster.rows import BatchRows
    from broadcaster.views import Snapshot
    from game_engine.frame import MatchFrame, PlayerSlot

__all__ = ["CONNECTION", "Connection", "Event", "Phase"]


class Phase(StrEnum):
    NEW = "new"
    LIVE = "live"
    RESYNC = "resync"
    LEAVING = "leaving"
    GONE = "gone"
    CLOSED = "closed"


class Event(StrEnum):
    DELIVERED = "delivered"  # a post succeeded: the client holds that message's state
    THROTTLED = "throttled"  # 429: not delivered, nothing else known to change
    FAILED = "failed"  # 403, 413, 5xx, timeout, transport: the outcome is unknown
    GONE = "gone"  # 410: the connection is closed or unknown
    LOST = "lost"  # the baseline cannot be used any more (no post involved)
    LEFT = "left"  # not in its match any more (left, replaced, match ended)
    FORGOTTEN = "forgotten"  # dropped from the broadcaster's table


CONNECTION: TransitionTable[Phase, Event] = TransitionTable(
    "connection",
    {
        (Phase.NEW, Event.DELIVERED): Phase.LIVE,
        (Phase.NEW, Event.THROTTLED): Phase.NEW,
        (Phase.NEW, Event.FAILED): Phase.RESYNC,
        (Phase.NEW, Event.LOST): Phase.NEW,
        (Phase.NEW, Event.GONE): Phase.GONE,
        (Phase.NEW, Event.LEFT): Phase.LEAVING,
        (Phase.LIVE, Event.DELIVERED): Phase.LIVE,
        (Phase.LIVE, Event.THROTTLED): Phase.LIVE,
        (Phase.LIVE, Event.FAILED): Phase.RESYNC,
        (Phase.LIVE, Event.LOST): Phase.RESYNC,
        (Phase.LIVE, Event.GONE): Phase.GONE,
        (Phase.LIVE, Event.LEFT): Phase.LEAVING,
        (Phase.RESYNC, Event.DELIVERED): Phase.LIVE,
        (Phase.RESYNC, Event.THROTTLED): Phase.RESYNC,
        (Phase.RESYNC, Event.FAILED): Phase.RESYNC,
        (Phase.RESYNC, Event.LOST): Phase.RESYNC,
        (Phase.RESYNC, Event.GONE): Phase.GONE,
        (Phase.RESYNC, Event.LEFT): Phase.LEAVING,
        (Phase.LEAVING, Event.DELIVERED): Phase.LEAVING,
        (Phase.LEAVING, Event.THROTTLED): Phase.LEAVING,
        (Phase.LEAVING, Event.FAILED): Phase.LEAVING,
        (Phase.LEAVING, Event.LOST): Phase.LEAVING,
        (Phase.LEAVING, Event.GONE): Phase.GONE,
        (Phase.LEAVING, Event.LEFT): Phase.LEAVING,
        (Phase.LEAVING, Event.FORGOTTEN): Phase.CLOSED,
        (Phase.GONE, Event.FORGOTTEN): Phase.GONE,
    },
)
# The table's DELIVERED column, looked up once per delivered post (the hot path)
_AFTER_DELIVERED = {
    phase: CONNECTION.next(phase, Event.DELIVERED)
    for phase in Phase
    if CONNECTION.allows(phase, Event.DELIVERED)
}


class Connection:
    """One connection: its phase, its baseline, its post in flight, its backoff.

    The baseline (what the connection was last delivered) is row ``row`` of the
    :class:`~broadcaster.batch.BatchRows` that computed it; :meth:`baseline` makes it a
    :class:`~broadcaster.views.Snapshot` when a batch must gather it.
    """

    __slots__ = (
        "attempts",
        "backoff_until",
        "connection_id",
        "final",
        "in_flight",
        "match_id",
        "phase",
        "player_id",
        "row",
        "rows",
        "stats",
        "valid_until",
    )

    def __init__(self, match_id: str, player_id: str, connection_id: str) -> None:
        self.match_id = match_id
        self.player_id = player_id
        self.connection_id = connection_id
        self.phase = Phase.NEW
        self.rows: BatchRows | None = None
        self.row = 0
        self.in_flight = False
        self.backoff_until = 0.0
        self.attempts = 0
        # An ended match's last message, waiting for the post in flight.
        self.final: tuple[MatchFrame, PlayerSlot, float] | None = None
        self.stats = PlayerStats(match_id, player_id)
        # The fencing deadline of the frame being posted (MatchFrame.valid_until).
        self.valid_until = math.inf

    def handle(self, event: Event) -> Phase:
        """Move to the phase :data:`CONNECTION` gives; raise if it gives none."""
        self.phase = CONNECTION.next(self.phase, event, self.connection_id)
        return self.phase

    def delivered(self, rows: BatchRows, row: int) -> None:
        """Its post succeeded: the client now holds row ``row`` of ``rows``."""
        after = _AFTER_DELIVERED.get(self.phase)
        self.phase = after or CONNECTION.next(self.phase, Event.DELIVERED, self.connection_id)
        self.rows, self.row = rows, row
        self.attempts = 0

    def lost(self, event: Event = Event.LOST) -> None:
        """The baseline is unusable (``LOST``) or unknown (``FAILED``): resync."""
        self.handle(event)
        self.rows = None

    def baseline(self) -> Snapshot | None:
        """What the connection was last delivered, if known."""
        rows = self.rows
        return None if rows is None else rows.baseline(self.row)

    def base_tick(self) -> int:
        """The tick of the baseline (0: none), without making it a Snapshot."""
        rows = self.rows
        return 0 if rows is None else int(rows.ticks[self.row])
