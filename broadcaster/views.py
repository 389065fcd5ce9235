"""What each player sees, one match at a time: the per-player reference model.

:class:`MatchTable` is one match as a sorted, quantised table (ids sorted once, positions
quantised once, all integer columns stacked into one int64 matrix) and :meth:`MatchTable.view`
one player's :class:`Snapshot` of it: the rows :meth:`MatchFrame.visible` allows (the
interest radius, and the player's own entity always). Together with
:func:`broadcaster.delta.diff` it is the specification of a player's message, written
player by player for clarity: the broadcaster itself computes every player of a send tick
at once (:mod:`broadcaster.tick`, :mod:`broadcaster.batch`), and the tests check that it
gives exactly these views, bytes and baselines. A :class:`Snapshot` is also the form a
connection's baseline takes when a batch gathers it (the values that connection was last
sent).

Quantisation: positions travel as ``round(world_units * scale)`` integers; ``scale`` is
quanta per world unit (``BroadcastSettings.position_scale``, default 4, so 1/4 of a
world unit), and every message header carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from game_engine.frame import MatchFrame, PlayerSlot

__all__ = ["POSITION_COLUMNS", "POSITION_INDEX", "MatchTable", "Snapshot", "quantise"]

# Columns sent as quantised positions (deltas are corrections to the predicted motion);
# all others are absolute. Their indexes in Snapshot.values:
POSITION_COLUMNS = ("x", "y")
POSITION_INDEX = (0, 1)  # positions first: the other columns are the slice [2:]
_RESERVED = ("id", "kind", "x", "y")


def quantise(values: npt.NDArray[np.floating[Any]], scale: int) -> npt.NDArray[np.int64]:
    return np.rint(values.astype(np.float64) * scale).astype(np.int64)


class Snapshot(NamedTuple):
    """Some rows of a match at one tick: ids ascending, one int64 column per name.

    As a connection's baseline it also holds what the client predicts motion from: each
    row's last quantised displacement (``vel``, rows x 2; None: all zero) and the tick gap
    it was measured over (``gap``), see docs/protocol.md "Motion prediction".
    A named tuple: one is made per player per send tick, and a tuple is made fastest.
    """

    tick: int
    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]  # shape (rows, len(names))
    vel: npt.NDArray[np.int64] | None = None
    gap: int = 1

    @property
    def size(self) -> int:
        # Not __len__: an empty snapshot must still be truthy as a baseline.
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class MatchTable:
    """One frame, prepared once for all its players."""

    frame: MatchFrame
    order: npt.NDArray[np.intp]  # frame rows in ascending id order
    snapshot: Snapshot  # every entity of the match
    names: tuple[str, ...]  # column names of ``snapshot.values``
    dtypes: tuple[np.dtype[Any], ...]  # wire dtype of each column in adds
    scale: int
    # visible[i, j]: frame.players[i] may see sorted row j (MatchFrame.visible, for all
    # players at once: one P x N computation per match instead of P small ones).
    visible: npt.NDArray[np.bool_]

    @classmethod
    def from_frame(cls, frame: MatchFrame, scale: int) -> MatchTable:
        for name in frame.fields:
            if name in _RESERVED:
                raise ValueError(f"field name {name!r} is reserved by the protocol")
        order = np.argsort(frame.ids, kind="stable")
        qx = quantise(frame.x[order], scale)
        qy = quantise(frame.y[order], scale)
        names = ("x", "y", "kind", *frame.fields)
        pos_dt: np.dtype[Any] = np.dtype(np.int32)
        if (
            qx.size
            and max(abs(int(qx.min())), abs(int(qx.max())), abs(int(qy.min())), abs(int(qy.max())))
            >= 2**31
        ):
            pos_dt = np.dtype(np.int64)
        dtypes: tuple[np.dtype[Any], ...] = (
            pos_dt,
            pos_dt,
            frame.kind.dtype,
            *(c.dtype for c in frame.fields.values()),
        )
        cols: list[npt.NDArray[Any]] = [
            qx,
            qy,
            frame.kind[order],
            *(c[order] for c in frame.fields.values()),
        ]
        values = np.empty((order.shape[0], len(names)), np.int64)
        for k, col in enumerate(cols):
            values[:, k] = col
        ids = frame.ids[order].astype(np.uint32)
        snap = Snapshot(frame.tick, ids, values)
        return cls(frame, order, snap, names, dtypes, scale, _visibility(frame, order, ids))

    def view(self, player: PlayerSlot, index: int | None = None) -> Snapshot:
        """The rows ``player`` may see (``MatchFrame.visible``), ids ascending.
        ``index``: the player's position in ``frame.players``, if known."""
        if index is None:
            mask = self.frame.visible(player)[self.order]
        else:
            mask = self.visible[index]
        snap = self.snapshot
        if mask.all():
            return snap
        rows = np.flatnonzero(mask)
        return Snapshot(snap.tick, snap.ids[rows], snap.values[rows])


def _visibility(
    frame: MatchFrame, order: npt.NDArray[np.intp], ids: npt.NDArray[np.uint32]
) -> npt.NDArray[np.bool_]:
    """``MatchFrame.visible`` for every player at once, in float32 as it computes it."""
    players = frame.players
    if not players:
        return np.zeros((0, ids.shape[0]), np.bool_)
    x, y = frame.x[order], frame.y[order]
    vx = np.array([p.view_x for p in players], np.float32)[:, None]
    vy = np.array([p.view_y for p in players], np.float32)[:, None]
    dx, dy = x[None, :] - vx, y[None, :] - vy
    vis: npt.NDArray[np.bool_] = (dx * dx + dy * dy) <= np.float32(frame.view_radius) ** 2
    own = np.array([p.entity_id for p in players], np.int64)
    has = own >= 0
    if has.any():
        vis[has] |= ids[None, :].astype(np.int64) == own[has][:, None]
    return vis
