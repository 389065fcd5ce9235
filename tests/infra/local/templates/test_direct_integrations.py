"""A WebSocket API made only of direct AWS service integrations (no Lambda), run from its
template against the embedded AWS: DynamoDB on $connect/$disconnect with $input.params,
SQS through a path URI, SNS Publish with mapped query parameters, Step Functions
StartExecution answering the client, a request model, a misconfigured integration."""

from __future__ import annotations

import json

import aiohttp

from .conftest import run_template, wait_for


async def test_direct_integrations_end_to_end() -> None:
    async with run_template("direct") as run:
        assert any("not modelled locally: Seeder (Custom::SeedTable)" in line
                   and "ConnectionsTable" not in line for line in run.lines)  # fmt: skip
        dynamodb = run.client("dynamodb")
        table = run.loaded.resources["ConnectionsTable"].name

        def items() -> list[dict[str, object]]:
            return list(dynamodb.scan(TableName=table)["Items"])

        url = run.gateway.ws_url + "?name=ada"
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url, headers={"User-Agent": "test-agent/1"})
            (item,) = await wait_for(items)
            assert item["name"] == {"S": "ada"} and item["agent"] == {"S": "test-agent/1"}
            connection_id = item["connectionId"]["S"]

            # GetItem through an integration response, to the client ($default route response)
            await ws.send_str('{"action": "whoami"}')
            answer = json.loads((await ws.receive(timeout=30)).data)
            assert answer == {"you": "ada", "id": connection_id}

            # SQS SendMessage through sqs:path/{account}/{queue}
            await ws.send_str('{"action": "enqueue", "item": {"sku": "a&b=c", "n": 2}}')
            sqs = run.client("sqs")
            queue_url = sqs.get_queue_url(QueueName=run.loaded.resources["Queue"].name)["QueueUrl"]

            def received() -> list[dict[str, object]]:
                return list(sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])
                            .get("Messages", []))  # fmt: skip

            (message,) = await wait_for(received)
            assert json.loads(str(message["Body"])) == {"sku": "a&b=c", "n": 2}
            assert message["MessageAttributes"]["connectionId"]["StringValue"] == connection_id  # type: ignore[index]

            # SNS Publish (TopicArn and Message from RequestParameters), delivered to SQS
            await ws.send_str('{"action": "publish", "message": "hello topic"}')
            topic_queue = sqs.get_queue_url(QueueName=run.loaded.resources["TopicQueue"].name)[
                "QueueUrl"
            ]

            def delivered() -> list[dict[str, object]]:
                return list(sqs.receive_message(QueueUrl=topic_queue).get("Messages", []))

            (note,) = await wait_for(delivered)
            assert note["Body"] == "hello topic"

            # Step Functions StartExecution, the answer passed to the client
            await ws.send_str('{"action": "start", "order": {"id": "o-1"}}')
            started = json.loads((await ws.receive(timeout=30)).data)
            sfn = run.client("stepfunctions")
            execution = sfn.describe_execution(executionArn=started["executionArn"])
            assert json.loads(execution["input"]) == {"id": "o-1"}
            assert execution["stateMachineArn"] == run.loaded.resources["Workflow"].ref

            # the request model refuses a start without order.id
            await ws.send_str('{"action": "start", "order": {}}')
            refused = (await ws.receive(timeout=30)).data
            assert '"message" : "Bad request body"' in refused

            # S3 PutObject through s3:path/{bucket}/notes/{key}, the key from the message
            await ws.send_str('{"action": "save", "key": "n1.json", "note": {"text": "hi"}}')
            s3 = run.client("s3")
            bucket = run.loaded.resources["Uploads"].name

            def saved() -> bytes | None:
                listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
                if not listed:
                    return None
                body: bytes = s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
                assert listed[0]["Key"] == "notes/n1.json"
                return body

            assert json.loads(await wait_for(saved)) == {"text": "hi"}

            # a misconfigured integration: the error frame, and the connection carries on
            await ws.send_str('{"action": "broken"}')
            failed = json.loads((await ws.receive(timeout=30)).data)
            assert failed["message"] == "Internal server error"
            await ws.send_str('{"action": "whoami"}')
            assert json.loads((await ws.receive(timeout=30)).data)["you"] == "ada"

            await ws.close()
            await wait_for(lambda: not items())
