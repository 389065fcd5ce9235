"""tickwire's CloudFormation stack, rendered from Python.

:func:`render_stack` returns the template as a dict (:mod:`.render`), :func:`dump_stack`
prints it as YAML or JSON; the routes' request templates are in :mod:`.templates`.
"""

from __future__ import annotations

from infra.aws.stack.render import StackOptions, dump_stack, render_stack
from infra.aws.stack.templates import RECORD_TYPES, kinesis_request_template
from infra.aws.stack.workers import WORKER_ENVIRONMENT

__all__ = [
    "RECORD_TYPES",
    "WORKER_ENVIRONMENT",
    "StackOptions",
    "dump_stack",
    "kinesis_request_template",
    "render_stack",
]
