"""Shard leases and checkpoints: the table interface and what a lease is.

As in the Kinesis Client Library, one item per shard holds who owns it (``owner``), a
counter every write bumps (``counter``), and the checkpoint: the sequence number up to
which the shard's records are covered by the snapshots listed in ``matches``. Every write
is conditional on the counter (and owner) the writer last saw, so two workers can never
both believe they hold a shard, and a worker that has lost its lease cannot write a
checkpoint (nor, through :mod:`game_engine.snapshots`, a snapshot).

Expiry uses no clocks in the table: a worker that sees a lease's counter unchanged for the
lease duration (by its own monotonic clock) treats it as expired and may take it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from game_engine.errors import CheckpointError

__all__ = ["SHARD_END", "Lease", "LeaseTable", "check_checkpoint_forward"]

# The checkpoint of a shard that has been read to its end (after a split or merge): its
# children may start. Orders after every sequence number.
SHARD_END = "SHARD_END"


@dataclass(frozen=True, slots=True)
class Lease:
    shard_id: str
    owner: str | None
    counter: int
    # None: nothing consumed yet (start at TRIM_HORIZON); a sequence number; or SHARD_END.
    checkpoint: str | None = None
    parents: tuple[str, ...] = ()
    # The matches whose snapshots the checkpoint covers.
    matches: tuple[str, ...] = ()

    def bumped(self, **changes: object) -> Lease:
        return replace(self, counter=self.counter + 1, **changes)  # type: ignore[arg-type]


def _order(checkpoint: str | None) -> float | int:
    if checkpoint is None:
        return -1
    if checkpoint == SHARD_END:
        return float("inf")
    return int(checkpoint)


def check_checkpoint_forward(lease: Lease, sequence: str) -> None:
    """Raise :class:`CheckpointError` if ``sequence`` is behind the lease's checkpoint."""
    if sequence != SHARD_END and not sequence.isdigit():
        raise CheckpointError("invalid", f"{sequence!r} is not a sequence number")
    if _order(sequence) < _order(lease.checkpoint):
        raise CheckpointError("behind", f"{sequence} is behind {lease.checkpoint}")


@runtime_checkable
class LeaseTable(Protocol):
    """Leases and checkpoints, one item per shard. Writes raise ``LeaseLost`` on conflict."""

    async def create(self, shard_id: str, parents: Sequence[str] = ()) -> bool:
        """Create an unowned lease for a new shard; ``False`` if it already exists."""
        ...

    async def get(self, shard_id: str) -> Lease | None: ...

    async def list_leases(self) -> list[Lease]: ...

    async def take(self, lease: Lease, owner: str) -> Lease:
        """Become the owner of a lease last seen as ``lease`` (expired, free or stolen)."""
        ...

    async def renew(self, lease: Lease) -> Lease:
        """Bump the counter of a lease we hold."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give a lease up (owner cleared) so another worker can take it at once."""
        ...

    async def checkpoint(self, lease: Lease, sequence: str, matches: Sequence[str]) -> Lease:
        """Record progress; raises ``CheckpointError`` if ``sequence`` is behind the last."""
        ...

    async def close(self) -> None: ...
