"""Subcommands of ``tickwire``.

Each module here is one subcommand and exposes ``register(subparsers)``, which adds its
parser and sets ``func`` (a callable taking the parsed namespace and returning an exit
code). :data:`COMMANDS` lists them with their one-line help, so ``tickwire --help`` and
``tickwire token`` import only what they run (importing every command's module costs
the start-up time of the whole stack); ``tests/tickwire/test_cli.py`` checks the table
against the modules.
"""

from __future__ import annotations

import re

__all__ = ["COMMANDS", "plain_help"]

# name -> the one-line help its register() gives (shown by `tickwire --help`).
COMMANDS: dict[str, str] = {
    "deploy": "create or update tickwire's stack on AWS",
    "gateway": "run a WebSocket API locally (API Gateway stand-in)",
    "plan": "plan shards, workers, quotas and monthly cost for a player count",
    "swarm": "load-test a server with a swarm of bots",
    "template": "print tickwire's CloudFormation stack",
    "token": "mint a player token (JWT) for a match",
    "up": "run the whole game locally: gateway, stream, engine, broadcaster, page",
    "worker": "run an engine worker: stream -> ticks -> @connections",
}

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # :mod:`x`, :class:`~a.b.C`
_LITERAL = re.compile(r"``([^`]+)``")


def plain_help(doc: str | None) -> str:
    """A module docstring as ``--help`` shows it: reST roles and literals as plain text."""
    text = _ROLE.sub(
        lambda m: m.group(1).rpartition(".")[2] if "~" in m.group(0) else m.group(1), doc or ""
    )
    return _LITERAL.sub(r"\1", text)
