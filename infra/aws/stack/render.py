"""tickwire's CloudFormation stack as a Python dict (``tickwire template`` prints it).

What it holds: the WebSocket API and its Kinesis integrations (:mod:`.api`), the action
stream, DynamoDB tables for leases (with their checkpoints) and snapshots, the authorizer Lambda and
the ECS Fargate workers (:mod:`.workers`), API Gateway's role (``kinesis:PutRecord`` on
this stream only), log groups with retention, an optional custom domain, and outputs for
the ``wss://`` URL and the ``@connections`` endpoint.

Choices that change the shape of the template are :class:`StackOptions` (rendering
options: the tables' key attribute names, the worker command); everything an operator may
vary per deployment is a CloudFormation parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from infra.aws.stack.api import api_resources
from infra.aws.stack.intrinsics import (
    NO_VALUE,
    assume_role_policy,
    get_att,
    if_,
    inline_policy,
    ref,
    sub,
)
from infra.aws.stack.workers import authorizer_resources, worker_resources

__all__ = ["LOG_RETENTION_DAYS", "StackOptions", "dump_stack", "render_stack"]

# The values CloudWatch Logs accepts for RetentionInDays (PutRetentionPolicy API).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)  # fmt: skip
# Fargate's valid task sizes (ECS developer guide, "Task CPU and memory").
FARGATE_CPU = ("256", "512", "1024", "2048", "4096")


@dataclass(frozen=True)
class StackOptions:
    """Rendering options (not CloudFormation parameters: changing one replaces resources).

    The key attribute names are what the engine's DynamoDB adapters read and write
    (:mod:`infra.aws.dynamodb`). Checkpoints live on the lease items (one conditional
    write moves a lease and its checkpoint together), so there is no checkpoint table.
    """

    lease_key: str = "shard_id"
    snapshot_key: str = "match_id"
    worker_command: tuple[str, ...] = ("worker",)
    description: str = (
        "tickwire: WebSocket API -> Kinesis -> tick engine on ECS Fargate -> @connections"
    )


def _parameters() -> dict[str, Any]:
    return {
        "ImageUri": {
            "Type": "String",
            "Description": "The tickwire container image (ECR URI) for the workers and the authorizer",
            "MinLength": 1,
        },
        "StageName": {"Type": "String", "Default": "live", "AllowedPattern": "[A-Za-z0-9_-]+"},
        "StreamMode": {
            "Type": "String",
            "Default": "ON_DEMAND",
            "AllowedValues": ["ON_DEMAND", "PROVISIONED"],
        },
        "ShardCount": {
            "Type": "Number",
            "Default": 2,
            "MinValue": 1,
            "Description": "Shards when StreamMode is PROVISIONED",
        },
        "JwtSecretArn": {
            "Type": "String",
            "Default": "",
            "Description": "Secrets Manager secret holding the JWT HMAC secret (preferred)",
        },
        "JwtSecretVersionId": {
            "Type": "String",
            "Default": "",
            "Description": "Pin a version of JwtSecretArn; give the new version id after rotating it",
        },
        "JwtSecret": {
            "Type": "String",
            "Default": "",
            "NoEcho": True,
            "Description": "The JWT HMAC secret itself, when JwtSecretArn is empty (>= 32 bytes)",
        },
        "JwtAudience": {"Type": "String", "Default": "tickwire"},
        "JwtIssuer": {"Type": "String", "Default": "tickwire"},
        "AllowedOrigins": {
            "Type": "String",
            "Default": "",
            "Description": "Comma-separated browser origins allowed to connect; empty: no Origin check",
        },
        "VpcId": {"Type": "AWS::EC2::VPC::Id"},
        "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"},
        "AssignPublicIp": {
            "Type": "String",
            "Default": "ENABLED",
            "AllowedValues": ["ENABLED", "DISABLED"],
            "Description": "ENABLED for public subnets; DISABLED when the subnets have a NAT or VPC endpoints",
        },
        "WorkerCpu": {"Type": "String", "Default": "1024", "AllowedValues": list(FARGATE_CPU)},
        "WorkerMemory": {"Type": "String", "Default": "2048"},
        "WorkerArchitecture": {
            "Type": "String",
            "Default": "X86_64",
            "AllowedValues": ["X86_64", "ARM64"],
        },
        "LambdaArchitecture": {
            "Type": "String",
            "Default": "x86_64",
            "AllowedValues": ["x86_64", "arm64"],
        },
        "MinWorkers": {"Type": "Number", "Default": 1, "MinValue": 1},
        "MaxWorkers": {"Type": "Number", "Default": 4, "MinValue": 1},
        "WorkerTargetCpu": {"Type": "Number", "Default": 60, "MinValue": 10, "MaxValue": 90},
        "ThrottlingBurstLimit": {"Type": "Number", "Default": 5000},
        "ThrottlingRateLimit": {"Type": "Number", "Default": 10000},
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 14,
            "AllowedValues": list(LOG_RETENTION_DAYS),
        },
        "DomainName": {
            "Type": "String",
            "Default": "",
            "Description": "Optional custom domain for the WebSocket API (e.g. play.example.com)",
        },
        "CertificateArn": {
            "Type": "String",
            "Default": "",
            "Description": "ACM certificate for DomainName, in this region",
        },
    }


def _conditions() -> dict[str, Any]:
    return {
        "IsProvisioned": {"Fn::Equals": [ref("StreamMode"), "PROVISIONED"]},
        "UseSecretsManager": {"Fn::Not": [{"Fn::Equals": [ref("JwtSecretArn"), ""]}]},
        "PinSecretVersion": {"Fn::Not": [{"Fn::Equals": [ref("JwtSecretVersionId"), ""]}]},
        "HasCustomDomain": {
            "Fn::And": [
                {"Fn::Not": [{"Fn::Equals": [ref("DomainName"), ""]}]},
                {"Fn::Not": [{"Fn::Equals": [ref("CertificateArn"), ""]}]},
            ]
        },
    }


def _table(key: str, description: str) -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "SSESpecification": {"SSEEnabled": True},
            "Tags": [{"Key": "tickwire:role", "Value": description}],
        },
    }


def _data_resources(options: StackOptions) -> dict[str, Any]:
    return {
        "ActionStream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "StreamModeDetails": {"StreamMode": ref("StreamMode")},
                "ShardCount": if_("IsProvisioned", ref("ShardCount"), NO_VALUE),
                "RetentionPeriodHours": 24,
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        },
        "LeasesTable": _table(options.lease_key, "leases-and-checkpoints"),
        "SnapshotsTable": _table(options.snapshot_key, "snapshots"),
        "ApiGatewayRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume_role_policy("apigateway.amazonaws.com"),
                "Policies": [
                    inline_policy(
                        "put-records",
                        [
                            {
                                "Effect": "Allow",
                                "Action": "kinesis:PutRecord",
                                "Resource": get_att("ActionStream", "Arn"),
                            }
                        ],
                    )
                ],
            },
        },
        "AccessLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": sub("/tickwire/${AWS::StackName}/access"),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        },
        # API Gateway writes WebSocket access logs through the account's CloudWatch role
        # (one per account and region; setting it here replaces any earlier one).
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume_role_policy("apigateway.amazonaws.com"),
                "ManagedPolicyArns": [
                    sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": get_att("ApiGatewayCloudWatchRole", "Arn")},
        },
    }


def _outputs() -> dict[str, Any]:
    endpoint = "${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
    return {
        "WebSocketUrl": {"Description": "Clients connect here", "Value": sub(f"wss://{endpoint}")},
        "ConnectionsUrl": {
            "Description": "The @connections endpoint (SDK endpoint_url for apigatewaymanagementapi)",
            "Value": sub(f"https://{endpoint}"),
        },
        "ApiId": {"Value": ref("WebSocketApi")},
        "StreamName": {"Value": ref("ActionStream")},
        "LeasesTableName": {"Value": ref("LeasesTable")},
        "SnapshotsTableName": {"Value": ref("SnapshotsTable")},
        "ClusterName": {"Value": ref("Cluster")},
        "WorkerServiceName": {"Value": get_att("WorkerService", "Name")},
        "CustomDomainUrl": {
            "Condition": "HasCustomDomain",
            "Description": "wss:// URL on the custom domain",
            "Value": sub("wss://${DomainName}"),
        },
        "CustomDomainTarget": {
            "Condition": "HasCustomDomain",
            "Description": "Point the custom domain's DNS (CNAME or alias) here",
            "Value": get_att("CustomDomain", "RegionalDomainName"),
        },
    }


def render_stack(options: StackOptions | None = None) -> dict[str, Any]:
    """The whole template as a dict (valid CloudFormation JSON)."""
    options = options or StackOptions()
    resources: dict[str, Any] = {}
    resources.update(_data_resources(options))
    resources.update(authorizer_resources())
    resources.update(api_resources())
    resources.update(
        worker_resources(
            tables=("LeasesTable", "SnapshotsTable"),
            command=options.worker_command,
        )
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": options.description,
        "Parameters": _parameters(),
        "Conditions": _conditions(),
        "Resources": resources,
        "Outputs": _outputs(),
    }


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Multi-line strings (request templates) as literal blocks, keys in template order."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.endswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_stack(template: dict[str, Any], fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The template as YAML (long-form intrinsics) or JSON text."""
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    return str(yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True))
