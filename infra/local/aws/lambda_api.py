"""Lambda's Invoke API for a template's functions, on 127.0.0.1 (``AWS_ENDPOINT_URL_LAMBDA``).

A handler that calls ``boto3.client("lambda").invoke(FunctionName=..., ...)`` (or the
JavaScript SDK's ``InvokeCommand``) reaches the gateway's own Lambda runtime, as
``sam local start-lambda`` does: ``RequestResponse`` answers the function's result (a
handler error: 200 with ``X-Amz-Function-Error: Unhandled`` and Lambda's error document),
``Event`` answers 202 at once and runs the function in the background, retried twice on
error as Lambda retries asynchronous invocations, ``DryRun`` answers 204. The function is
named by name, ARN or partial ARN, with or without a qualifier.

Backpressure: synchronous invocations wait for a worker of the function (its pool's bound);
asynchronous ones are queued per function, at most ``MAX_QUEUED_EVENTS``, beyond which the
call is refused with 429 ``TooManyRequestsException``, as Lambda throttles.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from infra.local.gateway.errors import FunctionError, FunctionTimeout, LambdaError
from infra.local.gateway.lambdas import LambdaRuntime
from infra.local.gateway.model import LambdaFunction

__all__ = ["LambdaApi"]

log = logging.getLogger(__name__)

# Lambda retries a failed asynchronous invocation twice, waiting longer each time
# (1 minute, then 2 on AWS; shorter here so a local run shows the retries).
ASYNC_RETRY_DELAYS_S = (1.0, 2.0)
MAX_QUEUED_EVENTS = 1000


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"Type": "User", "message": message},
        status=status,
        headers={"x-amzn-ErrorType": kind},
    )


def function_name(reference: str) -> str:
    """The function name in a name, ARN or partial ARN (``123:function:f:live``)."""
    if ":function:" in reference:
        return reference.split(":function:", 1)[1].split(":")[0]
    if reference.startswith("function:"):
        return reference.split(":")[1]
    return reference.split(":")[0]


class LambdaApi:
    """``start()`` serves ``/2015-03-31/functions/{name}/invocations``; ``url`` after."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        functions: Mapping[str, LambdaFunction],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.runtime = runtime
        self.functions = {f.name: f for f in functions.values()}
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._queued = 0

    async def start(self) -> str:
        app = web.Application(client_max_size=6 * 1024 * 1024 + 1024)
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self._invoke)
        app.router.add_post("/2014-11-13/functions/{name}/invoke-async/", self._invoke_async)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _function(self, request: web.Request) -> LambdaFunction | None:
        return self.functions.get(function_name(request.match_info["name"]))

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        function = self._function(request)
        if function is None:
            name = request.match_info["name"]
            return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
        raw = await request.read()
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _error(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            )
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return web.Response(status=204)
        if kind == "Event":
            return self._enqueue(function, event)
        if kind != "RequestResponse":
            return _error(400, "InvalidParameterValueException", f"InvocationType {kind}")
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        try:
            result = await self.runtime.invoke(function, event)
        except FunctionTimeout as exc:
            document = {"errorType": "Sandbox.Timedout", "errorMessage": str(exc)}
            return web.json_response(
                document, headers={**headers, "X-Amz-Function-Error": "Unhandled"}
            )
        except FunctionError as exc:
            document = {"errorType": exc.error_type, "errorMessage": exc.error_message}
            return web.json_response(
                document, headers={**headers, "X-Amz-Function-Error": "Unhandled"}
            )
        except LambdaError as exc:
            return _error(502, "ServiceException", str(exc))
        return web.Response(body=json.dumps(result).encode(), content_type="application/json",
                            headers=headers)  # fmt: skip

    async def _invoke_async(self, request: web.Request) -> web.StreamResponse:
        """The deprecated InvokeAsync action: an Event invocation."""
        function = self._function(request)
        if function is None:
            return _error(404, "ResourceNotFoundException", "Function not found")
        raw = await request.read()
        response = self._enqueue(function, json.loads(raw) if raw.strip() else {})
        return web.json_response({"Status": 202}, status=response.status)

    def _enqueue(self, function: LambdaFunction, event: Any) -> web.Response:
        if self._queued >= MAX_QUEUED_EVENTS:
            return _error(429, "TooManyRequestsException", "Rate Exceeded.")
        self._queued += 1
        task = asyncio.get_running_loop().create_task(self._run_event(function, event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.Response(status=202)

    async def _run_event(self, function: LambdaFunction, event: Any) -> None:
        try:
            for attempt, delay in enumerate((0.0, *ASYNC_RETRY_DELAYS_S)):
                await asyncio.sleep(delay)
                try:
                    await self.runtime.invoke(function, event)
                    return
                except LambdaError as exc:
                    log.warning("lambda %s: async invocation attempt %d failed: %s",
                                function.name, attempt + 1, exc)  # fmt: skip
        finally:
            self._queued -= 1

    async def stop(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        # The tasks' own ends (cancelled, or failed) are theirs; a cancellation of this
        # stop itself (a caller's bound running out) still propagates.
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
