"""``tickwire deploy``: create or update tickwire's stack on AWS with a change set."""

from __future__ import annotations

import argparse
import json
import sys

from infra.aws.deploy import DeployError, DeployFailed, deploy_stack
from infra.aws.stack import render_stack
from infra.local.cfn.cli import parse_pairs
from tickwire.aws_setup import aws_error_line, setup_problem
from tickwire.commands.template import add_stack_options, stack_options

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="create or update tickwire's stack on AWS",
        description="Deploy the stack `tickwire template` prints, through a CloudFormation "
        "change set: waits for it, prints the outputs, or the failed events. On update, "
        "parameters not given keep their previous values.",
    )
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--parameter", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="a stack parameter (repeatable), e.g. ImageUri=..., Subnets=a,b")  # fmt: skip
    parser.add_argument("--region", default=None, help="AWS region (default: the SDK's)")
    parser.add_argument("--endpoint-url", default=None, help="CloudFormation endpoint (testing)")
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between polls (10)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after (3600 s)")
    parser.add_argument("--no-execute", action="store_true",
                        help="create the change set and print its changes, but do not execute it")  # fmt: skip
    add_stack_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        parameters = parse_pairs(args.parameter, "--parameter")
    except ValueError as exc:
        print(f"tickwire deploy: {exc}", file=sys.stderr)
        return 2
    problem = setup_problem(args.region)
    if problem is not None:
        print(f"tickwire deploy: {problem}", file=sys.stderr)
        return 2
    template = render_stack(stack_options(args))
    client = boto3.client("cloudformation", region_name=args.region, endpoint_url=args.endpoint_url)
    print(f"deploying stack {args.stack_name} ...", file=sys.stderr)
    try:
        result = deploy_stack(
            client,
            stack_name=args.stack_name,
            template_body=json.dumps(template, separators=(",", ":")),
            parameters=parameters,
            declared_parameters=list(template["Parameters"]),
            capabilities=("CAPABILITY_IAM",),
            poll_s=args.poll,
            timeout_s=args.timeout,
            execute=not args.no_execute,
        )
    except DeployFailed as exc:
        print(f"tickwire deploy: {exc}", file=sys.stderr)
        for event in exc.events:
            print(f"  {event}", file=sys.stderr)
        return 1
    except DeployError as exc:
        print(f"tickwire deploy: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:  # credentials that stopped working mid-way, an expired SSO
        print(f"tickwire deploy: {aws_error_line(exc) or exc}", file=sys.stderr)
        return 1
    for change in result.changes:
        print(f"  {change}", file=sys.stderr)
    if args.no_execute:
        if result.change_set:
            print(f"change set {result.change_set} of stack {result.stack_name} is ready for "
                  f"review ({len(result.changes)} change(s)); not executed", file=sys.stderr)  # fmt: skip
        else:
            print(f"stack {result.stack_name}: no changes", file=sys.stderr)
        return 0
    verb = {True: {"CREATE": "created", "UPDATE": "updated"}[result.operation], False: "unchanged"}
    print(f"stack {result.stack_name} {verb[result.changed]} ({result.status})", file=sys.stderr)
    for key, value in sorted(result.outputs.items()):
        print(f"{key} = {value}")
    return 0
