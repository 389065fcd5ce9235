"""The client side of the state protocol: a world that applies messages in order.

:class:`WorldView` is what a Python client, a bot or a test keeps per connection. Feed it
every binary message in arrival order (the WebSocket is ordered and reliable, and the
broadcaster never sends a delta against anything but the last message it delivered):

- a full state replaces everything; a delta applies removals, then moves every kept
  entity by its predicted displacement, then changes (whose masks index the ids in
  ascending order after the removals; the ``xy`` change corrects the predictions), then
  adds;
- the parts of a split update are buffered and applied together once the last one is in,
  so the world is only ever seen at whole ticks; a part that does not continue the parts
  in the buffer drops the buffer (its tick was abandoned and a later message replaces it);
- a delta whose ``base_tick`` is not the world's tick raises ``ProtocolError`` (the client
  and server disagree; the world is left unchanged).

Positions are kept quantised (int64) and given in world units by :attr:`x`, :attr:`y`
and :meth:`entities`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from broadcaster.codec import Header, Message, Update, decode_body, decode_message
from broadcaster.delta import predict
from broadcaster.errors import ProtocolError

__all__ = ["WorldView"]

_POSITION_COLUMNS = ("x", "y")
_XY = "xy"  # the change of positions: corrections, x and y interleaved


class WorldView:
    """Entities a player can see, rebuilt from state messages."""

    def __init__(self) -> None:
        self.tick: int = -1  # -1: no full state applied yet
        self.ack_seq: int = 0
        # The player's inputs the server refused unapplied, and the latest one's seq.
        self.dropped: int = 0
        self.dropped_seq: int = 0
        # The server closed this connection for a newer one of the same player.
        self.replaced: bool = False
        self.self_id: int = -1
        self.scale: int = 1
        self.ended: bool = False
        self.meta: dict[str, Any] = {}
        self.messages: int = 0
        self.ids: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
        self.columns: dict[str, npt.NDArray[np.int64]] = {}
        # Motion prediction (docs/protocol.md): each row's last displacement, and the tick
        # gap it was measured over.
        self._vel: npt.NDArray[np.int64] = np.zeros((0, 2), np.int64)
        self._gap = 1
        self._parts: list[bytes] = []
        self._parts_header: Header | None = None
        self._cache: dict[int, dict[str, Any]] | None = None

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def x(self) -> npt.NDArray[np.float64]:
        return self.columns.get("x", np.zeros(len(self), np.int64)) / self.scale

    @property
    def y(self) -> npt.NDArray[np.float64]:
        return self.columns.get("y", np.zeros(len(self), np.int64)) / self.scale

    def entities(self) -> dict[int, dict[str, Any]]:
        """``{id: {"kind": .., "x": float, "y": float, <field>: int, ..}}`` (cached)."""
        if self._cache is None:
            names = list(self.columns)
            cols = [
                (self.columns[n] / self.scale).tolist()
                if n in _POSITION_COLUMNS
                else self.columns[n].tolist()
                for n in names
            ]
            self._cache = (
                {
                    int(eid): dict(zip(names, row, strict=True))
                    for eid, row in zip(self.ids.tolist(), zip(*cols, strict=True), strict=True)
                }
                if names
                else {int(eid): {} for eid in self.ids.tolist()}
            )
        return self._cache

    def own(self) -> dict[str, Any] | None:
        """The player's own entity, if it has one in view."""
        return self.entities().get(self.self_id) if self.self_id >= 0 else None

    # -- applying ------------------------------------------------------------------------
    def apply(self, data: bytes | Message) -> bool:
        """Apply one message or part; True when the world changed to a new tick."""
        msg = decode_message(data) if isinstance(data, bytes | bytearray | memoryview) else data
        header = msg.header
        if header.replaced:
            self.replaced = True  # carries no state; the connection is closing
            return False
        if header.part_count > 1:
            assert msg.chunk is not None
            update = self._collect(header, msg.chunk)
            if update is None:
                return False
        else:
            assert msg.update is not None
            update = msg.update
        self._apply_update(header, update)
        return True

    def _collect(self, header: Header, chunk: bytes) -> Update | None:
        if header.part_index == 0:
            self._parts, self._parts_header = [], header
        first = self._parts_header
        if (
            first is None
            or first.tick != header.tick
            or first.part_count != header.part_count
            or header.part_index != len(self._parts)
        ):
            # A part that does not continue the buffer: the tick it belonged to was
            # abandoned by the sender (a failed post); drop what we have.
            self._parts, self._parts_header = [], None
            return None
        self._parts.append(chunk)
        if len(self._parts) < header.part_count:
            return None
        body = b"".join(self._parts)
        self._parts, self._parts_header = [], None
        return decode_body(body)

    def _apply_update(self, header: Header, update: Update) -> None:
        if header.full:
            ids: npt.NDArray[np.uint32] = np.zeros(0, np.uint32)
            cols: dict[str, npt.NDArray[np.int64]] = {}
            vel = np.zeros((0, 2), np.int64)
            gap = 1
        else:
            if self.tick < 0:
                raise ProtocolError("delta before any full state")
            if header.base_tick != self.tick:
                raise ProtocolError(
                    f"delta against tick {header.base_tick}, world is at tick {self.tick}"
                )
            ids, cols, vel = self.ids, dict(self.columns), self._vel
            gap = max(header.tick - header.base_tick, 0)
        if update.removed is not None and update.removed.shape[0]:
            keep = ~np.isin(ids, update.removed)
            ids, vel = ids[keep], vel[keep]
            cols = {n: c[keep] for n, c in cols.items()}
        n = ids.shape[0]
        # Every kept entity moves by its predicted displacement; the xy change corrects it.
        moved = np.zeros((n, 2), np.int64) if header.full else predict(vel, gap, self._gap)
        for name, ch in update.changes.items():
            width = 2 if name == _XY else 1
            if name == _XY:
                if "x" not in cols or "y" not in cols:
                    raise ProtocolError("changes.xy: the world has no positions")
            elif name not in cols or name in _POSITION_COLUMNS:
                raise ProtocolError(f"changes.{name}: no such column")
            if ch.mask is None:
                rows: Any = slice(None)
                count = n
            else:
                if ch.mask.shape[0] < n or ch.mask[n:].any():
                    raise ProtocolError(f"changes.{name}: mask does not fit {n} rows")
                rows = ch.mask[:n]
                count = int(np.count_nonzero(rows))
            if ch.values.shape[0] != count * width:
                raise ProtocolError(f"changes.{name}: {ch.values.shape[0]} values for {count} rows")
            if name == _XY:
                moved[rows] += ch.values.astype(np.int64).reshape(-1, 2)
            else:
                col = cols[name].copy()
                col[rows] = ch.values
                cols[name] = col
        if n and "x" in cols and "y" in cols:
            cols["x"] = cols["x"] + moved[:, 0]
            cols["y"] = cols["y"] + moved[:, 1]
        vel = moved
        if update.adds is not None and len(update.adds):
            add_ids = update.adds.ids
            if np.isin(add_ids, ids).any() or np.unique(add_ids).shape[0] != add_ids.shape[0]:
                raise ProtocolError("adds: an id the world already has")
            names = set(cols) | set(update.adds.columns)
            m = add_ids.shape[0]
            merged = {
                name: np.concatenate(
                    [
                        cols.get(name, np.zeros(n, np.int64)),
                        update.adds.columns[name].astype(np.int64)
                        if name in update.adds.columns
                        else np.zeros(m, np.int64),
                    ]
                )
                for name in names
            }
            all_ids = np.concatenate([ids, add_ids.astype(np.uint32)])
            order = np.argsort(all_ids, kind="stable")
            ids = all_ids[order]
            cols = {name: c[order] for name, c in merged.items()}
            vel = np.concatenate([vel, np.zeros((m, 2), np.int64)])[order]
        self.ids, self.columns, self._vel, self._gap = ids, cols, vel, max(gap, 1)
        self.tick, self.ack_seq, self.self_id = header.tick, header.ack_seq, header.self_id
        self.dropped, self.dropped_seq = header.dropped, header.dropped_seq
        self.scale = header.scale or 1
        self.ended = header.ended
        if header.full:
            self.meta = dict(update.meta or {})
        self.messages += 1
        self._cache = None
