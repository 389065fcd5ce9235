"""Velocity semantics shared by the compiled form and the interpreter.

Truthiness follows Velocity 1.7 (what API Gateway runs): a condition is false only for
null and ``false``; ``!x`` is true only for those; and ``#set($x = <null>)`` leaves ``$x``
as it was (Velocity 1.7 user guide, "#set"). airspeed-ext differs on both (null is true in
its ``#if``, and it assigns null), so :func:`apply_velocity_truthiness` aligns the
interpreter with the compiled form.
Name resolution (:func:`member`) follows airspeed's ``NameOrCall`` step by step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from airspeed import operators as ops

from infra.local.vtl.runtime import JavaList, JavaMap, java_str

__all__ = [
    "apply_velocity_truthiness",
    "index",
    "literal_replacement",
    "member",
    "replace_all",
    "to_text",
    "velocity_true",
]

_ADDITIONAL_METHODS: dict[type, dict[str, Callable[..., Any]]] = ops.__additional_methods__


def velocity_true(value: Any) -> bool:
    """Velocity 1.7: only null and Boolean false are false (an empty string is true)."""
    return value is not None and value is not False


def apply_velocity_truthiness() -> None:
    """Make airspeed's ``#if``/``!``/``&&``/``||`` use Velocity 1.7 truthiness, and its
    ``#set`` ignore a null value as Velocity 1.7 does (idempotent)."""

    def condition(self: Any, namespace: Any, loader: Any) -> bool:
        return velocity_true(self.expression.calculate(namespace, loader))

    def unary(self: Any, namespace: Any, loader: Any) -> bool:
        return not velocity_true(self.value.calculate(namespace, loader))

    def assign(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
        value = self.value.calculate(namespace, loader)
        if value is None:
            return  # Velocity 1.7: a null right-hand side leaves the variable as it was
        if not self.terms:
            namespace.set_inherited(self.root_term, value)
            return
        target = namespace[self.root_term]
        for term in self.terms[:-1]:
            target = target[term.calculate(namespace, loader)]
        target[self.terms[-1].calculate(namespace, loader)] = value

    ops.Condition.calculate = condition
    ops.UnaryOperatorValue.calculate = unary
    ops.Assignment.evaluate_raw = assign
    ops.boolean_value = velocity_true
    table = ops.BinaryOperator.OPERATORS
    for name in ("||", "or"):
        table[name] = _or
    for name in ("&&", "and"):
        table[name] = _and


def _or(a: Any, b: Any) -> bool:
    return velocity_true(a) or velocity_true(b)


def _and(a: Any, b: Any) -> bool:
    return velocity_true(a) and velocity_true(b)


def to_text(value: Any) -> str:
    """What a ``$reference`` writes (null is handled by the caller): Java's printing, also
    for plain dicts, lists and floats, which the interpreter sees converted by ``to_java``."""
    if type(value) is str:
        return value
    return java_str(value)


def member(obj: Any, name: str) -> Any:
    """``obj.name`` as airspeed's ``NameOrCall`` resolves it: item, attribute, extra method."""
    result = None
    if isinstance(obj, dict):
        result = obj.get(name)
    elif not isinstance(obj, str) and hasattr(type(obj), "__getitem__"):
        try:
            result = obj[name]
        except (KeyError, TypeError, AttributeError, IndexError):
            pass
    if result is None:
        result = getattr(obj, name, None)
    if result is None:
        # The interpreter sees $context converted to JavaMap/JavaList; the compiled form
        # gets the caller's plain dicts and lists, so it borrows the same methods.
        java_type = _JAVA_TYPES.get(obj.__class__)
        if java_type is not None:
            method = getattr(java_type, name, None)
            if callable(method) and not name.startswith("_"):
                return partial(method, obj)
        methods = _ADDITIONAL_METHODS.get(obj.__class__)
        if methods and name in methods:
            result = partial(methods[name], obj)
    return result


def _literal_regex(pattern: str) -> str | None:
    """The literal text a regex matches when it has no operators (``\\'`` -> ``\'``)."""
    literal: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            if char.isalnum():
                return None  # \d, \w, \1 ... are operators
            literal.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ".^$*+?{}[]|()":
            return None
        else:
            literal.append(char)
    return None if escaped else "".join(literal)


def literal_replacement(pattern: str, replacement: str) -> tuple[str, str] | None:
    """``(old, new)`` when ``replaceAll(pattern, replacement)`` is ``str.replace(old, new)``
    (a pattern without regex operators, a replacement without group references)."""
    literal = _literal_regex(pattern)
    if literal and "\\" not in replacement:
        return literal, replacement
    return None


def replace_all(pattern: str, replacement: str) -> Callable[[str], str]:
    """``String.replaceAll`` with constant arguments, as airspeed runs it (``re.sub``), but
    prepared once: a plain ``str.replace`` when the pattern is literal text."""
    plain = literal_replacement(pattern, replacement)
    if plain is not None:
        old, new = plain
        return lambda text: text.replace(old, new)
    regex = re.compile(pattern)
    return lambda text: regex.sub(replacement, text)


_JAVA_TYPES: dict[type, type] = {dict: JavaMap, list: JavaList}


def index(result: Any, index: Any) -> Any:
    if isinstance(result, list) and not isinstance(index, int):
        raise ValueError(f"expected integer for array index, got '{index}'")
    try:
        return result[index]
    except Exception:
        return None
