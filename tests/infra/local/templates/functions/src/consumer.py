import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["MESSAGES_TABLE"])


def handler(event, context):
    for record in event["Records"]:
        assert record["eventSource"] == "aws:sqs"
        job = json.loads(record["body"])
        table.put_item(Item={"id": job["id"], "text": job["text"], "by": record["eventSourceARN"]})
    return {"batchItemFailures": []}
