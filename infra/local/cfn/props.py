"""Typed reads of a resolved resource's properties: a wrong type is a :class:`TemplateError`
naming the resource and the property, never a crash deep in the loader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.local.cfn.errors import TemplateError

__all__ = ["Props"]

_SCALARS = (str, int, float, bool)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Props:
    """The resolved ``Properties`` of one resource."""

    __slots__ = ("logical_id", "values")

    def __init__(self, logical_id: str, values: Mapping[str, Any]) -> None:
        self.logical_id = logical_id
        self.values = values

    def _fail(self, key: str, expected: str) -> TemplateError:
        return TemplateError(
            self.logical_id, f"{key} must be {expected}, got {self.values.get(key)!r}"
        )

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def raw(self, key: str) -> Any:
        return self.values.get(key)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key)
        if value is None:
            return default
        if not isinstance(value, _SCALARS):
            raise self._fail(key, "a string")
        return _text(value)

    def text(self, key: str, default: str) -> str:
        """A string that has a default (empty counts as absent)."""
        return self.string(key) or default

    def _convert(self, key: str, kind: type[Any], expected: str) -> Any:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._fail(key, expected)
        try:
            return kind(value)
        except ValueError:
            raise self._fail(key, expected) from None

    def integer(self, key: str, default: int) -> int:
        value = self._convert(key, int, "an integer")
        return default if value is None else int(value)

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self._convert(key, float, "a number")
        return default if value is None else float(value)

    def mapping(self, key: str) -> Props:
        value = self.values.get(key)
        if value is None:
            return Props(self.logical_id, {})
        if not isinstance(value, Mapping):
            raise self._fail(key, "a mapping")
        return Props(self.logical_id, value)

    def string_map(self, key: str) -> dict[str, str]:
        mapping = self.mapping(key)
        return {str(k): mapping.require(str(k)) for k in mapping.values}

    def items(self, key: str) -> list[Any]:
        value = self.values.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        if not all(isinstance(item, _SCALARS) for item in items):
            raise self._fail(key, "a list of strings")
        return tuple(_text(item) for item in items)

    def mappings(self, key: str) -> list[Props]:
        items = self.items(key)
        if not all(isinstance(item, Mapping) for item in items):
            raise self._fail(key, "a list of mappings")
        return [Props(self.logical_id, item) for item in items]

    def require(self, key: str) -> str:
        value = self.string(key)
        if value is None:
            raise self._fail(key, "given")
        return value
