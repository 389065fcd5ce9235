"""Command-line flags for running a template locally (``tickwire gateway --template``).

The gateway command calls :func:`add_template_arguments` on its parser,
:func:`load_from_args` in its ``load_api(args)`` hook and :func:`services_from_args` in its
``load_services`` hook; :func:`describe` gives the lines to print at startup, so what the
template declares but the local run does not do is said.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.local.cfn.errors import TemplateError
from infra.local.cfn.loader import LoadedTemplate, load_template
from infra.local.gateway.model import WebSocketApi
from infra.local.gateway.services import AwsServiceBackend

__all__ = [
    "add_template_arguments",
    "create_streams",
    "describe",
    "load_from_args",
    "parse_pairs",
    "pick_api",
    "services_from_args",
]


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict; raises ``ValueError`` naming ``flag``."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} takes KEY=VALUE, got {pair!r}")
        parsed[key] = value
    return parsed


def add_template_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("CloudFormation template")
    group.add_argument("--template", type=Path, default=None, metavar="FILE",
                       help="run the WebSocket API of this template (YAML or JSON)")  # fmt: skip
    group.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                       help="a template parameter (repeatable)")  # fmt: skip
    group.add_argument("--code-path", action="append", default=[], metavar="LOGICAL_ID=DIR",
                       help="local code folder of a Lambda function (repeatable)")  # fmt: skip
    group.add_argument("--api", default=None, metavar="LOGICAL_ID",
                       help="which API to run when the template has several")  # fmt: skip
    group.add_argument("--aws-endpoint-url", "--kinesis-endpoint-url", dest="kinesis_endpoint_url",
                       default=None, metavar="URL",
                       help="send the template's Kinesis integrations to this Kinesis endpoint "
                       "(AWS with the usual AWS environment, or moto_server/kinesalite on "
                       "127.0.0.1), creating its streams there; without it they go to "
                       "embedded streams in this process")  # fmt: skip
    group.add_argument("--kinesis-port", type=int, default=None, metavar="PORT",
                       help="also serve the embedded streams as a Kinesis endpoint on "
                       "127.0.0.1:PORT, so `tickwire worker --endpoint-url` can read them")  # fmt: skip
    group.add_argument("--stack-name", default="tickwire-local",
                       help="stack name for AWS::StackName and generated names (tickwire-local)")  # fmt: skip


def load_from_args(args: argparse.Namespace) -> LoadedTemplate | None:
    """The template named by ``--template`` (None without one); raises ``TemplateError``
    or ``ValueError`` for bad flags."""
    if args.template is None:
        return None
    code_paths = {k: Path(v) for k, v in parse_pairs(args.code_path, "--code-path").items()}
    return load_template(
        args.template,
        parameters=parse_pairs(args.parameter, "--parameter"),
        code_paths=code_paths,
        stack_name=args.stack_name,
    )


def pick_api(loaded: LoadedTemplate, logical_id: str | None) -> WebSocketApi:
    """The API named ``logical_id``, or the template's only one."""
    if logical_id is None:
        return loaded.api
    if logical_id not in loaded.apis:
        raise TemplateError(
            logical_id, f"is not a WebSocket API of the template ({', '.join(loaded.apis)})"
        )
    return loaded.apis[logical_id]


def describe(loaded: LoadedTemplate, api: WebSocketApi) -> list[str]:
    """Startup lines: the routes, the streams and tables to provide, and what is not run."""
    lines = [f"API {api.name} (stage {api.stage.name}): routes {', '.join(sorted(api.routes))}"]
    for name, shards in loaded.streams.items():
        lines.append(f"stream {name}: {shards} shard(s)")
    for table in loaded.tables.values():
        key = table.partition_key + (f", {table.sort_key}" if table.sort_key else "")
        lines.append(f"table {table.name}: key {key}")
    if loaded.ignored:
        kinds = sorted(set(loaded.ignored.values()))
        lines.append(
            f"not run locally: {len(loaded.ignored)} resource(s) of type {', '.join(kinds)}"
        )
    lines.extend(f"note: {note}" for note in loaded.notes)
    return lines


def create_streams(streams: Mapping[str, int], *, endpoint_url: str, region: str) -> None:
    """Create the template's streams (name -> shard count) at a Kinesis endpoint, unless
    they exist, and wait until they are active."""
    import boto3

    client = boto3.client("kinesis", endpoint_url=endpoint_url, region_name=region)
    for name, shards in streams.items():
        try:
            client.create_stream(StreamName=name, ShardCount=shards)
        except client.exceptions.ResourceInUseException:
            continue  # already there (its shard count is the endpoint's business)
        client.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )


# Embedded streams behind a standalone gateway keep records this long (Kinesis: 24 h,
# too much for one process's memory; consumers checkpoint every few seconds).
EMBEDDED_RETENTION_S = 600.0


def services_from_args(args: argparse.Namespace) -> dict[str, AwsServiceBackend]:
    """AWS service backends for ``--template``: with ``--aws-endpoint-url`` Kinesis calls go
    to that endpoint, where the template's streams are created; otherwise to embedded
    streams made from the template's ``AWS::Kinesis::Stream`` resources (their shard
    counts too), which ``--kinesis-port`` can serve to other processes."""
    loaded = load_from_args(args)
    if loaded is None:
        return {}
    endpoint = getattr(args, "kinesis_endpoint_url", None)
    if endpoint is not None:
        from infra.local.kinesis_service import RemoteKinesisService

        region = pick_api(loaded, args.api).region
        create_streams(loaded.streams, endpoint_url=endpoint, region=region)
        return {"kinesis": RemoteKinesisService(endpoint, region)}
    from infra.local.kinesis_service import EmbeddedKinesisService
    from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings

    # Served over HTTP, an expired iterator must fail as Kinesis's does (consumers recover).
    served = getattr(args, "kinesis_port", None) is not None
    kinesis = EmbeddedKinesis(
        EmbeddedStreamSettings(retention=EMBEDDED_RETENTION_S, recover_expired=not served)
    )
    for name, shards in loaded.streams.items():
        kinesis.create_stream(name, shards)
    return {"kinesis": EmbeddedKinesisService(kinesis)}
