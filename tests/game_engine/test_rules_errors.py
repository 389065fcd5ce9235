"""A rules hook that raises (a bug, not InputRejected/JoinRefused) ends its match only:
reason ``error``, logged with the record, the record set aside; other matches and the
worker go on."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from test_worker import RecordingSink, until, worker
from walk_rules import Walk

from game_engine.engine import Engine
from game_engine.events import Input, Join
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
