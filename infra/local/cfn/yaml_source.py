"""Reading templates: JSON, or YAML with CloudFormation's short-form tags.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``,
``!Condition C`` becomes ``{"Condition": "C"}``, and every other ``!Name`` becomes
``{"Fn::Name": ...}`` with its scalar, sequence or mapping argument. Timestamps stay
strings (an unquoted ``AWSTemplateFormatVersion: 2010-09-09`` is not a date).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.local.cfn.errors import TemplateError

__all__ = ["parse_template_text", "read_template"]


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader plus the short-form tags; no arbitrary Python objects."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _short_form)
_TemplateLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def parse_template_text(text: str, *, origin: str = "<template>") -> dict[str, Any]:
    """Parse JSON or YAML template text into a dict."""
    stripped = text.lstrip()
    try:
        document = (
            json.loads(text) if stripped.startswith("{") else yaml.load(text, _TemplateLoader)
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise TemplateError(None, f"{origin} is neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise TemplateError(None, f"{origin} is not a mapping at the top level")
    return document


def read_template(path: Path) -> dict[str, Any]:
    """Read and parse a template file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(None, f"cannot read {path}: {exc}") from exc
    return parse_template_text(text, origin=str(path))
