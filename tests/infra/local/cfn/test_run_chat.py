"""The chat example's SAM template, loaded by the loader and served by the local gateway:
its DynamoDB table (created from the template's key schema in moto_server), its three
functions with their Globals environment, and real WebSocket clients over TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from infra.local.cfn import load_template
from infra.local.gateway import Gateway, GatewaySettings

CHAT = Path(__file__).resolve().parents[4] / "examples" / "chat" / "template.yaml"


@pytest.fixture
def dynamodb(moto_reset: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The handlers find DynamoDB the standard way; the Lambda workers inherit this.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_reset)
    return boto3.resource("dynamodb", endpoint_url=moto_reset, region_name="us-east-1")


async def _wait_until(predicate: Callable[[], bool], limit_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def test_chat_template_runs(dynamodb: Any, tmp_path: Path) -> None:
    loaded = load_template(CHAT, parameters={"StageName": "test"}, stack_name="chat")
    (spec,) = loaded.tables.values()
    table = dynamodb.create_table(
        TableName=spec.name,
        KeySchema=[{"AttributeName": spec.partition_key, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": k, "AttributeType": t} for k, t in spec.attribute_types.items()
        ],
        BillingMode=spec.billing_mode,
    )

    def ids() -> set[str]:
        return {item["connectionId"] for item in table.scan()["Items"]}

    gateway = Gateway(
        loaded.api, GatewaySettings(lambda_workers_per_function=1), state_dir=tmp_path
    )
    await gateway.start("127.0.0.1", 0, tls_port=0)
    try:
        assert gateway.wss_url is not None and gateway.wss_url.endswith("/test")
        context = ssl.create_default_context(cafile=str(gateway.ca_bundle))
        async with aiohttp.ClientSession() as session:
            alice = await session.ws_connect(gateway.wss_url, ssl=context)
            bob = await session.ws_connect(gateway.wss_url, ssl=context)
            assert len(await asyncio.to_thread(ids)) == 2
            await alice.send_str('{"action": "sendmessage", "data": "hi from the template"}')
            for ws in (alice, bob):
                assert (await ws.receive(timeout=60)).data == "hi from the template"
            await bob.send_str('{"action": "nosuchroute"}')
            forbidden = await bob.receive(timeout=60)
            assert '"message": "Forbidden"' in forbidden.data
            await bob.close()
            await _wait_until(lambda: len(ids()) == 1)
            await alice.close()
            await _wait_until(lambda: not ids())
    finally:
        await gateway.stop()
