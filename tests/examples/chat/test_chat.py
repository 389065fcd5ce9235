"""The AWS tutorial chat, unchanged, end to end over TLS: moto_server DynamoDB, the local
gateway's Lambda workers, real WebSocket clients."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from infra.local.gateway import Gateway, GatewaySettings


def _load_chat_api() -> Any:
    """examples/ is not an installed package: load the model module from its file."""
    path = Path(__file__).resolve().parents[3] / "examples" / "chat" / "api.py"
    spec = importlib.util.spec_from_file_location("chat_example_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.chat_api


chat_api = _load_chat_api()

TABLE = "chat-connections"


@pytest.fixture
def table(moto_reset: str, monkeypatch: pytest.MonkeyPatch):
    # The handlers find DynamoDB the standard way: the workers inherit this variable.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_reset)
    dynamodb = boto3.resource("dynamodb", endpoint_url=moto_reset, region_name="us-east-1")
    table = dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "connectionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def _ids(table) -> set[str]:
    return {item["connectionId"] for item in table.scan()["Items"]}


async def _wait_until(predicate, limit_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def test_chat_end_to_end_over_tls(table, tmp_path):
    gateway = Gateway(chat_api(TABLE), GatewaySettings(), state_dir=tmp_path)
    await gateway.start("127.0.0.1", 0, tls_port=0)
    try:
        context = ssl.create_default_context(cafile=str(gateway.ca_bundle))
        async with aiohttp.ClientSession() as session:
            alice = await session.ws_connect(gateway.wss_url, ssl=context)
            bob = await session.ws_connect(gateway.wss_url, ssl=context)
            carol = await session.ws_connect(gateway.wss_url, ssl=context)
            assert len(await asyncio.to_thread(_ids, table)) == 3
            # A connection that vanished without $disconnect: the broadcast meets a 410.
            await asyncio.to_thread(table.put_item, Item={"connectionId": "R0oXAdfD0kwCH6w="})

            await alice.send_str('{"action": "sendmessage", "data": "hello from alice"}')
            for ws in (alice, bob, carol):
                msg = await ws.receive(timeout=60)
                assert msg.data == "hello from alice"
            # ... and its id is deleted (maybe after the deliveries: scan order decides).
            await _wait_until(lambda: "R0oXAdfD0kwCH6w=" not in _ids(table))

            await carol.close()
            await _wait_until(lambda: len(_ids(table)) == 2)
            await bob.send_str('{"action": "sendmessage", "data": "carol left"}')
            assert (await alice.receive(timeout=60)).data == "carol left"
            assert (await bob.receive(timeout=60)).data == "carol left"
            await alice.close()
            await bob.close()
            await _wait_until(lambda: not _ids(table))
    finally:
        await gateway.stop()
    assert gateway.metrics.units_out == 5 and gateway.metrics.units_in == 2
