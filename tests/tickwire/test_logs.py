"""JSON log lines with match, player, connection and tick from the context or the call."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.logs import configure_logging, current_context, log_context


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = configure_logging(logging.DEBUG, out, logger="tickwire.test")
    log = logging.getLogger("tickwire.test")
    log.propagate = False
    try:
        yield log, out
    finally:
        log.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_context_and_extra_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    with log_context(match="m1", player="p7"):
        log.info("joined %s", "arena", extra={"connection": "Mg_ugfpqPHcCIVA=", "tick": 12})
        with log_context(tick=13, player=None):
            log.warning("slow")
    log.info("outside")
    first, second, third = lines(out)
    assert first["message"] == "joined arena"
    assert (first["match"], first["player"], first["connection"], first["tick"]) == (
        "m1", "p7", "Mg_ugfpqPHcCIVA=", 12,
    )  # fmt: skip
    assert first["level"] == "INFO" and first["logger"] == "tickwire.test"
    assert str(first["time"]).endswith("+00:00")
    assert second["tick"] == 13 and second["match"] == "m1" and "player" not in second
    assert "match" not in third
    assert current_context() == {}


async def test_each_task_keeps_its_own_context(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture

    async def player(name: str) -> None:
        with log_context(player=name):
            await asyncio.sleep(0.01)
            log.info("tick")

    await asyncio.gather(*(player(f"p{i}") for i in range(5)))
    assert sorted(str(d["player"]) for d in lines(out)) == [f"p{i}" for i in range(5)]


def test_exceptions_and_odd_values(capture: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = capture
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed", extra={"obj": object(), "ids": (1, 2)})
    (doc,) = lines(out)
    assert "RuntimeError: boom" in str(doc["exception"])
    assert doc["ids"] == [1, 2] and str(doc["obj"]).startswith("<object")


@given(st.text(), st.one_of(st.none(), st.text(), st.integers(), st.floats(allow_nan=False)))
def test_any_message_is_one_json_line(message: str, match: object) -> None:
    out = io.StringIO()
    handler = configure_logging(logging.INFO, out, logger="tickwire.prop")
    log = logging.getLogger("tickwire.prop")
    log.propagate = False
    try:
        with log_context(match=match):
            log.info("%s", message)
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert text.count("\n") == 1
    assert json.loads(text)["message"] == message


def test_level_names_in_any_case() -> None:
    out = io.StringIO()
    handler = configure_logging("warning", out, logger="tickwire.case")
    log = logging.getLogger("tickwire.case")
    log.propagate = False
    try:
        log.info("dropped")
        log.warning("kept")
    finally:
        log.removeHandler(handler)
    assert [d["message"] for d in lines(out)] == ["kept"]
    with pytest.raises(ValueError):
        configure_logging("loud", io.StringIO(), logger="tickwire.case2")
    assert logging.getLogger("tickwire.case2").handlers == []


def test_event_lines_are_one_json_object(capture: tuple[logging.Logger, io.StringIO]) -> None:
    """An event logged as a JSON object (or a mapping) is merged, not quoted."""
    log, out = capture
    with log_context(match="m1"):
        log.info(json.dumps({"event": "match_ended", "reason": "empty", "scores": {"a": 2}}))
    log.info({"event": "worker_stats", "shards": 2, "level": "not-the-level"})
    log.info("{not json}")
    ended, stats, plain = lines(out)
    assert ended["message"] == "match_ended" and ended["reason"] == "empty"
    assert ended["scores"] == {"a": 2} and ended["match"] == "m1"
    assert stats["message"] == "worker_stats" and stats["shards"] == 2
    assert stats["level"] == "INFO"  # the line's own fields win
    assert plain["message"] == "{not json}"
