"""Small builders for CloudFormation's intrinsic functions (long form, valid JSON and YAML)
and the IAM documents the stack repeats."""

from __future__ import annotations

from typing import Any

__all__ = ["assume_role_policy", "get_att", "if_", "inline_policy", "join", "ref", "sub"]

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


def assume_role_policy(service: str) -> dict[str, Any]:
    """A trust policy letting ``service`` (e.g. ``lambda.amazonaws.com``) assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def inline_policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """An entry of a role's ``Policies``."""
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }
