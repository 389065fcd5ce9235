"""Match snapshots as msgpack: the state columns of one match, its members and progress.

Layout (a msgpack map, version 1)::

    {"v": 1, "rules": "arena/1", "match": id, "shard": shard id or nil,
     "through": last applied sequence number (decimal string) or nil, "empty": ticks,
     "members": [[player, connection, slot, last_seq], ...],
     "cols": {name: [dtype, [shape...], raw bytes]}}

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

__all__ = ["Snapshot", "decode_snapshot", "encode_snapshot"]

VERSION = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    match_id: str
    shard_id: str | None
    through: int
    empty_ticks: int
    members: tuple[tuple[str, str, int, int], ...]
    columns: dict[str, npt.NDArray[Any]]


def encode_snapshot(
    *,
    rules: str,
    match_id: str,
    shard_id: str | None,
    through: int,
    empty_ticks: int,
    members: Sequence[tuple[str, str, int, int]],
    columns: Mapping[str, npt.NDArray[Any]],
) -> bytes:
    doc = {
        "v": VERSION,
        "rules": rules,
        "match": match_id,
        "shard": shard_id,
        "through": str(through) if through >= 0 else None,
        "empty": empty_ticks,
        "members": [list(m) for m in members],
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
        members = tuple((str(p), str(c), int(s), int(q)) for p, c, s, q in doc["members"])
        through = int(doc["through"]) if doc["through"] is not None else -1
        return Snapshot(
            match_id=str(doc["match"]),
            shard_id=doc["shard"],
            through=through,
            empty_ticks=int(doc["empty"]),
            members=members,
            columns=columns,
        )
    except SnapshotError:
        raise
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
        raise SnapshotError("corrupt", str(exc)) from exc
