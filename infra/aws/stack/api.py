"""The WebSocket API part of the stack: API, authorizer, Kinesis integrations, routes, stage.

Routes are integrated directly with Kinesis (IntegrationType ``AWS``, ``PutRecord``) through
the request templates of :mod:`infra.aws.stack.templates`; API Gateway assumes
``ApiGatewayRole``, which may only ``kinesis:PutRecord`` to this stream. ``$connect`` runs
the JWT authorizer first (identity source: the ``token`` query parameter). There is no
``$default`` route: an unknown action gets API Gateway's "Forbidden" frame.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from infra.aws.stack.intrinsics import get_att, join, ref, sub
from infra.aws.stack.templates import RecordType, kinesis_request_template

__all__ = ["ROUTES", "api_resources", "request_template_value"]

# route key -> (logical id prefix, record type the route's template writes)
ROUTES: dict[str, tuple[str, RecordType]] = {
    "$connect": ("Connect", "join"),
    "$disconnect": ("Disconnect", "leave"),
    "input": ("Input", "input"),
}

_STREAM_MARKER = "\x00STREAM\x00"

# The access log line: one JSON object per request ($context variables of the
# API Gateway developer guide, "WebSocket API logging variables").
ACCESS_LOG_FORMAT = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","eventType":"$context.eventType",'
    '"routeKey":"$context.routeKey","status":"$context.status",'
    '"connectionId":"$context.connectionId","matchId":"$context.authorizer.matchId",'
    '"playerId":"$context.authorizer.playerId","error":"$context.error.message",'
    '"integrationError":"$context.integrationErrorMessage"}'
)


def _digest(resources: dict[str, Any]) -> str:
    text = json.dumps(resources, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def request_template_value(record_type: RecordType, stream_logical_id: str) -> dict[str, Any]:
    """The template text with the stream's name joined in (``Fn::Join``, not ``Fn::Sub``:
    the template's own ``${q}`` references would read as Sub variables)."""
    before, after = kinesis_request_template(record_type, _STREAM_MARKER).split(_STREAM_MARKER)
    return join([before, ref(stream_logical_id), after])


def api_resources() -> dict[str, Any]:
    """The API resources, referring to ``ActionStream``, ``ApiGatewayRole``,
    ``AuthorizerFunction`` and ``AccessLogGroup`` defined elsewhere in the stack."""
    resources: dict[str, Any] = {
        "WebSocketApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": sub("${AWS::StackName}-ws"),
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
                "Description": "tickwire: player actions into Kinesis",
            },
        },
        "Authorizer": {
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": ref("WebSocketApi"),
                "Name": sub("${AWS::StackName}-jwt"),
                "AuthorizerType": "REQUEST",
                "AuthorizerUri": sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31"
                    "/functions/${AuthorizerFunction.Arn}/invocations"
                ),
                "IdentitySource": ["route.request.querystring.token"],
            },
        },
        "AuthorizerPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("AuthorizerFunction"),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
                    ":${WebSocketApi}/authorizers/${Authorizer}"
                ),
            },
        },
    }
    route_ids = []
    for route_key, (prefix, record_type) in ROUTES.items():
        resources[f"{prefix}Integration"] = {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": ref("WebSocketApi"),
                "Description": f"{route_key} -> Kinesis PutRecord ({record_type} record)",
                "IntegrationType": "AWS",
                "IntegrationMethod": "POST",
                "IntegrationUri": sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:kinesis:action/PutRecord"
                ),
                "CredentialsArn": get_att("ApiGatewayRole", "Arn"),
                "RequestParameters": {
                    "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
                },
                "TemplateSelectionExpression": "\\$default",
                "RequestTemplates": {
                    "$default": request_template_value(record_type, "ActionStream")
                },
                "PassthroughBehavior": "NEVER",
            },
        }
        route: dict[str, Any] = {
            "ApiId": ref("WebSocketApi"),
            "RouteKey": route_key,
            "OperationName": f"{prefix}Route",
            "Target": join(["integrations", ref(f"{prefix}Integration")], "/"),
            "AuthorizationType": "NONE",
        }
        if route_key == "$connect":
            route.update(AuthorizationType="CUSTOM", AuthorizerId=ref("Authorizer"))
        resources[f"{prefix}Route"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": route}
        route_ids.append(f"{prefix}Route")
    # A WebSocket stage serves a deployment, a snapshot of the routes: CloudFormation only
    # makes a new one when the Deployment resource is replaced, so its logical id carries
    # a digest of everything deployed and changes whenever the API does.
    deployment = "Deployment" + _digest(resources)
    resources[deployment] = {
        "Type": "AWS::ApiGatewayV2::Deployment",
        "DependsOn": route_ids,
        "Properties": {"ApiId": ref("WebSocketApi")},
    }
    resources["Stage"] = {
        "Type": "AWS::ApiGatewayV2::Stage",
        # access logs need the account's CloudWatch role in place first
        "DependsOn": ["ApiGatewayAccount"],
        "Properties": {
            "ApiId": ref("WebSocketApi"),
            "StageName": ref("StageName"),
            "DeploymentId": ref(deployment),
            "Description": "tickwire stage",
            "AccessLogSettings": {
                "DestinationArn": get_att("AccessLogGroup", "Arn"),
                "Format": ACCESS_LOG_FORMAT,
            },
            "DefaultRouteSettings": {
                "ThrottlingBurstLimit": ref("ThrottlingBurstLimit"),
                "ThrottlingRateLimit": ref("ThrottlingRateLimit"),
            },
        },
    }
    resources["CustomDomain"] = {
        "Type": "AWS::ApiGatewayV2::DomainName",
        "Condition": "HasCustomDomain",
        "Properties": {
            "DomainName": ref("DomainName"),
            "DomainNameConfigurations": [
                {
                    "CertificateArn": ref("CertificateArn"),
                    "EndpointType": "REGIONAL",
                    "SecurityPolicy": "TLS_1_2",
                }
            ],
        },
    }
    resources["CustomDomainMapping"] = {
        "Type": "AWS::ApiGatewayV2::ApiMapping",
        "Condition": "HasCustomDomain",
        "Properties": {
            "ApiId": ref("WebSocketApi"),
            "DomainName": ref("CustomDomain"),
            "Stage": ref("Stage"),
        },
    }
    return resources
