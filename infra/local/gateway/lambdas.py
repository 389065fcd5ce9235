"""The local Lambda runtime: warm worker processes per function.

Theory of operation: each :class:`~infra.local.gateway.model.LambdaFunction` gets a pool of
at most ``workers_per_function`` processes (``python -m infra.local.gateway.lambda_runtime``),
each started with that function's environment (the parent's environment, Lambda's
reserved variables, then the function's own ``environment``, which wins) and its code path.
An invocation borrows an idle worker (or starts one), writes the event as one JSON line,
and waits for the answer line for at most the function's timeout; a worker that times out
is killed (Lambda's "Task timed out") and replaced on demand. Handlers therefore block only
their own process: a handler that calls this gateway's ``@connections`` API with sync
boto3 never stalls the event loop, and functions never see each other's variables.

Node.js functions (``runtime`` ``nodejs*``) run the same way in ``node
lambda_runtime.mjs`` workers, which speak the same line protocol. A function whose
runtime cannot run here (``LambdaFunction.unavailable``) fails every invocation with
``Runtime.Unavailable`` and that reason, and is never started.

Layers: Lambda extracts them to ``/opt`` and puts ``/opt/python`` (Python) or
``/opt/nodejs/node_modules`` (Node.js) on the module path; locally each layer folder's
equivalents go on ``PYTHONPATH``/``NODE_PATH`` after the function's own code.

Backpressure: at most ``workers_per_function`` invocations of one function run at once;
further callers wait their turn on a semaphore (their own integration timeout bounds the
wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import FunctionError, FunctionTimeout, LambdaError
from .ids import new_request_id
from .model import LambdaFunction

__all__ = ["LambdaRuntime"]

log = logging.getLogger(__name__)

# Lambda's init phase may take at most 10 s (Lambda execution environment lifecycle).
INIT_TIMEOUT_S = 10.0
# Lambda's synchronous invocation payload quota is 6 MB; lines may be that long.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 1024
NODE_WORKER = Path(__file__).with_name("lambda_runtime.mjs")


def is_node(function: LambdaFunction) -> bool:
    return function.runtime.startswith("nodejs")


def runtime_node_modules() -> Path | None:
    """The local stand-in for the packages Lambda's Node.js runtime preinstalls (the AWS
    SDK v3, in ``/var/runtime/node_modules`` on Lambda): ``TICKWIRE_NODE_MODULES``, else
    ``~/.tickwire/node/node_modules`` (filled with ``npm install --prefix
    ~/.tickwire/node @aws-sdk/client-dynamodb ...``); None when the folder is not there."""
    configured = os.environ.get("TICKWIRE_NODE_MODULES")
    folder = Path(configured) if configured else Path.home() / ".tickwire/node/node_modules"
    return folder if folder.is_dir() else None


def _layer_path(function: LambdaFunction, inherited: str | None) -> tuple[str, str] | None:
    """(variable, value) putting the function's layers on its module path, and for
    Node.js the runtime's preinstalled packages last, as Lambda orders them."""
    if is_node(function):
        folders = [layer / "nodejs" / "node_modules" for layer in function.layers]
        runtime = runtime_node_modules()
        if runtime is not None:
            folders.append(runtime)
        variable = "NODE_PATH"
    else:
        folders = [layer / "python" for layer in function.layers]
        variable = "PYTHONPATH"
    if not folders:
        return None
    parts = [str(f) for f in folders] + ([inherited] if inherited else [])
    return variable, os.pathsep.join(parts)


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def call(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise LambdaError("worker exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def alive(self) -> bool:
        return self.process.returncode is None

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with contextlib.suppress(Exception):
            await self.process.wait()


class _Pool:
    def __init__(self, runtime: LambdaRuntime, function: LambdaFunction, size: int) -> None:
        self.runtime = runtime
        self.function = function
        self.idle: list[_Worker] = []
        self.all: set[_Worker] = set()
        self.slots = asyncio.Semaphore(size)

    def environment(self) -> dict[str, str]:
        f = self.function
        region = self.runtime.region
        env = dict(os.environ)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": f.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(f.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{f.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{new_request_id()}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{f.runtime}"
                if f.runtime
                else f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "LAMBDA_TASK_ROOT": str(f.code_path or os.getcwd()),
                "_HANDLER": f.handler,
                "TICKWIRE_LAMBDA_ACCOUNT_ID": self.runtime.account_id,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.runtime.extra_env)
        layered = _layer_path(f, env.get("NODE_PATH" if is_node(f) else "PYTHONPATH"))
        if layered is not None:
            env[layered[0]] = layered[1]
        env.update(f.environment)
        return env

    async def spawn(self) -> _Worker:
        f = self.function
        command = (
            ("node", str(NODE_WORKER))
            if is_node(f)
            else (sys.executable, "-m", "infra.local.gateway.lambda_runtime")
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            f.handler,
            str(f.code_path or ""),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.environment(),
            limit=MAX_PAYLOAD_BYTES,
            start_new_session=True,
        )
        worker = _Worker(process)
        self.all.add(worker)
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), INIT_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            await self.discard(worker)
            raise
        if not line:
            await self.discard(worker)
            raise FunctionError("Runtime.ExitError", f"{f.name}: worker exited during init")
        ready = json.loads(line)
        if not ready.get("ready"):
            # Keep it: every invocation answers with the import error, as Lambda does.
            log.warning("lambda %s: init failed: %s", f.name, ready.get("error"))
        return worker

    async def discard(self, worker: _Worker) -> None:
        self.all.discard(worker)
        await worker.kill()

    async def invoke(self, event: Mapping[str, Any], timeout_s: float) -> Any:
        if self.function.unavailable is not None:
            raise FunctionError("Runtime.Unavailable", self.function.unavailable)
        async with self.slots:
            worker = None
            while self.idle:
                candidate = self.idle.pop()
                if candidate.alive():
                    worker = candidate
                    break
                await self.discard(candidate)
            if worker is None:
                worker = await self.spawn()
            request_id = new_request_id()
            deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
            request = {"event": event, "request_id": request_id, "deadline_ms": deadline_ms}
            try:
                answer = await asyncio.wait_for(worker.call(request), timeout_s)
            except TimeoutError:
                await self.discard(worker)
                raise FunctionTimeout(
                    f"{self.function.name}: Task timed out after {timeout_s:.2f} seconds"
                ) from None
            except BaseException:
                await self.discard(worker)
                raise
            self.idle.append(worker)
        if answer.get("ok"):
            return answer.get("result")
        raise FunctionError(str(answer.get("errorType")), str(answer.get("errorMessage")))

    async def prewarm(self) -> None:
        if self.function.unavailable is not None:
            return
        async with self.slots:
            if not self.idle:
                self.idle.append(await self.spawn())

    async def close(self) -> None:
        workers = list(self.all)
        self.all.clear()
        self.idle.clear()
        for worker in workers:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
        await asyncio.gather(*(w.kill() for w in workers), return_exceptions=True)


class LambdaRuntime:
    """Runs :class:`LambdaFunction` handlers in warm worker processes.

    ``extra_env`` is added to every function's environment before its own variables (the
    gateway puts ``AWS_CA_BUNDLE`` there when it serves TLS).
    """

    def __init__(
        self,
        *,
        workers_per_function: int = 4,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.workers_per_function = workers_per_function
        self.region = region
        self.account_id = account_id
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self._pools: dict[tuple[object, ...], _Pool] = {}
        self._closed = False

    def _pool(self, function: LambdaFunction) -> _Pool:
        # LambdaFunction holds a dict, so it is not hashable: key by its contents.
        key = (
            function.name,
            function.handler,
            str(function.code_path),
            tuple(sorted(function.environment.items())),
        )
        pool = self._pools.get(key)
        if pool is None:
            if self._closed:
                raise LambdaError("the Lambda runtime is stopped")
            pool = self._pools[key] = _Pool(self, function, self.workers_per_function)
        return pool

    async def invoke(
        self, function: LambdaFunction, event: Mapping[str, Any], timeout_s: float | None = None
    ) -> Any:
        """Run the handler with ``event``; its return value, or FunctionError/FunctionTimeout."""
        limit = function.timeout_s if timeout_s is None else min(timeout_s, function.timeout_s)
        return await self._pool(function).invoke(event, limit)

    async def prewarm(self, function: LambdaFunction) -> None:
        try:
            await self._pool(function).prewarm()
        except (LambdaError, OSError, TimeoutError) as exc:
            log.warning("lambda %s: prewarm failed: %s", function.name, exc)

    async def stop(self) -> None:
        self._closed = True
        pools = list(self._pools.values())
        self._pools.clear()
        await asyncio.gather(*(p.close() for p in pools), return_exceptions=True)
