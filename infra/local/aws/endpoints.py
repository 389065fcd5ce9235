"""Where each AWS service is for one local run, and with which credentials.

Three shapes: the embedded moto server (one URL for every service, an access key its IAM
made for the run), an endpoint given with ``--aws-endpoint-url`` (a moto_server, LocalStack:
one URL, the process's credentials), or AWS itself (no URL, the process's credentials).
Per-service overrides (``--aws-endpoint-url-for sqs=URL``) win over either. A service is
named as in integration URIs (``states``, the endpoint prefix) or as boto3 names it
(``stepfunctions``); both mean the same service here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AwsEndpoints", "service_model"]

# Integration URIs name services by endpoint prefix; where that differs from the name
# botocore's models use, the model's name (the rest are the same).
_MODEL_NAMES = {
    "states": "stepfunctions",
    "monitoring": "cloudwatch",
    "email": "ses",
    "execute-api": "apigatewaymanagementapi",
    "runtime.sagemaker": "sagemaker-runtime",
    "streams.dynamodb": "dynamodbstreams",
    "cognito-identity": "cognito-identity",
    "cognito-idp": "cognito-idp",
}


@functools.lru_cache(maxsize=64)
def service_model(service: str) -> Any:
    """botocore's model of ``service`` (an endpoint prefix or a boto3 name); raises
    ``botocore.exceptions.UnknownServiceError`` for a service botocore does not know."""

    return _session().get_service_model(_MODEL_NAMES.get(service, service))


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def _env_suffix(service: str) -> str:
    """botocore's ``AWS_ENDPOINT_URL_<SERVICE>`` suffix: the service id, upper case,
    spaces as underscores (``SFN`` for Step Functions, ``DYNAMODB``)."""
    return str(service_model(service).service_id).upper().replace(" ", "_").replace("-", "_")


@dataclass
class AwsEndpoints:
    """``default_url`` None means AWS itself; ``credentials`` None the default chain."""

    region: str = "us-east-1"
    default_url: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        # one key per service whatever it was called by
        self.overrides = {_MODEL_NAMES.get(k, k): v for k, v in self.overrides.items()}

    def url_for(self, service: str) -> str | None:
        return self.overrides.get(_MODEL_NAMES.get(service, service), self.default_url)

    def frozen_credentials(self) -> Any:
        """Credentials to sign with now (refreshable ones are read again each time)."""
        from botocore.credentials import Credentials

        if self.credentials is not None:
            return Credentials(*self.credentials)
        found = _session().get_credentials()
        if found is None:
            raise RuntimeError("no AWS credentials found for the AWS service integration")
        frozen = found.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` at its endpoint."""
        import boto3

        keys: dict[str, Any] = {}
        if self.credentials is not None:
            keys = {"aws_access_key_id": self.credentials[0],
                    "aws_secret_access_key": self.credentials[1], "aws_session_token": None}  # fmt: skip
        return boto3.client(
            _MODEL_NAMES.get(service, service),
            endpoint_url=self.url_for(service),
            region_name=self.region,
            **keys,
        )

    def worker_environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Variables that point a Lambda worker's SDK (boto3, AWS SDK for JavaScript v3)
        here: ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``, plus the embedded
        server's access key. ``extra`` adds services by name (the embedded streams)."""
        env: dict[str, str] = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.default_url is not None:
            env["AWS_ENDPOINT_URL"] = self.default_url
        for service, url in {**self.overrides, **(extra or {})}.items():
            env[f"AWS_ENDPOINT_URL_{_env_suffix(service)}"] = url
        if self.credentials is not None:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = self.credentials
            env["AWS_SESSION_TOKEN"] = ""  # a parent's real session token must not leak in
        return env
