"""The classic API Gateway WebSocket chat, written exactly as for AWS Lambda.

Routes: ``$connect`` -> :func:`on_connect`, ``$disconnect`` -> :func:`on_disconnect`,
``sendmessage`` -> :func:`send_message` (``{"action": "sendmessage", "data": "hi"}``).
Connection ids live in the DynamoDB table named by the ``TABLE_NAME`` environment
variable (partition key ``connectionId``, a string). Nothing here knows it may run
locally: the management endpoint is built from the event, and boto3 finds DynamoDB and
the CA bundle through the standard environment variables.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

_dynamodb = boto3.resource("dynamodb")
_table = _dynamodb.Table(os.environ["TABLE_NAME"])


def on_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    try:
        _table.put_item(Item={"connectionId": connection_id})
    except Exception as exc:  # what the tutorial answers when the table write fails
        print(f"failed to store {connection_id}: {exc}")
        return {"statusCode": 500, "body": "Failed to connect: " + str(exc)}
    return {"statusCode": 200, "body": "Connected."}


def on_disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    _table.delete_item(Key={"connectionId": connection_id})
    return {"statusCode": 200, "body": "Disconnected."}


def send_message(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event["requestContext"]
    try:
        data = json.loads(event["body"])["data"]
    except (KeyError, TypeError, ValueError):
        return {"statusCode": 400, "body": 'Expected {"action": "sendmessage", "data": ...}'}
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"https://{ctx['domainName']}/{ctx['stage']}"
    )
    payload = str(data).encode("utf-8")
    scan: dict[str, Any] = {"ProjectionExpression": "connectionId"}
    while True:
        page = _table.scan(**scan)
        for item in page.get("Items", []):
            target = item["connectionId"]
            try:
                client.post_to_connection(ConnectionId=target, Data=payload)
            except client.exceptions.GoneException:
                print(f"found stale connection, deleting {target}")
                _table.delete_item(Key={"connectionId": target})
        if "LastEvaluatedKey" not in page:
            break
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"statusCode": 200, "body": "Data sent."}
