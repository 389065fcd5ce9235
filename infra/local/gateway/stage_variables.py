"""``${stageVariables.name}`` references in integration URIs (pure).

API Gateway substitutes stage variables in an integration's URI when it calls the
integration ("Use stage variables for a WebSocket API": HTTP URIs such as
``https://${stageVariables.host}/x``, and Lambda function ARNs such as
``...:function:${stageVariables.fn}/invocations``). A stage's variables do not change
while the gateway serves it, so each URI is substituted once, when its integration is
first prepared, with the same outcome as per call. A reference to a variable the stage
does not define cannot name an endpoint: the call fails as on AWS (a 500 / the "Internal
server error" frame).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .errors import ConfigurationError

__all__ = ["substitute_stage_variables"]

# Stage variable names are letters, digits and underscores (API Gateway's rule).
_REFERENCE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def substitute_stage_variables(text: str, variables: Mapping[str, str]) -> str:
    """``text`` with every ``${stageVariables.x}`` replaced by the stage's value."""
    if "${stageVariables." not in text:
        return text

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ConfigurationError(f"{text!r}: the stage defines no variable {name!r}")
        return variables[name]

    return _REFERENCE.sub(value, text)
