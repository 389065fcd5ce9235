"""One connection as the broadcaster sees it: its lifecycle, and what it was last delivered.

Theory of operation. The broadcaster keeps one :class:`Connection` per connection id it
posts to. Its :class:`Phase` says what the broadcaster knows the client holds, and so what
its next message must be:

- ``NEW``: nothing delivered yet: the next message is a full state;
- ``LIVE``: the last delivered state is known (the baseline): the next message is a delta
  against it;
- ``RESYNC``: a post's outcome is unknown, or the baseline was lost (a send tick that
  failed, the rules changed the columns): the next message is a full state;
- ``LEAVING``: the connection is no longer in its match; it is forgotten once its post in
  flight completes (an ended match's last message is still sent);
- ``GONE``: ``@connections`` answered 410: never posted to again;
- ``CLOSED``: forgotten.

Every change of phase is an :class:`Event` looked up in :data:`TRANSITIONS`, the one
place the lifecycle is written down; an event the table does not allow in the current
phase raises :class:`~broadcaster.errors.ConnectionStateError` (a bug in the broadcaster,
never a client's doing). A 429 (``THROTTLED``) changes nothing: the update is not counted
as delivered and the next delta covers it.

Separately from the phase, ``in_flight`` is the per-connection backpressure bound: at most
one post in flight; a connection in flight at a send tick is skipped (merged).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import TYPE_CHECKING

from broadcaster.errors import ConnectionStateError
from broadcaster.stats import PlayerStats

if TYPE_CHECKING:
    from broadcaster.batch import BatchRows
    from broadcaster.views import Snapshot
    from game_engine.frame import MatchFrame, PlayerSlot

__all__ = ["TRANSITIONS", "Connection", "Event", "Phase"]


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


_POSTABLE = (Phase.NEW, Phase.LIVE, Phase.RESYNC)

TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    **{(p, Event.DELIVERED): Phase.LIVE for p in _POSTABLE},
    (Phase.NEW, Event.THROTTLED): Phase.NEW,
    (Phase.LIVE, Event.THROTTLED): Phase.LIVE,
    (Phase.RESYNC, Event.THROTTLED): Phase.RESYNC,
    **{(p, Event.FAILED): Phase.RESYNC for p in _POSTABLE},
    (Phase.NEW, Event.LOST): Phase.NEW,
    (Phase.LIVE, Event.LOST): Phase.RESYNC,
    (Phase.RESYNC, Event.LOST): Phase.RESYNC,
    **{(p, Event.GONE): Phase.GONE for p in (*_POSTABLE, Phase.LEAVING)},
    **{(p, Event.LEFT): Phase.LEAVING for p in (*_POSTABLE, Phase.LEAVING)},
    # the post in flight when it left (or an ended match's last message) completes
    **{
        (Phase.LEAVING, e): Phase.LEAVING
        for e in (Event.DELIVERED, Event.THROTTLED, Event.FAILED, Event.LOST)
    },
    (Phase.LEAVING, Event.FORGOTTEN): Phase.CLOSED,
    (Phase.GONE, Event.FORGOTTEN): Phase.GONE,
}


_DELIVERED = Event.DELIVERED


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

    def fire(self, event: Event) -> Phase:
        """Move to the phase :data:`TRANSITIONS` gives; raise if it gives none."""
        try:
            self.phase = TRANSITIONS[self.phase, event]
        except KeyError:
            raise ConnectionStateError(self.connection_id, self.phase, event) from None
        return self.phase

    def delivered(self, rows: BatchRows, row: int) -> None:
        """Its post succeeded: the client now holds row ``row`` of ``rows``."""
        self.fire(_DELIVERED)
        self.rows, self.row = rows, row
        self.attempts = 0

    def lost(self, event: Event = Event.LOST) -> None:
        """The baseline is unusable (``LOST``) or unknown (``FAILED``): resync."""
        self.fire(event)
        self.rows = None

    def baseline(self) -> Snapshot | None:
        """What the connection was last delivered, if known."""
        rows = self.rows
        return None if rows is None else rows.baseline(self.row)

    def base_tick(self) -> int:
        """The tick of the baseline (0: none), without making it a Snapshot."""
        rows = self.rows
        return 0 if rows is None else rows.tick_list[self.row]
