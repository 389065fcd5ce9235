"""Which leases a worker should take: the Kinesis Client Library's balancing, pure.

A worker observes the lease table every ``take_interval``. A lease is expired when it
has no owner, or when its counter has not moved for ``lease_duration`` by the observer's
own monotonic clock (no clocks are compared between machines). The worker aims at
``ceil(shards / workers)`` leases, where workers are the owners of unexpired leases plus
itself; it takes expired leases first, and when none is left it steals ONE lease from the
most loaded worker if that worker holds more than the target. A shard whose parents have
not reached SHARD_END is not eligible (parents before children), nor is a finished one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from game_engine.leases import SHARD_END, Lease

__all__ = ["LeaseObserver", "plan_takes"]


@dataclass
class LeaseObserver:
    lease_duration: float
    # shard -> (counter last seen, monotonic time it was first seen)
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)

    def observe(self, leases: Iterable[Lease], now: float) -> None:
        for lease in leases:
            last = self.seen.get(lease.shard_id)
            if last is None or last[0] != lease.counter:
                self.seen[lease.shard_id] = (lease.counter, now)

    def expired(self, lease: Lease, now: float) -> bool:
        if lease.owner is None:
            return True
        last = self.seen.get(lease.shard_id)
        return (
            last is not None and last[0] == lease.counter and now - last[1] >= self.lease_duration
        )


def _eligible(lease: Lease, by_shard: dict[str, Lease]) -> bool:
    if lease.checkpoint == SHARD_END:
        return False
    return all(p not in by_shard or by_shard[p].checkpoint == SHARD_END for p in lease.parents)


def plan_takes(
    leases: list[Lease], me: str, held: set[str], observer: LeaseObserver, now: float
) -> list[Lease]:
    """The leases to try to take now (each with the view to take it with)."""
    by_shard = {lease.shard_id: lease for lease in leases}
    live = [lease for lease in leases if _eligible(lease, by_shard)]
    if not live:
        return []
    load: Counter[str] = Counter()
    for lease in live:
        if lease.shard_id in held:
            load[me] += 1
        elif not observer.expired(lease, now) and lease.owner:
            load[lease.owner] += 1
    workers = set(load) | {me}
    target = math.ceil(len(live) / len(workers))
    need = target - load[me]
    if need <= 0:
        return []
    free = [lease for lease in live if lease.shard_id not in held and observer.expired(lease, now)]
    if free:
        return free[:need]
    busiest, count = max(
        ((w, n) for w, n in load.items() if w != me),
        key=lambda wn: (wn[1], wn[0]),
        default=(None, 0),
    )
    if busiest is None or count <= target:
        return []
    victims = [lease for lease in live if lease.owner == busiest and lease.shard_id not in held]
    return victims[:1]
