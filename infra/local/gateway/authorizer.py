"""The Lambda REQUEST authorizer of a $connect route.

Decision table (design note, "Lambda REQUEST authorizer"):

| situation                                         | handshake |
|---------------------------------------------------|-----------|
| an identity source missing or empty               | 401, function not called |
| the function raises ``Exception("Unauthorized")`` | 401 |
| the policy's effect for the method ARN is Deny    | 403 |
| no Allow statement covers the method ARN          | 403 |
| any other error, or a context over 8 KB           | 500 |
| Allow                                             | go on; ``{principalId, **context}`` stays on the connection |

There is no result cache for WebSocket APIs: it runs on every connect.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import FunctionError, FunctionTimeout, LambdaError
from .lambdas import LambdaRuntime
from .model import Authorizer

__all__ = ["AuthDecision", "authorize", "evaluate_policy", "missing_identity_source"]


@dataclass(frozen=True, slots=True)
class AuthDecision:
    status: int  # 200 = allowed
    message: str
    authorizer: dict[str, Any] | None = None


def missing_identity_source(
    sources: tuple[str, ...], headers: Mapping[str, list[str]], query: Mapping[str, list[str]]
) -> str | None:
    """The first identity source that is missing or empty, or None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for source in sources:
        if source.startswith("route.request.header."):
            values = lowered.get(source[len("route.request.header.") :].lower())
        elif source.startswith("route.request.querystring."):
            values = query.get(source[len("route.request.querystring.") :])
        else:
            # stageVariables.* and context.* sources are always present locally.
            continue
        if not values or not values[-1]:
            return source
    return None


def evaluate_policy(policy: Any, method_arn: str) -> bool:
    """True when an Allow covers ``method_arn`` and no Deny does (IAM evaluation)."""
    if not isinstance(policy, Mapping):
        raise ValueError("policyDocument is not an object")
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(method_arn, r) for r in resources):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed


async def authorize(
    runtime: LambdaRuntime,
    authorizer: Authorizer,
    event: dict[str, Any],
    headers: Mapping[str, list[str]],
    query: Mapping[str, list[str]],
    *,
    timeout_s: float,
    max_context_bytes: int,
) -> AuthDecision:
    if missing_identity_source(authorizer.identity_sources, headers, query) is not None:
        return AuthDecision(401, "Unauthorized")
    try:
        # The timeout bounds the wait for a free worker as well as the call.
        result = await asyncio.wait_for(
            runtime.invoke(authorizer.function, event, timeout_s), timeout_s
        )
    except FunctionError as exc:
        if exc.error_message == "Unauthorized":
            return AuthDecision(401, "Unauthorized")
        return AuthDecision(500, "Internal server error")
    except (FunctionTimeout, LambdaError, OSError, TimeoutError):
        return AuthDecision(500, "Internal server error")
    try:
        if not isinstance(result, Mapping):
            raise ValueError("authorizer output is not an object")
        if not evaluate_policy(result.get("policyDocument"), event["methodArn"]):
            return AuthDecision(403, "Forbidden")
        context = result.get("context") or {}
        if not isinstance(context, Mapping) or not all(
            isinstance(v, (str, int, float, bool)) for v in context.values()
        ):
            raise ValueError("context values must be strings, numbers or booleans")
        if len(json.dumps(context).encode()) > max_context_bytes:
            raise ValueError("authorizer context over its size limit")
        principal = result.get("principalId")
        return AuthDecision(200, "", {"principalId": principal, **context})
    except (ValueError, TypeError, AttributeError, KeyError):
        return AuthDecision(500, "Internal server error")
