"""The action record: what the gateway routes put into the stream and the engine reads.

Theory of operation: a route's VTL request template (AWS and the local gateway render the
same one) builds the Kinesis ``Data`` as compact UTF-8 JSON::

    {"v":1,"type":"input","match":"m1","player":"p1","conn":"Abc=","t":1700000000000,
     "body":"{\"action\":\"input\",\"seq\":3,\"move\":[1,0]}"}

``t`` is ``$context.requestTimeEpoch`` (milliseconds); ``body`` is the client's raw text
frame as a JSON string (``""`` for ``join`` and ``leave``). :func:`decode` is the only way
the engine reads a record: it returns a typed record or raises :class:`RecordError` whose
``reason`` is one of :data:`REASONS`; it never raises anything else, whatever the bytes.
Game fields of an input (``move``, ``aim``, ``fire``) are left in ``payload`` for the rules
to validate; this module checks only what the engine itself relies on (``seq``).

Bad records are never fatal: consumers count them by reason and set them aside with
:class:`SetAside`, which keeps bounded counts and a bounded sample of the latest ones.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from infra.json_read import loads_standard
from ingest.errors import RecordError

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_RECORD_BYTES",
    "MAX_SEQ",
    "REASONS",
    "SCHEMA_VERSION",
    "Fields",
    "InputRecord",
    "JoinRecord",
    "LeaveRecord",
    "Record",
    "RecordError",
    "SetAside",
    "SetAsideSample",
    "decode",
    "decode_fields",
    "encode",
    "encode_raw",
    "template_escape",
]

SCHEMA_VERSION: Final = 1
# Kinesis: the data blob of a record is at most 1 MiB (PutRecord API reference).
MAX_RECORD_BYTES: Final = 1024 * 1024
# API Gateway WebSocket: a message is at most 128 KB (service quotas); a body longer than
# that cannot have come through a route.
MAX_BODY_CHARS: Final = 128 * 1024
# seq must stay exact in a JavaScript client (Number.MAX_SAFE_INTEGER + 1 = 2**53).
MAX_SEQ: Final = 2**53

RecordType = Literal["join", "input", "leave"]

# Every reason decode() can give, with what it means (documented in the README's ingest section).
REASONS: Final[dict[str, str]] = {
    "too_large": f"the record is over {MAX_RECORD_BYTES} bytes",
    "not_utf8": "the record is not UTF-8",
    "not_json": "the record is not JSON (or nests too deep to parse)",
    "not_object": "the record is not a JSON object",
    "bad_version": f"'v' is missing or not {SCHEMA_VERSION}",
    "unknown_type": "'type' is not join, input or leave",
    "missing_field": "a required field is missing",
    "wrong_type": "a field has the wrong JSON type",
    "body_too_large": f"the client body is over {MAX_BODY_CHARS} characters",
    "body_not_json": "the client body of an input is not JSON (or nests too deep)",
    "body_not_object": "the client body of an input is not a JSON object",
    "bad_seq": "'seq' of an input is missing or not an integer in [1, 2**53)",
}


@dataclass(frozen=True, slots=True)
class JoinRecord:
    match: str
    player: str
    conn: str
    # $context.requestTimeEpoch, milliseconds since the epoch
    t: int


@dataclass(frozen=True, slots=True)
class InputRecord:
    match: str
    player: str
    conn: str
    t: int
    seq: int
    # the client's parsed JSON object (includes "action" and "seq")
    payload: dict[str, Any] = field(hash=False, compare=True)


@dataclass(frozen=True, slots=True)
class LeaveRecord:
    match: str
    player: str
    conn: str
    t: int


Record = JoinRecord | InputRecord | LeaveRecord


def _str_field(obj: dict[str, Any], name: str) -> str:
    try:
        value = obj[name]
    except KeyError:
        raise RecordError("missing_field", name) from None
    if type(value) is not str:
        raise RecordError("wrong_type", f"{name} must be a string")
    return value


# What decode_fields returns: type, match, player, conn, t, then an input's seq and
# payload (0 and None for a join or a leave).
Fields = tuple[RecordType, str, str, str, int, int, dict[str, Any] | None]
_TYPES: Final = ("join", "input", "leave")


def decode_fields(data: bytes) -> Fields:
    """:func:`decode`'s checks, in the same order with the same reasons, returning the
    fields rather than a record: the engine's reader makes its event from them directly
    (one object per input fewer, at thousands of inputs a second)."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError("too_large", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8")
    except (UnicodeDecodeError, AttributeError) as exc:
        raise RecordError("not_utf8", str(exc)[:200]) from None
    try:
        # RecursionError: JSON nested deeper than the interpreter's stack (100,000 '[').
        obj = loads_standard(text)
    except (ValueError, RecursionError) as exc:
        raise RecordError("not_json", str(exc)[:200]) from None
    if type(obj) is not dict:
        raise RecordError("not_object", type(obj).__name__)
    v = obj.get("v")
    if type(v) is not int or v != SCHEMA_VERSION:
        raise RecordError("bad_version", repr(v)[:50])
    kind = obj.get("type")
    if kind not in _TYPES:
        raise RecordError("unknown_type", repr(kind)[:50])
    match, player, conn = obj.get("match"), obj.get("player"), obj.get("conn")
    if type(match) is not str or type(player) is not str or type(conn) is not str:
        # the first field that is wrong gives the reason
        match, player, conn = (_str_field(obj, n) for n in ("match", "player", "conn"))
    t = obj.get("t")
    if type(t) is not int:
        if "t" not in obj:
            raise RecordError("missing_field", "t")
        raise RecordError("wrong_type", "t must be an integer")
    if kind != "input":
        return kind, match, player, conn, t, 0, None
    body = obj.get("body")
    if type(body) is not str:
        body = _str_field(obj, "body")
    if len(body) > MAX_BODY_CHARS:
        raise RecordError("body_too_large", f"{len(body)} characters")
    try:
        payload = loads_standard(body)
    except (ValueError, RecursionError) as exc:
        raise RecordError("body_not_json", str(exc)[:200]) from None
    if type(payload) is not dict:
        raise RecordError("body_not_object", type(payload).__name__)
    seq = payload.get("seq")
    if type(seq) is not int or not 1 <= seq < MAX_SEQ:
        raise RecordError("bad_seq", repr(seq)[:50])
    return kind, match, player, conn, t, seq, payload


def decode(data: bytes) -> Record:
    """Decode one stream record's data, or raise :class:`RecordError` with a reason."""
    kind, match, player, conn, t, seq, payload = decode_fields(data)
    if kind == "input":
        assert payload is not None
        return InputRecord(match, player, conn, t, seq, payload)
    if kind == "join":
        return JoinRecord(match, player, conn, t)
    return LeaveRecord(match, player, conn, t)


def _dumps(value: Any) -> str:
    # Compact JSON, as a client would send it (the payload of an encoded input).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# The escaping of the routes' templates: ``$util.escapeJavaScript`` (commons-lang: quotes,
# backslash, "/", control characters, every non-ASCII UTF-16 unit as upper-case \uXXXX,
# "'" as "\'") followed by ``.replaceAll("\\'", "'")`` (infra/aws/stack/templates.py).
_TEMPLATE_ESCAPES = {i: f"\\u{i:04X}" for i in range(32)}
_TEMPLATE_ESCAPES.update(
    {
        ord(k): v
        for k, v in {
            "\b": "\\b",
            "\n": "\\n",
            "\t": "\\t",
            "\f": "\\f",
            "\r": "\\r",
            '"': '\\"',
            "\\": "\\\\",
            "/": "\\/",
        }.items()
    }
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _utf16_escape(match: re.Match[str]) -> str:
    units = match.group(0).encode("utf-16-be", "surrogatepass")
    return "".join(
        f"\\u{int.from_bytes(units[i : i + 2], 'big'):04X}" for i in range(0, len(units), 2)
    )


def template_escape(text: str) -> str:
    """A string as the routes' templates put it between JSON quotes."""
    escaped = text.translate(_TEMPLATE_ESCAPES)
    return escaped if escaped.isascii() else _NON_ASCII.sub(_utf16_escape, escaped)


def encode_raw(kind: RecordType, match: str, player: str, conn: str, t: int, body: str) -> bytes:
    """The record exactly as the routes' request templates build it, for any raw body."""
    return (
        f'{{"v":{SCHEMA_VERSION},"type":"{kind}","match":"{template_escape(match)}",'
        f'"player":"{template_escape(player)}","conn":"{_conn(conn)}","t":{t},'
        f'"body":"{template_escape(body)}"}}'
    ).encode()


def _conn(conn: str) -> str:
    # The templates put $context.connectionId in unescaped (its characters need none, and
    # a "/" stays as is); anything else is escaped so the record stays JSON.
    return template_escape(conn).replace("\\/", "/")


def encode(record: Record) -> bytes:
    """Encode a typed record (an input's body is its payload as compact JSON)."""
    if isinstance(record, InputRecord):
        if record.payload.get("seq") != record.seq:
            raise ValueError("payload['seq'] must equal seq")
        return encode_raw(
            "input", record.match, record.player, record.conn, record.t, _dumps(record.payload)
        )
    kind: RecordType = "join" if isinstance(record, JoinRecord) else "leave"
    return encode_raw(kind, record.match, record.player, record.conn, record.t, "")


@dataclass(frozen=True, slots=True)
class SetAsideSample:
    reason: str
    detail: str
    # the first bytes of the record (at most SetAside.sample_bytes)
    head: bytes
    # where it was read, e.g. "shard-000000000001/4959..."
    where: str


class SetAside:
    """Bad records, counted by reason, with a bounded sample of the latest ones.

    Backpressure: memory is bounded by ``max_samples`` x ``sample_bytes`` plus one counter
    per reason (reasons are the fixed set :data:`REASONS`); older samples are dropped.
    """

    def __init__(self, max_samples: int = 100, sample_bytes: int = 256) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: deque[SetAsideSample] = deque(maxlen=max_samples)
        self.sample_bytes = sample_bytes

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, error: RecordError, data: bytes, where: str = "") -> None:
        self.counts[error.reason] += 1
        self.samples.append(
            SetAsideSample(error.reason, error.detail, bytes(data[: self.sample_bytes]), where)
        )

    def decode(self, data: bytes, where: str = "") -> Record | None:
        """:func:`decode`, setting a bad record aside and returning None instead of raising."""
        try:
            return decode(data)
        except RecordError as exc:
            self.add(exc, data, where)
            return None
