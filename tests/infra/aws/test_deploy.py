"""``tickwire deploy`` and :func:`deploy_stack` against moto's CloudFormation (in-process).

moto limitations worked around here: its change sets never compute stack outputs, it
crashes updating a stack that has a ``List<...>`` parameter through a change set, and it
raises resource errors from ExecuteChangeSet instead of failing the stack. So updates use
a small template, and the printed outputs come from a stack moto created directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.aws.deploy import DeployError, DeployFailed, TemplateTooLarge, deploy_stack
from infra.aws.stack import render_stack
from tickwire.cli import main

REGION = "us-east-1"

SMALL: dict[str, Any] = {
    "Parameters": {"Shards": {"Type": "Number", "Default": 1}, "Env": {"Type": "String"}},
    "Resources": {
        "Stream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "ShardCount": {"Ref": "Shards"},
                "Tags": [{"Key": "env", "Value": {"Ref": "Env"}}],
            },
        }
    },
}


@pytest.fixture
def cloudformation() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def deploy(client: Any, template: dict[str, Any], **parameters: str) -> Any:
    return deploy_stack(
        client,
        stack_name="small",
        template_body=json.dumps(template),
        parameters=parameters,
        declared_parameters=list(template.get("Parameters", {})),
        poll_s=1,
        timeout_s=30,
    )


def test_create_then_update_keeps_previous_parameters(cloudformation: Any) -> None:
    created = deploy(cloudformation, SMALL, Env="dev")
    assert (created.operation, created.status, created.changed) == (
        "CREATE",
        "CREATE_COMPLETE",
        True,
    )
    updated = deploy(cloudformation, SMALL, Shards="3")
    assert (updated.operation, updated.status, updated.changed) == (
        "UPDATE",
        "UPDATE_COMPLETE",
        True,
    )
    stack = cloudformation.describe_stacks(StackName="small")["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "Shards": "3",
        "Env": "dev",
    }
    (stream,) = [
        r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="small")["StackResourceSummaries"]
    ]
    kinesis = boto3.client("kinesis", region_name=REGION)
    assert (
        kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
            "OpenShardCount"
        ]
        == 3
    )
    change_sets = cloudformation.list_change_sets(StackName="small")["Summaries"]
    assert all(c["ChangeSetName"].startswith("tickwire-") for c in change_sets)


def test_unchanged_update(cloudformation: Any) -> None:
    deploy(cloudformation, SMALL, Env="dev")
    again = deploy(cloudformation, SMALL)
    assert (again.operation, again.changed) == ("UPDATE", False)


def test_failure_is_reported(cloudformation: Any) -> None:
    role = {"AssumeRolePolicyDocument": {}, "RoleName": "same"}
    clash = {"Resources": {k: {"Type": "AWS::IAM::Role", "Properties": role} for k in ("A", "B")}}
    with pytest.raises(DeployFailed, match="already exists"):
        deploy(cloudformation, clash)


def test_bad_input(cloudformation: Any) -> None:
    with pytest.raises(DeployError, match="unknown parameter"):
        deploy(cloudformation, SMALL, Env="dev", Nope="1")
    huge = {"Resources": {"S": {"Type": "AWS::Kinesis::Stream", "Metadata": {"x": "y" * 60_000}}}}
    with pytest.raises(TemplateTooLarge):
        deploy(cloudformation, huge)


def _network() -> tuple[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    return vpc, subnet


def test_cli_creates_tickwire_stack(
    cloudformation: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vpc, subnet = _network()
    code = main(
        ["deploy", "--stack-name", "tw", "--region", REGION, "--poll", "1",
         "-p", "ImageUri=123456789012.dkr.ecr.us-east-1.amazonaws.com/tickwire:1",
         "-p", f"VpcId={vpc}", "-p", f"Subnets={subnet}", "-p", "JwtSecret=" + "s" * 32]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "stack tw created (CREATE_COMPLETE)" in captured.err
    kinds = {
        r["ResourceType"]
        for r in cloudformation.list_stack_resources(StackName="tw")["StackResourceSummaries"]
    }
    assert {"AWS::Kinesis::Stream", "AWS::DynamoDB::Table", "AWS::ECS::Service",
            "AWS::Lambda::Function", "AWS::IAM::Role"} <= kinds  # fmt: skip


def test_cli_prints_outputs_of_an_unchanged_stack(
    cloudformation: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    vpc, subnet = _network()
    parameters = {"ImageUri": "img", "VpcId": vpc, "Subnets": subnet, "JwtSecret": "s" * 32}
    cloudformation.create_stack(
        StackName="tw",
        TemplateBody=json.dumps(render_stack(), separators=(",", ":")),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    assert main(["deploy", "--stack-name", "tw", "--region", REGION, "--poll", "1"]) == 0
    captured = capsys.readouterr()
    assert "stack tw unchanged" in captured.err
    lines = dict(line.split(" = ", 1) for line in captured.out.splitlines())
    assert lines["WebSocketUrl"].startswith("wss://") and lines["WebSocketUrl"].endswith("/live")
    assert lines["ConnectionsUrl"].startswith("https://")
    assert lines["StreamName"].startswith("tw-ActionStream")


def test_cli_rejects_malformed_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--stack-name", "tw", "-p", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cli_reports_failure(cloudformation: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--stack-name", "tw", "--region", REGION, "-p", "Bogus=1"]) == 1
    assert "unknown parameter(s): Bogus" in capsys.readouterr().err


def test_review_without_executing(cloudformation: Any, capsys: pytest.CaptureFixture[str]) -> None:
    planned = deploy_stack(
        cloudformation,
        stack_name="small",
        template_body=json.dumps(SMALL),
        parameters={"Env": "dev"},
        declared_parameters=list(SMALL["Parameters"]),
        poll_s=1,
        timeout_s=30,
        execute=False,
    )
    assert (planned.operation, planned.changed) == ("CREATE", False)
    assert [(c.action, c.logical_id, c.resource_type) for c in planned.changes] == [
        ("Add", "Stream", "AWS::Kinesis::Stream")
    ]
    status = cloudformation.describe_stacks(StackName="small")["Stacks"][0]["StackStatus"]
    assert status == "REVIEW_IN_PROGRESS"
    kinesis = boto3.client("kinesis", region_name=REGION)
    assert kinesis.list_streams()["StreamNames"] == []
    # the change set left for review is the one that creates the stack when executed
    cloudformation.execute_change_set(StackName="small", ChangeSetName=planned.change_set)
    assert len(kinesis.list_streams()["StreamNames"]) == 1


def test_cli_no_execute(cloudformation: Any, capsys: pytest.CaptureFixture[str]) -> None:
    vpc, subnet = _network()
    code = main(
        ["deploy", "--stack-name", "tw", "--region", REGION, "--poll", "1", "--no-execute",
         "-p", "ImageUri=img", "-p", f"VpcId={vpc}", "-p", f"Subnets={subnet}",
         "-p", "JwtSecret=" + "s" * 32]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Add ActionStream (AWS::Kinesis::Stream)" in err
    assert "not executed" in err
    assert boto3.client("kinesis", region_name=REGION).list_streams()["StreamNames"] == []


@pytest.mark.parametrize(
    ("unset", "profile", "says"),
    [
        (("AWS_DEFAULT_REGION", "AWS_REGION"), None, "no AWS region: give --region"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), None, "no AWS credentials found"),
        ((), "no-such-profile", "could not be found"),
    ],
)
def test_cli_without_aws_set_up_says_what_is_missing(
    unset: tuple[str, ...], profile: str | None, says: str, tmp_path: Path
) -> None:
    """A fresh machine (no ~/.aws): one line naming what to set, no botocore traceback."""
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("AWS_")}
    env |= {k: os.environ[k] for k in ("AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY") if k not in unset}  # fmt: skip
    env["HOME"] = str(tmp_path)  # no ~/.aws/config, no ~/.aws/credentials
    if profile:
        env["AWS_PROFILE"] = profile
    for command in (["deploy", "--stack-name", "tw"], ["worker", "--stream", "s"]):
        out = subprocess.run(
            [sys.executable, "-m", "tickwire", *command],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        line = out.stderr.strip().splitlines()[-1]
        assert line.startswith(f"tickwire {command[0]}: ") and says in line, line
