"""tickwire's CloudFormation stack, rendered from Python (see :mod:`infra.aws.stack.render`)."""

from __future__ import annotations

from infra.aws.stack.templates import RECORD_TYPES, kinesis_request_template

__all__ = ["RECORD_TYPES", "kinesis_request_template"]
