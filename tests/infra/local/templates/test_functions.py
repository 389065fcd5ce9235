"""A SAM template with Python and Node.js handlers, run from its template: connections in
DynamoDB, a layer, a chat broadcast through @connections, a function invoking another
through the Lambda API (RequestResponse and Event), SQS feeding a function, a schedule,
and a function whose runtime cannot run here (its route fails, the others run)."""

from __future__ import annotations

import json
import shutil

import aiohttp
import pytest

from .conftest import run_template, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="Node.js is not installed (apt-get install nodejs; .ci/run installs it)",
)


async def test_functions_template_end_to_end() -> None:
    async with run_template("functions", tls=True, rate_scale=0.01) as run:
        assert any(
            "RubyFunction: runtime ruby3.3 cannot run locally" in n for n in run.loaded.notes
        )
        assert any("runtime python3.12 runs on the local Python" in n for n in run.loaded.notes)
        assert any("event source QueueConsumerFunctionJobs: sqs" in line for line in run.lines)
        dynamodb = run.client("dynamodb")
        connections = run.loaded.resources["ConnectionsTable"].name
        messages = run.loaded.resources["MessagesTable"].name

        def message(key: str) -> dict[str, dict[str, str]] | None:
            item = dynamodb.get_item(TableName=messages, Key={"id": {"S": key}}).get("Item")
            return item  # type: ignore[no-any-return]

        async with aiohttp.ClientSession() as session:
            ada = await session.ws_connect(run.gateway.ws_url + "?name=ada%20lovelace")
            bob = await session.ws_connect(run.gateway.ws_url + "?name=bob")
            names = {i["name"]["S"] for i in dynamodb.scan(TableName=connections)["Items"]}
            assert names == {"Ada Lovelace", "Bob"}  # the layer's display_name

            # chat: a Python handler posting to every connection over @connections (TLS)
            await ada.send_str('{"action": "sendmessage", "data": "hello"}')
            for ws in (ada, bob):
                assert (await ws.receive(timeout=60)).data == "Ada Lovelace: hello"

            # a function invoking a Node.js function (sync), then another (Event)
            await bob.send_str('{"action": "invoke", "n": 21}')
            answer = json.loads((await bob.receive(timeout=60)).data)
            assert answer["status"] == 200
            assert answer["worker"]["doubled"] == 42 and answer["worker"]["remainingMs"] is True
            assert answer["worker"]["by"] == run.loaded.functions["WorkerFunction"].name
            recorded = await wait_for(lambda: message("invoked-21"))
            assert json.loads(recorded["text"]["S"])["doubled"] == 42

            # a non-proxy (AWS) Lambda integration: request and response templates around it
            await bob.send_str('{"action": "double", "n": 8}')
            assert json.loads((await bob.receive(timeout=60)).data) == {"twice": 16}

            # $default: a Node.js ESM callback handler answering through its route response
            await bob.send_str('{"action": "whatever", "x": 1}')
            echo = json.loads((await bob.receive(timeout=60)).data)
            assert echo["routeKey"] == "$default" and json.loads(echo["echo"])["x"] == 1
            assert echo["greeting"] == "hello from the layer, you"  # an ESM import from a layer

            # a runtime that cannot run: the error frame; the connection and others go on
            await bob.send_str('{"action": "ruby"}')
            failed = json.loads((await bob.receive(timeout=60)).data)
            assert failed["message"] == "Internal server error"

            # SQS -> Lambda: messages sent with boto3 reach the consumer in batches
            sqs = run.client("sqs")
            queue = sqs.get_queue_url(QueueName=run.loaded.resources["JobsQueue"].name)["QueueUrl"]
            for i in range(7):
                sqs.send_message(
                    QueueUrl=queue, MessageBody=json.dumps({"id": f"job-{i}", "text": str(i)})
                )
            for i in range(7):
                item = await wait_for(lambda i=i: message(f"job-{i}"))
                assert item["by"]["S"] == run.loaded.resources["JobsQueue"].arn

            # the schedule (rate(1 minute), scaled down here) ran the ticker with its Input
            tick = await wait_for(lambda: message("tick"))
            assert tick["text"]["S"] == "scheduled"

            await bob.close()
            await ada.close()
            await wait_for(lambda: not dynamodb.scan(TableName=connections)["Items"])
