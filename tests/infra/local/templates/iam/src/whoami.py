import json


def handler(event, context):
    identity = event["requestContext"]["identity"]
    keys = ("accessKey", "accountId", "caller", "user", "userArn", "sourceIp")
    return {"statusCode": 200, "body": json.dumps({k: identity.get(k) for k in keys})}
