"""Load a game's rules by name, for ``tickwire up --rules`` and ``tickwire worker --rules``.

A name is ``module:attribute``; the attribute is a rules object (an instance of a class
following :class:`game_engine.rules.Rules`), or a class or function that makes one when
called with no arguments. The module is imported from ``sys.path`` (the current folder
first when run from the command line).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from game_engine.errors import RulesNotFound

__all__ = ["REQUIRED_HOOKS", "load_rules"]

# The hooks the engine calls (game_engine/rules.py's Rules protocol).
REQUIRED_HOOKS = (
    "schema",
    "create_match",
    "admit",
    "remove",
    "validate",
    "apply",
    "step",
    "ended",
    "views",
    "result",
)


def load_rules(name: str) -> Any:
    """The rules named ``module:attribute``; raises ``RulesNotFound`` with the reason."""
    module_name, sep, attribute = name.partition(":")
    if not sep or not module_name or not attribute:
        raise RulesNotFound(f"rules must be named module:attribute, not {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RulesNotFound(f"cannot import {module_name!r}: {exc}") from exc
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise RulesNotFound(f"{module_name!r} has no attribute {attribute!r}") from None
    if inspect.isclass(value) or (callable(value) and not _is_rules(value)):
        try:
            value = value()
        except Exception as exc:  # not a factory of rules (`json:dumps`): say so, no traceback
            raise RulesNotFound(
                f"{name} is not a rules object, and calling it with no arguments failed: {exc}"
            ) from exc
    missing = [hook for hook in REQUIRED_HOOKS if not callable(getattr(value, hook, None))]
    if missing or not hasattr(value, "max_players"):
        what = ", ".join(missing + ([] if hasattr(value, "max_players") else ["max_players"]))
        raise RulesNotFound(f"{name} is not a rules object: it lacks {what}")
    return value


def _is_rules(value: Any) -> bool:
    return all(callable(getattr(value, hook, None)) for hook in REQUIRED_HOOKS)
