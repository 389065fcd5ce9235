"""The compute part of the stack: the authorizer Lambda and the ECS Fargate workers.

Packaging: one container image (the repository's ``Dockerfile``) serves both. ECS runs it
as ``tickwire worker`` (the image's entry point and command); Lambda runs the same image
with ``ImageConfig`` ``EntryPoint: [python, -m, awslambdaric]`` and
``Command: [ingest.authorizer.handler]`` (the Lambda runtime interface client is installed
in the image). So the authorizer that AWS runs is the code the local gateway runs.

IAM, least privilege:

- the authorizer's role may only write its own log group;
- the workers' task role may read the action stream, use their three tables, and
  ``execute-api:ManageConnections`` on this API's stage; nothing else;
- the task execution role (ECS itself: pull the image, write the worker log group) uses
  AWS's managed ``AmazonECSTaskExecutionRolePolicy``.
"""

from __future__ import annotations

from typing import Any

from infra.aws.stack.intrinsics import (
    assume_role_policy,
    get_att,
    if_,
    inline_policy,
    ref,
    sub,
)

__all__ = ["WORKER_ENVIRONMENT", "authorizer_resources", "worker_resources"]

# Environment the worker container gets: the variables `tickwire worker` reads
# (tickwire/commands/worker.py) and the metrics backend (tickwire/metrics.py).
WORKER_ENVIRONMENT = {
    "TICKWIRE_STREAM": ref("ActionStream"),
    "TICKWIRE_LEASE_TABLE": ref("LeasesTable"),
    "TICKWIRE_SNAPSHOT_TABLE": ref("SnapshotsTable"),
    "TICKWIRE_CONNECTIONS_ENDPOINT": sub(
        "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
    ),
    "AWS_REGION": ref("AWS::Region"),
    "TICKWIRE_METRICS": "emf",
    "TICKWIRE_METRICS_NAMESPACE": ref("AWS::StackName"),
}


def authorizer_resources() -> dict[str, Any]:
    """The $connect authorizer function, its role and its log group."""
    return {
        "AuthorizerLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": sub("/aws/lambda/${AWS::StackName}-authorizer"),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        },
        "AuthorizerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume_role_policy("lambda.amazonaws.com"),
                "Policies": [
                    inline_policy(
                        "write-own-logs",
                        [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": get_att("AuthorizerLogGroup", "Arn"),
                            }
                        ],
                    )
                ],
            },
        },
        "AuthorizerFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": sub("${AWS::StackName}-authorizer"),
                "Description": "tickwire $connect authorizer (JWT)",
                "PackageType": "Image",
                "Code": {"ImageUri": ref("ImageUri")},
                "ImageConfig": {
                    "EntryPoint": ["python", "-m", "awslambdaric"],
                    "Command": ["ingest.authorizer.handler"],
                },
                "Architectures": [ref("LambdaArchitecture")],
                "Role": get_att("AuthorizerRole", "Arn"),
                "Timeout": 5,
                "MemorySize": 256,
                "LoggingConfig": {"LogGroup": ref("AuthorizerLogGroup")},
                "Environment": {
                    "Variables": {
                        # Secrets Manager (resolved by CloudFormation at deploy time) or
                        # the NoEcho parameter
                        "TICKWIRE_JWT_SECRET": if_(
                            "UseSecretsManager",
                            if_(
                                "PinSecretVersion",
                                # a new version id changes this value, so CloudFormation
                                # updates the function and resolves the reference again
                                sub(
                                    "{{resolve:secretsmanager:${JwtSecretArn}:SecretString:::"
                                    "${JwtSecretVersionId}}}"
                                ),
                                sub("{{resolve:secretsmanager:${JwtSecretArn}:SecretString}}"),
                            ),
                            ref("JwtSecret"),
                        ),
                        "TICKWIRE_JWT_AUDIENCE": ref("JwtAudience"),
                        "TICKWIRE_JWT_ISSUER": ref("JwtIssuer"),
                        "TICKWIRE_JWT_ALGORITHMS": "HS256",
                        "TICKWIRE_ALLOWED_ORIGINS": ref("AllowedOrigins"),
                    }
                },
            },
        },
    }


def worker_resources(*, tables: tuple[str, ...], command: tuple[str, ...]) -> dict[str, Any]:
    """ECS cluster, task definition, service, scaling, roles and the worker log group."""
    table_arns = [get_att(t, "Arn") for t in tables]
    return {
        "WorkerLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": sub("/tickwire/${AWS::StackName}/worker"),
                "RetentionInDays": ref("LogRetentionDays"),
            },
        },
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            },
        },
        "TaskExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume_role_policy("ecs-tasks.amazonaws.com"),
                "ManagedPolicyArns": [
                    sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                    )
                ],
            },
        },
        "WorkerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume_role_policy("ecs-tasks.amazonaws.com"),
                "Policies": [
                    inline_policy(
                        "read-action-stream",
                        [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "kinesis:DescribeStream",
                                    "kinesis:DescribeStreamSummary",
                                    "kinesis:ListShards",
                                    "kinesis:GetShardIterator",
                                    "kinesis:GetRecords",
                                ],
                                "Resource": get_att("ActionStream", "Arn"),
                            }
                        ],
                    ),
                    inline_policy(
                        "use-own-tables",
                        [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "dynamodb:GetItem",
                                    "dynamodb:PutItem",
                                    "dynamodb:UpdateItem",
                                    "dynamodb:DeleteItem",
                                    "dynamodb:ConditionCheckItem",
                                    "dynamodb:Query",
                                    "dynamodb:Scan",
                                    "dynamodb:BatchGetItem",
                                    "dynamodb:BatchWriteItem",
                                ],
                                "Resource": table_arns,
                            }
                        ],
                    ),
                    inline_policy(
                        "manage-connections",
                        [
                            {
                                "Effect": "Allow",
                                "Action": "execute-api:ManageConnections",
                                "Resource": sub(
                                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
                                    ":${WebSocketApi}/${StageName}/*/@connections/*"
                                ),
                            }
                        ],
                    ),
                ],
            },
        },
        "WorkerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "tickwire workers: no inbound, HTTPS out to AWS APIs",
                "VpcId": ref("VpcId"),
                "SecurityGroupEgress": [
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
                ],
            },
        },
        "WorkerTaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": sub("${AWS::StackName}-worker"),
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": ref("WorkerCpu"),
                "Memory": ref("WorkerMemory"),
                "RuntimePlatform": {
                    "OperatingSystemFamily": "LINUX",
                    "CpuArchitecture": ref("WorkerArchitecture"),
                },
                "ExecutionRoleArn": get_att("TaskExecutionRole", "Arn"),
                "TaskRoleArn": get_att("WorkerRole", "Arn"),
                "ContainerDefinitions": [
                    {
                        "Name": "worker",
                        "Image": ref("ImageUri"),
                        "Essential": True,
                        "EntryPoint": ["tickwire"],
                        "Command": list(command),
                        "StopTimeout": 30,
                        "Environment": [
                            {"Name": k, "Value": v} for k, v in WORKER_ENVIRONMENT.items()
                        ],
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": ref("WorkerLogGroup"),
                                "awslogs-region": ref("AWS::Region"),
                                "awslogs-stream-prefix": "worker",
                            },
                        },
                    }
                ],
            },
        },
        "WorkerService": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "Cluster": ref("Cluster"),
                "TaskDefinition": ref("WorkerTaskDefinition"),
                "LaunchType": "FARGATE",
                # no DesiredCount: the scalable target owns it (MinWorkers..MaxWorkers), and
                # a DesiredCount here would reset the running count on every stack update
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": ref("Subnets"),
                        "SecurityGroups": [ref("WorkerSecurityGroup")],
                        "AssignPublicIp": ref("AssignPublicIp"),
                    }
                },
                "DeploymentConfiguration": {
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                    "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
                },
            },
        },
        "WorkerScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": sub("service/${Cluster}/${WorkerService.Name}"),
                "MinCapacity": ref("MinWorkers"),
                "MaxCapacity": ref("MaxWorkers"),
            },
        },
        "WorkerScalingPolicy": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub("${AWS::StackName}-worker-cpu"),
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": ref("WorkerScalableTarget"),
                "TargetTrackingScalingPolicyConfiguration": {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": ref("WorkerTargetCpu"),
                    "ScaleInCooldown": 120,
                    "ScaleOutCooldown": 60,
                },
            },
        },
    }
