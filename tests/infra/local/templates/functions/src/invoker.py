import json
import os

import boto3

lambda_client = boto3.client("lambda")


def handler(event, context):
    n = json.loads(event["body"])["n"]
    answer = lambda_client.invoke(
        FunctionName=os.environ["WORKER_FUNCTION"],
        InvocationType="RequestResponse",
        Payload=json.dumps({"n": n}),
    )
    result = json.loads(answer["Payload"].read())
    lambda_client.invoke(
        FunctionName=os.environ["RECORDER_FUNCTION"],
        InvocationType="Event",
        Payload=json.dumps({"id": f"invoked-{n}", "text": json.dumps(result)}),
    )
    return {
        "statusCode": 200,
        "body": json.dumps({"worker": result, "status": answer["StatusCode"]}),
    }
