"""The ``tickwire`` command: the subcommands of :mod:`tickwire.commands`.

Only the module of the command being run is imported (``tickwire --help`` imports none),
so a command starts in the time its own imports take.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tickwire import __version__
from tickwire.commands import COMMANDS

# Top-level modules of the `local` extra (pyproject.toml): a command that needs them on an
# install without it says how to add it (the AWS image installs the package without it).
LOCAL_EXTRA_MODULES = frozenset({"airspeed", "trustme", "jsonschema", "moto"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``command`` names the one subcommand to register fully (None: all)."""
    parser = argparse.ArgumentParser(
        prog="tickwire",
        description="Real-time multiplayer game backend on the API Gateway WebSocket model.",
    )
    parser.add_argument("--version", action="version", version=f"tickwire {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if command is None or name == command:
            importlib.import_module(f"tickwire.commands.{name}").register(subparsers)
        else:  # listed in `tickwire --help`, never parsed
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def _command_in(argv: Sequence[str]) -> str:
    """The subcommand named in ``argv`` ("" when none is)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else ""
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(args_list)
    try:
        parser = build_parser(command)
        args = parser.parse_args(args_list)
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        return int(func(args) or 0)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in LOCAL_EXTRA_MODULES:
            raise
        print(
            f"tickwire {command}: needs the local emulator's packages (missing {exc.name}): "
            "pip install 'tickwire[local]'",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
