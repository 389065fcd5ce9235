"""Lambda's Invoke API for local functions, called with the real boto3 client: results,
handler errors as Lambda reports them, unknown functions, DryRun and Event invocations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import boto3
import pytest

from infra.local.aws.lambda_api import LambdaApi, function_name
from infra.local.gateway.lambdas import LambdaRuntime
from infra.local.gateway.model import LambdaFunction

CODE = """\
import json, os, pathlib

def double(event, context):
    return {"doubled": event["n"] * 2, "name": context.function_name}

def fails(event, context):
    raise ValueError("bad input")

def record(event, context):
    pathlib.Path(os.environ["OUT"]).write_text(json.dumps(event))
"""


def test_function_names_from_names_and_arns() -> None:
    assert function_name("f") == function_name("f:live") == "f"
    assert function_name("arn:aws:lambda:us-east-1:123456789012:function:f:3") == "f"
    assert function_name("123456789012:function:f") == "f"


async def test_invoke_api_with_boto3(tmp_path: Path) -> None:
    (tmp_path / "fns.py").write_text(CODE)
    out = tmp_path / "event.json"
    functions = {
        lid: LambdaFunction(f"local-{lid}", f"fns.{lid}", tmp_path, {"OUT": str(out)})
        for lid in ("double", "fails", "record")
    }
    runtime = LambdaRuntime(workers_per_function=1)
    api = LambdaApi(runtime, functions)
    url = await api.start()
    client = boto3.client("lambda", endpoint_url=url, region_name="us-east-1")
    try:
        answer = await asyncio.to_thread(
            client.invoke, FunctionName="arn:aws:lambda:us-east-1:000000000000:function:local-double",
            Payload=json.dumps({"n": 21}),
        )  # fmt: skip
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"doubled": 42, "name": "local-double"}

        failed = await asyncio.to_thread(client.invoke, FunctionName="local-fails", Payload=b"{}")
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read()) == {
            "errorType": "ValueError",
            "errorMessage": "bad input",
        }

        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await asyncio.to_thread(client.invoke, FunctionName="nope", Payload=b"{}")
        dry = await asyncio.to_thread(
            client.invoke, FunctionName="local-double", InvocationType="DryRun"
        )
        assert dry["StatusCode"] == 204

        queued = await asyncio.to_thread(
            client.invoke, FunctionName="local-record", InvocationType="Event",
            Payload=json.dumps({"hello": "event"}),
        )  # fmt: skip
        assert queued["StatusCode"] == 202
        for _ in range(100):
            if out.exists():
                break
            await asyncio.sleep(0.05)
        assert json.loads(out.read_text()) == {"hello": "event"}
    finally:
        await api.stop()
        await runtime.stop()


async def test_a_stop_under_a_bound_is_bounded_by_it() -> None:
    # An invocation that is slow to wind down (its cleanup outlives the cancel) must not
    # hold the caller's bounded stop: the bound's cancellation reaches stop() itself.
    api = LambdaApi(LambdaRuntime(workers_per_function=1), {})
    await api.start()
    release = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.shield(release.wait())

    api._background.add(asyncio.create_task(slow_to_end()))
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await api.stop()
    assert asyncio.get_running_loop().time() - started < 2.0
    release.set()
    await api.stop()
