"""Node.js handlers in the local Lambda runtime: their own processes and environment,
Lambda's context, the function's timeout, errors as Lambda reports them, and a runtime
that cannot run failing per function."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.local.gateway.errors import FunctionError, FunctionTimeout
from infra.local.gateway.lambdas import LambdaRuntime
from infra.local.gateway.model import LambdaFunction

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="Node.js is not installed (apt-get install nodejs; .ci/run installs it)",
)

HANDLERS = """\
exports.env = async (event, context) => ({
  secret: process.env.SECRET ?? null, other: process.env.OTHER ?? null,
  name: context.functionName, remaining: context.getRemainingTimeInMillis(), pid: process.pid,
  requestId: context.awsRequestId, arn: context.invokedFunctionArn,
});
exports.slow = async () => new Promise((resolve) => setTimeout(resolve, 5000));
exports.fails = async () => { throw new TypeError("no such thing"); };
exports.sync = (event) => ({ doubled: event.n * 2 });
"""


async def test_node_functions_run_isolated_with_lambdas_context(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text(HANDLERS)

    def node(name: str, handler: str, **env: str) -> LambdaFunction:
        return LambdaFunction(name, handler, tmp_path, env, timeout_s=1.0, runtime="nodejs20.x")

    runtime = LambdaRuntime(workers_per_function=1)
    try:
        a = await runtime.invoke(node("fa", "index.env", SECRET="alpha"), {})
        b = await runtime.invoke(node("fb", "index.env", OTHER="beta"), {})
        assert (a["secret"], a["other"], b["secret"], b["other"]) == ("alpha", None, None, "beta")
        assert a["pid"] != b["pid"] and a["name"] == "fa" and 0 < a["remaining"] <= 1000
        assert a["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:fa" and a["requestId"]
        assert await runtime.invoke(node("s", "index.sync"), {"n": 4}) == {"doubled": 8}
        with pytest.raises(FunctionTimeout, match=r"Task timed out after 1\.00 seconds"):
            await runtime.invoke(node("slow", "index.slow"), {})
        with pytest.raises(FunctionError) as failed:
            await runtime.invoke(node("bad", "index.fails"), {})
        assert (failed.value.error_type, failed.value.error_message) == (
            "TypeError",
            "no such thing",
        )
        with pytest.raises(FunctionError) as missing:
            await runtime.invoke(node("gone", "index.nothere"), {})
        assert missing.value.error_type == "Runtime.HandlerNotFound"
        ruby = LambdaFunction("rb", "app.handler", tmp_path, runtime="ruby3.3",
                              unavailable="runtime ruby3.3 cannot run locally")  # fmt: skip
        with pytest.raises(FunctionError) as unavailable:
            await runtime.invoke(ruby, {})
        assert unavailable.value.error_type == "Runtime.Unavailable"
    finally:
        await runtime.stop()


async def test_runtime_packages_resolve_like_lambdas_preinstalled_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package in the runtime folder (Lambda's /var/runtime/node_modules, where the AWS
    SDK v3 is) is found by an ECMAScript-module handler that does not ship it."""
    runtime_modules = tmp_path / "runtime" / "node_modules"
    package = runtime_modules / "@aws-sdk" / "client-pretend"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "@aws-sdk/client-pretend", "main": "main.js"}')
    (package / "main.js").write_text("exports.Client = class { hello() { return 'sdk'; } };")
    monkeypatch.setenv("TICKWIRE_NODE_MODULES", str(runtime_modules))
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.mjs").write_text(
        'import { Client } from "@aws-sdk/client-pretend";\n'
        "export const handler = async () => new Client().hello();\n"
    )
    runtime = LambdaRuntime(workers_per_function=1)
    try:
        function = LambdaFunction("sdk", "app.handler", code, runtime="nodejs20.x")
        assert await runtime.invoke(function, {}) == "sdk"
    finally:
        await runtime.stop()
