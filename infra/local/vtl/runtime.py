"""The objects a request template sees: ``$input``, ``$util`` and Java-printing values.

API Gateway runs Velocity on the JVM, so what a template prints is Java's ``toString``:
``true``/``false``, maps as ``{a=1, b=x}``, lists as ``[1, x]``, doubles as ``1.0E20``.
Parsed JSON (``$input.path``, ``$util.parseJson``) and the ``$context`` map are turned into
:class:`JavaMap`/:class:`JavaList`/:class:`JavaDouble` so they print that way in both the
interpreter and the compiled renderer.

Sources: the API Gateway developer guide, "Variables for data transformations"
(``$input``, ``$util``), and Apache commons-lang ``StringEscapeUtils.escapeJavaScript``
(what ``$util.escapeJavaScript`` is documented to do, including ``'`` -> ``\\'``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from infra.local.vtl.errors import TemplateRenderError

__all__ = [
    "Input",
    "JavaDouble",
    "JavaList",
    "JavaMap",
    "Util",
    "escape_javascript",
    "java_str",
    "json_path",
    "to_java",
]


def _java_double(value: float) -> str:
    """``Double.toString``: plain decimal in [1e-3, 1e7), else ``d.dddE±n``, with the
    shortest digits that round-trip (as Python's ``repr`` chooses them)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)  # always has a '.', never an exponent in this range
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    scientific = len(digits) + int(exponent) - 1
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{scientific}"


class JavaDouble(float):
    """A float that prints like ``java.lang.Double``."""

    def __str__(self) -> str:
        return _java_double(float(self))


class _JavaCollection:
    """The methods ``java.util.Map`` and ``java.util.List`` share (Java names)."""

    def toString(self) -> str:
        return java_str(self)

    def size(self) -> int:
        return len(self)  # type: ignore[arg-type]

    def isEmpty(self) -> bool:
        return not self


class JavaMap(_JavaCollection, dict[Any, Any]):
    """A dict that prints like ``java.util.Map`` and has the Map methods templates call."""

    def __str__(self) -> str:
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in self.items()) + "}"

    def containsKey(self, key: Any) -> bool:
        return key in self

    def keySet(self) -> JavaList:
        return JavaList(dict.keys(self))

    def entrySet(self) -> JavaList:
        return JavaList(JavaMap(key=k, value=v) for k, v in dict.items(self))

    def put(self, key: Any, value: Any) -> Any:
        previous = self.get(key)
        self[key] = value
        return previous

    def putAll(self, other: Mapping[Any, Any]) -> None:
        self.update(other)


class JavaList(_JavaCollection, list[Any]):
    """A list that prints like ``java.util.List`` and has the List methods templates call."""

    def __str__(self) -> str:
        return "[" + ", ".join(java_str(v) for v in self) + "]"

    def get(self, index: int) -> Any:
        return self[index]

    def contains(self, value: Any) -> bool:
        return value in self

    def count(self, *value: Any) -> int:
        """``$list.count()`` is its size in API Gateway's templates (e.g.
        ``$input.path('$.pets').count()``); with an argument, Python's count."""
        return len(self) if not value else list.count(self, *value)

    def indexOf(self, value: Any) -> int:
        return self.index(value) if value in self else -1

    def lastIndexOf(self, value: Any) -> int:
        for i in range(len(self) - 1, -1, -1):
            if self[i] == value:
                return i
        return -1

    def subList(self, start: int, end: int) -> JavaList:
        return JavaList(self[start:end])

    def containsAll(self, values: Any) -> bool:
        return all(v in self for v in values)

    def add(self, value: Any) -> bool:
        self.append(value)
        return True


def java_str(value: Any) -> str:
    """What Java's ``String.valueOf`` prints for a template value."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, dict) and not isinstance(value, JavaMap):
        return str(JavaMap(value))
    if isinstance(value, list) and not isinstance(value, JavaList):
        return str(JavaList(value))
    return str(value)


def to_java(value: Any) -> Any:
    """Deep-copy JSON-like Python data into the Java-printing types (always a copy: the
    interpreter may run templates that change what they are given)."""
    if isinstance(value, dict):
        return JavaMap({k: to_java(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return JavaList(to_java(v) for v in value)
    if isinstance(value, float) and not isinstance(value, JavaDouble):
        return JavaDouble(value)
    return value


# --- $util.escapeJavaScript -------------------------------------------------------------

# json's C encoder escapes '"', '\\', control characters and every non-ASCII UTF-16 unit
# (as \uxxxx, surrogate pairs for astral characters) exactly where commons-lang does; what
# differs is '/' and "'" (commons-lang escapes them), DEL (json escapes it) and the hex
# case (upper in commons-lang).
_ESCAPED_OR_UNICODE = re.compile(r"(\\\\)|\\u([0-9a-f]{4})")
_NEEDS_HEX = re.compile(r"[^\x20-\x7e]")


def _upper_hex(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)
    # json escapes DEL (0x7f); commons-lang escapes only above it
    return "\x7f" if match.group(2) == "007f" else "\\u" + match.group(2).upper()


# Short texts (ids, authorizer values: the same few per connection, escaped per message)
# are remembered, at most this many; the cache starts over when full.
ESCAPE_CACHE_SIZE = 4096
ESCAPE_CACHE_MAX_CHARS = 64
_escaped_cache: dict[str, str] = {}


def escape_javascript(text: Any) -> str:
    """commons-lang ``escapeJavaScript``: quotes, backslash, ``/``, control characters and
    every non-ASCII UTF-16 unit (``\\uXXXX``, upper-case hex) are escaped; ``'`` becomes
    ``\\'``, which JSON does not allow (templates undo it with ``.replaceAll("\\\\'","'")``).
    Any other value is escaped as Java prints it (``$util.escapeJavaScript`` itself)."""
    if type(text) is not str:
        text = java_str(text)
    if len(text) > ESCAPE_CACHE_MAX_CHARS:
        return _escape_javascript(text)
    escaped = _escaped_cache.get(text)
    if escaped is None:
        if len(_escaped_cache) >= ESCAPE_CACHE_SIZE:
            _escaped_cache.clear()
        escaped = _escaped_cache[text] = _escape_javascript(text)
    return escaped


def _escape_javascript(text: str) -> str:
    escaped = encode_basestring_ascii(text)[1:-1].replace("/", "\\/").replace("'", "\\'")
    if _NEEDS_HEX.search(text) is None:
        return escaped
    # an escaped backslash pair is consumed first, so only real \u escapes are changed
    return _ESCAPED_OR_UNICODE.sub(_upper_hex, escaped)


class Util:
    """``$util``: the functions API Gateway documents for mapping templates."""

    __slots__ = ()

    escapeJavaScript = staticmethod(escape_javascript)

    @staticmethod
    def parseJson(text: Any) -> Any:
        try:
            return to_java(json.loads(java_str(text)))
        except ValueError as exc:
            raise TemplateRenderError(f"$util.parseJson: not JSON: {exc}") from exc

    @staticmethod
    def urlEncode(text: Any) -> str:
        # java.net.URLEncoder: unreserved a-zA-Z0-9 . - * _, space -> '+', '~' encoded
        return quote_plus(java_str(text), safe="*").replace("~", "%7E")

    @staticmethod
    def urlDecode(text: Any) -> str:
        return unquote_plus(java_str(text))

    @staticmethod
    def base64Encode(text: Any) -> str:
        data = (text if type(text) is str else java_str(text)).encode("utf-8")
        return binascii.b2a_base64(data, newline=False).decode("ascii")

    @staticmethod
    def base64Decode(text: Any) -> str:
        try:
            raw = base64.b64decode(java_str(text), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise TemplateRenderError(f"$util.base64Decode: not base64: {exc}") from exc
        return raw.decode("utf-8", errors="replace")


UTIL = Util()

# --- $input ------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)|\[\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<idx>-?\d+)|(?P<star>\*))\s*\]"""
)
_MISSING = object()
_WILDCARD = object()


@lru_cache(maxsize=256)
def _parse_path(path: str) -> tuple[object, ...]:
    path = path.strip()
    if not path.startswith("$"):
        raise TemplateRenderError(f"JSONPath must start with '$': {path!r}")
    steps: list[object] = []
    position = 1
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if match is None:
            raise TemplateRenderError(f"unsupported JSONPath {path!r} at {path[position:]!r}")
        if match.group("star") is not None or match.group("name") == "*":
            steps.append(_WILDCARD)
        elif match.group("idx") is not None:
            steps.append(int(match.group("idx")))
        else:
            steps.append(match.group("name") or match.group("sq") or match.group("dq") or "")
        position = match.end()
    return tuple(steps)


class JsonArray(JavaList):
    """A JSONPath array result: a Java list that prints as compact JSON (json-smart)."""

    def __str__(self) -> str:
        return json.dumps(_plain(self), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return float(value) if isinstance(value, JavaDouble) else value


def _jsonpath_value(value: Any) -> Any:
    if isinstance(value, dict):
        return JavaMap({k: _jsonpath_value(v) for k, v in value.items()})
    if isinstance(value, list):
        return JsonArray(_jsonpath_value(v) for v in value)
    if isinstance(value, float):
        return JavaDouble(value)
    return value


def json_path(document: Any, path: str) -> Any:
    """Evaluate a JSONPath (``$``, ``.name``, ``['name']``, ``[0]``, ``[*]``) on parsed JSON;
    a missing member or index gives ``_MISSING`` (printed as nothing)."""
    current: Any = document
    if document is _MISSING:
        return _MISSING
    for step in _parse_path(path):
        if step is _WILDCARD:
            if isinstance(current, dict):
                current = list(current.values())
            elif not isinstance(current, list):
                return _MISSING
            continue
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                return _MISSING
            current = current[step]
        elif isinstance(current, dict) and step in current:
            current = current[step]
        else:
            return _MISSING
    return current


class Input:
    """``$input`` for one message: ``body`` is the raw client text; ``request_params``
    the request's ``header`` and ``querystring`` maps (on ``$connect``; messages have none)."""

    __slots__ = ("_parsed", "body", "request_params")

    def __init__(
        self, body: str, request_params: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self.body = body
        self._parsed: Any = _MISSING
        self.request_params = request_params

    def _document(self) -> Any:
        if self._parsed is _MISSING:
            if not self.body.strip():
                return _MISSING  # no body: every path is missing (not an empty object)
            try:
                self._parsed = json.loads(self.body)
            except ValueError as exc:
                raise TemplateRenderError(f"$input: the body is not JSON: {exc}") from exc
        return self._parsed

    def json(self, path: str) -> str:
        """The JSON text at ``path`` (compact); a missing path gives "" (unconfirmed on AWS)."""
        value = json_path(self._document(), java_str(path))
        if value is _MISSING:
            return ""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def path(self, path: str) -> Any:
        """The value at ``path`` as an object (map, list, string, number); missing is null.

        API Gateway evaluates JSONPath with Jayway JsonPath over json-smart: objects are
        Java maps (``{a=1}``) but arrays are json-smart arrays, which print as JSON
        (``[1,"x",{"c":5}]``), as LocalStack's AWS-validated tests record."""
        value = json_path(self._document(), java_str(path))
        return None if value is _MISSING else _jsonpath_value(value)

    def params(self, name: str | None = None) -> Any:
        """``$input.params()``: every parameter as ``{path={}, querystring={..}, header={..}}``;
        ``$input.params(x)``: ``x`` from the path, then the query string, then the headers
        (API Gateway's order). WebSocket messages carry none; ``$connect`` has the upgrade
        request's headers and query string."""
        given = self.request_params or {}
        query = JavaMap(given.get("querystring") or {})
        header = JavaMap(given.get("header") or {})
        if name is None:
            return JavaMap(path=JavaMap(), querystring=query, header=header)
        key = java_str(name)
        if key in query:
            return query[key]
        lowered = key.lower()  # header names are case-insensitive
        return next((v for k, v in header.items() if k.lower() == lowered), None)

    def __str__(self) -> str:
        return self.body
