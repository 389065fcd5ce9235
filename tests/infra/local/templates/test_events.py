"""DynamoDB stream, SNS, EventBridge and S3 -> Lambda (SAM ``Events`` and an
``AWS::Events::Rule``), fed by the API's direct DynamoDB PutItem, SNS Publish (a
form-encoded request template) and EventBridge PutEvents integrations, and uploads."""

from __future__ import annotations

import aiohttp

from .conftest import run_template, wait_for


async def test_stream_and_topic_events_reach_the_function() -> None:
    async with run_template("events") as run:
        assert any("OrderChanges: dynamodb" in line for line in run.lines)
        assert any("AlertNotifications: sns" in line for line in run.lines)
        assert any("created EventBridge rule" in line for line in run.lines)
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
            await ws.send_str('{"action": "emit", "kind": "refund", "order": {"id": "o-8"}}')
            await ws.send_str('{"action": "emit", "kind": "shipped", "order": {"id": "o-9"}}')
            await ws.send_str('{"action": "emit", "kind": "ignored", "order": {"id": "o-0"}}')
            await wait_for(lambda: entry("refund:o-8"))  # the SAM event's rule
            await wait_for(lambda: entry("shipped:o-9"))  # the rule resource, transformed
            assert entry("ignored:o-0") is None
            # S3 -> Lambda: uploads under in/ notify the function (the Filter), others not
            s3 = run.client("s3")
            bucket = run.loaded.resources["Uploads"].name
            s3.put_object(Bucket=bucket, Key="elsewhere/skip.txt", Body=b"-")
            s3.put_object(Bucket=bucket, Key="in/avatar.png", Body=b"png")
            await wait_for(lambda: entry("s3:in/avatar.png"))
            assert entry("s3:elsewhere/skip.txt") is None
            await ws.close()
