"""Resolving CloudFormation's intrinsic functions and conditions for a local run.

Supported: ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt`` (list or
``A.B`` form), ``Fn::Sub`` (string or ``[string, {vars}]``; ``${!Literal}`` escapes),
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If`` with ``Conditions`` (``Fn::Equals``,
``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``), ``Fn::FindInMap``, ``Fn::Base64``,
``Fn::GetAZs``, ``Fn::ToJsonString``; ``AWS::NoValue`` removes the key or element it stands
in. ``Fn::ImportValue`` (another stack's export) and anything else raise
:class:`UnsupportedIntrinsic` naming the logical id where it appears.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from infra.local.cfn.errors import TemplateError, UnsupportedIntrinsic

__all__ = ["NO_VALUE", "Resolver"]


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

RefLookup = Callable[[str, str], Any]  # (logical id, where) -> Ref value
AttLookup = Callable[[str, str, str], Any]  # (logical id, attribute, where) -> value


class Resolver:
    """Resolves values of one template; resource lookups are supplied by the loader."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        ref: RefLookup,
        get_att: AttLookup,
    ) -> None:
        self.parameters = parameters
        self.pseudo = pseudo
        self.raw_conditions = conditions
        self.mappings = mappings
        self._ref = ref
        self._get_att = get_att
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # --- conditions ----------------------------------------------------------------------

    def condition(self, name: str, where: str) -> bool:
        """The value of the named condition (evaluated once)."""
        if not isinstance(name, str):
            raise TemplateError(where, f"a condition is named by a string, not {name!r}")
        if name in self._conditions:
            return self._conditions[name]
        if name not in self.raw_conditions:
            raise TemplateError(where, f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(name, "condition refers to itself")
        self._evaluating.add(name)
        try:
            value = self._condition_value(self.raw_conditions[name], name)
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def _condition_value(self, node: Any, where: str) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(str(arg), where)
            if key == "Fn::Equals":
                left, right = (self.resolve(v, where) for v in _args(arg, 2, key, where))
                return bool(_canonical(left) == _canonical(right))
            if key == "Fn::Not":
                (inner,) = _args(arg, 1, key, where)
                return not self._condition_value(inner, where)
            if key == "Fn::And":
                return all(self._condition_value(v, where) for v in _list(arg, key, where))
            if key == "Fn::Or":
                return any(self._condition_value(v, where) for v in _list(arg, key, where))
        raise TemplateError(where, f"not a condition function: {node!r}")

    # --- values ------------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        """``value`` with every intrinsic resolved and AWS::NoValue removed."""
        if isinstance(value, list):
            items = (self.resolve(v, where) for v in value)
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key,) = value
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, value[key], where)
        resolved = ((k, self.resolve(v, where)) for k, v in value.items())
        return {k: v for k, v in resolved if v is not NO_VALUE}

    def _intrinsic(self, name: str, arg: Any, where: str) -> Any:
        handler = self._HANDLERS.get(name)
        if handler is None:
            if name == "Fn::ImportValue":
                raise UnsupportedIntrinsic(
                    where,
                    "Fn::ImportValue reads another stack's export, which does not exist "
                    "locally; pass the value as a parameter instead",
                )
            raise UnsupportedIntrinsic(where, f"{name} is not supported locally")
        return handler(self, arg, where)

    def ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(where, f"Ref takes a name, got {name!r}")
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        return self._ref(name, where)

    def _fn_ref(self, arg: Any, where: str) -> Any:
        return self.ref(arg, where)

    def _fn_get_att(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        else:
            resource, attribute = _args(arg, 2, "Fn::GetAtt", where)
            if not isinstance(resource, str):
                raise TemplateError(
                    where, f"Fn::GetAtt's first argument must be a resource name, got {resource!r}"
                )
            attribute = self.resolve(attribute, where)
        return self._get_att(resource, str(attribute), where)

    def _fn_sub(self, arg: Any, where: str) -> Any:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, raw_vars = _args(arg, 2, "Fn::Sub", where)
            if not isinstance(raw_vars, dict):
                raise TemplateError(where, "Fn::Sub's second argument must be a mapping")
            variables = {k: self.resolve(v, where) for k, v in raw_vars.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name], where)
            if "." in name and name not in self.parameters and name not in self.pseudo:
                resource, _, attribute = name.partition(".")
                return _text(self._get_att(resource, attribute, where), where)
            return _text(self.ref(name, where), where)

        return _SUB_VARIABLE.sub(substitute, _text(text, where))

    def _fn_join(self, arg: Any, where: str) -> Any:
        delimiter, items = _args(arg, 2, "Fn::Join", where)
        values = self.resolve(items, where)
        if not isinstance(values, list):
            raise TemplateError(where, "Fn::Join needs a list")
        return str(delimiter).join(_text(v, where) for v in values)

    def _fn_select(self, arg: Any, where: str) -> Any:
        raw_index, items = _args(arg, 2, "Fn::Select", where)
        try:
            index = int(self.resolve(raw_index, where))
        except (TypeError, ValueError):
            raise TemplateError(where, f"Fn::Select index {raw_index!r} is not a number") from None
        values = self.resolve(items, where)
        if not isinstance(values, list) or not 0 <= index < len(values):
            raise TemplateError(where, f"Fn::Select index {index} out of range")
        return values[index]

    def _fn_split(self, arg: Any, where: str) -> Any:
        delimiter, text = _args(arg, 2, "Fn::Split", where)
        return _text(self.resolve(text, where), where).split(str(delimiter))

    def _fn_if(self, arg: Any, where: str) -> Any:
        name, when_true, when_false = _args(arg, 3, "Fn::If", where)
        chosen = when_true if self.condition(name, where) else when_false
        return self.resolve(chosen, where)

    def _fn_find_in_map(self, arg: Any, where: str) -> Any:
        map_name, top, second = (
            self.resolve(v, where) for v in _args(arg, 3, "Fn::FindInMap", where)
        )
        try:
            return self.mappings[map_name][top][second]
        except (KeyError, TypeError) as exc:
            raise TemplateError(where, f"Fn::FindInMap: no {map_name}/{top}/{second}") from exc

    def _fn_base64(self, arg: Any, where: str) -> Any:
        return base64.b64encode(_text(self.resolve(arg, where), where).encode()).decode()

    def _fn_get_azs(self, arg: Any, where: str) -> Any:
        region = self.resolve(arg, where) or self.pseudo["AWS::Region"]
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_to_json_string(self, arg: Any, where: str) -> Any:
        return json.dumps(self.resolve(arg, where), separators=(",", ":"))

    _HANDLERS: dict[str, Callable[[Resolver, Any, str], Any]] = {
        "Ref": _fn_ref,
        "Fn::GetAtt": _fn_get_att,
        "Fn::Sub": _fn_sub,
        "Fn::Join": _fn_join,
        "Fn::Select": _fn_select,
        "Fn::Split": _fn_split,
        "Fn::If": _fn_if,
        "Fn::FindInMap": _fn_find_in_map,
        "Fn::Base64": _fn_base64,
        "Fn::GetAZs": _fn_get_azs,
        "Fn::ToJsonString": _fn_to_json_string,
    }


def _args(arg: Any, count: int, name: str, where: str) -> list[Any]:
    if not isinstance(arg, list) or len(arg) != count:
        raise TemplateError(where, f"{name} takes a list of {count} arguments, got {arg!r}")
    return arg


def _list(arg: Any, name: str, where: str) -> list[Any]:
    if not isinstance(arg, list) or not arg:
        raise TemplateError(where, f"{name} takes a non-empty list, got {arg!r}")
    return arg


def _canonical(value: Any) -> Any:
    """CloudFormation compares Fn::Equals operands as strings (``1`` equals ``"1"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise TemplateError(where, f"expected a string, got {value!r}")
