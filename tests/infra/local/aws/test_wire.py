"""How an AWS integration's rendered request becomes each service's wire request (no
network: the request before signing, and the signature's scope)."""

from __future__ import annotations

import json

from infra.local.aws.endpoints import AwsEndpoints
from infra.local.aws.wire import WireService
from infra.local.gateway.services import ServiceRequest, parse_integration_uri

ENDPOINTS = AwsEndpoints(default_url="http://127.0.0.1:1", credentials=("AKIDLOCAL", "secret"))


def test_json_services_get_their_target_and_content_type() -> None:
    method, url, headers, _body = WireService("states", ENDPOINTS).build(
        ServiceRequest(action="StartExecution", body=b'{"stateMachineArn": "x"}')
    )
    assert (method, url) == ("POST", "http://127.0.0.1:1/")
    assert headers["x-amz-target"] == "AWSStepFunctions.StartExecution"
    assert headers["content-type"] == "application/x-amz-json-1.0"
    _, _, kinesis, _ = WireService("kinesis", ENDPOINTS).build(ServiceRequest(action="PutRecord"))
    assert kinesis["content-type"] == "application/x-amz-json-1.1"


def test_query_services_and_form_bodies_go_as_query_requests() -> None:
    _, url, headers, _body = WireService("sns", ENDPOINTS).build(
        ServiceRequest(action="Publish", query={"TopicArn": "arn:aws:sns:us-east-1:1:t"})
    )
    assert url.startswith("http://127.0.0.1:1/?")
    assert "Action=Publish" in url and "Version=2010-03-31" in url and "TopicArn=arn" in url
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    # SQS is a JSON service now, but a form-encoded template is sent the query way
    _, url, headers, _ = WireService("sqs", ENDPOINTS).build(
        ServiceRequest(action="SendMessage", body=b"Action=SendMessage&MessageBody=x")
    )
    assert (
        "x-amz-target" not in headers and "Action=" not in url.split("?", 1)[-1].split("&")[0][:0]
    )


def test_rest_services_place_members_where_the_model_says() -> None:
    method, url, headers, body = WireService("lambda", ENDPOINTS).build(
        ServiceRequest(
            action="Invoke",
            body=json.dumps(
                {
                    "FunctionName": "my fn",
                    "InvocationType": "Event",
                    "Payload": {"n": 1},
                }
            ).encode(),
        )
    )
    assert method == "POST"
    assert url == "http://127.0.0.1:1/2015-03-31/functions/my%20fn/invocations"
    assert headers["x-amz-invocation-type"] == "Event"
    assert json.loads(body) == {"n": 1}


def test_path_uris_keep_their_path_and_method() -> None:
    target = parse_integration_uri("arn:aws:apigateway:us-east-1:s3:path/bucket/a/b.json?x=1")
    assert (target.service, target.path, target.query) == ("s3", "bucket/a/b.json", (("x", "1"),))
    method, url, _, _ = WireService("s3", ENDPOINTS).build(
        ServiceRequest(path=target.path, method="PUT", query=dict(target.query))
    )
    assert (method, url) == ("PUT", "http://127.0.0.1:1/bucket/a/b.json?x=1")


def test_without_an_endpoint_the_service_is_aws_itself() -> None:
    service = WireService("dynamodb", AwsEndpoints(region="eu-west-1"))
    assert service.base_url == "https://dynamodb.eu-west-1.amazonaws.com"
    assert service.signing_name == "dynamodb"
    assert WireService("states", AwsEndpoints()).signing_name == "states"


def test_worker_environment_points_every_sdk_here() -> None:
    env = AwsEndpoints(
        default_url="http://127.0.0.1:1",
        overrides={"states": "http://127.0.0.1:2", "lambda": "http://127.0.0.1:3"},
        credentials=("AKIDLOCAL", "secret"),
    ).worker_environment()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["AWS_ENDPOINT_URL_SFN"] == "http://127.0.0.1:2"
    assert env["AWS_ENDPOINT_URL_LAMBDA"] == "http://127.0.0.1:3"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SESSION_TOKEN"]) == ("AKIDLOCAL", "")
