"""``tickwire template``: print tickwire's CloudFormation stack (YAML or JSON)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.aws.stack import StackOptions, dump_stack, render_stack

__all__ = ["add_stack_options", "register", "stack_options"]


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """The rendering options shared by ``template`` and ``deploy``."""
    defaults = StackOptions()
    group = parser.add_argument_group("stack shape (changing one replaces the table)")
    group.add_argument("--lease-key", default=defaults.lease_key,
                       help=f"leases (and checkpoints) table key attribute ({defaults.lease_key})")  # fmt: skip
    group.add_argument("--snapshot-key", default=defaults.snapshot_key,
                       help=f"snapshots table key attribute ({defaults.snapshot_key})")  # fmt: skip


def stack_options(args: argparse.Namespace) -> StackOptions:
    return StackOptions(lease_key=args.lease_key, snapshot_key=args.snapshot_key)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "template",
        help="print tickwire's CloudFormation stack",
        description="Render the AWS stack (WebSocket API with Kinesis integrations, authorizer, "
        "stream, tables, ECS Fargate workers, IAM, logs). Deploy it with `tickwire deploy` or "
        "any CloudFormation tool; `tickwire gateway --template` runs the same file locally.",
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="(yaml)")
    parser.add_argument("--output", "-o", type=Path, default=None, help="write here, not stdout")
    add_stack_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = dump_stack(render_stack(stack_options(args)), args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0
