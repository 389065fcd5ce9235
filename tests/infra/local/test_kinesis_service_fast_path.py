"""PutRecord's fast path (a regex over the canonical request) answers exactly what the
general path (JSON parse, field checks, base64) answers, for any request body."""

from __future__ import annotations

import base64
import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis

_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["actions", "m1", "", "a\\b", 'q"', "\x00", "\u00e9", "\ud800"]
)


def _pair() -> tuple[EmbeddedKinesisService, EmbeddedKinesisService]:
    out = []
    for _ in range(2):
        kinesis = EmbeddedKinesis()
        kinesis.create_stream("actions", shard_count=4)
        kinesis.create_stream("s\u00e9", shard_count=1)
        out.append(EmbeddedKinesisService(kinesis))
    return out[0], out[1]


def _canonical(stream: str, data: str, key: str) -> bytes:
    text = f'{{"StreamName":"{stream}","Data":"{data}","PartitionKey":"{key}"}}'
    return text.encode("utf-8", "surrogatepass")


_base64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()) | st.text(
    "ABCab+/=%-_ \\", max_size=10
)
_canonical_bodies = st.builds(_canonical, _text | st.just("actions"), _base64, _text)
_mutated = st.builds(
    lambda body, at, junk: body[:at] + junk + body[at + len(junk) :],
    _canonical_bodies,
    st.integers(0, 60),
    st.binary(max_size=3),
)
_json_bodies = st.builds(
    lambda fields: json.dumps(fields).encode(),
    st.dictionaries(
        st.sampled_from(["StreamName", "Data", "PartitionKey", "StreamARN"]),
        _text | _base64 | st.integers() | st.none(),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_canonical_bodies | _mutated | _json_bodies, min_size=1, max_size=5))
@example([b'{"StreamName":"actions","Data":"eA==","PartitionKey":"\xed\xa0\x80"}'])
@example([b'{"StreamName":"actions","Data":"eA=","PartitionKey":"k"}'])
@example([b'{"StreamName":"missing","Data":"eA==","PartitionKey":"k"}'])
@example([b'{"StreamName":"actions","Data":"eA==","PartitionKey":"' + b"k" * 257 + b'"}'])
def test_fast_path_answers_as_the_general_path(bodies: list[bytes]) -> None:
    fast, general = _pair()
    for body in bodies:
        assert fast._put_record_fast(body) == general._put_record_general(body), body
    for name in ("actions", "s\u00e9"):
        a, b = fast.kinesis.get(name), general.kinesis.get(name)
        assert [s.records for s in a._shards.values()] == [s.records for s in b._shards.values()]


def test_the_template_shape_takes_the_fast_path() -> None:
    fast, _ = _pair()
    body = _canonical("actions", base64.b64encode(b'{"v":1}').decode(), "m1")
    fast._put_record_general = None  # type: ignore[assignment,method-assign]
    status, answer = fast._put_record_fast(body)
    assert status == 200 and json.loads(answer)["ShardId"].startswith("shardId-")
