"""The rules interface: what a game developer writes.

Theory of operation. All matches of a worker live in ONE :class:`World`: a structure of
arrays whose first axis is the match index (row ``m`` is one match). The rules declare
the columns (:meth:`Rules.schema`); the engine allocates them, grows them, copies rows in
and out for snapshots and hashes them. The hooks are Colyseus's room / Nakama's match
handler, vectorised:

* :meth:`Rules.create_match` fills row ``m`` of a new match (seeded from its id);
* :meth:`Rules.admit` admits a joining player into a player slot, or raises
  :class:`~game_engine.errors.JoinRefused`; :meth:`Rules.remove` frees the slot;
* :meth:`Rules.validate` turns a client payload into a command or raises
  :class:`~game_engine.errors.InputRejected` (never anything else), and
  :meth:`Rules.apply` applies one validated command to one player;
* :meth:`Rules.step` advances EVERY row by one tick at once with NumPy; rows that are not
  in use are all zeros and must step to all zeros;
* :meth:`Rules.ended` says which matches the rules have ended; :meth:`Rules.views` says
  what the players of each match may see (entity columns, each player's entity and view
  centre); :meth:`Rules.result` is the match result that gets logged.

Rules never do I/O. The per-match tick number (``world.tick``) is the only clock and the
per-match ``world.seed`` the only source of randomness, so a match is a pure function of
its inputs: the engine hashes the arrays every tick to prove it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["RESERVED_COLUMNS", "Column", "MatchView", "Rules", "World"]

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Column:
    """One state column: ``shape`` is the per-match shape (``()`` for a scalar per match)."""

    dtype: str
    shape: tuple[int, ...] = ()


# Columns every world has, owned by the engine: the match's tick (the only clock) and its
# seed (the only randomness).
RESERVED_COLUMNS: Mapping[str, Column] = {
    "tick": Column("int64"),
    "seed": Column("uint64"),
}


class World:
    """All matches of one worker as named arrays whose first axis is the match index."""

    def __init__(self, schema: Mapping[str, Column], capacity: int) -> None:
        self.schema: dict[str, Column] = {**RESERVED_COLUMNS, **schema}
        self.capacity = 0
        self.cols: dict[str, npt.NDArray[Any]] = {
            name: np.zeros((0, *col.shape), dtype=col.dtype) for name, col in self.schema.items()
        }
        self.grow(capacity)

    @property
    def tick(self) -> npt.NDArray[np.int64]:
        return self.cols["tick"]

    @property
    def seed(self) -> npt.NDArray[np.uint64]:
        return self.cols["seed"]

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.cols[name]

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` matches; new rows are zeros (not in use)."""
        if capacity <= self.capacity:
            return
        for name, col in self.schema.items():
            old = self.cols[name]
            new = np.zeros((capacity, *col.shape), dtype=col.dtype)
            new[: old.shape[0]] = old
            self.cols[name] = new
        self.capacity = capacity

    def clear(self, m: int) -> None:
        """Zero row ``m`` (the match left this world)."""
        for arr in self.cols.values():
            arr[m] = 0

    def row(self, m: int) -> dict[str, npt.NDArray[Any]]:
        """A copy of row ``m`` (one match), e.g. for a snapshot."""
        return {name: arr[m].copy() for name, arr in self.cols.items()}

    def load_row(self, m: int, values: Mapping[str, npt.NDArray[Any]]) -> None:
        """Write one match's columns into row ``m``; the columns must match the schema."""
        from game_engine.errors import SnapshotError

        if set(values) != set(self.schema):
            raise SnapshotError("schema", f"columns {sorted(values)} != {sorted(self.schema)}")
        for name, value in values.items():
            col = self.schema[name]
            if value.shape != col.shape or value.dtype != np.dtype(col.dtype):
                raise SnapshotError("schema", f"column {name}: {value.dtype}{value.shape}")
            self.cols[name][m] = value

    def view_rows(self, start: int, stop: int) -> World:
        """A world whose arrays are views of rows ``start:stop`` (stepping it steps them)."""
        sub = object.__new__(World)
        sub.schema = self.schema
        sub.capacity = stop - start
        sub.cols = {name: arr[start:stop] for name, arr in self.cols.items()}
        return sub

    def row_hash(self, m: int) -> bytes:
        """blake2b of row ``m``'s bytes, column by column in schema order."""
        h = hashlib.blake2b(digest_size=16)
        for name in self.schema:
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.cols[name][m]).tobytes())
        return h.digest()


@dataclass(frozen=True, slots=True)
class MatchView:
    """What the players of one match may see, as the rules lay it out.

    Entity columns (one row per visible-in-principle entity) become a
    :class:`~game_engine.frame.MatchFrame`; ``slot_entity``/``slot_x``/``slot_y`` are
    indexed by player slot: the slot's entity id (-1: none) and its view centre.
    """

    ids: npt.NDArray[np.uint32]
    kind: npt.NDArray[np.uint8]
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.float32]
    fields: Mapping[str, npt.NDArray[np.integer[Any]]]
    slot_entity: npt.NDArray[np.int64]
    slot_x: npt.NDArray[np.float32]
    slot_y: npt.NDArray[np.float32]
    view_radius: float
    meta: Mapping[str, Any] = field(default_factory=dict)


class Rules(Protocol, Generic[C]):
    """The hooks of a game. ``C`` is the rules' validated command type."""

    #: Stable name, stored in snapshots (a snapshot of other rules is refused).
    name: str
    #: Player slots per match.
    max_players: int

    def schema(self) -> Mapping[str, Column]:
        """The state columns (per-match shapes); ``tick`` and ``seed`` are added by the engine."""
        ...

    def create_match(self, world: World, m: int) -> None:
        """Initialise row ``m`` of a new match (``world.seed[m]`` is already set)."""
        ...

    def admit(self, world: World, m: int) -> int:
        """Give a joining player a slot in match ``m``, or raise ``JoinRefused``."""
        ...

    def remove(self, world: World, m: int, slot: int) -> None:
        """Free a player's slot (it left, or its connection is gone)."""
        ...

    def validate(self, payload: Mapping[str, Any]) -> C:
        """Check a client's payload; return a command or raise ``InputRejected(reason)``."""
        ...

    def apply(self, world: World, m: int, slot: int, command: C) -> None:
        """Apply one validated command of the player in ``slot`` of match ``m``."""
        ...

    def step(self, world: World) -> None:
        """Advance every row of ``world`` by one tick, in place, vectorised."""
        ...

    def ended(self, world: World) -> npt.NDArray[np.bool_]:
        """Per row: has the rules' end condition been met?"""
        ...

    def views(self, world: World, rows: Sequence[int]) -> list[MatchView]:
        """What the players of each listed match may see, in order (copies, never views
        of ``world``'s arrays): built for all rows at once on every send tick."""
        ...

    def result(self, world: World, m: int) -> dict[str, Any]:
        """The result of match ``m`` (JSON-serialisable), logged when it ends."""
        ...
