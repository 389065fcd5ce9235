import base64
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["SCORES"])


def handler(event, context):
    for record in event["Records"]:
        assert record["eventSource"] == "aws:kinesis"
        action = json.loads(base64.b64decode(record["kinesis"]["data"]))
        table.update_item(
            Key={"player": action["player"]},
            UpdateExpression="ADD points :p",
            ExpressionAttributeValues={":p": action["points"]},
        )
