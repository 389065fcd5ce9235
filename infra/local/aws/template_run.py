"""Everything a template's API needs around it, for ``tickwire gateway --template``.

:class:`TemplateAws` puts together, for one loaded template: the AWS endpoints (the
embedded moto server unless ``--aws-endpoint-url`` or ``--no-embedded-aws`` say
otherwise), the template's resources created there, a service backend for every AWS
integration (the embedded Kinesis streams for Kinesis), Lambda's Invoke API for the
template's functions, the event sources that feed them, and the environment that points
each Lambda worker's SDK at all of it. ``start()`` (blocking: it creates resources) runs
before the gateway is built; ``attach(runtime)`` once the gateway's Lambda runtime exists
and before its workers start; ``stop()`` after the gateway stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local.aws.embedded import EmbeddedAws
from infra.local.aws.endpoints import AwsEndpoints
from infra.local.aws.event_sources import EventSources
from infra.local.aws.lambda_api import LambdaApi
from infra.local.aws.provision import provision
from infra.local.aws.wire import WireServices
from infra.local.cfn.loader import LoadedTemplate
from infra.local.gateway.lambdas import LambdaRuntime
from infra.local.gateway.services import AwsServiceBackend

__all__ = ["TemplateAws", "unmodelled_lines"]


def unmodelled_lines(loaded: LoadedTemplate) -> list[str]:
    """One line per resource nothing here models, with what refers to it."""
    lines = []
    for logical_id, (kind, users) in loaded.unmodelled.items():
        affects = f"; affects {', '.join(users)}" if users else ""
        lines.append(f"not modelled locally: {logical_id} ({kind}): not created, its "
                     f"Ref/GetAtt values are placeholders{affects}")  # fmt: skip
    return lines


class TemplateAws:
    def __init__(
        self,
        loaded: LoadedTemplate,
        *,
        embedded: bool = True,
        endpoint_url: str | None = None,
        service_urls: Mapping[str, str] | None = None,
        kinesis: AwsServiceBackend | None = None,
        kinesis_url: str | None = None,
        template_dir: Path | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        rate_scale: float = 1.0,
    ) -> None:
        self.loaded = loaded
        self.embedded = embedded and endpoint_url is None
        self.endpoint_url = endpoint_url
        self.service_urls = dict(service_urls or {})
        self.kinesis = kinesis
        self.kinesis_url = kinesis_url
        self.template_dir = template_dir
        self.region = region
        self.account_id = account_id
        self.rate_scale = rate_scale
        self.embedded_aws: EmbeddedAws | None = None
        self.endpoints = AwsEndpoints(region=region)
        self.services: WireServices = WireServices(self.endpoints)
        self.lambda_api: LambdaApi | None = None
        self.event_sources: EventSources | None = None
        self._kinesis_server: Any = None

    def start(self) -> list[str]:
        """Start the embedded AWS (if used) and create the template's resources; the
        lines to print."""
        lines: list[str] = []
        url = self.endpoint_url
        credentials = None
        if self.embedded:
            self.embedded_aws = EmbeddedAws()
            url = self.embedded_aws.start()
            credentials = self.embedded_aws.credentials_for(self.account_id, self.region)
            lines.append(f"embedded AWS (moto): {url}")
        self.endpoints = AwsEndpoints(
            region=self.region,
            default_url=url,
            overrides=self.service_urls,
            credentials=credentials,
        )
        fixed: dict[str, AwsServiceBackend] = {"kinesis": self.kinesis} if self.kinesis else {}
        self.services = WireServices(self.endpoints, fixed)
        if url is None and not self.service_urls:
            # AWS itself: creating resources in a real account is a deployment's job
            lines.append("AWS services: AWS itself (resources are not created)")
        else:
            report = provision(
                self.loaded.resources.values(),
                self.endpoints,
                template_dir=self.template_dir,
                account_id=self.account_id,
            )
            lines += report.lines()
            if self.kinesis is None:  # Kinesis is this endpoint's too: the streams go there
                lines += self._create_streams()
        return lines + unmodelled_lines(self.loaded)

    def _create_streams(self) -> list[str]:
        if self.endpoints.url_for("kinesis") is None:
            return []  # AWS itself: nothing is created in a real account
        client = self.endpoints.client("kinesis")
        lines = []
        for name, shards in self.loaded.streams.items():
            try:
                client.create_stream(StreamName=name, ShardCount=shards)
            except client.exceptions.ResourceInUseException:
                continue  # there already (a persistent endpoint)
            client.get_waiter("stream_exists").wait(
                StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
            lines.append(f"created Kinesis stream {name} ({shards} shard(s))")
        return lines

    async def attach(self, runtime: LambdaRuntime) -> list[str]:
        """Serve the Lambda API and the embedded streams to the workers, point their SDK
        here, start the event sources. Call before the gateway starts its workers."""
        lines: list[str] = []
        self.lambda_api = LambdaApi(runtime, self.loaded.functions)
        # the template's functions for the workers' SDK and for AWS (non-proxy) Lambda
        # integrations alike, unless --aws-endpoint-url-for lambda=... says otherwise
        self.endpoints.overrides.setdefault("lambda", await self.lambda_api.start())
        extra: dict[str, str] = {}
        lines.append(f"Lambda API (AWS_ENDPOINT_URL_LAMBDA): {self.lambda_api.url}")
        kinesis_url = self.kinesis_url
        if kinesis_url is None and self.kinesis is not None and self.loaded.streams:
            from infra.local.kinesis_service import KinesisHttpServer

            # the workers' Kinesis SDK reaches the same embedded streams the routes write
            self._kinesis_server = KinesisHttpServer(self.kinesis, port=0)
            await self._kinesis_server.start()
            kinesis_url = self._kinesis_server.url
        if kinesis_url is not None:
            extra["kinesis"] = kinesis_url
        runtime.extra_env.update(self.endpoints.worker_environment(extra))
        self.event_sources = EventSources(
            self.loaded.event_sources,
            self.loaded.functions,
            runtime,
            self.endpoints,
            kinesis=self.kinesis or self.services["kinesis"],
            account_id=self.account_id,
            rate_scale=self.rate_scale,
        )
        lines += await self.event_sources.start()
        return lines

    async def stop(self) -> None:
        if self.event_sources is not None:
            await self.event_sources.stop()
        if self.lambda_api is not None:
            await self.lambda_api.stop()
        if self._kinesis_server is not None:
            await self._kinesis_server.stop()
        await self.services.aclose()
        if self.embedded_aws is not None:
            await asyncio.to_thread(self.embedded_aws.stop)
            self.embedded_aws = None
