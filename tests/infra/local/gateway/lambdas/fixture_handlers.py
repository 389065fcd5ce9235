"""Lambda handlers the gateway tests deploy (run in the local Lambda workers).

Each appends the event it got to the JSON-lines file named by ``EVENT_LOG`` (when set), so
a test can read what the gateway sent. boto3 is imported lazily to keep cold starts short.
"""

from __future__ import annotations

import json
import os
import time


def _log(event, **extra):
    path = os.environ.get("EVENT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"event": event, **extra}) + "\n")


def ok(event, context):
    _log(event)
    return {"statusCode": 200}


def status_from_query(event, context):
    _log(event)
    status = int((event.get("queryStringParameters") or {}).get("status", "200"))
    return {"statusCode": status}


def slow_ok(event, context):
    _log(event)
    time.sleep(float(os.environ.get("SLEEP_S", "1.0")))
    return {"statusCode": 200}


def boom(event, context):
    _log(event)
    raise RuntimeError("boom")


def echo_protocol(event, context):
    _log(event)
    offered = event["headers"].get("Sec-WebSocket-Protocol", "")
    chosen = os.environ.get("ECHO_PROTOCOL")
    if chosen and chosen in [p.strip() for p in offered.split(",")]:
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": chosen}}
    return {"statusCode": 200}


def reply(event, context):
    """Two-way route: answers with the body it got, upper-cased."""
    _log(event)
    return {"statusCode": 200, "body": event["body"].upper()}


def environment(event, context):
    """Reports its environment and context object (for isolation tests)."""
    _log(
        event,
        env={
            k: os.environ.get(k)
            for k in ("FUNCTION_SECRET", "OTHER_SECRET", "AWS_LAMBDA_FUNCTION_NAME")
        },
        context={
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
        },
    )
    return {"statusCode": 200}


def post_back(event, context):
    """As written for AWS: build the management client from the event and answer the sender."""
    import boto3

    ctx = event["requestContext"]
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=f"https://{ctx['domainName']}/{ctx['stage']}"
    )
    client.post_to_connection(
        ConnectionId=ctx["connectionId"], Data=b"echo:" + event["body"].encode()
    )
    _log(event)
    return {"statusCode": 200}


def sleeper(event, context):
    _log(event)
    time.sleep(float(os.environ.get("SLEEP_S", "5")))
    return {"statusCode": 200}


def authorizer(event, context):
    """REQUEST authorizer: token "allow-<player>" allows, "deny" denies, "raise" raises
    Unauthorized, "crash" raises something else."""
    _log(event)
    token = (event.get("queryStringParameters") or {}).get("token", "")
    if token == "raise":
        raise Exception("Unauthorized")
    if token == "crash":
        raise ValueError("crash")
    effect = "Allow" if token.startswith("allow-") else "Deny"
    return {
        "principalId": token,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": {"playerId": token[len("allow-") :], "level": 3, "admin": False},
    }


def big_context_authorizer(event, context):
    """Allows, with a context over the 8 KB limit."""
    _log(event)
    return {
        "principalId": "big",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
            ],
        },
        "context": {"blob": "x" * 9000},
    }
