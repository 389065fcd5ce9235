"""Embedded lease table and snapshot store: in-process stand-ins for the DynamoDB tables.

Same semantics as :mod:`infra.aws.dynamodb` (one contract test suite runs against both):
every lease write is a compare-and-set on ``(owner, counter)``; snapshot writes are fenced
by the lease's owner. Each operation runs without awaiting in the middle, so it is atomic
on the event loop, as a conditional write is atomic in DynamoDB.
"""

from __future__ import annotations

from collections.abc import Sequence

from game_engine.errors import LeaseLost, SnapshotError
from game_engine.leases import Lease, check_checkpoint_forward
from game_engine.snapshots import MAX_SNAPSHOT_BYTES

__all__ = ["EmbeddedLeaseTable", "EmbeddedSnapshotStore", "EmbeddedTables"]


class EmbeddedLeaseTable:
    def __init__(self, name: str = "tickwire-leases") -> None:
        self.name = name
        self._items: dict[str, Lease] = {}

    async def create(self, shard_id: str, parents: Sequence[str] = ()) -> bool:
        if shard_id in self._items:
            return False
        self._items[shard_id] = Lease(shard_id, None, 0, None, tuple(parents))
        return True

    async def get(self, shard_id: str) -> Lease | None:
        return self._items.get(shard_id)

    async def list_leases(self) -> list[Lease]:
        return [self._items[k] for k in sorted(self._items)]

    def _check(self, lease: Lease, *, owner: bool = True) -> Lease:
        current = self._items.get(lease.shard_id)
        if (
            current is None
            or current.counter != lease.counter
            or (owner and current.owner != lease.owner)
        ):
            raise LeaseLost(f"lease {lease.shard_id}: expected counter {lease.counter}")
        return current

    def owns(self, shard_id: str, owner: str | None) -> bool:
        current = self._items.get(shard_id)
        return current is not None and owner is not None and current.owner == owner

    async def take(self, lease: Lease, owner: str) -> Lease:
        current = self._check(lease, owner=False)
        new = current.bumped(owner=owner)
        self._items[lease.shard_id] = new
        return new

    async def renew(self, lease: Lease) -> Lease:
        new = self._check(lease).bumped()
        self._items[lease.shard_id] = new
        return new

    async def release(self, lease: Lease) -> None:
        self._items[lease.shard_id] = self._check(lease).bumped(owner=None)

    async def checkpoint(self, lease: Lease, sequence: str, matches: Sequence[str]) -> Lease:
        current = self._check(lease)
        check_checkpoint_forward(current, sequence)
        new = current.bumped(checkpoint=sequence, matches=tuple(matches))
        self._items[lease.shard_id] = new
        return new

    async def close(self) -> None:
        return None


class EmbeddedSnapshotStore:
    def __init__(self, leases: EmbeddedLeaseTable, name: str = "tickwire-snapshots") -> None:
        self.name = name
        self._leases = leases
        self._items: dict[str, bytes] = {}

    def _fence(self, lease: Lease) -> None:
        if not self._leases.owns(lease.shard_id, lease.owner):
            raise LeaseLost(f"{lease.owner} does not own {lease.shard_id}")

    async def put(self, match_id: str, data: bytes, lease: Lease) -> None:
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise SnapshotError("too_large", f"{len(data)} bytes")
        self._fence(lease)
        self._items[match_id] = bytes(data)

    async def get(self, match_id: str) -> bytes | None:
        return self._items.get(match_id)

    async def delete(self, match_id: str, lease: Lease) -> None:
        self._fence(lease)
        self._items.pop(match_id, None)

    async def close(self) -> None:
        return None


class EmbeddedTables:
    """The embedded lease table and snapshot store, shared by the workers of one process."""

    def __init__(
        self, lease_table: str = "tickwire-leases", snapshot_table: str = "tickwire-snapshots"
    ) -> None:
        self.leases = EmbeddedLeaseTable(lease_table)
        self.snapshots = EmbeddedSnapshotStore(self.leases, snapshot_table)
