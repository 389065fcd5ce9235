"""A local Lambda worker process: ``python -m infra.local.gateway.lambda_runtime HANDLER [CODE_PATH]``.

Started by :mod:`infra.local.gateway.lambdas` with the function's own environment. It
imports ``module.function`` once (the init phase), writes one ``{"ready": ...}`` line, then
answers JSON-line requests from stdin, one at a time, on the original stdout; the handler's
own prints go to stderr (the function's log), so they can never corrupt the protocol.

Request:  ``{"event": ..., "request_id": "...", "deadline_ms": epoch_ms}``
Response: ``{"ok": true, "result": ...}`` or
          ``{"ok": false, "errorType": "...", "errorMessage": "...", "stackTrace": [...]}``
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any, BinaryIO

__all__ = ["LambdaContext", "main"]


class LambdaContext:
    """The context object a Python Lambda handler receives (the fields AWS documents)."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        region = env.get("AWS_REGION", "us-east-1")
        account = env.get("TICKWIRE_LAMBDA_ACCOUNT_ID", "000000000000")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        )
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _write(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    handler_spec = argv[0]
    code_path = argv[1] if len(argv) > 1 and argv[1] else None
    # Keep the real stdout for the protocol; route everything else to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if code_path:
        sys.path.insert(0, code_path)
        os.chdir(code_path)  # LAMBDA_TASK_ROOT is the working directory on Lambda
    handler = None
    init_error: dict[str, Any] | None = None
    try:
        module_name, _, func_name = handler_spec.rpartition(".")
        if not module_name:
            raise ValueError(f"handler {handler_spec!r} is not module.function")
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:
        init_error = _error(exc)
        init_error["errorType"] = "Runtime.ImportModuleError"
    _write(out, {"ready": init_error is None, **({"error": init_error} if init_error else {})})
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        request = json.loads(line)
        if handler is None:
            _write(out, init_error or _error(RuntimeError("no handler")))
            continue
        context = LambdaContext(request["request_id"], int(request["deadline_ms"]))
        try:
            result = handler(request["event"], context)
            try:
                response = {"ok": True, "result": result}
                payload = json.dumps(response).encode() + b"\n"
            except (TypeError, ValueError) as exc:
                response = _error(exc)
                response["errorType"] = "Runtime.MarshalError"
                payload = json.dumps(response).encode() + b"\n"
        except Exception as exc:
            payload = json.dumps(_error(exc)).encode() + b"\n"
        out.write(payload)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
