"""Match snapshots as msgpack: the state columns of one match, its members and progress.

Layout (a msgpack map, version 1)::

    {"v": 1, "rules": "arena/1", "match": id, "shard": shard id or nil,
     "through": last applied sequence number (decimal string) or nil, "empty": ticks,
     "members": [[player, connection, slot, last_seq, dropped, dropped_seq], ...],
     "wall": epoch ms of the tick the snapshot is of,
     "cols": {name: [dtype, [shape...], raw bytes]}}

``dropped``/``dropped_seq`` (the player's inputs refused unapplied, and the latest one's
seq) and ``wall`` were added within version 1: snapshots written without them decode with
0 (a successor then starts its fast-forward from the first replayed record's time).

Decoding checks everything and raises :class:`~game_engine.errors.SnapshotError`, never
anything else: a snapshot comes from storage and is treated as untrusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from game_engine.errors import SnapshotError

__all__ = ["MemberState", "Snapshot", "decode_snapshot", "encode_snapshot"]

VERSION = 1

# player, connection, slot, last applied seq, inputs refused unapplied, latest refused seq
MemberState = tuple[str, str, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Snapshot:
    match_id: str
    shard_id: str | None
    through: int
    empty_ticks: int
    members: tuple[MemberState, ...]
    columns: dict[str, npt.NDArray[Any]]
    # Epoch ms of the tick this state is of (0: unknown).
    wall_ms: int = 0


def encode_snapshot(
    *,
    rules: str,
    match_id: str,
    shard_id: str | None,
    through: int,
    empty_ticks: int,
    members: Sequence[MemberState],
    columns: Mapping[str, npt.NDArray[Any]],
    wall_ms: int = 0,
) -> bytes:
    doc = {
        "v": VERSION,
        "rules": rules,
        "match": match_id,
        "shard": shard_id,
        "through": str(through) if through >= 0 else None,
        "empty": empty_ticks,
        "members": [list(m) for m in members],
        "wall": wall_ms,
        "cols": {
            name: [arr.dtype.str, list(arr.shape), np.ascontiguousarray(arr).tobytes()]
            for name, arr in columns.items()
        },
    }
    data: bytes = msgpack.packb(doc, use_bin_type=True)
    return data


def decode_snapshot(data: bytes, *, rules: str) -> Snapshot:
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=True)
        if not isinstance(doc, dict) or doc.get("v") != VERSION:
            raise SnapshotError("version", "not a version-1 snapshot")
        if doc["rules"] != rules:
            raise SnapshotError("rules", f"snapshot of {doc['rules']!r}, engine runs {rules!r}")
        columns = {}
        for name, (dtype, shape, raw) in doc["cols"].items():
            arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
            columns[str(name)] = arr
        members = tuple(_member(m) for m in doc["members"])
        through = int(doc["through"]) if doc["through"] is not None else -1
        return Snapshot(
            match_id=str(doc["match"]),
            shard_id=doc["shard"],
            through=through,
            empty_ticks=int(doc["empty"]),
            members=members,
            columns=columns,
            wall_ms=int(doc.get("wall") or 0),
        )
    except SnapshotError:
        raise
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise SnapshotError("corrupt", str(exc)) from exc


def _member(entry: Any) -> MemberState:
    # Four fields before the refused-input counts were kept (still version 1).
    player, conn, slot, last_seq, *rest = entry
    dropped, dropped_seq = (int(rest[0]), int(rest[1])) if len(rest) == 2 else (0, 0)
    if rest and len(rest) != 2:
        raise SnapshotError("corrupt", f"member entry of {len(entry)} fields")
    return (str(player), str(conn), int(slot), int(last_seq), dropped, dropped_seq)
