import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["AUDIT"])


def handler(event, context):
    for record in event["Records"]:
        if record.get("eventSource") == "aws:dynamodb":
            image = record["dynamodb"]["NewImage"]
            table.put_item(
                Item={"id": f"{record['eventName']}:{image['id']['S']}", "qty": image["qty"]["N"]}
            )
        else:
            sns = record["Sns"]
            assert record["EventSource"] == "aws:sns"
            table.put_item(Item={"id": f"sns:{sns['Subject']}", "text": sns["Message"]})
