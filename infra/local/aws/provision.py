"""Create a template's non-API resources at their endpoints, under their template names.

Each :class:`~infra.local.cfn.service_resources.ServiceResource` is created with the
properties the template gives it, translated to the service's create call (CloudFormation
and the APIs spell them differently: ``KeySchema`` is the same, SQS attributes are
strings, ``RedrivePolicy`` is JSON text...). A resource that exists already is left as it
is (a re-run against a persistent endpoint). A resource whose creation fails is reported,
not fatal: the API still runs, and the report says what will not work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.aws.endpoints import AwsEndpoints
from infra.local.cfn.service_resources import ServiceResource

__all__ = ["ProvisionReport", "provision"]

log = logging.getLogger(__name__)

# A role ARN for state machines when the template gives none (Step Functions requires one;
# nothing here evaluates IAM).
_LOCAL_ROLE = "arn:aws:iam::{account}:role/tickwire-local"


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)  # "Type name"
    failed: dict[str, str] = field(default_factory=dict)  # logical id -> reason
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> why not created

    def lines(self) -> list[str]:
        out = [f"created {item}" for item in self.created]
        out += [f"not created: {lid}: {why}" for lid, why in self.skipped.items()]
        out += [f"FAILED to create {lid}: {why}" for lid, why in self.failed.items()]
        return out


def provision(
    resources: Iterable[ServiceResource],
    endpoints: AwsEndpoints,
    *,
    template_dir: Path | None = None,
    account_id: str = "000000000000",
) -> ProvisionReport:
    """Create ``resources`` at ``endpoints`` (in the order that lets subscriptions find
    their topics and queues)."""
    report = ProvisionReport()
    ordered = sorted(resources, key=lambda r: _ORDER.get(r.resource_type, 5))
    for resource in ordered:
        create = _CREATORS.get(resource.resource_type)
        if create is None:  # event source mappings, layers: run by the gateway itself
            continue
        if endpoints.url_for(_SERVICE_OF[resource.resource_type]) is None:
            # AWS itself: creating resources in a real account is a deployment's job
            report.skipped[resource.logical_id] = "its service is AWS itself"
            continue
        try:
            what = create(resource, endpoints, _Context(template_dir, account_id))
        except Exception as exc:  # any service error: report it, run the API anyway
            if _exists(exc):
                continue
            log.warning("%s: %s", resource.logical_id, exc)
            report.failed[resource.logical_id] = str(exc)
            continue
        if what is not None:
            report.created.append(what)
    return report


@dataclass(frozen=True)
class _Context:
    template_dir: Path | None
    account_id: str


def _exists(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in {
        "ResourceInUseException",
        "QueueAlreadyExists",
        "BucketAlreadyOwnedByYou",
        "StateMachineAlreadyExists",
        "ParameterAlreadyExists",
        "ResourceExistsException",
    }


def _table(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    args: dict[str, Any] = {
        "TableName": resource.name,
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": p.get("BillingMode", "PROVISIONED"),
    }
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = _throughput(p.get("ProvisionedThroughput"))
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if p.get(key):
            args[key] = [_index(i, args["BillingMode"]) for i in p[key]]
    if p.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    client = endpoints.client("dynamodb")
    client.create_table(**args)
    ttl = p.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled", "")).lower() == "true":
        client.update_time_to_live(
            TableName=resource.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )
    return f"DynamoDB table {resource.name}"


def _throughput(value: Any) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def _index(index: Mapping[str, Any], billing: str) -> dict[str, Any]:
    out = {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
    if billing == "PROVISIONED" and "KeySchema" in out and "ProvisionedThroughput" in index:
        out["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return out


def _simple_table(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    """SAM's SimpleTable: one string (or number/binary) key, on-demand unless throughput
    is given."""
    p = resource.properties
    key = p.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    kind = {"String": "S", "Number": "N", "Binary": "B"}[str(key.get("Type", "String"))]
    args: dict[str, Any] = {
        "TableName": resource.name,
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
    }
    if p.get("ProvisionedThroughput"):
        args["ProvisionedThroughput"] = _throughput(p["ProvisionedThroughput"])
    else:
        args["BillingMode"] = "PAY_PER_REQUEST"
    endpoints.client("dynamodb").create_table(**args)
    return f"DynamoDB table {resource.name}"


_QUEUE_ATTRIBUTES = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit", "KmsMasterKeyId", "SqsManagedSseEnabled",
)  # fmt: skip


def _queue(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    attributes = {k: _attribute(p[k]) for k in _QUEUE_ATTRIBUTES if k in p}
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in p:
            value = p[key]
            attributes[key] = value if isinstance(value, str) else json.dumps(value)
    tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
    endpoints.client("sqs").create_queue(QueueName=resource.name, Attributes=attributes,
                                         **({"tags": tags} if tags else {}))  # fmt: skip
    return f"SQS queue {resource.name}"


def _attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _topic(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    attributes = {k: _attribute(p[k]) for k in ("FifoTopic", "ContentBasedDeduplication") if k in p}
    client = endpoints.client("sns")
    arn = client.create_topic(Name=resource.name, Attributes=attributes)["TopicArn"]
    for subscription in p.get("Subscription") or []:
        _subscribe(client, arn, subscription["Protocol"], subscription["Endpoint"], {})
    return f"SNS topic {resource.name}"


def _subscription(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    attributes = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in p.items()
                  if k in ("FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "FilterPolicyScope")}  # fmt: skip
    _subscribe(endpoints.client("sns"), p["TopicArn"], p["Protocol"], p["Endpoint"], attributes)
    return f"SNS subscription {p['Protocol']} {p['Endpoint']}"


def _subscribe(
    client: Any, topic: str, protocol: str, endpoint: str, attrs: dict[str, Any]
) -> None:
    # Lambda subscribers are invoked by the gateway (moto would look for its own Lambda).
    if protocol == "lambda":
        return
    attrs = {k: _attribute(v) for k, v in attrs.items()}
    client.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint, Attributes=attrs)


def _bucket(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    args: dict[str, Any] = {"Bucket": resource.name}
    if endpoints.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": endpoints.region}
    endpoints.client("s3").create_bucket(**args)
    return f"S3 bucket {resource.name}"


def _state_machine(resource: ServiceResource, endpoints: AwsEndpoints, ctx: _Context) -> str:
    p = resource.properties
    definition = p.get("Definition") or p.get("DefinitionString")
    if definition is None and isinstance(p.get("DefinitionUri"), str):
        path = Path(p["DefinitionUri"])
        path = path if path.is_absolute() else (ctx.template_dir or Path.cwd()) / path
        text = path.read_text(encoding="utf-8")
        import yaml

        definition = yaml.safe_load(text)
    if definition is None:
        raise ValueError("no Definition, DefinitionString or local DefinitionUri")
    text = definition if isinstance(definition, str) else json.dumps(definition)
    for key, value in (p.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + key + "}", str(value))
    role = p.get("RoleArn") or p.get("Role") or _LOCAL_ROLE.format(account=ctx.account_id)
    endpoints.client("stepfunctions").create_state_machine(
        name=resource.name,
        definition=text,
        roleArn=role,
        type=p.get("Type", p.get("StateMachineType", "STANDARD")),
    )
    return f"Step Functions state machine {resource.name}"


def _parameter(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    endpoints.client("ssm").put_parameter(
        Name=resource.name, Value=str(p.get("Value", "")), Type=p.get("Type", "String")
    )
    return f"SSM parameter {resource.name}"


def _secret(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    p = resource.properties
    value = p.get("SecretString")
    if value is None:
        generate = p.get("GenerateSecretString") or {}
        import secrets

        generated = secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))
        template = generate.get("SecretStringTemplate")
        key = generate.get("GenerateStringKey")
        value = (
            json.dumps({**json.loads(template), key: generated}) if template and key else generated
        )
    endpoints.client("secretsmanager").create_secret(Name=resource.name, SecretString=value)
    return f"secret {resource.name}"


def _event_bus(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    endpoints.client("events").create_event_bus(Name=resource.name)
    return f"event bus {resource.name}"


def _rule(resource: ServiceResource, endpoints: AwsEndpoints, _: _Context) -> str:
    """An EventBridge rule with its targets other than Lambda functions (those are
    delivered by the gateway's event sources, which add a target of their own)."""
    p = resource.properties
    bus = str(p.get("EventBusName", "default")).rsplit("/", 1)[-1]
    args: dict[str, Any] = {"Name": resource.name, "EventBusName": bus,
                            "State": p.get("State", "ENABLED")}  # fmt: skip
    if p.get("EventPattern") is not None:
        pattern = p["EventPattern"]
        args["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if p.get("ScheduleExpression"):
        args["ScheduleExpression"] = p["ScheduleExpression"]
    client = endpoints.client("events")
    client.put_rule(**args)
    targets = [t for t in p.get("Targets") or [] if ":function:" not in str(t.get("Arn", ""))]
    if targets:
        client.put_targets(Rule=resource.name, EventBusName=bus, Targets=targets)
    return f"EventBridge rule {resource.name}"


_Creator = Callable[[ServiceResource, AwsEndpoints, _Context], str | None]
_CREATORS: dict[str, _Creator] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::Serverless::SimpleTable": _simple_table,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::S3::Bucket": _bucket,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::SSM::Parameter": _parameter,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Events::EventBus": _event_bus,
    "AWS::Events::Rule": _rule,
}
# queues and topics before the subscriptions that name them
_ORDER = {"AWS::SQS::Queue": 0, "AWS::SNS::Topic": 1, "AWS::SNS::Subscription": 2,
          "AWS::Events::EventBus": 3, "AWS::Events::Rule": 4}  # fmt: skip
# the service each creator calls (to tell whether it is AWS itself)
_SERVICE_OF = {
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::Serverless::SimpleTable": "dynamodb",
    "AWS::SQS::Queue": "sqs",
    "AWS::SNS::Topic": "sns",
    "AWS::SNS::Subscription": "sns",
    "AWS::S3::Bucket": "s3",
    "AWS::StepFunctions::StateMachine": "stepfunctions",
    "AWS::Serverless::StateMachine": "stepfunctions",
    "AWS::SSM::Parameter": "ssm",
    "AWS::SecretsManager::Secret": "secretsmanager",
    "AWS::Events::EventBus": "events",
    "AWS::Events::Rule": "events",
}
