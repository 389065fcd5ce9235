"""The JSON report's schema, the text table, the HTML file, and plan --from-report."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from swarm.config import SwarmConfig
from swarm.errors import ReportError
from swarm.html import render_html
from swarm.report import (
    REPORT_KEYS,
    build_report,
    failed_criteria,
    load_report,
    render_table,
    write_report,
)
from swarm.runner import run_swarm
from tickwire.cli import main


@pytest.fixture
async def report(ack_server: Any) -> dict[str, Any]:
    config = SwarmConfig(
        url=ack_server.url,
        bots=16,
        matches=1,
        duration_s=2.0,
        interval_s=1.0,
        token_url=ack_server.token_url,
        tick_hz=20.0,
        seed=3,
    )
    return build_report(await run_swarm(config), server_cores=2.0, p99_limit_ms=2000)


def test_report_schema(report: dict[str, Any], tmp_path: Path) -> None:
    assert tuple(report) == REPORT_KEYS
    s = report["summary"]
    assert s["bots"] == 16 and s["connected_min"] == 16 and s["error_count"] == 0
    for name in ("connect", "ack", "delay"):
        assert set(s["latency_ms"][name]) >= {"p50", "p95", "p99", "p99.9", "max", "count"}
    assert all(
        {"t", "phase", "connected", "msgs_in", "ack_ms"} <= set(i) for i in report["intervals"]
    )
    assert {i["phase"] for i in report["intervals"]} == {"ramp", "steady"}
    a = report["aws"]
    assert a["units_per_message"] == 1.0
    assert a["metered_units"] == s["msgs_in"] + s["msgs_out"]
    # the test server sends 20 state messages per bot per second
    assert 15 <= a["connections_calls_per_player_per_s"] <= 21
    assert report["capacity"] == {
        "p99_limit_ms": 2000,
        "passed": True,
        "failed": [],
        "players": 16,
        "server_cores": 2.0,
        "players_per_core": 8.0,
    }
    assert "secret" not in json.dumps(report["config"])
    path = tmp_path / "r.json"
    write_report(report, path)
    assert load_report(path) == json.loads(json.dumps(report))
    table = render_table(report)
    assert "input->ack" in table and "verdict: PASS (p99 input->ack " in table
    assert "all 16 bots connected" in table


def test_bad_reports_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    for text in (
        "nope",
        json.dumps({"tickwire_swarm_report": 9}),
        json.dumps({"tickwire_swarm_report": 1}),
    ):
        p.write_text(text)
        with pytest.raises(ReportError):
            load_report(p)


def test_html_is_self_contained(report: dict[str, Any]) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert "polyline" in page


def test_html_escapes_what_it_prints(report: dict[str, Any]) -> None:
    report["config"]["url"] = "ws://x/<script>alert(1)</script>"
    assert "<script>" not in render_html(report)


def test_plan_from_report(
    report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    write_report(report, path)
    assert main(["plan", "--players", "80", "--from-report", str(path), "--json"]) == 2
    # A passing run alone is a floor, not the ceiling: refused, saying what to run.
    assert capsys.readouterr().err.startswith(f"tickwire plan: {path} passed at 16 bots")
    # With a failing run of more bots against the same target, the bracket is known.
    failed = copy.deepcopy(report)
    failed["config"]["bots"] = failed["capacity"]["players"] = 64
    failed["capacity"].update(passed=False, players_per_core=None, failed=["p99 ..."])
    failed_path = tmp_path / "failed.json"
    write_report(failed, failed_path)
    argv = ["plan", "--players", "80", "--from-report", str(path), "--from-report"]
    assert main([*argv, str(failed_path), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["workload"]["players_per_core"] == 8.0 and out["cores"] == 10
    assert "between 16 (passed) and 64 (failed) bots" in captured.err
    # A run refused for its tokens failed for no reason of capacity.
    failed["summary"]["errors"] = {"refused:401": 64}
    write_report(failed, failed_path)
    assert main([*argv, str(failed_path)]) == 2
    assert "no report failed with more" in capsys.readouterr().err
    failed["summary"]["errors"] = {"timeout:ack": 12}
    # Runs of different targets do not bracket anything.
    failed["config"]["url"] = "ws://elsewhere/local"
    write_report(failed, failed_path)
    assert main([*argv, str(failed_path)]) == 2
    assert "differ in url" in capsys.readouterr().err
    # Only failing runs: no capacity at all.
    assert main(["plan", "--players", "80", "--from-report", str(failed_path)]) == 2
    assert "no report passed" in capsys.readouterr().err


def test_fail_line_names_the_criteria_that_failed(report: dict[str, Any]) -> None:
    failed = copy.deepcopy(report)
    failed["summary"]["latency_ms"]["ack"]["p99"] = 134.25
    failed["capacity"].update(
        passed=False,
        failed=failed_criteria(
            p99_ms=134.25,
            p99_limit_ms=100,
            errors={"timeout:ack": 3, "refused:429": 7},
            connected_min=14,
            bots=16,
        ),
    )
    failed["aws"]["units_per_message"] = None
    table = render_table(failed)
    assert table.splitlines()[-1] == (
        "verdict: FAIL: p99 input->ack 134.2 ms > 100 ms (--p99-limit); 10 errors "
        "(refused:429 7, timeout:ack 3); only 14 of 16 bots stayed connected"
    )
    assert "None" not in table and "(no messages)" in table
    assert failed_criteria(p99_ms=None, p99_limit_ms=100, errors={}, connected_min=16, bots=16) == [
        "no input was acknowledged in the measured phase"
    ]


def test_shipped_sample_report_is_a_real_report_and_self_contained() -> None:
    docs = Path(__file__).parents[2] / "docs"
    data = load_report(docs / "sample-report.json")
    assert data["summary"]["latency_ms"]["ack"]["count"] > 0
    page = (docs / "sample-report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<script" not in page and page.count("<svg") == 2
