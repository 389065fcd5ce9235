"""Running a test template the way ``tickwire gateway --template`` does: the embedded AWS
(or an external moto_server) with the template's resources, the gateway with every AWS
integration wired to it, Lambda workers pointed at it; real WebSocket clients and boto3."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.aws import TemplateAws
from infra.local.cfn import LoadedTemplate, load_template
from infra.local.gateway import Gateway, GatewaySettings
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis

TEMPLATES = Path(__file__).resolve().parent


@dataclass
class Running:
    loaded: LoadedTemplate
    aws: TemplateAws
    gateway: Gateway
    lines: list[str]

    def client(self, service: str) -> Any:
        return self.aws.endpoints.client(service)


@asynccontextmanager
async def run_template(
    name: str | Path,
    *,
    endpoint_url: str | None = None,
    rate_scale: float = 1.0,
    tls: bool = False,
    embedded_kinesis: bool = True,
    **loader: Any,
) -> AsyncIterator[Running]:
    """Load ``TEMPLATES/name/template.yaml`` (or the template file ``name``) and serve it
    on a free port (and TLS on another with ``tls``: handlers that call
    https://{domainName}/{stage})."""
    path = name if isinstance(name, Path) else TEMPLATES / name / "template.yaml"
    # a stack name of its own: moto's state is per process, shared with the session's
    # moto_server and earlier runs, so every resource name is new
    stack = f"{path.parent.name}-{uuid.uuid4().hex[:8]}"
    loaded = load_template(path, stack_name=stack, **loader)
    kinesis = None
    if embedded_kinesis:  # as the command does: Kinesis integrations to in-process streams
        kinesis = EmbeddedKinesisService(EmbeddedKinesis())
        for stream, shards in loaded.streams.items():
            kinesis.kinesis.create_stream(stream, shards)
    aws = TemplateAws(
        loaded,
        endpoint_url=endpoint_url,
        kinesis=kinesis,
        template_dir=path.parent,
        rate_scale=rate_scale,
    )
    lines = await asyncio.to_thread(aws.start)
    gateway = Gateway(loaded.api, GatewaySettings(lambda_workers_per_function=2), aws.services)
    try:
        lines += await aws.attach(gateway.runtime)
        await gateway.start("127.0.0.1", 0, tls_port=0 if tls else None)
        yield Running(loaded, aws, gateway, lines)
    finally:
        await gateway.stop()
        await aws.stop()


async def wait_for(predicate: Callable[[], Any], limit_s: float = 30.0) -> Any:
    """The first truthy value of ``predicate()`` (run in a thread: it may call boto3)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.1)
