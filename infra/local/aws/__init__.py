"""An embedded AWS for what tickwire does not emulate itself.

:class:`EmbeddedAws` runs moto's in-process server on 127.0.0.1 (DynamoDB, SQS, SNS, S3,
Step Functions, SSM, Secrets Manager, EventBridge and the rest of what moto models);
:class:`AwsEndpoints` says where each service is (the embedded server, one URL given with
``--aws-endpoint-url``, per-service overrides, or AWS itself) and with which credentials,
and gives the environment that points a Lambda worker's SDK there;
:func:`provision` creates a template's non-API resources at those endpoints under the
names its intrinsics resolved to; :class:`WireService` sends an API Gateway ``AWS``
integration's rendered request to any service with that service's wire protocol, signed;
:class:`TemplateAws` puts all of it (plus Lambda's Invoke API and event sources) around
a template's API.
"""

from __future__ import annotations

from infra.local.aws.embedded import EmbeddedAws
from infra.local.aws.endpoints import AwsEndpoints
from infra.local.aws.provision import ProvisionReport, provision
from infra.local.aws.template_run import TemplateAws
from infra.local.aws.wire import WireService, WireServices

__all__ = [
    "AwsEndpoints",
    "EmbeddedAws",
    "ProvisionReport",
    "TemplateAws",
    "WireService",
    "WireServices",
    "provision",
]
