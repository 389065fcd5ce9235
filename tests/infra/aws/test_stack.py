"""tickwire's rendered stack: cfn-lint clean, created by moto, the right shape and IAM."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint
from moto import mock_aws

from infra.aws.stack import StackOptions, dump_stack, render_stack
from infra.local.cfn import load_template, load_tickwire_stack
from infra.local.vtl import render_request_template
from ingest.records import InputRecord, decode

REGION = "us-east-1"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return render_stack()


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_cfn_lint_is_clean(template: dict[str, Any], fmt: str) -> None:
    matches = lint(dump_stack(template, fmt), config=ManualArgs(regions=[REGION]))  # type: ignore[arg-type]
    assert [str(m) for m in matches] == []


def test_cfn_lint_catches_a_broken_stack(template: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(template))
    broken["Resources"]["ActionStream"]["Properties"]["RetentionPeriodHours"] = "a day"
    assert lint(dump_stack(broken, "json"), config=ManualArgs(regions=[REGION]))


def test_routes_and_integrations(template: dict[str, Any]) -> None:
    routes = resources_of(template, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == {
        "$connect",
        "$disconnect",
        "input",
    }
    connect = template["Resources"]["ConnectRoute"]["Properties"]
    assert connect["AuthorizationType"] == "CUSTOM"
    assert connect["AuthorizerId"] == {"Ref": "Authorizer"}
    authorizer = template["Resources"]["Authorizer"]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    api = template["Resources"]["WebSocketApi"]["Properties"]
    assert api["RouteSelectionExpression"] == "$request.body.action"
    for integration in resources_of(template, "AWS::ApiGatewayV2::Integration").values():
        props = integration["Properties"]
        assert props["IntegrationType"] == "AWS"
        assert props["IntegrationUri"] == {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:kinesis:action/PutRecord"
        }
        assert props["CredentialsArn"] == {"Fn::GetAtt": ["ApiGatewayRole", "Arn"]}
        assert props["RequestParameters"] == {
            "integration.request.header.Content-Type": "'application/x-amz-json-1.1'"
        }
        assert set(props["RequestTemplates"]) == {"$default"}


def test_table_keys_are_rendering_options() -> None:
    options = StackOptions(lease_key="lease", snapshot_key="mid")
    tables = load_tickwire_stack({"JwtSecret": "s" * 32}, options=options).tables
    keys = {spec.logical_id: spec.partition_key for spec in tables.values()}
    assert keys == {"LeasesTable": "lease", "SnapshotsTable": "mid"}
    assert {spec.billing_mode for spec in tables.values()} == {"PAY_PER_REQUEST"}


def test_local_load_runs_the_deployed_templates() -> None:
    """The template text the stack sends to AWS renders a record the engine decodes."""
    loaded = load_tickwire_stack({"JwtSecret": "s" * 32})
    api = loaded.api
    assert set(api.routes) == {"$connect", "$disconnect", "input"}
    (stream,) = loaded.streams
    assert loaded.streams[stream] == 4  # on-demand by default
    authorizer = api.routes["$connect"].authorizer
    assert authorizer is not None
    assert authorizer.function.handler == "ingest.authorizer.handler"
    assert authorizer.function.environment["TICKWIRE_JWT_SECRET"] == "s" * 32
    integration = api.routes["input"].integration
    assert integration is not None
    body = '{"action":"input","seq":5,"move":[1,0],"say":"it\'s \\"ok\\" é"}'
    context = {
        "connectionId": "Mg_ugfpqPHcCIVA=",
        "requestTimeEpoch": 1700000000000,
        "authorizer": {"principalId": "p1", "matchId": "m1", "playerId": "p1"},
    }
    request = json.loads(
        render_request_template(
            integration.request_templates["$default"],
            context=context,
            body=body,
            stage_variables=api.stage.stage_variables,
        )
    )
    assert request["StreamName"] == stream and request["PartitionKey"] == "m1"
    record = decode(base64.b64decode(request["Data"]))
    assert isinstance(record, InputRecord) and record.seq == 5


def test_local_load_refuses_secrets_manager_references() -> None:
    from infra.local.cfn import UnsupportedIntrinsic

    with pytest.raises(UnsupportedIntrinsic, match="AuthorizerFunction"):
        load_tickwire_stack({"JwtSecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:x"})


def test_stream_mode_parameters() -> None:
    loaded = load_template(
        render_stack(),
        parameters={
            "ImageUri": "i",
            "VpcId": "v",
            "Subnets": "s",
            "StreamMode": "PROVISIONED",
            "ShardCount": "6",
        },
    )
    assert list(loaded.streams.values()) == [6]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]


def test_least_privilege(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert _statements(resources["ApiGatewayRole"]) == [
        {
            "Effect": "Allow",
            "Action": "kinesis:PutRecord",
            "Resource": {"Fn::GetAtt": ["ActionStream", "Arn"]},
        }
    ]
    assert [s["Action"] for s in _statements(resources["AuthorizerRole"])] == [
        ["logs:CreateLogStream", "logs:PutLogEvents"]
    ]
    worker = _statements(resources["WorkerRole"])
    actions = [
        a for s in worker for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not any(a.endswith("*") for a in actions)
    assert not any(a.startswith("kinesis:Put") for a in actions)
    for statement in worker:
        assert statement["Resource"] != "*"


@mock_aws
def test_moto_creates_the_stack(template: dict[str, Any]) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    parameters = {
        "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/tickwire:1",
        "VpcId": vpc,
        "Subnets": subnet,
        "JwtSecret": "s" * 32,
        "LogRetentionDays": "30",
    }
    cloudformation.create_stack(
        StackName="tw",
        TemplateBody=dump_stack(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="tw")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="tw")["StackResourceSummaries"]
    }

    kinesis = boto3.client("kinesis", region_name=REGION)
    # (moto's CloudFormation ignores StreamModeDetails; the loader tests cover the mode)
    summary = kinesis.describe_stream_summary(StreamName=outputs["StreamName"])[
        "StreamDescriptionSummary"
    ]
    assert summary["StreamStatus"] == "ACTIVE"

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for output, key in (
        ("LeasesTableName", "shard_id"),
        ("SnapshotsTableName", "match_id"),
    ):
        table = dynamodb.describe_table(TableName=outputs[output])["Table"]
        assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    iam = boto3.client("iam", region_name=REGION)
    role = physical["ApiGatewayRole"]
    document = iam.get_role_policy(RoleName=role, PolicyName="put-records")["PolicyDocument"]
    if isinstance(document, str):  # moto stores the CloudFormation dict's repr
        import ast

        document = ast.literal_eval(document)
    assert document["Statement"][0]["Action"] == "kinesis:PutRecord"
    assert document["Statement"][0]["Resource"] == summary["StreamARN"]

    function = boto3.client("lambda", region_name=REGION).get_function(FunctionName="tw-authorizer")
    config = function["Configuration"]
    # (moto's CloudFormation creates every function as Zip; the image settings are checked
    # on the template and by the local load)
    assert config["Role"].endswith(physical["AuthorizerRole"])
    assert config["Environment"]["Variables"]["TICKWIRE_JWT_AUDIENCE"] == "tickwire"

    ecs = boto3.client("ecs", region_name=REGION)
    task = ecs.describe_task_definition(taskDefinition=physical["WorkerTaskDefinition"])[
        "taskDefinition"
    ]
    container = task["containerDefinitions"][0]
    assert (container["entryPoint"], container["command"]) == (["tickwire"], ["worker"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["TICKWIRE_STREAM"] == outputs["StreamName"]
    assert env["TICKWIRE_LEASE_TABLE"] == outputs["LeasesTableName"]
    assert env["TICKWIRE_SNAPSHOT_TABLE"] == outputs["SnapshotsTableName"]
    assert env["TICKWIRE_CONNECTIONS_ENDPOINT"] == outputs["ConnectionsUrl"]
    assert task["family"] == "tw-worker"
    services = ecs.describe_services(
        cluster=outputs["ClusterName"], services=[physical["WorkerService"]]
    )
    service = services["services"][0]
    # (no DesiredCount in the template: AWS then starts 1 task and the scalable target keeps
    # MinWorkers..MaxWorkers; moto starts 0, so only the wiring is checked here)
    assert service["taskDefinition"] == physical["WorkerTaskDefinition"]

    logs = boto3.client("logs", region_name=REGION)
    groups = {
        g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]
    }
    assert groups["/tickwire/tw/access"] == 30
    assert groups["/tickwire/tw/worker"] == 30
    assert groups["/aws/lambda/tw-authorizer"] == 30
    assert outputs["WebSocketUrl"].startswith("wss://") and outputs["WebSocketUrl"].endswith(
        "/live"
    )
    assert outputs["ConnectionsUrl"].startswith("https://")


def test_deployment_is_replaced_when_the_api_changes(template: dict[str, Any]) -> None:
    from infra.aws.stack.api import api_resources

    deployments = [k for k in template["Resources"] if k.startswith("Deployment")]
    assert len(deployments) == 1
    stage = template["Resources"]["Stage"]["Properties"]
    assert stage["DeploymentId"] == {"Ref": deployments[0]}
    assert deployments == [k for k in render_stack()["Resources"] if k.startswith("Deployment")]
    changed = api_resources()
    assert [k for k in changed if k.startswith("Deployment")] == deployments
    import infra.aws.stack.api as api_module

    original = api_module.ROUTES
    try:
        api_module.ROUTES = {**original, "ping": ("Ping", "input")}
        other = [k for k in api_resources() if k.startswith("Deployment")]
    finally:
        api_module.ROUTES = original
    assert other != deployments


def test_jwt_secret_sources(template: dict[str, Any]) -> None:
    env = template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    use_arn, from_arn, plain = env["TICKWIRE_JWT_SECRET"]["Fn::If"]
    pin, pinned, latest = from_arn["Fn::If"]
    assert use_arn == "UseSecretsManager" and plain == {"Ref": "JwtSecret"}
    assert pin == "PinSecretVersion"
    assert pinned["Fn::Sub"].endswith(":SecretString:::${JwtSecretVersionId}}}")
    assert latest["Fn::Sub"] == "{{resolve:secretsmanager:${JwtSecretArn}:SecretString}}"
    assert template["Parameters"]["JwtSecret"]["NoEcho"] is True
