"""A small CloudFormation template that runs ``tickwire swarm`` as an ECS Fargate task.

For load beyond one machine: deploy this template next to (or apart from) the tickwire
stack, then start as many copies as needed with ``aws ecs run-task --count N``; each
task is one independent swarm (own run id, own report in its log stream). The swarm's
arguments are baked into the container command; the JWT secret is never: it comes from
Secrets Manager (``JwtSecretArn``) as the ``TICKWIRE_JWT_SECRET`` environment variable,
or bots use ``--token-url``.

Rendered by ``tickwire swarm --render-task [swarm options]`` (JSON on stdout).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["TaskTemplateError", "render_task_json", "render_task_template", "swarm_command"]

# Fargate task sizes: 2 vCPU / 4 GB by default, so the swarm runs --procs 2.
DEFAULT_CPU_UNITS = 2048
DEFAULT_MEMORY_MIB = 4096
# Each bot holds one socket: raise the open-file limit well above the bot count per task.
NOFILE_LIMIT = 65_536
LOG_RETENTION_DAYS = 14
# Flags that must not reach a task definition (stored in plain text, readable by anyone
# with ecs:DescribeTaskDefinition), or that only make sense on the local machine.
_FORBIDDEN = ("--secret",)
_DROPPED = ("--render-task",)


class TaskTemplateError(ValueError):
    """The swarm options cannot go into a task definition (e.g. a plain-text secret)."""


def swarm_command(argv: Sequence[str]) -> list[str]:
    """The container command for these ``tickwire swarm`` options."""
    out: list[str] = ["swarm"]
    for arg in argv:
        name = arg.split("=", 1)[0]
        if name in _FORBIDDEN:
            raise TaskTemplateError(
                "--secret would be stored in plain text in the task definition; "
                "use the JwtSecretArn parameter (Secrets Manager) or --token-url"
            )
        if name in _DROPPED or arg == "swarm":
            continue
        out.append(arg)
    return out


def render_task_template(argv: Sequence[str] = ()) -> dict[str, Any]:
    command = swarm_command(argv)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "tickwire swarm: load-test bots as an ECS Fargate task",
        "Parameters": {
            "Image": {
                "Type": "String",
                "Description": "container image with tickwire installed (entry point: tickwire)",
            },
            "Cpu": {
                "Type": "String",
                "Default": str(DEFAULT_CPU_UNITS),
                "AllowedValues": ["1024", "2048", "4096", "8192", "16384"],
            },
            "Memory": {"Type": "String", "Default": str(DEFAULT_MEMORY_MIB)},
            "JwtSecretArn": {
                "Type": "String",
                "Default": "",
                "Description": "Secrets Manager secret holding the JWT secret (empty: --token-url)",
            },
        },
        "Conditions": {"HasSecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtSecretArn"}, ""]}]}},
        "Resources": {
            "SwarmLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"RetentionInDays": LOG_RETENTION_DAYS},
            },
            "SwarmExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "ManagedPolicyArns": [
                        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
                    ],
                    "Policies": {
                        "Fn::If": [
                            "HasSecret",
                            [
                                {
                                    "PolicyName": "read-jwt-secret",
                                    "PolicyDocument": {
                                        "Version": "2012-10-17",
                                        "Statement": [
                                            {
                                                "Effect": "Allow",
                                                "Action": "secretsmanager:GetSecretValue",
                                                "Resource": {"Ref": "JwtSecretArn"},
                                            }
                                        ],
                                    },
                                }
                            ],
                            {"Ref": "AWS::NoValue"},
                        ]
                    },
                },
            },
            "SwarmTask": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "tickwire-swarm",
                    "RequiresCompatibilities": ["FARGATE"],
                    "NetworkMode": "awsvpc",
                    "Cpu": {"Ref": "Cpu"},
                    "Memory": {"Ref": "Memory"},
                    "ExecutionRoleArn": {"Fn::GetAtt": ["SwarmExecutionRole", "Arn"]},
                    "RuntimePlatform": {
                        "OperatingSystemFamily": "LINUX",
                        "CpuArchitecture": "X86_64",
                    },
                    "ContainerDefinitions": [
                        {
                            "Name": "swarm",
                            "Image": {"Ref": "Image"},
                            "Essential": True,
                            "EntryPoint": ["tickwire"],
                            "Command": command,
                            "Ulimits": [
                                {
                                    "Name": "nofile",
                                    "SoftLimit": NOFILE_LIMIT,
                                    "HardLimit": NOFILE_LIMIT,
                                }
                            ],
                            "Secrets": {
                                "Fn::If": [
                                    "HasSecret",
                                    [
                                        {
                                            "Name": "TICKWIRE_JWT_SECRET",
                                            "ValueFrom": {"Ref": "JwtSecretArn"},
                                        }
                                    ],
                                    {"Ref": "AWS::NoValue"},
                                ]
                            },
                            "LogConfiguration": {
                                "LogDriver": "awslogs",
                                "Options": {
                                    "awslogs-group": {"Ref": "SwarmLogGroup"},
                                    "awslogs-region": {"Ref": "AWS::Region"},
                                    "awslogs-stream-prefix": "swarm",
                                },
                            },
                        }
                    ],
                },
            },
        },
        "Outputs": {
            "TaskDefinitionArn": {
                "Description": "aws ecs run-task --launch-type FARGATE --task-definition <this> --count N ...",
                "Value": {"Ref": "SwarmTask"},
            },
            "LogGroup": {"Value": {"Ref": "SwarmLogGroup"}},
        },
    }


def render_task_json(argv: Sequence[str] = ()) -> str:
    return json.dumps(render_task_template(argv), indent=1)
