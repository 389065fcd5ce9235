"""Route selection: which route key a client message goes to (pure, no I/O).

API Gateway evaluates the API's ``RouteSelectionExpression`` against each message:

- ``$request.body.action`` reads a JSON path of the message body (any depth:
  ``$request.body.a.b``, ``$request.body.list[0]``, ``$request.body['odd key']``);
- ``${request.body.a}/${request.body.b}`` composes several paths with literal text;
- a missing path (or a body that is not a JSON object) gives ``""``; a JSON ``null`` also
  gives ``""`` (unconfirmed); other values are stringified (strings as they are, numbers
  and booleans as JSON writes them, objects as compact JSON, arrays as Java prints a
  list: ``[item1, item2]``, members unquoted, comma and space between them);
- the route whose key equals the result wins, else ``$default``; text that is not JSON
  goes to ``$default``. ``$connect`` and ``$disconnect`` are never selected by a message.

An expression is compiled once (:func:`compile_selection_expression`) into literal text and
paths; evaluating it per message is a dictionary walk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from infra.json_read import loads

from .errors import ConfigurationError
from .model import CONNECT_ROUTE, DEFAULT_ROUTE, DISCONNECT_ROUTE

__all__ = [
    "Path",
    "SelectionExpression",
    "compile_selection_expression",
    "parse_json",
    "select_route",
    "stringify",
]

Path = tuple[str | int, ...]

_BODY_PREFIX = "request.body"
_BRACED = re.compile(r"\$\{([^}]*)\}")
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_MISSING = object()


@dataclass(frozen=True)
class SelectionExpression:
    """A compiled selection expression: literal strings and body paths, in order."""

    source: str
    parts: tuple[str | Path, ...]

    @cached_property
    def single_key(self) -> str | None:
        """The member name when the expression is one top-level member of the body."""
        parts = self.parts
        if len(parts) == 1 and type(parts[0]) is tuple and len(parts[0]) == 1:
            (segment,) = parts[0]
            return segment if type(segment) is str else None
        return None

    @property
    def literal(self) -> bool:
        """A constant (e.g. ``\\$default``): its value never depends on the body."""
        return all(type(p) is str for p in self.parts)

    def evaluate(self, body: Any) -> str:
        """The expression's value for a parsed JSON body (``_MISSING``-safe)."""
        parts = self.parts
        if len(parts) == 1 and type(parts[0]) is tuple:
            return stringify(_lookup(body, parts[0]))
        out = []
        for part in parts:
            out.append(part if type(part) is str else stringify(_lookup(body, part)))  # type: ignore[arg-type]
        return "".join(out)


def _parse_path(text: str, source: str) -> Path:
    if not text.startswith(_BODY_PREFIX):
        raise ConfigurationError(
            f"selection expression {source!r}: only $request.body paths are supported"
        )
    rest = text[len(_BODY_PREFIX) :]
    segments: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _SEGMENT.match(rest, pos)
        if m is None:
            raise ConfigurationError(f"selection expression {source!r}: bad path at {rest[pos:]!r}")
        name, index, quoted1, quoted2 = m.groups()
        if index is not None:
            segments.append(int(index))
        else:
            segments.append(
                name if name is not None else (quoted1 if quoted1 is not None else quoted2)
            )
        pos = m.end()
    return tuple(segments)


def compile_selection_expression(source: str) -> SelectionExpression:
    """Compile ``$request.body.x``, ``${request.body.a}/${request.body.b}`` or a literal."""
    if "${" in source:
        parts: list[str | Path] = []
        pos = 0
        for m in _BRACED.finditer(source):
            if m.start() > pos:
                parts.append(source[pos : m.start()])
            parts.append(_parse_path(m.group(1), source))
            pos = m.end()
        if pos < len(source):
            parts.append(source[pos:])
        return SelectionExpression(source, tuple(parts))
    if source.startswith("$request."):
        return SelectionExpression(source, (_parse_path(source[1:], source),))
    # A literal such as "\$default" (the backslash escapes the dollar in AWS's syntax).
    return SelectionExpression(source, (source.replace("\\$", "$"),))


def _lookup(body: Any, path: Path) -> Any:
    value = body
    for segment in path:
        if type(segment) is int:
            if type(value) is not list or segment >= len(value):
                return _MISSING
            value = value[segment]
        else:
            if type(value) is not dict:
                return _MISSING
            value = value.get(segment, _MISSING)
            if value is _MISSING:
                return _MISSING
    return value


def stringify(value: Any) -> str:
    """A selected value as the string compared with route keys."""
    if type(value) is str:
        return value
    if value is _MISSING or value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is list:
        # API Gateway stringifies an array the way Java's List.toString does.
        return "[" + ", ".join(_member(v) for v in value) + "]"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _member(value: Any) -> str:
    """An array member inside a stringified array (``null`` prints, unlike at the top)."""
    return "null" if value is None else stringify(value)


def parse_json(text: str) -> Any:
    """``json.loads(text)``, or ``_MISSING`` where it raises (not JSON, or nested past
    Python's parser)."""
    try:
        return loads(text)
    except (ValueError, RecursionError):
        return _MISSING


def select_route(
    expression: SelectionExpression, text: str, route_keys: Container[str]
) -> str | None:
    """The route key a text message selects, ``$default`` as fallback, or None (Forbidden)."""
    body = parse_json(text)
    if body is not _MISSING:
        single = expression.single_key
        if single is not None:  # ``$request.body.action``: one member of the object
            value = body.get(single, _MISSING) if type(body) is dict else _MISSING
            key = value if type(value) is str else stringify(value)
        else:
            key = expression.evaluate(body)
        if key in route_keys and key != CONNECT_ROUTE and key != DISCONNECT_ROUTE:
            return key
    if DEFAULT_ROUTE in route_keys:
        return DEFAULT_ROUTE
    return None
