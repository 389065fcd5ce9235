"""Kinesis as the gateway's AWS service backend, and as a Kinesis-compatible HTTP endpoint.

- :class:`EmbeddedKinesisService` answers Kinesis JSON API calls (``PutRecord``,
  ``PutRecords``, ``GetRecords``, ...) from an :class:`~infra.local.stream.EmbeddedKinesis`,
  with Kinesis's request and response shapes and its errors
  (``{"__type": "ResourceNotFoundException", "message": ...}`` with status 400). The gateway
  calls it in-process for every route integrated with Kinesis (the default of ``tickwire up``).
- :class:`RemoteKinesisService` forwards the same calls to any Kinesis endpoint (AWS, or
  moto_server on 127.0.0.1) through one long-lived aioboto3 client (the gateway's
  ``--aws-endpoint-url``).
- :class:`KinesisHttpServer` serves an ``AwsServiceBackend`` over HTTP as Kinesis does
  (``POST /``, ``X-Amz-Target: Kinesis_20131202.<Action>``, ``application/x-amz-json-1.1``),
  so the real SDK (and other processes) can use the embedded stream. It does not check
  SigV4 signatures. Binds to 127.0.0.1.

Backpressure: a call is answered when the embedded stream has taken it (an append is
in-memory and O(1)); the HTTP server bounds request bodies at ``max_body_bytes`` (the
PutRecords limit plus base64 and JSON overhead).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from infra.local.stream import EmbeddedKinesis, EmbeddedStream
from ingest.errors import InvalidArgument, StreamError
from ingest.stream import ShardInfo

__all__ = ["EmbeddedKinesisService", "KinesisHttpServer", "RemoteKinesisService"]

_TARGET_PREFIX: Final = "Kinesis_20131202."
_CONTENT_TYPE: Final = "application/x-amz-json-1.1"
# Kinesis ListShards: MaxResults defaults to 1,000 (API reference).
LIST_SHARDS_PAGE: Final = 1000
# PutRecords carries at most 5 MiB of data; base64 grows it by 4/3, JSON adds keys.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

Json = dict[str, Any]

# The PutRecord request as tickwire's templates render it. String contents exclude '"',
# '\\' and control characters, so JSON would read them verbatim (no escapes to undo).
_CANONICAL_PUT_RECORD: Final = re.compile(
    rb'\{"StreamName":"([^"\\\x00-\x1f]+)",'
    rb'"Data":"([A-Za-z0-9+/]*={0,2})",'
    rb'"PartitionKey":"([^"\\\x00-\x1f]+)"\}'
).fullmatch
# What base64.b64decode(validate=True) runs for ASCII input.
_a2b_base64: Final = binascii.a2b_base64


def _error(error_type: str, message: str, status: int = 400) -> tuple[int, bytes]:
    return status, json.dumps({"__type": error_type, "message": message}).encode()


def _ok(payload: Json) -> tuple[int, bytes]:
    return 200, json.dumps(payload, separators=(",", ":")).encode()


def _appended(stream: EmbeddedStream, key: str, data: bytes) -> tuple[int, bytes]:
    """The PutRecord answer for one append (or its error)."""
    try:
        shard_id, sequence_number = stream.append_raw(key, data)
    except StreamError as exc:
        return _error(exc.error_type, str(exc))
    return 200, b'{"ShardId":"%s","SequenceNumber":"%s"}' % (
        shard_id.encode(),
        sequence_number.encode(),
    )


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgument("Data must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument("Data is not valid base64") from exc


def _str(request: Json, name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{name} is required")
    return value


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


class EmbeddedKinesisService:
    """The Kinesis JSON API over an :class:`EmbeddedKinesis` (an ``AwsServiceBackend``)."""

    def __init__(self, kinesis: EmbeddedKinesis) -> None:
        self.kinesis = kinesis
        self._actions: dict[str, Callable[[Json], Awaitable[Json]]] = {
            "PutRecords": self._put_records,
            "CreateStream": self._create_stream,
            "DeleteStream": self._delete_stream,
            "DescribeStreamSummary": self._describe_stream_summary,
            "ListStreams": self._list_streams,
            "ListShards": self._list_shards,
            "GetShardIterator": self._get_shard_iterator,
            "GetRecords": self._get_records,
            "SplitShard": self._split_shard,
            "MergeShards": self._merge_shards,
        }

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        if action == "PutRecord":
            return self._put_record_fast(body)
        handler = self._actions.get(action)
        if handler is None:
            return _error("UnknownOperationException", f"unsupported action {action}")
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return _error("SerializationException", "request body is not JSON")
        if not isinstance(request, dict):
            return _error("SerializationException", "request body is not a JSON object")
        try:
            return _ok(await handler(request))
        except StreamError as exc:
            return _error(exc.error_type, str(exc))

    def _stream(self, request: Json) -> EmbeddedStream:
        name = request.get("StreamName")
        if not isinstance(name, str) and isinstance(request.get("StreamARN"), str):
            name = request["StreamARN"].rsplit("/", 1)[-1]
        if not isinstance(name, str) or not name:
            raise InvalidArgument("StreamName is required")
        return self.kinesis.get(name)

    def _put_record_fast(self, body: bytes) -> tuple[int, bytes]:
        """PutRecord, the gateway's per-message path (P4). A request in the exact shape
        tickwire's request templates render (``{"StreamName":"..","Data":"..",
        "PartitionKey":".."}``, no whitespace, no escapes, no control characters) is read
        by one regex match instead of a JSON parse; for such text the strings JSON would
        give are the matched bytes decoded as UTF-8, so the outcome is the same. Anything
        else, and any request whose fields fail (bad UTF-8, bad base64, a missing
        stream), goes through :meth:`_put_record_general`, which answers it with
        Kinesis's errors; both paths append through :func:`_appended` (tested equal by a
        Hypothesis property)."""
        m = _CANONICAL_PUT_RECORD(body)
        if m is None:
            return self._put_record_general(body)
        try:
            stream = self.kinesis.get(m[1].decode())
            key = m[3].decode()
            data = _a2b_base64(m[2], strict_mode=True)
        except (ValueError, StreamError):  # UnicodeDecodeError, binascii.Error, not found
            return self._put_record_general(body)  # no side effect yet: it answers the error
        return _appended(stream, key, data)

    def _put_record_general(self, body: bytes) -> tuple[int, bytes]:
        """PutRecord for any request body: JSON parse, field checks, base64, append."""
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return _error("SerializationException", "request body is not JSON")
        if not isinstance(request, dict):
            return _error("SerializationException", "request body is not a JSON object")
        try:
            stream = self._stream(request)
            key, data = _str(request, "PartitionKey"), _b64(request.get("Data"))
        except StreamError as exc:
            return _error(exc.error_type, str(exc))
        return _appended(stream, key, data)

    async def _put_records(self, request: Json) -> Json:
        stream = self._stream(request)
        records = request.get("Records")
        if not isinstance(records, list) or not 1 <= len(records) <= 500:
            raise InvalidArgument("Records must hold 1 to 500 entries")
        entries = [
            (_str(r, "PartitionKey"), _b64(r.get("Data"))) for r in records if isinstance(r, dict)
        ]
        if len(entries) != len(records):
            raise InvalidArgument("each record must be an object")
        # Kinesis semantics: each entry succeeds or fails on its own; no retries here.
        out: list[Json] = []
        failed = 0
        for key, data in entries:
            try:
                r = stream.append(key, data)
                out.append({"ShardId": r.shard_id, "SequenceNumber": r.sequence_number})
            except StreamError as exc:
                if isinstance(exc, InvalidArgument):
                    raise
                failed += 1
                out.append({"ErrorCode": exc.error_type, "ErrorMessage": str(exc)})
        return {"FailedRecordCount": failed, "Records": out}

    async def _create_stream(self, request: Json) -> Json:
        count = request.get("ShardCount", 1)
        if not isinstance(count, int) or count < 1:
            raise InvalidArgument("ShardCount must be a positive integer")
        name = _str(request, "StreamName")
        if name in self.kinesis.names:
            raise _InUse(f"Stream {name} already exists")
        self.kinesis.create_stream(name, count)
        return {}

    async def _delete_stream(self, request: Json) -> Json:
        self.kinesis.delete_stream(self._stream(request).name)
        return {}

    async def _describe_stream_summary(self, request: Json) -> Json:
        stream = self._stream(request)
        shards = await stream.list_shards()
        return {
            "StreamDescriptionSummary": {
                "StreamName": stream.name,
                "StreamARN": f"arn:aws:kinesis:us-east-1:000000000000:stream/{stream.name}",
                "StreamStatus": "ACTIVE",
                "RetentionPeriodHours": int(stream.settings.retention // 3600),
                "StreamCreationTimestamp": 0,
                "EnhancedMonitoring": [],
                "OpenShardCount": sum(1 for s in shards if s.is_open),
            }
        }

    async def _list_streams(self, request: Json) -> Json:
        return {"StreamNames": self.kinesis.names, "HasMoreStreams": False}

    async def _list_shards(self, request: Json) -> Json:
        token = request.get("NextToken")
        start = 0
        if isinstance(token, str):
            try:
                name, index = base64.urlsafe_b64decode(token).decode().rsplit("|", 1)
                start = int(index)
            except (ValueError, UnicodeError) as exc:
                raise InvalidArgument("invalid NextToken") from exc
            stream = self.kinesis.get(name)
        else:
            stream = self._stream(request)
        page = request.get("MaxResults", LIST_SHARDS_PAGE)
        if not isinstance(page, int) or not 1 <= page <= 10_000:
            raise InvalidArgument("MaxResults must be 1 to 10000")
        shards = await stream.list_shards()
        out: Json = {"Shards": [_shard_json(s) for s in shards[start : start + page]]}
        if start + page < len(shards):
            out["NextToken"] = base64.urlsafe_b64encode(
                f"{stream.name}|{start + page}".encode()
            ).decode()
        return out

    async def _get_shard_iterator(self, request: Json) -> Json:
        stream = self._stream(request)
        stamp = request.get("Timestamp")
        if stamp is not None and not isinstance(stamp, int | float):
            raise InvalidArgument("Timestamp must be epoch seconds")
        iterator = await stream.get_shard_iterator(
            _str(request, "ShardId"),
            request.get("ShardIteratorType"),  # type: ignore[arg-type]
            sequence_number=request.get("StartingSequenceNumber"),
            timestamp=None if stamp is None else float(stamp),
        )
        return {"ShardIterator": iterator}

    async def _get_records(self, request: Json) -> Json:
        iterator = _str(request, "ShardIterator")
        stream = self._stream_of_iterator(iterator)
        limit = request.get("Limit", 10_000)
        if not isinstance(limit, int):
            raise InvalidArgument("Limit must be an integer")
        r = await stream.get_records(iterator, limit=limit)
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
        # Iterators are per stream; the request does not name the stream, so try each
        # (there are a handful); only the issuing stream accepts the token.
        for name in self.kinesis.names:
            stream = self.kinesis.get(name)
            if stream.owns_iterator(iterator):
                return stream
        raise InvalidArgument("invalid shard iterator")

    async def _split_shard(self, request: Json) -> Json:
        key = _str(request, "NewStartingHashKey")
        if not key.isdigit():
            raise InvalidArgument("NewStartingHashKey must be a decimal integer")
        self._stream(request).split_shard(_str(request, "ShardToSplit"), int(key))
        return {}

    async def _merge_shards(self, request: Json) -> Json:
        self._stream(request).merge_shards(
            _str(request, "ShardToMerge"), _str(request, "AdjacentShardToMerge")
        )
        return {}


class _InUse(StreamError):
    error_type = "ResourceInUseException"


class RemoteKinesisService:
    """Forwards Kinesis JSON API calls to ``endpoint_url`` (None: AWS's own endpoint for
    ``region``) through one long-lived aioboto3 client, opened on first use."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _open(self) -> Any:
        async with self._lock:
            if self._client is None:
                import aioboto3

                self._client = await self._stack.enter_async_context(
                    aioboto3.Session().client(
                        "kinesis", endpoint_url=self.endpoint_url, region_name=self.region
                    )
                )
        return self._client

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("not an object")
            # The JSON wire form carries blobs as base64; the SDK wants bytes.
            if "Data" in request:
                request["Data"] = _b64(request["Data"])
            for record in request.get("Records", []) if action == "PutRecords" else []:
                record["Data"] = _b64(record.get("Data"))
        except (ValueError, RecursionError, AttributeError, TypeError):
            return _error("SerializationException", "request body is not a valid request")
        except InvalidArgument as exc:
            return _error(exc.error_type, str(exc))
        client = await self._open()
        operation = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
        method = getattr(client, operation, None)
        if method is None:
            return _error("UnknownOperationException", f"unsupported action {action}")
        try:
            response = await method(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            return _error(
                str(error.get("Code", "InternalFailure")), str(error.get("Message", "")), status
            )
        except BotoCoreError as exc:
            return _error("InternalFailure", str(exc), 500)
        response.pop("ResponseMetadata", None)
        return 200, json.dumps(response, default=_json_default).encode()

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if hasattr(value, "timestamp"):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


class KinesisHttpServer:
    """An ``AwsServiceBackend`` served as a Kinesis endpoint on 127.0.0.1."""

    def __init__(
        self,
        service: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self._app = web.Application(client_max_size=max_body_bytes)
        self._app.router.add_post("/", self._handle)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith(_TARGET_PREFIX):
            status, body = _error("UnknownOperationException", f"unknown target {target!r}")
        else:
            status, body = await self.service.call(
                target[len(_TARGET_PREFIX) :], await request.read()
            )
        return web.Response(status=status, body=body, content_type=_CONTENT_TYPE)
