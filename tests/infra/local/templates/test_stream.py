"""Kinesis -> Lambda: clients' actions go into the template's stream through a direct
PutRecord integration, and the template's function consumes the stream in batches (the
event shape Lambda sends). Once with the embedded streams and the embedded AWS, once with
everything at an external moto_server (--aws-endpoint-url)."""

from __future__ import annotations

import json

import aiohttp
import pytest

from .conftest import run_template, wait_for


@pytest.mark.parametrize("where", ["embedded", "moto_server"])
async def test_actions_flow_from_the_stream_into_a_lambda(
    where: str, request: pytest.FixtureRequest
) -> None:
    endpoint = request.getfixturevalue("moto_reset") if where == "moto_server" else None
    async with run_template(
        "stream",
        endpoint_url=endpoint,
        embedded_kinesis=endpoint is None,
        account_id="123456789012",
    ) as run:
        assert any("event source ScoreFunctionStream: kinesis" in line for line in run.lines)
        if endpoint is not None:
            assert run.aws.endpoints.url_for("dynamodb") == endpoint
        dynamodb = run.client("dynamodb")
        table = run.loaded.resources["Scores"].name

        def points() -> dict[str, int]:
            items = dynamodb.scan(TableName=table)["Items"]
            return {i["player"]["S"]: int(i["points"]["N"]) for i in items}

        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(run.gateway.ws_url)
            for n in range(25):
                player = "ada" if n % 2 else "bob"
                await ws.send_str(json.dumps({"action": "score", "player": player, "points": 2}))
            await wait_for(lambda: points() == {"ada": 24, "bob": 26})
            await ws.close()
