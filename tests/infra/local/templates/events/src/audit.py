import os
from urllib.parse import unquote_plus

import boto3

table = boto3.resource("dynamodb").Table(os.environ["AUDIT"])


def handler(event, context):
    if "transformed" in event:  # the rule's InputTransformer shaped this one
        table.put_item(Item={"id": f"shipped:{event['transformed']}"})
        return
    if "detail-type" in event:  # an EventBridge event, as the SAM event's rule sends it
        table.put_item(Item={"id": f"{event['detail-type']}:{event['detail']['id']}"})
        return
    for record in event["Records"]:
        if record.get("eventSource") == "aws:s3":
            # S3 URL-encodes keys in its notifications
            table.put_item(Item={"id": f"s3:{unquote_plus(record['s3']['object']['key'])}"})
        elif record.get("eventSource") == "aws:dynamodb":
            image = record["dynamodb"]["NewImage"]
            table.put_item(
                Item={"id": f"{record['eventName']}:{image['id']['S']}", "qty": image["qty"]["N"]}
            )
        else:
            sns = record["Sns"]
            assert record["EventSource"] == "aws:sns"
            table.put_item(Item={"id": f"sns:{sns['Subject']}", "text": sns["Message"]})
