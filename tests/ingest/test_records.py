"""The record format: decode/encode round trips, every documented rejection, and the
property that any bytes either decode or raise RecordError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.records import (
    MAX_RECORD_BYTES,
    REASONS,
    InputRecord,
    JoinRecord,
    LeaveRecord,
    RecordError,
    SetAside,
    decode,
    encode,
    encode_raw,
    template_escape,
)


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {
        "v": 1,
        "type": "input",
        "match": "m1",
        "player": "p1",
        "conn": "c1",
        "t": 1700000000000,
        "body": '{"action":"input","seq":1,"move":[1,0]}',
    }
    base.update(fields)
    for k in [k for k, v in base.items() if v is ...]:
        del base[k]
    return json.dumps(base).encode()


def reason_of(data: bytes) -> str:
    with pytest.raises(RecordError) as info:
        decode(data)
    assert info.value.reason in REASONS
    return info.value.reason


def test_decodes_each_type() -> None:
    rec = decode(raw())
    assert rec == InputRecord(
        "m1", "p1", "c1", 1700000000000, 1, {"action": "input", "seq": 1, "move": [1, 0]}
    )
    assert decode(raw(type="join", body="")) == JoinRecord("m1", "p1", "c1", 1700000000000)
    assert decode(raw(type="leave", body="")) == LeaveRecord("m1", "p1", "c1", 1700000000000)


def test_encode_is_the_template_shape() -> None:
    data = encode_raw("input", "m1", "p1", "c=", 5, '{"action":"input","seq":2,"é":"ü/"}')
    assert data == (
        b'{"v":1,"type":"input","match":"m1","player":"p1","conn":"c=","t":5,'
        b'"body":"{\\"action\\":\\"input\\",\\"seq\\":2,\\"\\u00E9\\":\\"\\u00FC\\/\\"}"}'
    )
    assert encode(JoinRecord("m", "p", "c", 1)) == (
        b'{"v":1,"type":"join","match":"m","player":"p","conn":"c","t":1,"body":""}'
    )


def test_encode_rejects_inconsistent_seq() -> None:
    with pytest.raises(ValueError):
        encode(InputRecord("m", "p", "c", 1, 2, {"seq": 3}))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1,2]", "not_object"),
        (b'{"v":NaN}', "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "not_json"),
        (raw(v=2), "bad_version"),
        (raw(v="1"), "bad_version"),
        (raw(v=True), "bad_version"),
        (raw(v=...), "bad_version"),
        (raw(type="chat"), "unknown_type"),
        (raw(match=...), "missing_field"),
        (raw(player=7), "wrong_type"),
        (raw(conn=None), "wrong_type"),
        (raw(t="now"), "wrong_type"),
        (raw(t=1.5), "wrong_type"),
        (raw(t=...), "missing_field"),
        (raw(body=...), "missing_field"),
        (raw(body={"seq": 1}), "wrong_type"),
        (raw(body="not json"), "body_not_json"),
        (raw(body="[" * 100_000), "body_not_json"),
        (raw(body='{"a":' * 50_000 + "1" + "}" * 50_000), "body_too_large"),
        (raw(body="[1]"), "body_not_object"),
        (raw(body='{"action":"input"}'), "bad_seq"),
        (raw(body='{"seq":0}'), "bad_seq"),
        (raw(body='{"seq":-3}'), "bad_seq"),
        (raw(body='{"seq":1.0}'), "bad_seq"),
        (raw(body='{"seq":true}'), "bad_seq"),
        (raw(body='{"seq":"1"}'), "bad_seq"),
        (raw(body=json.dumps({"seq": 2**53})), "bad_seq"),
        (b" " * (MAX_RECORD_BYTES + 1), "too_large"),
    ],
)
def test_rejections_have_reasons(data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


def test_deep_body_under_size_limit_is_clean() -> None:
    # 60,000 levels fits in MAX_BODY_CHARS: the parser's RecursionError becomes a reason.
    assert reason_of(raw(body="[" * 60_000 + "]" * 60_000)) in {"body_not_json", "body_not_object"}


def test_largest_seq_accepted() -> None:
    rec = decode(raw(body=json.dumps({"seq": 2**53 - 1})))
    assert isinstance(rec, InputRecord) and rec.seq == 2**53 - 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_or_raise_record_error(data: bytes) -> None:
    try:
        decode(data)
    except RecordError as exc:
        assert exc.reason in REASONS


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "match", "player", "conn", "t", "body"]),
        json_values | st.just("input") | st.just(1),
    )
)
def test_any_json_object_decodes_or_raises_record_error(obj: dict[str, object]) -> None:
    try:
        decode(json.dumps(obj).encode())
    except RecordError as exc:
        assert exc.reason in REASONS


@settings(max_examples=200, deadline=None)
@given(
    st.text(),
    st.text(),
    st.text(),
    st.integers(0, 2**62),
    st.integers(1, 2**53 - 1),
    st.dictionaries(st.text(), json_values, max_size=4),
)
def test_round_trip(
    match: str, player: str, conn: str, t: int, seq: int, extra: dict[str, object]
) -> None:
    payload = {**extra, "seq": seq}
    rec = InputRecord(match, player, conn, t, seq, payload)
    assert decode(encode(rec)) == rec
    join = JoinRecord(match, player, conn, t)
    assert decode(encode(join)) == join


def test_set_aside_counts_and_bounds() -> None:
    aside = SetAside(max_samples=3, sample_bytes=8)
    for i in range(10):
        assert aside.decode(b"garbage %d" % i, where=f"shard/{i}") is None
    assert aside.decode(raw(v=9)) is None
    assert aside.decode(raw()) is not None
    assert aside.counts == {"not_json": 10, "bad_version": 1}
    assert aside.total == 11
    assert len(aside.samples) == 3
    assert aside.samples[-1].reason == "bad_version"
    assert all(len(s.head) <= 8 for s in aside.samples)


# -- byte-for-byte equality with the routes' real request templates ------------------------
def render_template(kind: str, match: str, player: str, conn: str, t: int, body: str) -> bytes:
    import base64

    from infra.aws.stack.templates import kinesis_request_template
    from infra.local.vtl import render_request_template

    rendered = render_request_template(
        kinesis_request_template(kind, "actions"),  # type: ignore[arg-type]
        context={
            "authorizer": {"matchId": match, "playerId": player, "principalId": player},
            "connectionId": conn,
            "requestTimeEpoch": t,
        },
        body=body,
        stage_variables={},
    )
    request = json.loads(rendered)
    assert request["PartitionKey"] == json.loads(f'"{template_escape(match)}"')
    return base64.b64decode(request["Data"])


ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["join", "input", "leave"]),
    ids,
    ids,
    st.from_regex(r"[A-Za-z0-9=/+_-]{1,20}", fullmatch=True),
    st.integers(0, 2**45),
    st.text(st.characters(codec="utf-8"), max_size=60),
)
def test_encode_raw_equals_the_template(
    kind: str, match: str, player: str, conn: str, t: int, body: str
) -> None:
    body = body if kind == "input" else ""
    assert encode_raw(kind, match, player, conn, t, body) == render_template(  # type: ignore[arg-type]
        kind, match, player, conn, t, body
    )


def test_template_record_of_an_input_decodes() -> None:
    body = '{"action":"input","seq":7,"move":[1,-1],"say":"it\'s \\"é\\" 😀 </script>"}'
    data = render_template("input", "m-1", "p.1", "Abc/=", 1_700_000_000_123, body)
    rec = decode(data)
    assert isinstance(rec, InputRecord)
    assert rec.payload == json.loads(body) and rec.seq == 7 and rec.conn == "Abc/="
    assert data == encode_raw("input", "m-1", "p.1", "Abc/=", 1_700_000_000_123, body)
