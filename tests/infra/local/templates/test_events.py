"""DynamoDB stream -> Lambda and SNS -> Lambda (SAM ``Events``), fed by the API's direct
DynamoDB PutItem and SNS Publish (a form-encoded request template) integrations."""

from __future__ import annotations

import aiohttp

from .conftest import run_template, wait_for


async def test_stream_and_topic_events_reach_the_function() -> None:
    async with run_template("events") as run:
        assert any("OrderChanges: dynamodb" in line for line in run.lines)
        assert any("AlertNotifications: sns" in line for line in run.lines)
        dynamodb = run.client("dynamodb")
        audit = run.loaded.resources["Audit"].name

        def entry(key: str) -> dict[str, dict[str, str]] | None:
            found = dynamodb.get_item(TableName=audit, Key={"id": {"S": key}}).get("Item")
            return found  # type: ignore[no-any-return]

        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(run.gateway.ws_url)
            await ws.send_str('{"action": "order", "id": "o-7", "qty": 3}')
            await ws.send_str('{"action": "alert", "text": "low stock & more"}')
            assert (await wait_for(lambda: entry("INSERT:o-7")))["qty"]["S"] == "3"
            assert (await wait_for(lambda: entry("sns:alert")))["text"]["S"] == "low stock & more"
            await ws.close()
