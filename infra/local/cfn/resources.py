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
        "AWS::ApiGatewayV2::Model",
        # API keys and usage plans (ApiKeyRequired routes): API Gateway v1 resources
        "AWS::ApiGateway::ApiKey",
        "AWS::ApiGateway::UsagePlan",
        "AWS::ApiGateway::UsagePlanKey",
    }
)

# Non-API resources created in the embedded AWS (or at --aws-endpoint-url) before the API
# starts, so that handlers and service integrations find them under the names Ref/GetAtt
# give (infra.local.aws.provision creates them).
PROVISIONED_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::Serverless::SimpleTable",
        "AWS::SQS::Queue",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::S3::Bucket",
        "AWS::StepFunctions::StateMachine",
        "AWS::Serverless::StateMachine",
        "AWS::SSM::Parameter",
        "AWS::SecretsManager::Secret",
        "AWS::Events::EventBus",
        "AWS::Events::Rule",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::LayerVersion",
        "AWS::Serverless::LayerVersion",
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
    "AWS::KMS::",
    "AWS::ApiGateway::Account",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::DomainName",
    "AWS::ApiGatewayV2::ApiMapping",
    "AWS::Lambda::Permission",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::S3::BucketPolicy",
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
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Cognito::UserPool": "UserPoolName",
}

_REF_IS_ID = ("AWS::ApiGatewayV2::", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::UsagePlan")
_REF_IS_ARN = {"AWS::SecretsManager::Secret", "AWS::ECS::Service", "AWS::ECS::TaskDefinition",
               "AWS::IAM::ManagedPolicy", "AWS::SNS::Topic", "AWS::StepFunctions::StateMachine",
               "AWS::Serverless::StateMachine", "AWS::Lambda::LayerVersion",
               "AWS::Serverless::LayerVersion", "AWS::SNS::Subscription"}  # fmt: skip
# Ref is an id CloudFormation makes up (a UUID for event source mappings).
_REF_IS_UUID = ("AWS::Lambda::EventSourceMapping",)


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

    def default_name(self, logical_id: str, resource_type: str = "", *, fifo: bool = False) -> str:
        """The name CloudFormation would generate, without its random suffix. Buckets
        are lower case (S3 refuses capitals); a FIFO queue's name ends in ``.fifo``."""
        name = f"{self.stack_name}-{logical_id}"
        if resource_type == "AWS::S3::Bucket":
            return name.lower()[:63]
        return f"{name}.fifo" if fifo else name

    def ref(self, logical_id: str, resource_type: str, name: str) -> str:
        """The ``Ref`` value of a resource whose physical name is ``name``."""
        if resource_type in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGatewayV2::DomainName"):
            return name
        if resource_type.startswith(_REF_IS_ID):
            return short_id(self.stack_name, logical_id)
        if resource_type in _REF_IS_UUID:
            digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()
            return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        if resource_type == "AWS::SQS::Queue":
            return self.queue_url(name)
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
            "AWS::SQS::Queue": f"arn:aws:sqs:{r}:{a}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{r}:{a}:{name}",
            "AWS::SNS::Subscription": f"arn:aws:sns:{r}:{a}:{name}:{short_id(logical_id)}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{r}:{a}:stateMachine:{name}",
            "AWS::Serverless::StateMachine": f"arn:aws:states:{r}:{a}:stateMachine:{name}",
            "AWS::SSM::Parameter": f"arn:aws:ssm:{r}:{a}:parameter/{name.lstrip('/')}",
            "AWS::Events::EventBus": f"arn:aws:events:{r}:{a}:event-bus/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{r}:{a}:rule/{name}",
            "AWS::Lambda::LayerVersion": f"arn:aws:lambda:{r}:{a}:layer:{name}:1",
            "AWS::Serverless::LayerVersion": f"arn:aws:lambda:{r}:{a}:layer:{name}:1",
        }
        return by_type.get(resource_type, f"arn:aws:{service}:{r}:{a}:{logical_id}/{name}")

    def queue_url(self, name: str) -> str:
        """An SQS queue's URL as AWS gives it (SDKs send it to whatever endpoint they use;
        moto and SQS both read the account and queue name from its path)."""
        return f"https://sqs.{self.region}.{self.url_suffix}/{self.account_id}/{name}"

    def attribute(self, logical_id: str, resource_type: str, name: str, attribute: str) -> Any:
        """``Fn::GetAtt`` of a resource; unknown attributes get a placeholder ARN."""
        by_type = self._typed_attributes(resource_type, name).get(attribute)
        if by_type is not None:
            return by_type
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

    def _typed_attributes(self, resource_type: str, name: str) -> dict[str, str]:
        """Attributes whose meaning depends on the resource type (CloudFormation's
        resource reference: "Return values")."""
        if resource_type == "AWS::SQS::Queue":
            return {"QueueName": name, "QueueUrl": self.queue_url(name)}
        if resource_type == "AWS::SNS::Topic":
            return {"TopicName": name, "TopicArn": self.arn("", resource_type, name)}
        if resource_type == "AWS::S3::Bucket":
            return {
                "DomainName": f"{name}.s3.{self.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{self.region}.{self.url_suffix}",
                "DualStackDomainName": f"{name}.s3.dualstack.{self.region}.{self.url_suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{self.region}.{self.url_suffix}",
            }
        if resource_type in ("AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine"):
            return {"Name": name}
        if resource_type == "AWS::SSM::Parameter":
            return {"Type": "String", "Value": ""}
        if resource_type == "AWS::DynamoDB::Table":
            return {"StreamArn": self.arn("", resource_type, name) + "/stream/local"}
        return {}
