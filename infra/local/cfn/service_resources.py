"""A template's non-API resources: what the embedded AWS creates, and what feeds Lambdas.

:class:`ServiceResource` is one resource to create before the API starts (a DynamoDB
table, an SQS queue, a state machine...), with the physical name, ``Ref`` value and ARN
that the template's intrinsics resolved to, so handlers and service integrations find it
under the names they were given. :class:`EventSource` is a source that invokes a function:
an ``AWS::Lambda::EventSourceMapping``, or a SAM function's ``Events`` entry (SQS,
Kinesis, DynamoDB, Schedule, SNS). :func:`references` finds which resources name a
given one, so what is not modelled can be reported with what it affects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.local.cfn.props import Props

__all__ = [
    "TARGET_INPUT_FIELDS",
    "EventSource",
    "ServiceResource",
    "mapping_source",
    "references",
    "rule_sources",
    "sam_event_sources",
]

# Lambda's defaults for event source mappings (CreateEventSourceMapping API reference).
DEFAULT_BATCH_SIZE = {"sqs": 10, "kinesis": 100, "dynamodb": 100}


@dataclass(frozen=True)
class ServiceResource:
    """One resource created in the embedded AWS (or at ``--aws-endpoint-url``)."""

    logical_id: str
    resource_type: str
    name: str
    ref: Any
    arn: str
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventSource:
    """Something that invokes ``function`` (a logical id) with batches or on a schedule.

    ``kind`` is ``sqs``, ``kinesis``, ``dynamodb`` (polled sources, ``source_arn``),
    ``schedule`` (``schedule`` is ``rate(...)``/``cron(...)``, ``payload`` the event),
    ``sns`` (``source_arn`` the topic), ``eventbridge`` (the rule ``rule`` on the bus
    ``bus`` with its ``pattern``; ``target_input`` the target's Input/InputPath/
    InputTransformer) or ``s3`` (the bucket ``bucket``; ``pattern`` the notification's
    ``Events`` and ``Filter``)."""

    logical_id: str
    function: str
    kind: str
    source_arn: str = ""
    batch_size: int = 10
    starting_position: str = "LATEST"
    enabled: bool = True
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # stream sources: -1 retries until the record expires
    schedule: str = ""
    payload: Any = None
    rule: str = ""
    bus: str = "default"
    pattern: Any = None
    target_input: Mapping[str, Any] = field(default_factory=dict)
    bucket: str = ""


# A rule target's fields that shape what the target receives (EventBridge PutTargets).
TARGET_INPUT_FIELDS = ("Input", "InputPath", "InputTransformer")


def _kind_of_arn(arn: str) -> str | None:
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    return {"sqs": "sqs", "kinesis": "kinesis", "dynamodb": "dynamodb"}.get(service)


def mapping_source(logical_id: str, props: Props, function_of: Mapping[str, str]) -> EventSource:
    """An ``AWS::Lambda::EventSourceMapping`` (``FunctionName`` a name or ARN)."""
    arn = props.text("EventSourceArn", "")
    kind = _kind_of_arn(arn) or "unsupported"
    target = props.text("FunctionName", "")
    if ":function:" in target:  # an ARN (maybe with a version or alias after the name)
        target = target.split(":function:", 1)[1].split(":")[0]
    function = function_of.get(target, "")
    return EventSource(
        logical_id=logical_id,
        function=function,
        kind=kind,
        source_arn=arn,
        batch_size=props.integer("BatchSize", DEFAULT_BATCH_SIZE.get(kind, 10)),
        starting_position=props.text("StartingPosition", "LATEST"),
        enabled=props.raw("Enabled") not in (False, "false", "False"),
        report_batch_item_failures="ReportBatchItemFailures"
        in props.strings("FunctionResponseTypes"),
        maximum_retry_attempts=props.integer("MaximumRetryAttempts", -1),
    )


def sam_event_sources(function_id: str, props: Props) -> tuple[list[EventSource], list[str]]:
    """A SAM function's ``Events``: the sources it declares, and notes for the ones that
    do not run locally (API, HTTP API, S3, EventBridge rules, IoT...)."""
    sources: list[EventSource] = []
    notes: list[str] = []
    for name, event in props.mapping("Events").values.items():
        if not isinstance(event, Mapping):
            continue
        kind = str(event.get("Type", ""))
        p = Props(f"{function_id}.Events.{name}", event.get("Properties") or {})
        enabled = p.raw("Enabled") not in (False, "false", "False")
        logical_id = f"{function_id}{name}"
        if kind in ("SQS", "Kinesis", "DynamoDB"):
            arn = p.text("Queue" if kind == "SQS" else "Stream", "")
            lower = kind.lower()
            sources.append(EventSource(
                logical_id=logical_id, function=function_id, kind=lower, source_arn=arn,
                batch_size=p.integer("BatchSize", DEFAULT_BATCH_SIZE[lower]),
                starting_position=p.text("StartingPosition", "LATEST"), enabled=enabled,
                report_batch_item_failures="ReportBatchItemFailures" in p.strings("FunctionResponseTypes"),
                maximum_retry_attempts=p.integer("MaximumRetryAttempts", -1),
            ))  # fmt: skip
        elif kind in ("Schedule", "ScheduleV2"):
            expression = p.text("Schedule" if kind == "Schedule" else "ScheduleExpression", "")
            raw_input = p.raw("Input")
            sources.append(EventSource(
                logical_id=logical_id, function=function_id, kind="schedule",
                schedule=expression, enabled=enabled and p.text("State", "ENABLED") == "ENABLED",
                payload=raw_input,
            ))  # fmt: skip
        elif kind in ("EventBridgeRule", "CloudWatchEvent"):
            sources.append(EventSource(
                logical_id=logical_id, function=function_id, kind="eventbridge", enabled=enabled,
                rule=p.text("RuleName", logical_id), bus=p.text("EventBusName", "default"),
                pattern=p.raw("Pattern"),
                target_input={k: p.raw(k) for k in TARGET_INPUT_FIELDS if p.raw(k) is not None},
            ))  # fmt: skip
        elif kind == "S3":
            events = p.raw("Events")
            notification: dict[str, Any] = {
                "Events": [events] if isinstance(events, str) else list(events or [])
            }
            rules = p.mapping("Filter").mapping("S3Key").items("Rules")
            if rules:  # CloudFormation's S3Key.Rules is the API's Key.FilterRules
                notification["Filter"] = {"Key": {"FilterRules": rules}}
            sources.append(EventSource(logical_id=logical_id, function=function_id, kind="s3",
                                       bucket=p.text("Bucket", ""), pattern=notification,
                                       enabled=enabled))  # fmt: skip
        elif kind == "SNS":
            sources.append(EventSource(logical_id=logical_id, function=function_id, kind="sns",
                                       source_arn=p.text("Topic", ""), enabled=enabled))  # fmt: skip
        else:
            notes.append(f"{function_id}: SAM event {name} (Type {kind}) does not run locally")
    return sources, notes


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}")


def references(value: Any) -> set[str]:
    """Logical ids a raw (unresolved) template value refers to through ``Ref``,
    ``Fn::GetAtt`` (both forms), ``Fn::Sub`` strings and ``DependsOn``."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) and item else item
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) and item else item
                if isinstance(text, str):
                    found.update(_SUB_NAME.findall(text))
                found |= references(item)
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def rule_sources(
    logical_id: str, name: str, props: Props, function_of: Mapping[str, str]
) -> list[EventSource]:
    """An ``AWS::Events::Rule``'s Lambda targets: a schedule, or an event pattern (its
    other targets are the embedded AWS's business)."""
    sources = []
    enabled = props.text("State", "ENABLED") == "ENABLED"
    expression = props.string("ScheduleExpression")
    for target in props.mappings("Targets"):
        arn = target.text("Arn", "")
        if ":function:" not in arn:
            continue
        function = function_of.get(arn.split(":function:", 1)[1].split(":")[0], "")
        source_id = f"{logical_id}.{target.text('Id', '')}"
        if expression:
            sources.append(EventSource(source_id, function, "schedule", enabled=enabled,
                                       schedule=expression, payload=target.raw("Input")))  # fmt: skip
        else:
            sources.append(EventSource(
                source_id, function, "eventbridge", enabled=enabled, rule=name,
                bus=props.text("EventBusName", "default").rsplit("/", 1)[-1],
                pattern=props.raw("EventPattern"),
                target_input={k: target.raw(k) for k in TARGET_INPUT_FIELDS
                              if target.raw(k) is not None},
            ))  # fmt: skip
    return sources
