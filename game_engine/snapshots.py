"""The snapshot store interface: one msgpack snapshot per match, fenced by the lease.

A snapshot is written only while its writer still owns the lease of the match's shard:
the write is conditional on the lease table's item (DynamoDB: one transaction with a
condition check on the lease), so a worker that has lost its lease cannot overwrite the
state its successor restored.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from game_engine.leases import Lease

__all__ = ["MAX_SNAPSHOT_BYTES", "SnapshotStore"]

# DynamoDB's item size limit is 400 KB (attribute names and values together); keep a
# margin for the key and attribute names.
MAX_SNAPSHOT_BYTES = 390 * 1024


@runtime_checkable
class SnapshotStore(Protocol):
    async def put(self, match_id: str, data: bytes, lease: Lease) -> None:
        """Store a match's snapshot; raises ``LeaseLost`` unless ``lease.owner`` still owns
        ``lease.shard_id``, ``SnapshotError`` if it is over :data:`MAX_SNAPSHOT_BYTES`."""
        ...

    async def get(self, match_id: str) -> bytes | None: ...

    async def delete(self, match_id: str, lease: Lease) -> None:
        """Remove an ended match's snapshot (same fencing as ``put``)."""
        ...

    async def close(self) -> None: ...
