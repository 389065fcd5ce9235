"""One contract suite for the lease table and snapshot store: embedded and DynamoDB (moto)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from game_engine.errors import CheckpointError, LeaseLost, SnapshotError
from game_engine.leases import SHARD_END, Lease, LeaseTable
from game_engine.snapshots import MAX_SNAPSHOT_BYTES, SnapshotStore
from infra.aws.dynamodb import DynamoTables
from infra.local.tables import EmbeddedTables


@pytest.fixture(params=["embedded", "dynamodb", "link"])
async def tables(request: pytest.FixtureRequest) -> AsyncIterator[tuple[LeaseTable, SnapshotStore]]:
    if request.param == "embedded":
        t = EmbeddedTables()
        yield t.leases, t.snapshots
        return
    if request.param == "link":
        # The embedded tables as an engine process of a split `tickwire up` sees them.
        from infra.local.link import LinkClient, LinkLeaseTable, LinkServer, LinkSnapshotStore
        from infra.local.stream import EmbeddedKinesis

        t = EmbeddedTables()
        server = LinkServer(
            request.getfixturevalue("tmp_path") / "link.sock",
            gateway=None,  # type: ignore[arg-type]  # tables only: no posts here
            stream=EmbeddedKinesis().create_stream("s", 1),
            leases=t.leases,
            snapshots=t.snapshots,
        )
        await server.start()
        client = await LinkClient.connect(server.path)
        yield LinkLeaseTable(client), LinkSnapshotStore(client)
        await client.close()
        await server.stop()
        return
    endpoint = request.getfixturevalue("moto_reset")
    async with DynamoTables(
        lease_table="leases-test",
        snapshot_table="snaps-test",
        endpoint_url=endpoint,
        region_name="us-east-1",
    ) as d:
        await d.ensure_tables()
        yield d.leases, d.snapshots


async def test_create_is_idempotent_and_lists_sorted(tables: Any) -> None:
    leases, _ = tables
    assert await leases.create("shard-b", parents=("shard-a",))
    assert await leases.create("shard-a")
    assert not await leases.create("shard-b")
    got = await leases.list_leases()
    assert [lease.shard_id for lease in got] == ["shard-a", "shard-b"]
    assert got[1] == Lease("shard-b", None, 0, None, ("shard-a",), ())
    assert await leases.get("nope") is None


async def test_take_renew_release_are_conditional_on_the_counter(tables: Any) -> None:
    leases, _ = tables
    await leases.create("s")
    seen = await leases.get("s")
    mine = await leases.take(seen, "w1")
    assert (mine.owner, mine.counter) == ("w1", 1)
    # A second taker with the same stale view loses.
    with pytest.raises(LeaseLost):
        await leases.take(seen, "w2")
    mine = await leases.renew(mine)
    assert mine.counter == 2
    with pytest.raises(LeaseLost):
        await leases.renew(Lease("s", "w1", 1))  # stale counter
    with pytest.raises(LeaseLost):
        await leases.renew(Lease("s", "w2", 2))  # not the owner
    # Stealing with a current view succeeds; the old holder can no longer write.
    theirs = await leases.take(mine, "w2")
    assert (theirs.owner, theirs.counter) == ("w2", 3)
    with pytest.raises(LeaseLost):
        await leases.renew(mine)
    with pytest.raises(LeaseLost):
        await leases.release(mine)
    await leases.release(theirs)
    free = await leases.get("s")
    assert (free.owner, free.counter) == (None, 4)


async def test_checkpoints_only_move_forward_and_need_the_lease(tables: Any) -> None:
    leases, _ = tables
    await leases.create("s")
    mine = await leases.take(await leases.get("s"), "w1")
    mine = await leases.checkpoint(
        mine, "49590338271490256608559692538361571095921575989136588898", ["m1"]
    )
    assert mine.matches == ("m1",)
    mine = await leases.checkpoint(
        mine, "49590338271490256608559692538361571095921575989136588898", ["m1"]
    )
    with pytest.raises(CheckpointError):
        await leases.checkpoint(
            mine, "49590338271490256608559692538361571095921575989136588897", []
        )
    with pytest.raises(CheckpointError):
        await leases.checkpoint(mine, "not-a-number", [])
    mine = await leases.checkpoint(
        mine, "49590338271490256608559692538361571095921575989136588999", ["m1", "m2"]
    )
    mine = await leases.checkpoint(mine, SHARD_END, ["m2"])
    assert (await leases.get("s")).checkpoint == SHARD_END
    with pytest.raises(CheckpointError):
        await leases.checkpoint(mine, "5", [])
    theirs = await leases.take(mine, "w2")
    with pytest.raises(LeaseLost):
        await leases.checkpoint(mine, SHARD_END, [])
    assert (await leases.get("s")).owner == theirs.owner == "w2"


async def test_snapshots_are_fenced_by_the_lease(tables: Any) -> None:
    leases, snaps = tables
    await leases.create("s")
    mine = await leases.take(await leases.get("s"), "w1")
    await snaps.put("match-1", b"\x00state\xff", mine)
    assert await snaps.get("match-1") == b"\x00state\xff"
    assert await snaps.get("match-2") is None
    # Renewals do not invalidate the owner's snapshot writes.
    mine = await leases.renew(mine)
    await snaps.put("match-1", b"v2", Lease("s", "w1", 0))
    theirs = await leases.take(mine, "w2")
    with pytest.raises(LeaseLost):
        await snaps.put("match-1", b"zombie", mine)
    with pytest.raises(LeaseLost):
        await snaps.delete("match-1", mine)
    with pytest.raises(LeaseLost):
        await snaps.put("match-9", b"x", Lease("unknown-shard", "w1", 0))
    assert await snaps.get("match-1") == b"v2"
    with pytest.raises(SnapshotError):
        await snaps.put("match-1", b"x" * (MAX_SNAPSHOT_BYTES + 1), theirs)
    await snaps.delete("match-1", theirs)
    assert await snaps.get("match-1") is None


class LeaseMachine(RuleBasedStateMachine):
    """Three workers race for two shards with stale views: never two holders, and the
    stored checkpoint never moves back."""

    workers = ("w0", "w1", "w2")
    shards = ("s0", "s1")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.table = EmbeddedTables().leases
        for shard in self.shards:
            self.run(self.table.create(shard))
        # Each worker's last view of each shard (possibly stale).
        self.views: dict[tuple[str, str], Lease] = {}
        self.high: dict[str, int] = {}
        self.next_seq = 100

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    @rule(w=st.sampled_from(workers), s=st.sampled_from(shards))
    def look(self, w: str, s: str) -> None:
        self.views[(w, s)] = self.run(self.table.get(s))

    @precondition(lambda self: bool(self.views))
    @rule(data=st.data())
    def take(self, data: st.DataObject) -> None:
        w, s = data.draw(st.sampled_from(sorted(self.views)))
        try:
            self.views[(w, s)] = self.run(self.table.take(self.views[(w, s)], w))
        except LeaseLost:
            pass

    @precondition(lambda self: bool(self.views))
    @rule(
        data=st.data(), op=st.sampled_from(["renew", "release", "checkpoint"]), back=st.booleans()
    )
    def write(self, data: st.DataObject, op: str, back: bool) -> None:
        w, s = data.draw(st.sampled_from(sorted(self.views)))
        view = self.views[(w, s)]
        try:
            if op == "renew":
                self.views[(w, s)] = self.run(self.table.renew(view))
            elif op == "release":
                self.run(self.table.release(view))
            else:
                self.next_seq += 1
                seq = self.next_seq - (50 if back else 0)
                self.views[(w, s)] = self.run(self.table.checkpoint(view, str(seq), []))
        except (LeaseLost, CheckpointError):
            pass

    @invariant()
    def never_two_holders(self) -> None:
        for s in self.shards:
            current = self.run(self.table.get(s))
            # A worker "holds" a shard when its next owner-write would succeed.
            holders = [
                w
                for w in self.workers
                if (v := self.views.get((w, s))) is not None
                and v.owner == w
                and v.counter == current.counter
                and current.owner == w
            ]
            assert len(holders) <= 1

    @invariant()
    def checkpoints_only_forward(self) -> None:
        for s in self.shards:
            cp = self.run(self.table.get(s)).checkpoint
            value = int(cp) if cp else -1
            assert value >= self.high.get(s, -1)
            self.high[s] = value


TestLeaseMachine = LeaseMachine.TestCase
TestLeaseMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
