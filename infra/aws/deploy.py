"""Create or update a CloudFormation stack through a change set, and wait for it.

Theory of operation: :func:`deploy_stack` looks the stack up (absent, or only
``REVIEW_IN_PROGRESS``: a CREATE change set; otherwise UPDATE, re-using the previous value
of every parameter not given), creates a change set, waits for it (a change set "with no
changes" ends the deployment successfully), executes it, and waits for the stack to
settle. Failures raise :class:`DeployFailed` carrying the stack's failed events since the
deployment started, so the command can print why.

Errors::

    DeployError
    ├── StackNotDeployable   the stack is in a state no change set can fix
    │                        (ROLLBACK_COMPLETE: delete it first; *_IN_PROGRESS: wait)
    ├── TemplateTooLarge     the template is over CloudFormation's TemplateBody limit
    └── DeployFailed         the change set or the stack operation failed (``events``)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, WaiterError

__all__ = [
    "DeployError",
    "DeployFailed",
    "DeployResult",
    "FailedEvent",
    "PlannedChange",
    "StackNotDeployable",
    "TemplateTooLarge",
    "deploy_stack",
]

# CloudFormation quotas: a template passed inline (TemplateBody) is at most 51,200 bytes.
TEMPLATE_BODY_LIMIT = 51_200
# Waiter polling: CloudFormation's own waiters poll every 5 s (create/update: 30 s) for up
# to an hour; a stack with ECS services usually settles in 5-15 minutes.
DEFAULT_POLL_S = 10.0
DEFAULT_TIMEOUT_S = 3600.0
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployError(Exception):
    """Root of the deployment errors."""


class StackNotDeployable(DeployError):
    """The stack's current state rules out a change set."""


class TemplateTooLarge(DeployError):
    """The template is over the inline TemplateBody limit."""


@dataclass(frozen=True)
class FailedEvent:
    logical_id: str
    resource_type: str
    status: str
    reason: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.status}: {self.reason}"


class DeployFailed(DeployError):
    """The deployment failed; ``events`` are the stack's failed events since it started."""

    def __init__(self, message: str, events: Sequence[FailedEvent] = ()) -> None:
        super().__init__(message)
        self.events = tuple(events)


@dataclass(frozen=True)
class PlannedChange:
    """One resource change of a change set (``describe_change_set``'s ``ResourceChange``)."""

    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True, False, Conditional, or "" when not a Modify

    def __str__(self) -> str:
        replace = f" (replacement: {self.replacement})" if self.replacement else ""
        return f"{self.action} {self.logical_id} ({self.resource_type}){replace}"


@dataclass(frozen=True)
class DeployResult:
    stack_name: str
    operation: str  # CREATE or UPDATE
    status: str  # the stack's status at the end
    changed: bool
    outputs: dict[str, str] = field(default_factory=dict)
    # the change set's resource changes; with execute=False it was left for review
    changes: tuple[PlannedChange, ...] = ()
    change_set: str = ""


def _stack(client: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def _parameters(
    declared: Sequence[str], given: Mapping[str, str], previous: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DeployError(
            f"unknown parameter(s): {', '.join(unknown)} (the template declares {', '.join(declared)})"
        )
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": k, "ParameterValue": str(v)} for k, v in given.items()
    ]
    if previous is not None:
        parameters += [
            {"ParameterKey": k, "UsePreviousValue": True}
            for k in declared
            if k not in given and k in previous
        ]
    return parameters


def _failed_events(client: Any, stack_name: str, since: datetime) -> list[FailedEvent]:
    events: list[FailedEvent] = []
    try:
        pages = client.get_paginator("describe_stack_events").paginate(StackName=stack_name)
        for page in pages:
            for event in page["StackEvents"]:
                if event["Timestamp"] < since:
                    return list(reversed(events))
                if event["ResourceStatus"].endswith("FAILED"):
                    events.append(
                        FailedEvent(
                            logical_id=event["LogicalResourceId"],
                            resource_type=event.get("ResourceType", ""),
                            status=event["ResourceStatus"],
                            reason=event.get("ResourceStatusReason", ""),
                        )
                    )
    except ClientError:
        pass  # the stack may be gone (a failed CREATE with rollback deleted it)
    return list(reversed(events))


def deploy_stack(
    client: Any,
    *,
    stack_name: str,
    template_body: str,
    parameters: Mapping[str, str],
    declared_parameters: Sequence[str],
    capabilities: Sequence[str] = ("CAPABILITY_IAM",),
    poll_s: float = DEFAULT_POLL_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    execute: bool = True,
) -> DeployResult:
    """Create or update ``stack_name`` with a change set; ``client`` is a boto3
    CloudFormation client. Returns the outputs and the planned changes; with
    ``execute=False`` the change set is left for review (``aws cloudformation
    execute-change-set``) and nothing changes. Raises :class:`DeployError`."""
    if len(template_body.encode()) > TEMPLATE_BODY_LIMIT:
        raise TemplateTooLarge(
            f"the template is {len(template_body.encode())} bytes; CloudFormation takes at most "
            f"{TEMPLATE_BODY_LIMIT} inline"
        )
    started = datetime.now(UTC).replace(microsecond=0)
    stack = _stack(client, stack_name)
    status = stack["StackStatus"] if stack else None
    if status == "ROLLBACK_COMPLETE":
        raise StackNotDeployable(
            f"stack {stack_name} is ROLLBACK_COMPLETE (its creation failed); delete it and deploy again"
        )
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise StackNotDeployable(f"stack {stack_name} is {status}; wait for it to finish")
    operation = "UPDATE" if status not in (None, "REVIEW_IN_PROGRESS") else "CREATE"
    previous = (
        {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        if stack is not None and operation == "UPDATE"
        else None
    )
    change_set_name = f"tickwire-{int(time.time())}"
    try:
        client.create_change_set(
            StackName=stack_name,
            ChangeSetName=change_set_name,
            ChangeSetType=operation,
            TemplateBody=template_body,
            Parameters=_parameters(declared_parameters, parameters, previous),
            Capabilities=list(capabilities),
            Description="tickwire deploy",
        )
    except ClientError as exc:
        # some endpoints refuse an empty change set outright instead of failing it
        if any(marker in str(exc) for marker in _NO_CHANGES) and stack is not None:
            return DeployResult(stack_name, operation, str(status), False, _outputs(stack))
        raise DeployFailed(f"CloudFormation refused the change set: {exc}") from exc
    waiter_config = {
        "Delay": max(1, int(poll_s)),
        "MaxAttempts": max(1, int(timeout_s / max(poll_s, 1))),
    }
    try:
        client.get_waiter("change_set_create_complete").wait(
            StackName=stack_name, ChangeSetName=change_set_name, WaiterConfig=waiter_config
        )
    except WaiterError as exc:
        described = client.describe_change_set(StackName=stack_name, ChangeSetName=change_set_name)
        reason = described.get("StatusReason", "") or str(exc)
        if any(marker in reason for marker in _NO_CHANGES):
            client.delete_change_set(StackName=stack_name, ChangeSetName=change_set_name)
            final = _stack(client, stack_name) or {}
            return DeployResult(
                stack_name, operation, final.get("StackStatus", ""), False, _outputs(final)
            )
        raise DeployFailed(f"change set {change_set_name} failed: {reason}") from exc
    changes = _changes(client, stack_name, change_set_name)
    if not execute:
        final = _stack(client, stack_name) or {}
        return DeployResult(stack_name, operation, final.get("StackStatus", ""), False,
                            _outputs(final), changes, change_set_name)  # fmt: skip
    try:
        client.execute_change_set(StackName=stack_name, ChangeSetName=change_set_name)
    except ClientError as exc:
        raise DeployFailed(
            f"executing change set {change_set_name} failed: {exc}",
            _failed_events(client, stack_name, started),
        ) from exc
    waiter = "stack_create_complete" if operation == "CREATE" else "stack_update_complete"
    try:
        client.get_waiter(waiter).wait(StackName=stack_name, WaiterConfig=waiter_config)
    except WaiterError as exc:
        final = _stack(client, stack_name) or {}
        raise DeployFailed(
            f"stack {stack_name} ended {final.get('StackStatus', 'deleted')}: "
            f"{final.get('StackStatusReason', exc)}",
            _failed_events(client, stack_name, started),
        ) from exc
    final = _stack(client, stack_name) or {}
    return DeployResult(stack_name, operation, final.get("StackStatus", ""), True,
                        _outputs(final), changes, change_set_name)  # fmt: skip


def _changes(client: Any, stack_name: str, change_set_name: str) -> tuple[PlannedChange, ...]:
    changes: list[PlannedChange] = []
    pages = client.get_paginator("describe_change_set").paginate(
        StackName=stack_name, ChangeSetName=change_set_name
    )
    for page in pages:
        for change in page.get("Changes", []):
            resource = change.get("ResourceChange", {})
            changes.append(
                PlannedChange(
                    action=str(resource.get("Action", "")),
                    logical_id=str(resource.get("LogicalResourceId", "")),
                    resource_type=str(resource.get("ResourceType", "")),
                    replacement=str(resource.get("Replacement", "")),
                )
            )
    return tuple(changes)


def _outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
