"""Every match of a send tick as one table: the views of all players at once.

A send tick carries about a hundred frames of a dozen to a few dozen entities each; NumPy
work done match by match costs its per-call overhead (about a microsecond) a hundred
times over. :func:`tick_views` does what :class:`broadcaster.views.MatchTable` and
:meth:`MatchTable.view` do, for the frames of one send tick together:

- all entities in one table sorted by (match, id), positions quantised once, one int64
  column per name (``x``, ``y``, ``kind``, then the frame's fields);
- the interest test of every listed player against every entity of its own match as one
  vector of (player, entity) pairs, in float32 exactly as :meth:`MatchFrame.visible`;
- the visible rows of all players concatenated, grouped by player in the order given,
  ids ascending within a player: what :func:`broadcaster.batch.diff_rows` takes.

Frames can be batched together only when they have the same columns (:func:`signature`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from broadcaster.views import quantise
from game_engine.frame import MatchFrame, PlayerSlot

__all__ = ["SlotColumns", "TickViews", "signature", "slot_columns", "tick_views"]

_RESERVED = ("id", "kind", "x", "y")


def signature(frame: MatchFrame) -> tuple[Any, ...]:
    """The column layout of ``frame``; frames with equal signatures batch together.
    Raises ValueError for a field name the protocol reserves (as MatchTable does)."""
    fields = frame.fields
    for name in fields:
        if name in _RESERVED:
            raise ValueError(f"field name {name!r} is reserved by the protocol")
    return (frame.kind.dtype, *((name, col.dtype) for name, col in fields.items()))


_FIELD = {name: operator.itemgetter(k) for k, name in enumerate(PlayerSlot._fields)}


class SlotColumns(NamedTuple):
    """The fields of a send tick's players that its views and headers read, as columns;
    the rare ones (spectator, dropped inputs) only when some player has them."""

    entity_id: list[int]
    ack_seq: list[int]
    view_x: list[float]
    view_y: list[float]
    spectator: list[bool] | None
    dropped: list[int] | None
    dropped_seq: list[int] | None


def slot_columns(slots: Sequence[PlayerSlot]) -> SlotColumns:
    """Each field a C-level pass over the players (map with an itemgetter), where an
    attribute read per player is a Python loop per field; and no object per player made
    (zip(*slots) would make an iterator each, and so collections with default gc)."""

    def column(name: str) -> list[Any]:
        return list(map(_FIELD[name], slots))

    spectator = column("spectator") if any(map(_FIELD["spectator"], slots)) else None
    dropped = any(map(_FIELD["dropped"], slots))
    return SlotColumns(
        column("entity_id"),
        column("ack_seq"),
        column("view_x"),
        column("view_y"),
        spectator,
        column("dropped") if dropped else None,
        column("dropped_seq") if dropped else None,
    )


class TickViews(NamedTuple):
    """The arguments :func:`broadcaster.batch.diff_rows` takes, for the listed players."""

    owner: npt.NDArray[np.intp]  # row -> index of its player in the list
    counts: npt.NDArray[np.intp]  # rows per player
    ids: npt.NDArray[np.uint32]
    values: npt.NDArray[np.int64]  # rows x names
    ticks: npt.NDArray[np.int64]  # per player, its frame's tick
    names: tuple[str, ...]
    dtypes: tuple[np.dtype[Any], ...]


class _Entities(NamedTuple):
    """Every entity of the frames, sorted by (frame, id); positions in world units (as
    the interest test takes them) and every column as int64 (as the wire takes them)."""

    ids: npt.NDArray[np.uint32]
    x: npt.NDArray[np.floating[Any]]
    y: npt.NDArray[np.floating[Any]]
    values: npt.NDArray[np.int64]  # rows x names: quantised x, y, then kind and fields
    names: tuple[str, ...]
    dtypes: tuple[np.dtype[Any], ...]
    sizes: list[int]  # entities per frame


def _entities(frames: Sequence[MatchFrame], scale: int) -> _Entities:
    first = frames[0]
    field_names = tuple(first.fields)
    names = ("x", "y", "kind", *field_names)
    sizes = [f.ids.shape[0] for f in frames]
    if len(frames) == 1:
        raw_ids = first.ids
        x, y, kind = first.x, first.y, first.kind
        cols = [first.fields[n] for n in field_names]
    else:
        raw_ids = np.concatenate([f.ids for f in frames])
        x = np.concatenate([f.x for f in frames])
        y = np.concatenate([f.y for f in frames])
        kind = np.concatenate([f.kind for f in frames])
        cols = [np.concatenate([f.fields[n] for f in frames]) for n in field_names]
    match_of = np.repeat(np.arange(len(frames), dtype=np.int64), sizes)
    order = np.argsort((match_of << 32) | raw_ids.astype(np.int64))
    ids = raw_ids[order].astype(np.uint32)
    x, y = x[order], y[order]
    values = np.empty((ids.shape[0], len(names)), np.int64)
    values[:, 0] = quantise(x, scale)
    values[:, 1] = quantise(y, scale)
    values[:, 2] = kind[order]
    for k, col in enumerate(cols):
        values[:, 3 + k] = col[order]
    pos_dt: np.dtype[Any] = np.dtype(np.int32)
    if values.shape[0] and int(np.abs(values[:, :2]).max()) >= 2**31:
        pos_dt = np.dtype(np.int64)
    dtypes: tuple[np.dtype[Any], ...] = (
        pos_dt,
        pos_dt,
        first.kind.dtype,
        *(first.fields[n].dtype for n in field_names),
    )
    return _Entities(ids, x, y, values, names, dtypes, sizes)


def _interest(
    frames: Sequence[MatchFrame],
    pf: npt.NDArray[np.intp],
    cols: SlotColumns,
    e: _Entities,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every (player, entity of its match) pair the player may see, in float32 exactly as
    :meth:`MatchFrame.visible`: the pairs' players and entity rows, grouped by player."""
    count = len(cols.view_x)
    vx = np.array(cols.view_x, np.float32)
    vy = np.array(cols.view_y, np.float32)
    own = np.array(cols.entity_id, np.int64)
    radius = np.array([f.view_radius for f in frames], np.float32)
    starts = np.zeros(len(frames), np.intp)
    np.cumsum(e.sizes[:-1], out=starts[1:])
    per_player = np.asarray(e.sizes, np.intp)[pf]
    pair_start = np.zeros(count, np.intp)
    np.cumsum(per_player[:-1], out=pair_start[1:])
    pair_player = np.repeat(np.arange(count, dtype=np.intp), per_player)
    pair_entity = np.arange(pair_player.shape[0], dtype=np.intp) - np.repeat(
        pair_start - starts[pf], per_player
    )
    # per-player values spread over its pairs with repeat (faster than gathering them)
    dx = e.x[pair_entity] - np.repeat(vx, per_player)
    dy = e.y[pair_entity] - np.repeat(vy, per_player)
    r = radius[pf]
    seen = (dx * dx + dy * dy) <= np.repeat(r * r, per_player)
    seen |= e.ids[pair_entity] == np.repeat(own, per_player)
    if cols.spectator is not None:
        spectators = np.flatnonzero(np.array(cols.spectator, np.bool_))
        seen |= np.isin(pair_player, spectators)
    chosen = np.flatnonzero(seen)
    return pair_player[chosen], pair_entity[chosen]


def tick_views(
    frames: Sequence[MatchFrame],
    frame_of: Sequence[int],
    slots: Sequence[PlayerSlot],
    scale: int,
    columns: SlotColumns | None = None,
) -> TickViews:
    """The views of the players ``slots`` (player ``k`` in ``frames[frame_of[k]]``); the
    frames must share one :func:`signature`. ``columns``: :func:`slot_columns` of
    ``slots``, if the caller has it."""
    e = _entities(frames, scale)
    pf = np.asarray(frame_of, np.intp)
    cols = slot_columns(slots) if columns is None else columns
    owner, rows = _interest(frames, pf, cols, e)
    counts = np.bincount(owner, minlength=len(slots))
    ticks = np.array([f.tick for f in frames], np.int64)[pf]
    views = np.take(e.values, rows, axis=0)  # several times faster than values[rows]
    return TickViews(owner, counts, e.ids[rows], views, ticks, e.names, e.dtypes)
