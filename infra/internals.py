"""The private parts of other libraries tickwire relies on, checked when first imported.

tickwire reaches into three libraries where their public API has no hook for what API
Gateway does (see each user's comments for why):

- **aiohttp** (``infra.local.gateway.sessions``): the server's WebSocket payload parser is
  wrapped to enforce API Gateway's 32 KB per-frame limit (aiohttp limits messages only),
  and to handle whole short text frames in the read callback;
- **airspeed-ext** (``infra.local.vtl``): its operator classes are patched to Velocity 1.7
  truthiness and compiled from their node attributes;
- **hdrhistogram** (``swarm.stats``): a bucket's median-equivalent value and the counts
  array, to compute many percentiles with one NumPy pass.

Each user calls :func:`require` at import with what it touches. A version outside the
range tickwire was tested with, or a missing name, raises :class:`InternalsChanged` (an
ImportError) naming the library, the tested version and the user, so a change upstream
stops tickwire at start-up instead of silently dropping a limit. ``pyproject.toml`` caps
the same three libraries below their next minor release.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterable

__all__ = [
    "AIOHTTP",
    "AIRSPEED",
    "HDRHISTOGRAM",
    "InternalsChanged",
    "Pinned",
    "defines",
    "require",
    "sets_attribute",
]


class InternalsChanged(ImportError):
    """An installed library no longer has the internals tickwire uses."""


class Pinned:
    """A distribution and the version range tickwire's use of its internals was tested in
    (``low`` inclusive, ``high`` exclusive, as ``(major, minor)``)."""

    def __init__(self, distribution: str, tested: str, low: tuple[int, int], high: tuple[int, int]):
        self.distribution = distribution
        self.tested = tested
        self.low = low
        self.high = high


# Keep these ranges equal to pyproject.toml's bounds.
AIOHTTP = Pinned("aiohttp", "3.14.5", (3, 9), (3, 15))
AIRSPEED = Pinned("airspeed-ext", "0.6.9", (0, 6), (0, 7))
HDRHISTOGRAM = Pinned("hdrhistogram", "0.10.8", (0, 10), (0, 11))


def _version(distribution: str) -> tuple[tuple[int, int], str]:
    text = importlib.metadata.version(distribution)
    found = re.match(r"(\d+)\.(\d+)", text)
    if found is None:  # pragma: no cover - every release on PyPI starts with N.N
        raise InternalsChanged(f"{distribution} has an unreadable version {text!r}")
    return (int(found.group(1)), int(found.group(2))), text


def require(library: Pinned, user: str, checks: Iterable[tuple[str, Callable[[], bool]]]) -> None:
    """Raise :class:`InternalsChanged` unless ``library`` is in its tested range and every
    ``(what, check)`` holds; ``user`` is the tickwire module relying on them."""
    version, text = _version(library.distribution)
    fix = (
        f"install the tested version (pip install '{library.distribution}=={library.tested}') "
        f"or update {user}"
    )
    if not library.low <= version < library.high:
        low, high = (".".join(map(str, v)) for v in (library.low, library.high))
        raise InternalsChanged(
            f"{user} uses internals of {library.distribution}, tested from {low} up to (not "
            f"including) {high}; {text} is installed: {fix}"
        )
    missing = [what for what, check in checks if not _holds(check)]
    if missing:
        raise InternalsChanged(
            f"{user} uses internals of {library.distribution} {text} that are gone or "
            f"changed ({', '.join(missing)}); tested with {library.tested}: {fix}"
        )


def _holds(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except (AttributeError, ImportError, TypeError):
        return False


def defines(owner: object, *names: str) -> Callable[[], bool]:
    """A check that ``owner`` has every attribute in ``names``."""
    return lambda: all(hasattr(owner, name) for name in names)


def sets_attribute(cls: type, name: str) -> Callable[[], bool]:
    """A check that some method of ``cls`` (or its slots) stores ``self.<name>``: how to
    confirm an instance attribute exists without making an instance."""

    def check() -> bool:
        for klass in cls.__mro__:
            if name in getattr(klass, "__slots__", ()):
                return True
            for value in vars(klass).values():
                code = getattr(value, "__code__", None)
                if code is not None and name in code.co_names:
                    return True
        return False

    return check


# -- what each user touches ------------------------------------------------------------


def require_aiohttp_frame_parser(user: str) -> None:
    """The WebSocket parser wrapping of ``infra.local.gateway.sessions``: a response's
    ``_parser`` and ``_reader``, the request handler's ``_payload_parser`` slot, and the
    message queue's ``_buffer`` (is anything queued for the read loop?)."""
    from aiohttp import web, web_protocol

    require(
        AIOHTTP,
        user,
        [
            ("WebSocketResponse._parser", sets_attribute(web.WebSocketResponse, "_parser")),
            ("WebSocketResponse._reader", sets_attribute(web.WebSocketResponse, "_reader")),
            (
                "RequestHandler._payload_parser",
                sets_attribute(web_protocol.RequestHandler, "_payload_parser"),
            ),
            # read whole in the read callback only while the response's queue is empty
            ("WebSocketDataQueue._buffer", _queue_has_buffer),
        ],
    )


def _queue_has_buffer() -> bool:
    from aiohttp._websocket import reader

    queue = reader.WebSocketDataQueue  # the compiled class has a descriptor, Python sets it
    return hasattr(queue, "_buffer") or sets_attribute(queue, "_buffer")()


# The airspeed.operators names infra.local.vtl patches or compiles from.
AIRSPEED_OPERATORS = (
    "Assignment", "BinaryOperator", "BooleanLiteral", "Comment", "Condition", "ElseBlock",
    "Expression", "FallthroughHashText", "FloatingPointLiteral", "FormalReference",
    "IfDirective", "IntegerLiteral", "InterpolatedStringLiteral", "NullLiteral",
    "ParenthesizedExpression", "SetDirective", "StringLiteral", "Text", "UnaryOperatorValue",
    "Value", "VariableExpression", "_Element", "_EmptyValues", "__additional_methods__",
    "boolean_value",
)  # fmt: skip


def require_airspeed_operators(user: str) -> None:
    """The operator classes ``infra.local.vtl`` patches (Velocity 1.7 truthiness) and
    compiles from, and the operator table of ``BinaryOperator``."""
    from airspeed import operators

    require(
        AIRSPEED,
        user,
        [
            ("airspeed.operators." + ", ".join(AIRSPEED_OPERATORS), defines(operators, *AIRSPEED_OPERATORS)),
            ("Assignment.evaluate_raw", defines(operators.Assignment, "evaluate_raw")),
            ("Condition.calculate", defines(operators.Condition, "calculate")),
            ("UnaryOperatorValue.calculate", defines(operators.UnaryOperatorValue, "calculate")),
            ("BinaryOperator.OPERATORS", lambda: isinstance(operators.BinaryOperator.OPERATORS, dict)),
        ],
    )  # fmt: skip


def require_hdrh_buckets(user: str) -> None:
    """``swarm.stats``' bucket walk: the median-equivalent value of a bucket, the counts
    array and the layout fields of ``HdrHistogram``."""
    from hdrh.histogram import HdrHistogram

    fields = ("counts", "counts_len", "sub_bucket_count", "unit_magnitude")
    require(
        HDRHISTOGRAM,
        user,
        [
            ("HdrHistogram._hdr_median_equiv_value", defines(HdrHistogram, "_hdr_median_equiv_value")),
            ("HdrHistogram.get_value_from_index", defines(HdrHistogram, "get_value_from_index")),
            ("HdrHistogram." + "/".join(fields), lambda: all(
                sets_attribute(HdrHistogram, f)() for f in fields)),
        ],
    )  # fmt: skip
