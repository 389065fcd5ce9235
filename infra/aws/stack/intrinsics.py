"""Small builders for CloudFormation's intrinsic functions (long form, valid JSON and YAML)."""

from __future__ import annotations

from typing import Any

__all__ = ["get_att", "if_", "join", "ref", "sub"]

NO_VALUE: dict[str, str] = {"Ref": "AWS::NoValue"}


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def join(parts: list[Any], delimiter: str = "") -> dict[str, Any]:
    return {"Fn::Join": [delimiter, parts]}


def if_(condition: str, when_true: Any, when_false: Any) -> dict[str, Any]:
    return {"Fn::If": [condition, when_true, when_false]}
