"""A rules hook that raises (a bug, not InputRejected/JoinRefused) ends its match only:
reason ``error``, logged with the record, the record set aside; other matches and the
worker go on."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import numpy as np
import pytest
from test_worker import RecordingSink, until, worker
from walk_rules import Walk

from game_engine.engine import Engine
from game_engine.events import Input, Join
from game_engine.snapshot_codec import encode_snapshot
from infra.local.stream import EmbeddedKinesis
from infra.local.tables import EmbeddedTables
from ingest.records import InputRecord, JoinRecord, encode


def test_the_match_ends_with_reason_error_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    eng: Engine[Any] = Engine(Walk())
    for match in ("a", "b"):
        eng.submit(Join(match, "p", "c"))
    eng.tick()
    eng.submit(Input("a", "p", "c", 1, {"boom": True}, 1234))
    eng.submit(Input("a", "p", "c", 2, {"vx": 1}))
    eng.submit(Input("b", "p", "c", 1, {"vx": 1}))
    with caplog.at_level(logging.INFO, logger="tickwire.engine"):
        report = eng.tick()
    assert [(m, r["reason"]) for m, r in report.ended] == [("a", "error")]
    assert list(eng.matches) == ["b"]
    assert eng.matches["b"].members["p"].last_seq == 1
    (fault,) = eng.faults
    assert (fault.match_id, fault.event.seq, "a bug in the rules" in fault.error) == (  # type: ignore[union-attr]
        "a",
        1,
        True,
    )
    assert eng.counters["record.set_aside.rules_error"] == 1
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    error = next(e for e in logged if e["event"] == "rules_error")
    assert error["record"] == {
        "type": "input",
        "player": "p",
        "t": 1234,
        "seq": 1,
        "payload": {"boom": True},
    }
    ended = next(e for e in logged if e["event"] == "match_ended")
    assert (ended["match"], ended["reason"]) == ("a", "error")
    # The players of the ended match got its final frame.
    assert [f.match_id for f in eng.frames() if f.ended] == ["a"]


async def test_the_worker_goes_on_and_its_checkpoints_pass_the_record() -> None:
    stream = EmbeddedKinesis().create_stream("actions", 1)
    tables = EmbeddedTables()
    sink = RecordingSink()
    w = worker(stream, tables, "w", sink, rules=Walk())
    await w.start()
    try:
        for match in ("a", "b"):
            await stream.put_record(match, encode(JoinRecord(match, "p", "c", 0)))
        await until(lambda: len(w.engine.matches) == 2)
        boom = {"action": "input", "seq": 1, "boom": True}
        put = await stream.put_record("a", encode(InputRecord("a", "p", "c", 0, 1, boom)))
        fine = {"action": "input", "seq": 1, "vx": 1}
        await stream.put_record("b", encode(InputRecord("b", "p", "c", 0, 1, fine)))
        await until(
            lambda: "a" not in w.engine.matches and w.engine.last_seqs().get(("b", "p")) == 1
        )
        # The worker's loops are alive and its checkpoint moves past the poison record.
        await until(
            lambda: (
                int(w._owned["shardId-000000000000"].reader.progress.checkpoint or -1)
                > int(put.sequence_number)
            )
        )
        assert all(not t.done() for t in w._tasks)
        assert w.stats()["counters"]["match.ended.error"] == 1
    finally:
        await w.stop()


async def test_a_fast_forward_that_fails_gives_the_shard_up_and_the_worker_goes_on() -> None:
    """A snapshot the engine cannot load (same rules name, other column shapes: a rules
    change deployed without a new name) makes the takeover fail: counted, logged, the
    lease released, nothing published, the worker alive and not retrying at once."""
    stream = EmbeddedKinesis().create_stream("actions", 1)
    tables = EmbeddedTables()
    shard = "shardId-000000000000"
    await tables.leases.create(shard)
    setup = await tables.leases.take(await tables.leases.get(shard), "setup")  # type: ignore[arg-type]
    bad = encode_snapshot(
        rules=Walk.name, match_id="a", shard_id=shard, through=-1, empty_ticks=0,
        members=[], columns={"x": np.zeros(7, np.int64)},
    )  # fmt: skip
    await tables.snapshots.put("a", bad, setup)
    put = await stream.put_record("a", encode(JoinRecord("a", "p", "c", 0)))
    setup = await tables.leases.checkpoint(setup, put.sequence_number, ["a"])
    await tables.leases.release(setup)
    sink = RecordingSink()
    w = worker(stream, tables, "w", sink, rules=Walk())
    await w.start()
    try:
        await until(lambda: w.counters["replay.failed"] >= 1)
        assert all(not t.done() for t in w._tasks)
        assert not sink.frames
        lease = await tables.leases.get(shard)
        assert lease is not None and lease.checkpoint == put.sequence_number
        # It leaves the shard be for a while (other workers may fare better), rather
        # than failing again at every lease round.
        await asyncio.sleep(1.0)
        assert w.counters["replay.failed"] == 1
    finally:
        await w.stop()
