"""Kinesis as the gateway's AWS service backend, and as a Kinesis-compatible HTTP endpoint.

- :class:`EmbeddedKinesisService` (:mod:`infra.local.kinesis_api`) answers Kinesis JSON
  API calls from an :class:`~infra.local.stream.EmbeddedKinesis` as Kinesis does. The
  gateway calls it in-process for every route integrated with Kinesis (the default of
  ``tickwire up``).
- :class:`RemoteKinesisService` forwards the same calls to any Kinesis endpoint (AWS, or
  moto_server on 127.0.0.1) through one long-lived aioboto3 client (the gateway's
  ``--aws-endpoint-url``).
- :class:`KinesisHttpServer` serves an ``AwsServiceBackend`` over HTTP as Kinesis does
  (``POST /``, ``X-Amz-Target: Kinesis_20131202.<Action>``, ``application/x-amz-json-1.1``),
  so the real SDK (and other processes) can use the embedded stream: every answer carries
  ``x-amzn-RequestId``, and a method other than POST gets Kinesis's 403. It does not check
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
import uuid
from typing import Any, Final

from aiohttp import web

from infra.local.kinesis_api import EmbeddedKinesisService, kinesis_error
from ingest.errors import InvalidArgument

__all__ = ["EmbeddedKinesisService", "KinesisHttpServer", "RemoteKinesisService"]

_TARGET_PREFIX: Final = "Kinesis_20131202."
_CONTENT_TYPE: Final = "application/x-amz-json-1.1"
_NOT_AN_OPERATION: Final = (
    b"<AccessDeniedException>\n"
    b"  <Message>Unable to determine service/operation name to be authorized</Message>\n"
    b"</AccessDeniedException>\n"
)
# PutRecords carries at most 5 MiB of data; base64 grows it by 4/3, JSON adds keys.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgument("Data must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument("Data is not valid base64") from exc


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
            return kinesis_error("SerializationException", "request body is not a valid request")
        except InvalidArgument as exc:
            return kinesis_error(exc.error_type, str(exc))
        client = await self._open()
        operation = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
        method = getattr(client, operation, None)
        if method is None:
            return kinesis_error("UnknownOperationException", f"unsupported action {action}")
        try:
            response = await method(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
            return kinesis_error(
                str(error.get("Code", "InternalFailure")), str(error.get("Message", "")), status
            )
        except BotoCoreError as exc:
            return kinesis_error("InternalFailure", str(exc), 500)
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
        # Kinesis reads the operation from X-Amz-Target, whatever the path and method.
        self._app.router.add_route("*", "/{path:.*}", self._handle)
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
        # Every answer carries a request id, as Kinesis's do (the SDK logs it).
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if request.method != "POST":
            # What Kinesis's front end answers a request it cannot map to an operation.
            return web.Response(status=403, body=_NOT_AN_OPERATION, headers=headers)
        target = request.headers.get("X-Amz-Target", "")
        if not target.startswith(_TARGET_PREFIX):
            status, body = kinesis_error("UnknownOperationException", f"unknown target {target!r}")
        else:
            status, body = await self.service.call(
                target[len(_TARGET_PREFIX) :], await request.read()
            )
        return web.Response(status=status, body=body, content_type=_CONTENT_TYPE, headers=headers)
