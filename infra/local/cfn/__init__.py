"""Run WebSocket APIs locally from their CloudFormation templates.

:func:`load_template` reads a template (YAML with short-form tags, or JSON), resolves its
parameters, conditions and intrinsic functions, and returns a :class:`LoadedTemplate`: the
``AWS::ApiGatewayV2`` resources as :class:`~infra.local.gateway.model.WebSocketApi` models
whose Lambda integrations and authorizers are local Python or Node.js handlers, the
Kinesis streams (name -> shard count) and DynamoDB tables, the other AWS resources the
embedded AWS creates (``resources``: :class:`ServiceResource`), the event sources that
invoke functions (``event_sources``: :class:`EventSource`), and what it does not run
(``ignored``, ``unmodelled`` with what refers to it, ``notes``). :func:`load_tickwire_stack` does this for tickwire's own
rendered stack, so local runs exercise exactly what deploys.

Errors: :class:`TemplateError` (with ``logical_id``) > ``UnsupportedResource``,
``UnsupportedIntrinsic``, ``ParameterError``.
"""

from __future__ import annotations

from infra.local.cfn.errors import (
    ParameterError,
    TemplateError,
    UnsupportedIntrinsic,
    UnsupportedResource,
)
from infra.local.cfn.loader import LoadedTemplate, TableSpec, load_template
from infra.local.cfn.service_resources import EventSource, ServiceResource
from infra.local.cfn.tickwire_stack import LOCAL_PARAMETERS, load_tickwire_stack

__all__ = [
    "LOCAL_PARAMETERS",
    "EventSource",
    "LoadedTemplate",
    "ParameterError",
    "ServiceResource",
    "TableSpec",
    "TemplateError",
    "UnsupportedIntrinsic",
    "UnsupportedResource",
    "load_template",
    "load_tickwire_stack",
]
