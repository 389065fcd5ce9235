"""tickwire's own stack, rendered and loaded for a local run.

``tickwire up`` and the tests call :func:`load_tickwire_stack`, so the routes, request
templates and authorizer that run locally are the ones :func:`infra.aws.stack.render_stack`
sends to AWS. Parameters that only matter on AWS (image, VPC, subnets) get local
placeholders; the JWT secret comes from the caller (``JwtSecret``).
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.aws.stack import StackOptions, render_stack
from infra.local.cfn.loader import LoadedTemplate, load_template

__all__ = ["LOCAL_PARAMETERS", "load_tickwire_stack"]

# Values for the parameters a local run has no use for, and the local stage name.
LOCAL_PARAMETERS: dict[str, str] = {
    "ImageUri": "tickwire:local",
    "VpcId": "vpc-local",
    "Subnets": "subnet-local",
    "StageName": "local",
}


def load_tickwire_stack(
    parameters: Mapping[str, str] | None = None,
    *,
    options: StackOptions | None = None,
    stack_name: str = "tickwire-local",
    region: str = "us-east-1",
    account_id: str = "000000000000",
) -> LoadedTemplate:
    """Render tickwire's stack and load it (``parameters`` override ``LOCAL_PARAMETERS``;
    pass ``JwtSecret`` for the authorizer). The API is ``.api``; the stream, with its shard
    count, is the only entry of ``.streams``."""
    return load_template(
        render_stack(options),
        parameters={**LOCAL_PARAMETERS, **(parameters or {})},
        stack_name=stack_name,
        region=region,
        account_id=account_id,
    )
