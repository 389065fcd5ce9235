"""The reader's decoding: ``decode_event`` (and ``ingest.records.decode``, both made of
``decode_fields``) against a reference written check by check, as ``decode`` first was:
the same events, or the same reason, for any record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from game_engine.consumer import decode_event, to_event
from game_engine.events import Event
from infra.json_read import loads_standard
from ingest.records import (
    MAX_BODY_CHARS,
    MAX_RECORD_BYTES,
    MAX_SEQ,
    InputRecord,
    JoinRecord,
    LeaveRecord,
    Record,
    RecordError,
    decode,
)


def _str_field(obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise RecordError("missing_field", name)
    if type(obj[name]) is not str:
        raise RecordError("wrong_type", f"{name} must be a string")
    value: str = obj[name]
    return value


def reference(data: bytes) -> Record:
    """The record format's checks one after another (docs: ingest.records)."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError("too_large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("not_utf8") from None
    try:
        obj = loads_standard(text)
    except (ValueError, RecursionError):
        raise RecordError("not_json") from None
    if type(obj) is not dict:
        raise RecordError("not_object")
    if type(obj.get("v")) is not int or obj["v"] != 1:
        raise RecordError("bad_version")
    kind = obj.get("type")
    if kind not in ("join", "input", "leave"):
        raise RecordError("unknown_type")
    match = _str_field(obj, "match")
    player = _str_field(obj, "player")
    conn = _str_field(obj, "conn")
    if "t" not in obj:
        raise RecordError("missing_field", "t")
    if type(obj["t"]) is not int:
        raise RecordError("wrong_type", "t")
    t = obj["t"]
    if kind == "join":
        return JoinRecord(match, player, conn, t)
    if kind == "leave":
        return LeaveRecord(match, player, conn, t)
    body = _str_field(obj, "body")
    if len(body) > MAX_BODY_CHARS:
        raise RecordError("body_too_large")
    try:
        payload = loads_standard(body)
    except (ValueError, RecursionError):
        raise RecordError("body_not_json") from None
    if type(payload) is not dict:
        raise RecordError("body_not_object")
    seq = payload.get("seq")
    if type(seq) is not int or not 1 <= seq < MAX_SEQ:
        raise RecordError("bad_seq")
    return InputRecord(match, player, conn, t, seq, payload)


def outcome(decoder: Any, data: bytes) -> Record | Event | str:
    try:
        result: Record | Event = decoder(data)
    except RecordError as exc:
        return exc.reason
    return result


def check(data: bytes) -> None:
    try:
        expected = reference(data)
    except RecordError as exc:
        assert outcome(decode, data) == exc.reason
        assert outcome(decode_event, data) == exc.reason
        return
    assert decode(data) == expected
    assert decode_event(data) == to_event(expected)


small = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text()
bodies = st.sampled_from(
    [
        '{"action":"input","seq":3,"move":[1,0]}',
        '{"seq":0}',
        '{"seq":true}',
        "[1]",
        "{",
        "",
        '{"seq":9007199254740991,"fire":true}',
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "match", "player", "conn", "t", "body", "x"]),
        small
        | st.just(1)
        | st.sampled_from(["join", "input", "leave"])
        | st.integers(0, 2**62)
        | bodies,
    )
)
def test_any_record_object_is_what_the_reference_says(obj: dict[str, object]) -> None:
    check(json.dumps(obj).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_what_the_reference_says(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("kind", ["join", "input", "leave"])
def test_each_type(kind: str) -> None:
    body = '{"action":"input","seq":3,"move":[1,0]}' if kind == "input" else ""
    record = {"v": 1, "type": kind, "match": "m", "player": "p", "conn": "c", "t": 5}
    check(json.dumps({**record, "body": body}).encode())
    with_wrong_fields = {**record, "match": 1, "player": None}
    check(json.dumps(with_wrong_fields).encode())  # the first wrong field gives the reason
