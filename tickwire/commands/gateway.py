"""``tickwire gateway``: run a WebSocket API on the local API Gateway stand-in.

The API comes from ``--api module:attribute`` (a
:class:`~infra.local.gateway.model.WebSocketApi` object) or, when the CloudFormation
loader is installed, from ``--template FILE`` (then ``--api`` names the API's logical id
if the template has several). :func:`load_api` is the one place that decides; every
:class:`~infra.local.gateway.settings.GatewaySettings` field is a flag
(``--idle-timeout-s 30``, ``--account-burst 100``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.local.gateway.model import WebSocketApi
from infra.local.gateway.services import AwsServiceBackend
from infra.local.gateway.settings import GatewaySettings
from tickwire.ports import bind_error_line
from tickwire.signals import StopSignals

__all__ = [
    "SHARED_FLAGS",
    "add_settings_flags",
    "build_settings",
    "load_api",
    "load_services",
    "register",
]

# Settings that `tickwire up` also has, under the flag `up` gives them (one name for one
# setting across commands).
SHARED_FLAGS = {"account_rate_per_s": "--account-rate"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="run a WebSocket API locally (API Gateway stand-in)",
        description="Serve a WebSocket API and its @connections API on one port of "
        "127.0.0.1, with API Gateway's behaviour and quotas; with --tls-port also over "
        "HTTPS/WSS with a local CA (export the printed AWS_CA_BUNDLE line).",
        conflict_handler="resolve",
    )
    try:  # the CloudFormation loader's flags (--template, --parameter, --code-path, ...)
        from infra.local.cfn.cli import add_template_arguments
    except ImportError:  # pragma: no cover - the loader ships with tickwire
        pass
    else:
        add_template_arguments(parser)
    parser.add_argument(
        "--api",
        default=None,
        help="module:attribute of a WebSocketApi object; with --template, the logical id "
        "of the API to run when the template has several",
    )
    parser.add_argument("--app-dir", default=".", help="folder to import --api from (.)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="plain HTTP/WS port (8080)")
    parser.add_argument("--tls-port", type=int, default=None, help="HTTPS/WSS port (off)")
    parser.add_argument("--stage", default=None, help="override the API's stage name")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="where the local CA lives (~/.tickwire)"
    )
    parser.add_argument("--log-level", default="INFO")
    quotas = parser.add_argument_group("quotas and limits (defaults: AWS's values)")
    quotas.add_argument("--verify-sigv4", action="store_true",
                        help="verify @connections signatures against this process's AWS credentials")  # fmt: skip
    add_settings_flags(quotas, [f.name for f in dataclasses.fields(GatewaySettings)])
    parser.set_defaults(func=run)


def add_settings_flags(
    group: Any, names: list[str], defaults: Mapping[str, object] | None = None
) -> None:
    """A flag for each named GatewaySettings field (``--idle-timeout-s``); absent: None.
    ``defaults``: the command's own defaults, where they are not the dataclass's."""
    fields = {f.name: f for f in dataclasses.fields(GatewaySettings)}
    for name in names:
        f = fields[name]
        flag = "--" + f.name.replace("_", "-")
        default = (defaults or {}).get(name, f.default)
        if not isinstance(default, (bool, int, float, str)):
            continue  # mappings (sigv4_secrets) have their own flag
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default {default})")  # fmt: skip
            continue
        if f.name in SHARED_FLAGS:  # the name other commands use; the generated one stays hidden
            group.add_argument(SHARED_FLAGS[f.name], dest=f.name, type=type(default),
                               default=None, metavar="N", help=f"(default {default})")  # fmt: skip
            group.add_argument(flag, dest=f.name, type=type(default), help=argparse.SUPPRESS)
            continue
        group.add_argument(flag, type=type(default), default=None, metavar="N",
                           help=f"(default {default})")  # fmt: skip


def build_settings(args: argparse.Namespace) -> GatewaySettings:
    """GatewaySettings with every flag that was given."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(GatewaySettings)
        if getattr(args, f.name, None) is not None
    }
    if getattr(args, "verify_sigv4", False):
        import boto3

        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise ValueError("--verify-sigv4: no AWS credentials found")
        frozen = credentials.get_frozen_credentials()
        given["sigv4_secrets"] = {frozen.access_key: frozen.secret_key}
    return GatewaySettings(**given)


def load_api(args: argparse.Namespace) -> WebSocketApi:
    """The API to serve: ``--template`` (CloudFormation) or ``--api module:attribute``."""
    template = getattr(args, "template", None)
    if template is not None:
        from infra.local.cfn.cli import describe, load_from_args, pick_api

        loaded = load_from_args(args)
        assert loaded is not None
        api = pick_api(loaded, args.api)
        for line in describe(loaded, api):
            print(line, file=sys.stderr)
    else:
        if not args.api or ":" not in args.api:
            raise ValueError("give --api module:attribute (or --template FILE)")
        module_name, _, attribute = args.api.partition(":")
        app_dir = str(Path(getattr(args, "app_dir", ".")).resolve())
        if app_dir not in sys.path:  # like `python -m`: modules of the current folder import
            sys.path.insert(0, app_dir)
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
        if callable(value) and not isinstance(value, WebSocketApi):
            value = value()
        if not isinstance(value, WebSocketApi):
            raise ValueError(f"{args.api} is not a WebSocketApi")
        api = value
    if args.stage:
        api = dataclasses.replace(api, stage=dataclasses.replace(api.stage, name=args.stage))
    return api


def load_services(args: argparse.Namespace, api: WebSocketApi) -> Mapping[str, AwsServiceBackend]:
    """AWS service backends for the API's AWS integrations (none: the recorder answers)."""
    # -- stack engineer: with --template, the template's AWS (embedded moto by default) --
    if getattr(args, "template", None) is not None:
        from infra.local.cfn.cli import services_from_args

        return services_from_args(args)
    # -- end --
    return {}


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        settings = build_settings(args)
        api = load_api(args)
        services = load_services(args, api)
    except Exception as exc:  # bad flags or model: one clear line, exit 2
        print(f"tickwire gateway: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - Windows
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(api, settings, services, args))


async def _serve(
    api: WebSocketApi,
    settings: GatewaySettings,
    services: Mapping[str, AwsServiceBackend],
    args: argparse.Namespace,
) -> int:
    from infra.local.gateway.server import Gateway

    gateway = Gateway(api, settings, services, state_dir=args.state_dir)
    # --template: the embedded AWS's Lambda API and event sources, the workers' SDK
    # pointed there (before the gateway starts its workers)
    template_aws = getattr(args, "template_aws", None)
    if template_aws is not None:
        for line in await template_aws.attach(gateway.runtime):
            print(line, file=sys.stderr, flush=True)
    ports = {"--port": args.port, "--tls-port": args.tls_port}
    try:
        await gateway.start(args.host, args.port, args.tls_port)
    except OSError as exc:
        await gateway.stop()
        if template_aws is not None:
            await template_aws.stop()
        print(bind_error_line("tickwire gateway", exc, ports, args.host), file=sys.stderr)
        return 1
    # From here the first SIGINT/SIGTERM drains the gateway, a second exits at once.
    signals = StopSignals("tickwire gateway", gateway.stop)
    signals.install()
    kinesis_server = None
    try:
        if getattr(args, "kinesis_port", None) is not None and "kinesis" in services:
            from infra.local.kinesis_service import KinesisHttpServer

            kinesis_server = KinesisHttpServer(services["kinesis"], port=args.kinesis_port)
            try:
                await kinesis_server.start()
            except OSError as exc:
                kinesis_server = None
                await gateway.stop()
                ports = {"--kinesis-port": args.kinesis_port}
                print(bind_error_line("tickwire gateway", exc, ports, args.host), file=sys.stderr)
                return 1
            print(f"Kinesis endpoint (embedded streams): {kinesis_server.url}", flush=True)
        _print_endpoints(gateway, settings, args)
        await gateway.run()  # returns once stop() drained it; stop() logs the metering summary
        await signals.finished()
    finally:
        signals.remove()
        if kinesis_server is not None:
            await kinesis_server.stop()
        if template_aws is not None:
            await template_aws.stop()
    return 0


def _print_endpoints(gateway: Any, settings: GatewaySettings, args: argparse.Namespace) -> None:
    """The URLs and export lines a user needs, on stdout."""
    print(f"WebSocket:   {gateway.ws_url}", flush=True)
    print(f"@connections endpoint_url: {gateway.management_url}", flush=True)
    if settings.require_signature and settings.sigv4_secrets is None:
        from infra.local.gateway.credentials import local_credentials

        # @connections verifies signatures: these keys (besides this process's own) sign.
        print("@connections credentials for your tools:", flush=True)
        for line in local_credentials(args.state_dir).export_lines():
            print(line, flush=True)
    if gateway.wss_url is not None:
        print(f"WebSocket (TLS): {gateway.wss_url}", flush=True)
        print(f"@connections endpoint_url (TLS): {gateway.tls_management_url}", flush=True)
        assert gateway.ca is not None
        print(gateway.ca.export_line(), flush=True)
    print(f"metrics:     {gateway.url}/metrics", flush=True)
