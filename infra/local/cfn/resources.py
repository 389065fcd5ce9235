"""What resources stand for when referenced: Ref values, GetAtt attributes, physical names.

Locally there is no CloudFormation to name things, so names are deterministic: a resource
with a name property uses it; otherwise ``{stack}-{LogicalId}`` (AWS adds a random suffix).
API Gateway ids are ten lower-case characters derived from the logical id, like AWS's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

__all__ = ["IGNORED_TYPE_PREFIXES", "RUN_TYPES", "Naming", "short_id"]

# Resource types the local run builds something from.
RUN_TYPES = frozenset(
    {
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Stage",
        "AWS::ApiGatewayV2::RouteResponse",
        "AWS::ApiGatewayV2::IntegrationResponse",
        "AWS::Lambda::Function",
        "AWS::Serverless::Function",
        "AWS::Kinesis::Stream",
        "AWS::DynamoDB::Table",
    }
)

# Types accepted but not run locally (permissions, logging, compute, DNS): listed in
# LoadedTemplate.ignored so the command can say so, never dropped silently.
IGNORED_TYPE_PREFIXES = (
    "AWS::IAM::",
    "AWS::Logs::",
    "AWS::ECS::",
    "AWS::EC2::",
    "AWS::ECR::",
    "AWS::ApplicationAutoScaling::",
    "AWS::CloudWatch::",
    "AWS::SecretsManager::",
    "AWS::SSM::",
    "AWS::KMS::",
    "AWS::ApiGateway::Account",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::DomainName",
    "AWS::ApiGatewayV2::ApiMapping",
    "AWS::ApiGatewayV2::Model",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::CloudFormation::WaitConditionHandle",
)

_NAME_PROPERTY = {
    "AWS::Kinesis::Stream": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::Service": "ServiceName",
    "AWS::ApiGatewayV2::Stage": "StageName",
    "AWS::ApiGatewayV2::DomainName": "DomainName",
    "AWS::SecretsManager::Secret": "Name",
}

_REF_IS_ID = ("AWS::ApiGatewayV2::",)
_REF_IS_ARN = {"AWS::SecretsManager::Secret", "AWS::ECS::Service", "AWS::ECS::TaskDefinition",
               "AWS::IAM::ManagedPolicy"}  # fmt: skip


def short_id(*parts: str) -> str:
    """A stable ten-character id (API Gateway's ids look like ``a1b2c3d4e5``)."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return digest[:10]


@dataclass(frozen=True)
class Naming:
    """The names and ARNs of one local stack."""

    stack_name: str
    region: str
    account_id: str
    url_suffix: str = "amazonaws.com"

    @staticmethod
    def name_property(resource_type: str) -> str | None:
        return _NAME_PROPERTY.get(resource_type)

    def default_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def ref(self, logical_id: str, resource_type: str, name: str) -> str:
        """The ``Ref`` value of a resource whose physical name is ``name``."""
        if resource_type in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::DomainName"):
            return name
        if resource_type.startswith(_REF_IS_ID):
            return short_id(self.stack_name, logical_id)
        if resource_type in _REF_IS_ARN:
            return self.arn(logical_id, resource_type, name)
        return name

    def arn(self, logical_id: str, resource_type: str, name: str) -> str:
        r, a = self.region, self.account_id
        service = resource_type.split("::")[1].lower()
        by_type = {
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{r}:{a}:stream/{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{r}:{a}:table/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{r}:{a}:function:{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{r}:{a}:function:{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{a}:role/{name}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{a}:policy/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{r}:{a}:log-group:{name}:*",
            "AWS::ECS::Cluster": f"arn:aws:ecs:{r}:{a}:cluster/{name}",
            "AWS::ECS::Service": f"arn:aws:ecs:{r}:{a}:service/{name}",
            "AWS::ECS::TaskDefinition": f"arn:aws:ecs:{r}:{a}:task-definition/{name}:1",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{r}:{a}:secret:{name}",
        }
        return by_type.get(resource_type, f"arn:aws:{service}:{r}:{a}:{logical_id}/{name}")

    def attribute(self, logical_id: str, resource_type: str, name: str, attribute: str) -> Any:
        """``Fn::GetAtt`` of a resource; unknown attributes get a placeholder ARN."""
        api_id = short_id(self.stack_name, logical_id)
        specific: dict[str, Any] = {
            "ApiEndpoint": f"wss://{api_id}.execute-api.{self.region}.{self.url_suffix}",
            "ApiId": api_id,
            "AuthorizerId": api_id,
            "IntegrationId": api_id,
            "RouteId": api_id,
            "RoleId": f"AROA{api_id.upper()}",
            "StreamArn": self.arn(logical_id, resource_type, name) + "/stream/local",
            "RegionalDomainName": f"d-{api_id}.execute-api.{self.region}.{self.url_suffix}",
            "RegionalHostedZoneId": "ZLOCAL0000000",
            "Name": name,
        }
        if attribute in specific:
            return specific[attribute]
        if attribute in ("Arn", "ServiceArn", "TaskDefinitionArn", "Id"):
            return self.arn(logical_id, resource_type, name)
        return f"{self.arn(logical_id, resource_type, name)}/{attribute}"
