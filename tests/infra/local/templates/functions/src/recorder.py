import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["MESSAGES_TABLE"])


def handler(event, context):
    table.put_item(Item={"id": event["id"], "text": event["text"], "by": context.function_name})
    return {"recorded": event["id"]}
