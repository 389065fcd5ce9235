"""The chat API as a Python model of its AWS::ApiGatewayV2 resources, for
``tickwire gateway --api examples.chat.api:chat_api`` (``template.yaml`` describes the same
API for AWS and for ``tickwire gateway --template``).

Environment: ``TABLE_NAME`` (default ``chat-connections``) is passed to the functions;
point boto3 at a DynamoDB with ``AWS_ENDPOINT_URL_DYNAMODB`` (e.g. a moto_server).
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.local.gateway.model import Integration, LambdaFunction, Route, Stage, WebSocketApi

HERE = Path(__file__).parent


def chat_api(table_name: str | None = None, stage: str = "production") -> WebSocketApi:
    env = {"TABLE_NAME": table_name or os.environ.get("TABLE_NAME", "chat-connections")}

    def route(key: str, handler: str) -> Route:
        function = LambdaFunction(
            name=handler.replace("_", "-"),
            handler=f"handlers.{handler}",
            code_path=HERE,
            environment=env,
            timeout_s=10,
        )
        return Route(key, Integration("AWS_PROXY", function=function))

    return WebSocketApi(
        name="simple-websocket-chat",
        route_selection_expression="$request.body.action",
        routes={
            "$connect": route("$connect", "on_connect"),
            "$disconnect": route("$disconnect", "on_disconnect"),
            "sendmessage": route("sendmessage", "send_message"),
        },
        stage=Stage(name=stage),
    )
