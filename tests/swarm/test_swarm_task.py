"""The Fargate task template for running the swarm on AWS: rendered and linted."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import lint

from infra.aws.swarm_task import TaskTemplateError, render_task_template
from tickwire.cli import main


def test_task_template_passes_cfn_lint_and_carries_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                "swarm",
                "--render-task",
                "--url",
                "wss://abc.execute-api.us-east-1.amazonaws.com/prod",
                "--bots",
                "4000",
                "--procs",
                "2",
                "--duration",
                "120",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    template = json.loads(text)
    container = template["Resources"]["SwarmTask"]["Properties"]["ContainerDefinitions"][0]
    cmd = container["Command"]
    assert cmd[0] == "swarm" and "--render-task" not in cmd
    assert cmd[cmd.index("--bots") + 1] == "4000" and cmd[cmd.index("--procs") + 1] == "2"
    assert container["Ulimits"][0]["SoftLimit"] >= 4000
    matches = lint(text, regions=["us-east-1"])
    assert [m for m in matches if m.rule.id.startswith("E")] == [], matches


def test_a_secret_never_goes_into_a_task_definition(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TaskTemplateError):
        render_task_template(["--secret", "s3cr3t"])
    assert main(["swarm", "--render-task", "--url", "wss://x/prod", "--secret", "s3cr3t"]) == 2
    assert "s3cr3t" not in capsys.readouterr().out
