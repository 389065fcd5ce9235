"""Command-line flags for running a template locally (``tickwire gateway --template``).

The gateway command calls :func:`add_template_arguments` on its parser,
:func:`load_from_args` in its ``load_api(args)`` hook and :func:`services_from_args` in its
``load_services`` hook; :func:`describe` gives the lines to print at startup, so what the
template declares but the local run does not do is said. :func:`services_from_args` also
starts the template's AWS (:class:`~infra.local.aws.TemplateAws`: the embedded moto server
by default, with the template's resources) and leaves it on ``args.template_aws`` for the
command to attach to its gateway's Lambda runtime and stop at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.local.cfn.errors import TemplateError
from infra.local.cfn.loader import LoadedTemplate, load_template
from infra.local.gateway.model import WebSocketApi
from infra.local.gateway.services import AwsServiceBackend

__all__ = [
    "add_template_arguments",
    "create_streams",
    "describe",
    "kinesis_from_args",
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
                       help="local code folder of a Lambda function or layer (repeatable)")  # fmt: skip
    group.add_argument("--api", default=None, metavar="LOGICAL_ID",
                       help="which API to run when the template has several")  # fmt: skip
    group.add_argument("--aws-endpoint-url", dest="aws_endpoint_url", default=None, metavar="URL",
                       help="every AWS service at this endpoint instead of the embedded AWS "
                       "(a moto_server or LocalStack, with the process's credentials); the "
                       "template's resources and streams are created there")  # fmt: skip
    group.add_argument("--aws-endpoint-url-for", action="append", default=[],
                       metavar="SERVICE=URL",
                       help="one service elsewhere (sqs=http://127.0.0.1:4566; repeatable)")  # fmt: skip
    group.add_argument("--no-embedded-aws", dest="embedded_aws", action="store_false",
                       help="do not start the embedded AWS (moto): services not given an "
                       "endpoint are AWS itself, with the usual AWS environment; nothing "
                       "is created there")  # fmt: skip
    group.add_argument("--account-id", default=None, metavar="ID",
                       help="the account in the template's ARNs (default: 000000000000, or "
                       "the account of --aws-endpoint-url's credentials)")  # fmt: skip
    group.add_argument("--kinesis-endpoint-url", dest="kinesis_endpoint_url",
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
    cached = getattr(args, "loaded_template", None)  # the command loads it once
    if isinstance(cached, LoadedTemplate):
        return cached
    code_paths = {k: Path(v) for k, v in parse_pairs(args.code_path, "--code-path").items()}
    loaded = load_template(
        args.template,
        parameters=parse_pairs(args.parameter, "--parameter"),
        code_paths=code_paths,
        stack_name=args.stack_name,
        account_id=_account_id(args),
    )
    args.loaded_template = loaded
    return loaded


def _account_id(args: argparse.Namespace) -> str:
    """``--account-id``; else the account of the endpoint's credentials (STS
    GetCallerIdentity) when AWS is not the embedded one; else 000000000000."""
    given = getattr(args, "account_id", None)
    if given:
        return str(given)
    url = getattr(args, "aws_endpoint_url", None)
    if url is None and getattr(args, "embedded_aws", True):
        return DEFAULT_ACCOUNT_ID
    import boto3

    try:
        identity = boto3.client("sts", endpoint_url=url).get_caller_identity()
    except Exception as exc:  # no credentials, endpoint without STS: the local default
        logging.getLogger(__name__).warning("account id: STS failed (%s); using %s", exc,
                                            DEFAULT_ACCOUNT_ID)  # fmt: skip
        return DEFAULT_ACCOUNT_ID
    return str(identity["Account"])


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


DEFAULT_ACCOUNT_ID = "000000000000"

# Embedded streams behind a standalone gateway keep records this long (Kinesis: 24 h,
# too much for one process's memory; consumers checkpoint every few seconds).
EMBEDDED_RETENTION_S = 600.0


def services_from_args(args: argparse.Namespace) -> Mapping[str, Any]:
    """AWS service backends for ``--template``: every service at the embedded AWS (or
    ``--aws-endpoint-url``, ``--aws-endpoint-url-for``), where the template's resources
    are created first, and Kinesis from :func:`kinesis_from_args`. The started
    :class:`~infra.local.aws.TemplateAws` is left on ``args.template_aws``."""
    loaded = load_from_args(args)
    if loaded is None:
        return {}
    from infra.local.aws import TemplateAws

    kinesis = kinesis_from_args(args, loaded)
    kinesis_url = getattr(args, "kinesis_endpoint_url", None) or getattr(
        args, "aws_endpoint_url", None
    )
    if kinesis_url is None and getattr(args, "kinesis_port", None) is not None:
        kinesis_url = f"http://127.0.0.1:{args.kinesis_port}"
    aws = TemplateAws(
        loaded,
        embedded=getattr(args, "embedded_aws", True),
        endpoint_url=getattr(args, "aws_endpoint_url", None),
        service_urls=parse_pairs(
            getattr(args, "aws_endpoint_url_for", []), "--aws-endpoint-url-for"
        ),
        kinesis=kinesis,
        kinesis_url=kinesis_url,
        template_dir=Path(args.template).resolve().parent,
        region=pick_api(loaded, args.api).region,
        account_id=_account_id(args),
    )
    for line in aws.start():
        print(line, file=sys.stderr)
    args.template_aws = aws
    return aws.services


def kinesis_from_args(args: argparse.Namespace, loaded: LoadedTemplate) -> AwsServiceBackend:
    """Kinesis for ``--template``: with ``--kinesis-endpoint-url`` (or
    ``--aws-endpoint-url``) calls go to that endpoint, where the template's streams are
    created; otherwise to embedded streams made from the template's
    ``AWS::Kinesis::Stream`` resources (their shard counts too), which ``--kinesis-port``
    can serve to other processes."""
    endpoint = getattr(args, "kinesis_endpoint_url", None) or getattr(
        args, "aws_endpoint_url", None
    )
    if endpoint is not None:
        from infra.local.kinesis_service import RemoteKinesisService

        region = pick_api(loaded, args.api).region
        create_streams(loaded.streams, endpoint_url=endpoint, region=region)
        return RemoteKinesisService(endpoint, region)
    from infra.local.kinesis_service import EmbeddedKinesisService
    from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings

    # Served over HTTP, an expired iterator must fail as Kinesis's does (consumers recover).
    served = getattr(args, "kinesis_port", None) is not None
    kinesis = EmbeddedKinesis(
        EmbeddedStreamSettings(retention=EMBEDDED_RETENTION_S, recover_expired=not served)
    )
    for name, shards in loaded.streams.items():
        kinesis.create_stream(name, shards)
    return EmbeddedKinesisService(kinesis)
