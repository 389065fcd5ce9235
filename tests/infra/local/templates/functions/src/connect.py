import os

import boto3
from shared_names import display_name  # from the SharedLayer layer

table = boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"])


def handler(event, context):
    table.put_item(
        Item={
            "connectionId": event["requestContext"]["connectionId"],
            "name": display_name(event.get("queryStringParameters")),
        }
    )
    return {"statusCode": 200}
