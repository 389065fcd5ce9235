"""Helpers for the loader's end-to-end tests."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import pytest

StreamReader = Callable[..., Awaitable[tuple[int, list[dict[str, Any]]]]]


@pytest.fixture
def read_stream() -> StreamReader:
    """``await read_stream(endpoint, stream, at_least=N)``: (shard count, every record of
    every shard) once at least ``N`` records are there, or after ``limit_s``."""

    async def read(
        endpoint: str, stream: str, *, at_least: int = 0, limit_s: float = 60.0
    ) -> tuple[int, list[dict[str, Any]]]:
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            records: list[dict[str, Any]] = []
            for shard in shards:
                iterator = kinesis.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                records += kinesis.get_records(ShardIterator=iterator)["Records"]
            if len(records) >= at_least or asyncio.get_running_loop().time() > deadline:
                return len(shards), records
            await asyncio.sleep(0.1)

    return read


@pytest.fixture
def two_way_template() -> Callable[[str], str]:
    """``two_way_template(response_template)``: a WebSocket API with one two-way MOCK
    route, ``echo``, answered with ``response_template`` (its integration response
    template); stage v1 with a stage variable and route throttling."""

    def template(response_template: str) -> str:
        return TWO_WAY.replace("RESPONSE_TEMPLATE", response_template)

    return template


TWO_WAY = textwrap.dedent(
    """\
        Resources:
          Api:
            Type: AWS::ApiGatewayV2::Api
            Properties: {Name: echo, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
          Echo:
            Type: AWS::ApiGatewayV2::Route
            Properties:
              ApiId: !Ref Api
              RouteKey: echo
              RouteResponseSelectionExpression: $default
              Target: !Sub integrations/${EchoIntegration}
          EchoResponse:
            Type: AWS::ApiGatewayV2::RouteResponse
            Properties: {ApiId: !Ref Api, RouteId: !Ref Echo, RouteResponseKey: $default}
          EchoIntegration:
            Type: AWS::ApiGatewayV2::Integration
            Properties:
              ApiId: !Ref Api
              IntegrationType: MOCK
              TemplateSelectionExpression: \\$default
              RequestTemplates: {$default: '{"statusCode": 200}'}
          EchoIntegrationResponse:
            Type: AWS::ApiGatewayV2::IntegrationResponse
            Properties:
              ApiId: !Ref Api
              IntegrationId: !Ref EchoIntegration
              IntegrationResponseKey: $default
              TemplateSelectionExpression: \\$default
              ResponseTemplates: {$default: 'RESPONSE_TEMPLATE'}
          Stage:
            Type: AWS::ApiGatewayV2::Stage
            Properties:
              ApiId: !Ref Api
              StageName: v1
              StageVariables: {color: blue}
              DefaultRouteSettings: {ThrottlingBurstLimit: 10, ThrottlingRateLimit: 5}
        """
)
