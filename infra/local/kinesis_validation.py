"""Kinesis request validation, driven by the Kinesis service model botocore ships.

Kinesis checks a JSON request in two steps, and so does this module:

1. **Types** (``SerializationException``): a member whose JSON type cannot become the
   model's type (a number where a string goes, a list where a structure goes, text that is
   not base64 where a blob goes) fails the whole request with the Java deserializer's
   message, e.g. ``class java.lang.String can not be converted to an Integer``.
2. **Constraints** (``ValidationException``): required members, lengths, ranges, patterns
   and enums of the model, reported together (at most 10) in Kinesis's format::

       2 validation errors detected: Value '' at 'streamName' failed to satisfy
       constraint: Member must have length greater than or equal to 1; Value null at
       'partitionKey' failed to satisfy constraint: Member must not be null

Members the model does not know are ignored, as Kinesis ignores them. The operation's own
rules (stream name or ARN, shard ids, hash keys) are the service's, after this.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from functools import cache
from typing import Any, Final

from ingest.errors import StreamError

__all__ = ["SerializationError", "ValidationError", "validate_request"]

# Kinesis reports at most this many constraint violations in one message.
MAX_REPORTED: Final = 10
_BASE64_CHARS: Final = re.compile(r"[^a-zA-Z0-9+/=]|=[^=]")


class SerializationError(StreamError):
    """A member's JSON type does not fit the model (Kinesis ``SerializationException``)."""

    error_type = "SerializationException"


class ValidationError(StreamError):
    """Model constraints violated (Kinesis ``ValidationException``)."""

    error_type = "ValidationException"


@cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("kinesis")


@cache
def _pattern(text: str) -> re.Pattern[str]:
    # Java's \d and \w are ASCII-only, as re.ASCII makes Python's.
    return re.compile(text, re.ASCII)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def validate_request(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """``request`` with nulls dropped and numbers made integral where the model says
    integer; raises :class:`SerializationError` or :class:`ValidationError`."""
    shape = _model().operation_model(operation).input_shape
    cleaned = _typed(request, shape)
    errors: list[str] = []
    _check(cleaned, shape, "", errors)
    if errors:
        count = len(errors)
        raise ValidationError(
            f"{count} validation error{'s' if count > 1 else ''} detected: "
            + "; ".join(errors[:MAX_REPORTED])
        )
    return cleaned  # type: ignore[no-any-return]


# -- step 1: JSON types -------------------------------------------------------------------


def _container_error(value: Any) -> SerializationError:
    if isinstance(value, list):
        return SerializationError("Start of list found where not expected")
    return SerializationError("Start of structure or map found where not expected.")


def _java_class(value: Any) -> str:
    if isinstance(value, bool):
        return "class java.lang.Boolean"
    if isinstance(value, int | float):
        return "class java.math.BigDecimal"
    return "class java.lang.String"


def _typed(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if isinstance(value, list):
            raise _container_error(value)
        if not isinstance(value, dict):
            raise SerializationError("Expected null")
        out = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                out[name] = _typed(item, member)
        return out
    if kind == "list":
        if isinstance(value, dict):
            raise _container_error(value)
        if not isinstance(value, list):
            raise SerializationError("Expected list or null")
        return [None if item is None else _typed(item, shape.member) for item in value]
    if kind == "map":
        if isinstance(value, list):
            raise _container_error(value)
        if not isinstance(value, dict):
            raise SerializationError("Expected map or null")
        return {k: None if v is None else _typed(v, shape.value) for k, v in value.items()}
    if isinstance(value, list | dict):
        raise _container_error(value)
    if kind == "string":
        if not isinstance(value, str):
            raise SerializationError(f"{_java_class(value)} can not be converted to an String")
        return value
    if kind in ("integer", "long"):
        java = "Integer" if kind == "integer" else "Long"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SerializationError(f"{_java_class(value)} can not be converted to an {java}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SerializationError(f"{value} can not be converted to an {java}")
        return math.floor(value)
    if kind == "boolean":
        if isinstance(value, str):
            raise SerializationError(f"'{value.upper()}' can not be converted to an Boolean")
        if not isinstance(value, bool):
            raise SerializationError(f"{_java_class(value)} can not be converted to an Boolean")
        return value
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SerializationError(
                f"{_java_class(value)} can not be converted to milliseconds since epoch"
            )
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise SerializationError(f"{_java_class(value)} can not be converted to a Blob")
        _check_base64(value)
        return value
    return value


def _check_base64(text: str) -> None:
    prefix = f"'{text}' can not be converted to a Blob: "
    if len(text) % 4:
        raise SerializationError(
            prefix + f"Base64 encoded length is expected a multiple of 4 bytes but found: "
            f"{len(text)}"
        )
    bad = _BASE64_CHARS.search(text)
    if bad is not None:
        raise SerializationError(prefix + f"Invalid Base64 character: '{bad.group()[0]}'")
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is None or base64.b64encode(decoded).decode() != text:
        raise SerializationError(prefix + "Invalid last non-pad Base64 character dectected")


# -- step 2: constraints ------------------------------------------------------------------


def _shown(value: Any, kind: str) -> str:
    """How Kinesis prints a rejected value (``'text'``, ``null``, Java collections)."""
    if value is None:
        return "null"
    if kind == "blob":
        size = len(base64.b64decode(value))
        return f"'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]'"
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    return f"'{value}'"


def _length(value: Any, kind: str) -> int:
    if kind == "blob":
        return len(base64.b64decode(value))
    return len(value)


def _check(value: Any, shape: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            where = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
            item = value.get(name)
            if item is None:
                if name in shape.required_members:
                    errors.append(_violation(None, kind, where, "Member must not be null"))
                continue
            _check_member(item, member, where, errors)
        return
    _check_member(value, shape, path, errors)


def _check_member(value: Any, shape: Any, where: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    measured: Any = None  # what min/max bound: a length, or the value itself
    if kind in ("string", "blob", "list", "map"):
        measured, what = _length(value, kind), "length"
    elif kind in ("integer", "long"):
        measured, what = value, "value"
    if measured is not None:
        if "max" in meta and measured > meta["max"]:
            message = f"Member must have {what} less than or equal to {meta['max']}"
            errors.append(_violation(value, kind, where, message))
        if "min" in meta and measured < meta["min"]:
            message = f"Member must have {what} greater than or equal to {meta['min']}"
            errors.append(_violation(value, kind, where, message))
    if kind == "string":
        pattern = meta.get("pattern")
        if pattern is not None and _pattern(pattern).fullmatch(value) is None:
            errors.append(
                _violation(
                    value, kind, where, f"Member must satisfy regular expression pattern: {pattern}"
                )
            )
        if shape.enum and value not in shape.enum:
            errors.append(
                _violation(
                    value,
                    kind,
                    where,
                    "Member must satisfy enum value set: [" + ", ".join(shape.enum) + "]",
                )
            )
    if kind == "list":
        for i, item in enumerate(value, 1):
            if shape.member.type_name == "structure" and isinstance(item, dict):
                _check(item, shape.member, f"{where}.{i}.member", errors)
            elif item is not None and shape.member.type_name == "string":
                _check_strings(item, shape.member, where, value, errors)
    if kind == "map":
        keys_bad = any(_out_of_range(k, shape.key) for k in value)
        if keys_bad:
            errors.append(_map_violation(value, where, "Map keys", shape.key))
        values_bad = any(v is not None and _out_of_range(v, shape.value) for v in value.values())
        if values_bad:
            errors.append(_map_violation(value, where, "Map value", shape.value))


def _out_of_range(text: str, shape: Any) -> bool:
    meta = shape.metadata
    return not meta.get("min", 0) <= len(text) <= meta.get("max", math.inf)


def _check_strings(item: str, shape: Any, where: str, whole: list[Any], errors: list[str]) -> None:
    if _out_of_range(item, shape):
        meta = shape.metadata
        message = (
            "Member must satisfy constraint: [Member must have length less than or equal to "
            f"{meta.get('max')}, Member must have length greater than or equal to "
            f"{meta.get('min', 0)}]"
        )
        text = _violation(whole, "list", where, message)
        if text not in errors:
            errors.append(text)


def _map_violation(value: dict[str, Any], where: str, what: str, shape: Any) -> str:
    meta = shape.metadata
    return _violation(
        value,
        "map",
        where,
        f"{what} must satisfy constraint: [Member must have length less than or equal to "
        f"{meta.get('max')}, Member must have length greater than or equal to "
        f"{meta.get('min', 0)}]",
    )


def _violation(value: Any, kind: str, where: str, message: str) -> str:
    return f"Value {_shown(value, kind)} at '{where}' failed to satisfy constraint: {message}"
