"""``tickwire template``: prints the rendered stack; the YAML loads back to the same dict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.aws.stack import StackOptions, render_stack
from infra.local.cfn.yaml_source import parse_template_text
from tickwire.cli import main


def test_yaml_output_is_the_rendered_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template"]) == 0
    assert parse_template_text(capsys.readouterr().out) == render_stack()


def test_json_output_to_a_file_with_key_options(tmp_path: Path) -> None:
    target = tmp_path / "stack.json"
    assert main(["template", "--format", "json", "-o", str(target), "--snapshot-key", "mid"]) == 0
    assert json.loads(target.read_text()) == render_stack(StackOptions(snapshot_key="mid"))
