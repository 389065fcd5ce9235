"""Provisioning never creates resources in AWS itself: with no endpoint for a service
(``--no-embedded-aws``), its resources are skipped and said so."""

from __future__ import annotations

from infra.local.aws.endpoints import AwsEndpoints
from infra.local.aws.provision import provision
from infra.local.cfn.service_resources import ServiceResource


def test_resources_of_services_without_an_endpoint_are_not_created() -> None:
    resources = [
        ServiceResource("Table", "AWS::DynamoDB::Table", "t", "t", "arn:t", {}),
        ServiceResource("Queue", "AWS::SQS::Queue", "q", "q", "arn:q", {}),
    ]
    # sqs "elsewhere" at a port nothing listens on: its creation fails and is reported
    endpoints = AwsEndpoints(overrides={"sqs": "http://127.0.0.1:9"}, credentials=("a", "b"))
    report = provision(resources, endpoints)
    assert report.skipped == {"Table": "its service is AWS itself"}
    assert set(report.failed) == {"Queue"} and not report.created
