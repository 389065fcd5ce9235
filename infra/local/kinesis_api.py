"""The Kinesis JSON API over the embedded stream (:class:`EmbeddedKinesisService`).

Each call is one Kinesis operation: its JSON request is checked against botocore's
Kinesis model (:mod:`infra.local.kinesis_validation`: ``SerializationException``,
``ValidationException``), then by the operation's own rules, with Kinesis's error types
and messages (``{"__type": "ResourceNotFoundException", "message": ...}``, status 400),
and answered with Kinesis's response shape, or with no body where Kinesis sends none.
``PutRecord`` in the exact shape tickwire's request templates render takes a short path
(the gateway's per-message path); anything else is parsed and checked in full.

Backpressure: a call is answered when the embedded stream has taken it (an append is
in-memory and O(1)); nothing is queued here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from infra.json_read import loads
from infra.local.kinesis_validation import SerializationError, ValidationError, validate_request
from infra.local.stream import (
    ACCOUNT_ID,
    MAX_GET_RECORDS,
    SEQUENCE_BASE,
    EmbeddedKinesis,
    EmbeddedStream,
    parse_iterator,
    resolve_shard_id,
)
from ingest.errors import InvalidArgument, StreamError, StreamNotFound
from ingest.stream import ShardInfo

__all__ = ["EmbeddedKinesisService", "Json", "kinesis_error"]

# Kinesis ListShards: MaxResults defaults to 1,000 (API reference).
LIST_SHARDS_PAGE: Final = 1000
# Kinesis DescribeStream and ListStreams: Limit defaults to 100 (API reference).
DESCRIBE_STREAM_PAGE: Final = 100
LIST_STREAMS_PAGE: Final = 100
# Kinesis ListTagsForStream: Limit is 1 to 50; 10 when not given.
LIST_TAGS_PAGE: Final = 10
# Kinesis: at most 50 tags per stream (tagging quotas).
MAX_TAGS: Final = 50
# Kinesis retention period: 24 hours to 365 days (IncreaseStreamRetentionPeriod).
MIN_RETENTION_HOURS: Final = 24
MAX_RETENTION_HOURS: Final = 8760
# Kinesis shard quota per account and region: 500 in us-east-1, us-west-2 and eu-west-1
# (200 elsewhere); CreateStream and SplitShard past it get LimitExceededException.
SHARD_LIMIT: Final = 500
# An on-demand stream starts with 4 shards (4 MB/s write capacity).
ON_DEMAND_SHARDS: Final = 4
Json = dict[str, Any]

# The PutRecord request as tickwire's templates render it. String contents exclude '"',
# '\\' and control characters, so JSON would read them verbatim (no escapes to undo).
_CANONICAL_PUT_RECORD: Final = re.compile(
    rb'\{"StreamName":"([^"\\\x00-\x1f]+)",'
    # Data is checked by decoding it: a2b_base64(strict_mode) refuses what is not base64,
    # and encoding the result again must give Data back (canonical: whole quads, the
    # unused bits before padding zero, which is what Kinesis accepts). A regex of quads
    # did the same in 3.5 us a request; this split and the two calls take ~1.9 us.
    rb'"Data":"([^"]*)",'
    rb'"PartitionKey":"([^"\\\x00-\x1f]+)"\}'
).fullmatch
# What base64.b64decode(validate=True) runs for ASCII input.
_a2b_base64: Final = binascii.a2b_base64
_b2a_base64: Final = binascii.b2a_base64


def kinesis_error(error_type: str, message: str, status: int = 400) -> tuple[int, bytes]:
    """A Kinesis error answer: ``(status, {"__type": ..., "message": ...})``."""
    # Kinesis writes "Message" for SerializationException, "message" otherwise.
    key = "Message" if error_type == "SerializationException" else "message"
    return status, json.dumps({"__type": error_type, key: message}).encode()


def _ok(payload: Json | None) -> tuple[int, bytes]:
    if payload is None:  # CreateStream, SplitShard, tags, ...: Kinesis sends no body
        return 200, b""
    return 200, json.dumps(payload, separators=(",", ":")).encode()


def _shard_json(info: ShardInfo) -> Json:
    seqs: Json = {"StartingSequenceNumber": info.starting_sequence_number}
    if info.ending_sequence_number is not None:
        seqs["EndingSequenceNumber"] = info.ending_sequence_number
    out: Json = {
        "ShardId": info.shard_id,
        "HashKeyRange": {
            "StartingHashKey": str(info.starting_hash_key),
            "EndingHashKey": str(info.ending_hash_key),
        },
        "SequenceNumberRange": seqs,
    }
    if info.parent_shard_id:
        out["ParentShardId"] = info.parent_shard_id
    if info.adjacent_parent_shard_id:
        out["AdjacentParentShardId"] = info.adjacent_parent_shard_id
    return out


def _page_token(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(map(str, parts)).encode()).decode()


def _read_token(token: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except (ValueError, UnicodeError) as exc:
        raise InvalidArgument(f"Invalid NextToken: {token}") from exc


class _InUse(StreamError):
    error_type = "ResourceInUseException"


class _LimitExceeded(StreamError):
    error_type = "LimitExceededException"


class EmbeddedKinesisService:
    """The Kinesis JSON API over an :class:`EmbeddedKinesis` (an ``AwsServiceBackend``).

    Requests are checked against botocore's Kinesis model first
    (:mod:`infra.local.kinesis_validation`), then by each operation's rules, with
    Kinesis's error types and messages. ``shard_limit`` is the account's shard quota
    (open shards over all streams)."""

    def __init__(
        self,
        kinesis: EmbeddedKinesis,
        *,
        region: str = "us-east-1",
        shard_limit: int = SHARD_LIMIT,
    ) -> None:
        self.kinesis = kinesis
        self.region = region
        self.shard_limit = shard_limit
        self._actions: dict[str, Callable[[Json], Awaitable[Json | None]]] = {
            "PutRecords": self._put_records,
            "CreateStream": self._create_stream,
            "DeleteStream": self._delete_stream,
            "DescribeStream": self._describe_stream,
            "DescribeStreamSummary": self._describe_stream_summary,
            "ListStreams": self._list_streams,
            "ListShards": self._list_shards,
            "GetShardIterator": self._get_shard_iterator,
            "GetRecords": self._get_records,
            "SplitShard": self._split_shard,
            "MergeShards": self._merge_shards,
            "AddTagsToStream": self._add_tags,
            "RemoveTagsFromStream": self._remove_tags,
            "ListTagsForStream": self._list_tags,
            "IncreaseStreamRetentionPeriod": self._increase_retention,
            "DecreaseStreamRetentionPeriod": self._decrease_retention,
        }

    def answers_now(self, action: str) -> bool:
        """PutRecord answers without waiting (an ``ImmediateBackend``)."""
        return action == "PutRecord"

    def call_now(self, action: str, body: bytes) -> tuple[int, bytes]:
        if action != "PutRecord":
            raise ValueError(f"{action} does not answer at once; call it")
        return self._put_record_fast(body)

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        if action == "PutRecord":
            return self._put_record_fast(body)
        handler = self._actions.get(action)
        if handler is None:
            return kinesis_error("UnknownOperationException", f"unsupported action {action}")
        try:
            return _ok(await handler(self._request(action, body)))
        except StreamError as exc:
            return kinesis_error(exc.error_type, str(exc))

    @staticmethod
    def _request(action: str, body: bytes) -> Json:
        """The parsed, model-checked request (raises Serialization/ValidationError)."""
        try:
            request = loads(body)
        except (ValueError, RecursionError):
            raise SerializationError("request body is not JSON") from None
        if not isinstance(request, dict):
            raise SerializationError("Start of list found where not expected")
        return validate_request(action, request)

    def _arn(self, name: str) -> str:
        return f"arn:aws:kinesis:{self.region}:{ACCOUNT_ID}:stream/{name}"

    def _stream(self, request: Json) -> EmbeddedStream:
        name = request.get("StreamName")
        if name is None and "StreamARN" in request:
            name = request["StreamARN"].rsplit("/", 1)[-1]
        if name is None:
            raise ValidationError(
                "1 validation error detected: Value null at 'streamName' failed to satisfy "
                "constraint: Member must not be null"
            )
        return self.kinesis.get(name)

    def _put_record_fast(self, body: bytes) -> tuple[int, bytes]:
        """PutRecord, the gateway's per-message path (P4). A request in the exact shape
        tickwire's request templates render (``{"StreamName":"..","Data":"..",
        "PartitionKey":".."}``, no whitespace, no escapes, no control characters) is read
        by one regex match instead of a JSON parse; for such text the strings JSON would
        give are the matched bytes decoded as UTF-8, so the outcome is the same. Anything
        else, and any request whose fields fail (bad UTF-8, bad base64, a missing
        stream, a key or record over its limit), goes through
        :meth:`_put_record_general`, which answers it with Kinesis's errors (tested equal
        by a Hypothesis property)."""
        m = _CANONICAL_PUT_RECORD(body)
        if m is None:
            return self._put_record_general(body)
        encoded = m[2]
        try:
            data = _a2b_base64(encoded, strict_mode=True)
            if _b2a_base64(data, newline=False) != encoded:
                return self._put_record_general(body)  # not canonical base64
            stream = self.kinesis.get(m[1].decode())
            shard_id, sequence_number = stream.append_raw(m[3].decode(), data)
        except (ValueError, InvalidArgument, StreamNotFound):
            # UnicodeDecodeError, binascii.Error, a key or record too long, no stream:
            # nothing was appended; the general path answers Kinesis's error
            return self._put_record_general(body)
        except StreamError as exc:  # throttled
            return kinesis_error(exc.error_type, str(exc))
        return 200, b'{"ShardId":"%s","SequenceNumber":"%s"}' % (
            shard_id.encode(),
            sequence_number.encode(),
        )

    def _put_record_general(self, body: bytes) -> tuple[int, bytes]:
        """PutRecord for any request body: parse, model checks, Kinesis's rules, append."""
        try:
            request = self._request("PutRecord", body)
            stream = self._stream(request)
            explicit = self._explicit_hash_key(request)
            ordering = request.get("SequenceNumberForOrdering")
            if ordering is not None and not _issued_by(stream, ordering):
                # Kinesis: a SequenceNumberForOrdering it never gave is refused.
                raise InvalidArgument(
                    f"ExclusiveMinimumSequenceNumber {ordering} used in PutRecord on stream "
                    f"{stream.name} under account {ACCOUNT_ID} is invalid."
                )
            shard_id, sequence_number = stream.append_raw(
                request["PartitionKey"], base64.b64decode(request["Data"]), explicit
            )
        except StreamError as exc:
            return kinesis_error(exc.error_type, str(exc))
        # Sequence numbers only grow within a stream, so every record already comes after
        # any SequenceNumberForOrdering this stream issued (Kinesis's ordering guarantee).
        return _ok({"ShardId": shard_id, "SequenceNumber": sequence_number})

    @staticmethod
    def _explicit_hash_key(entry: Json) -> int | None:
        text = entry.get("ExplicitHashKey")
        return None if text is None else int(text)  # the model's pattern: decimal digits

    async def _put_records(self, request: Json) -> Json:
        stream = self._stream(request)
        entries = [
            (r["PartitionKey"], base64.b64decode(r["Data"]), self._explicit_hash_key(r))
            for r in request["Records"]
        ]
        # Kinesis semantics: each entry succeeds or fails on its own; no retries here.
        out: list[Json] = []
        failed = 0
        for key, data, explicit in entries:
            try:
                shard_id, sequence_number = stream.append_raw(key, data, explicit)
                out.append({"ShardId": shard_id, "SequenceNumber": sequence_number})
            except StreamError as exc:
                if isinstance(exc, InvalidArgument):
                    raise
                failed += 1
                out.append({"ErrorCode": exc.error_type, "ErrorMessage": str(exc)})
        return {"FailedRecordCount": failed, "Records": out}

    def _open_shards(self) -> int:
        return sum(self.kinesis.get(n).open_shard_count for n in self.kinesis.names)

    def _check_shard_limit(self, more: int) -> None:
        current = self._open_shards()
        if current + more > self.shard_limit:
            raise _LimitExceeded(
                f"This request would exceed the shard limit for the account {ACCOUNT_ID} in "
                f"{self.region}. Current shard count for the account: {current}. Limit: "
                f"{self.shard_limit}. Number of additional shards that would have resulted "
                f"from this request: {more}. Refer to the AWS Service Limits page "
                "(https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
                "for current limits and how to request higher limits."
            )

    async def _create_stream(self, request: Json) -> None:
        name = request["StreamName"]
        mode = request.get("StreamModeDetails", {}).get("StreamMode")
        count = request.get("ShardCount")
        if mode is None:  # Kinesis: without a shard count the stream is on-demand
            mode = "PROVISIONED" if count is not None else "ON_DEMAND"
        if mode == "ON_DEMAND":
            if count is not None:
                raise InvalidArgument("ShardCount is not supported for ON_DEMAND streams.")
            count = ON_DEMAND_SHARDS
        elif count is None:
            raise InvalidArgument("ShardCount is required for PROVISIONED streams.")
        if name in self.kinesis.names:
            raise _InUse(f"Stream {name} under account {ACCOUNT_ID} already exists.")
        tags = request.get("Tags", {})
        _check_tags(name, tags)
        self._check_shard_limit(count)
        stream = self.kinesis.create_stream(name, count)
        stream.mode = mode
        stream.tags.update(tags)

    async def _delete_stream(self, request: Json) -> None:
        self.kinesis.delete_stream(self._stream(request).name)

    def _description(self, stream: EmbeddedStream) -> Json:
        return {
            "StreamName": stream.name,
            "StreamARN": self._arn(stream.name),
            "StreamStatus": "ACTIVE",
            "StreamModeDetails": {"StreamMode": stream.mode},
            "RetentionPeriodHours": stream.retention_hours,
            "StreamCreationTimestamp": stream.created_at,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
        }

    async def _describe_stream(self, request: Json) -> Json:
        stream = self._stream(request)
        shards = _after(await stream.list_shards(), request.get("ExclusiveStartShardId"))
        limit = request.get("Limit", DESCRIBE_STREAM_PAGE)
        return {
            "StreamDescription": {
                **self._description(stream),
                "Shards": [_shard_json(s) for s in shards[:limit]],
                "HasMoreShards": len(shards) > limit,
            }
        }

    async def _describe_stream_summary(self, request: Json) -> Json:
        stream = self._stream(request)
        return {
            "StreamDescriptionSummary": {
                **self._description(stream),
                "OpenShardCount": stream.open_shard_count,
                "ConsumerCount": 0,
            }
        }

    async def _list_streams(self, request: Json) -> Json:
        names = self.kinesis.names
        start = request.get("ExclusiveStartStreamName")
        token = request.get("NextToken")
        if token is not None:
            start = _read_token(token)[0]
        if start is not None:
            names = [n for n in names if n > start]
        limit = request.get("Limit", LIST_STREAMS_PAGE)
        page = names[:limit]
        out: Json = {
            "StreamNames": page,
            "HasMoreStreams": len(names) > limit,
            "StreamSummaries": [
                {
                    "StreamName": n,
                    "StreamARN": self._arn(n),
                    "StreamStatus": "ACTIVE",
                    "StreamModeDetails": {"StreamMode": self.kinesis.get(n).mode},
                    "StreamCreationTimestamp": self.kinesis.get(n).created_at,
                }
                for n in page
            ],
        }
        if len(names) > limit:
            out["NextToken"] = _page_token(page[-1])
        return out

    async def _list_shards(self, request: Json) -> Json:
        token = request.get("NextToken")
        named = "StreamName" in request or "StreamARN" in request
        if token is not None and named:
            # (Kinesis's rule; botocore's list_shards paginator sends both and fails on
            # AWS past the first page too: boto/botocore#2009)
            which = "StreamName" if "StreamName" in request else "StreamARN"
            raise InvalidArgument(f"NextToken and {which} cannot be provided together.")
        if token is None and not named:
            raise InvalidArgument("Either NextToken or StreamName should be provided.")
        start_after = request.get("ExclusiveStartShardId")
        if token is not None:
            parts = _read_token(token)
            if len(parts) != 2:
                raise InvalidArgument(f"Invalid NextToken: {token}")
            stream, start_after = self.kinesis.get(parts[0]), parts[1]
        else:
            stream = self._stream(request)
        shards = _after(await stream.list_shards(), start_after)
        page = request.get("MaxResults", LIST_SHARDS_PAGE)
        out: Json = {"Shards": [_shard_json(s) for s in shards[:page]]}
        if len(shards) > page:
            out["NextToken"] = _page_token(stream.name, shards[page - 1].shard_id)
        return out

    async def _get_shard_iterator(self, request: Json) -> Json:
        stream = self._stream(request)
        stamp = request.get("Timestamp")
        iterator = await stream.get_shard_iterator(
            request["ShardId"],
            request["ShardIteratorType"],
            sequence_number=request.get("StartingSequenceNumber"),
            timestamp=None if stamp is None else float(stamp),
        )
        return {"ShardIterator": iterator}

    async def _get_records(self, request: Json) -> Json:
        iterator = request["ShardIterator"]
        stream = self._stream_of_iterator(iterator)
        # Over the API an iterator expires after 5 minutes whatever the stream's settings
        # (Kinesis: ExpiredIteratorException); consumers get a new one.
        r = await stream.get_records(
            iterator, limit=request.get("Limit", MAX_GET_RECORDS), recover_expired=False
        )
        out: Json = {
            "Records": [
                {
                    "SequenceNumber": x.sequence_number,
                    "PartitionKey": x.partition_key,
                    "Data": base64.b64encode(x.data).decode(),
                    "ApproximateArrivalTimestamp": x.arrival,
                }
                for x in r.records
            ],
            "MillisBehindLatest": r.millis_behind_latest,
        }
        if r.next_iterator is not None:
            out["NextShardIterator"] = r.next_iterator
        return out

    def _stream_of_iterator(self, iterator: str) -> EmbeddedStream:
        parsed = parse_iterator(iterator)
        if parsed is None:
            raise InvalidArgument("Invalid ShardIterator.")
        _token, name, shard_id, _pos, _issued = parsed
        try:
            stream = self.kinesis.get(name)
        except StreamNotFound:
            stream = None
        if stream is None or not stream.owns_iterator(iterator):
            # the stream was deleted (or deleted and made again) since
            raise StreamNotFound(
                f"Shard {shard_id} in stream {name} under account {ACCOUNT_ID} does not exist"
            )
        return stream

    async def _split_shard(self, request: Json) -> None:
        stream = self._stream(request)
        shard_id = stream.resolve_shard(request["ShardToSplit"])
        self._check_shard_limit(1)
        stream.split_shard(shard_id, int(request["NewStartingHashKey"]))

    async def _merge_shards(self, request: Json) -> None:
        self._stream(request).merge_shards(request["ShardToMerge"], request["AdjacentShardToMerge"])

    async def _add_tags(self, request: Json) -> None:
        stream = self._stream(request)
        tags = request["Tags"]
        _check_tags(stream.name, tags)
        if len(stream.tags.keys() | tags.keys()) > MAX_TAGS:
            raise InvalidArgument(
                f"Failed to add tags to stream {stream.name} under account {ACCOUNT_ID} "
                f"because a given stream cannot have more than {MAX_TAGS} tags associated "
                "with it."
            )
        stream.tags.update(tags)

    async def _remove_tags(self, request: Json) -> None:
        stream = self._stream(request)
        for key in request["TagKeys"]:
            stream.tags.pop(key, None)

    async def _list_tags(self, request: Json) -> Json:
        stream = self._stream(request)
        keys = sorted(stream.tags)
        start = request.get("ExclusiveStartTagKey")
        if start is not None:
            keys = [k for k in keys if k > start]
        limit = request.get("Limit", LIST_TAGS_PAGE)
        return {
            "Tags": [{"Key": k, "Value": stream.tags[k]} for k in keys[:limit]],
            "HasMoreTags": len(keys) > limit,
        }

    async def _increase_retention(self, request: Json) -> None:
        self._set_retention(request, increase=True)

    async def _decrease_retention(self, request: Json) -> None:
        self._set_retention(request, increase=False)

    def _set_retention(self, request: Json, *, increase: bool) -> None:
        stream = self._stream(request)
        hours = request["RetentionPeriodHours"]
        if hours < MIN_RETENTION_HOURS:
            raise InvalidArgument(
                f"Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested "
                f"retention period ({hours} hours) is too short."
            )
        if hours > MAX_RETENTION_HOURS:
            raise InvalidArgument(
                f"Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested "
                f"retention period ({hours} hours) is too long."
            )
        current = stream.retention_hours
        if increase and hours < current:
            raise InvalidArgument(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not "
                f"be shorter than existing retention period ({current} hours). Use "
                "DecreaseRetentionPeriod API."
            )
        if not increase and hours > current:
            raise InvalidArgument(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not "
                f"be longer than existing retention period ({current} hours). Use "
                "IncreaseRetentionPeriod API."
            )
        stream.retention_hours = hours
        stream.retention = hours * 3600.0


def _after(shards: list[ShardInfo], shard_id: str | None) -> list[ShardInfo]:
    """The shards listed after ``shard_id`` (ids compare in Kinesis's full form)."""
    if shard_id is None:
        return shards
    start = resolve_shard_id(shard_id) or shard_id
    return [s for s in shards if s.shard_id > start]


def _issued_by(stream: EmbeddedStream, sequence_number: str) -> bool:
    n = int(sequence_number)
    return n >= SEQUENCE_BASE and n <= stream.last_sequence_number()


# Kinesis tag rules: Unicode letters, digits, white space and _ . / = + - % @ :
_TAG_TEXT: Final = re.compile(r"[\w\s./=+\-%@:]*")


def _check_tags(name: str, tags: dict[str, str]) -> None:
    if not all(_TAG_TEXT.fullmatch(t) for t in (*tags, *tags.values())):
        raise InvalidArgument(
            "Some tags contain invalid characters. Valid characters: Unicode letters, "
            "digits, white space, _ . / = + - % @ :."
        )
