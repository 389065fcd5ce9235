"""Packaging: what the AWS image installs is enough for the worker and the authorizer, the
emulator's packages are an extra, and the internals of pinned libraries are checked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from infra.internals import AIOHTTP, AIRSPEED, HDRHISTOGRAM, InternalsChanged, Pinned, require
from tickwire.cli import LOCAL_EXTRA_MODULES

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# Python that refuses to import the `local` extra's modules, then runs the rest.
WITHOUT_LOCAL = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {blocked!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    """
)


def _run_without_local(code: str) -> subprocess.CompletedProcess[str]:
    script = WITHOUT_LOCAL.format(blocked=sorted(LOCAL_EXTRA_MODULES)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_the_local_extra_holds_the_emulator_packages() -> None:
    deps = " ".join(PYPROJECT["project"]["dependencies"])
    local = " ".join(PYPROJECT["project"]["optional-dependencies"]["local"])
    for package in ("trustme", "airspeed-ext", "jsonschema", "moto"):
        assert package in local and package not in deps
    assert "cryptography" not in deps  # PyJWT[crypto] brings it for the authorizer
    test = PYPROJECT["project"]["optional-dependencies"]["test"]
    assert "tickwire[local]" in test and "pytest-asyncio>=0.24" in test


def test_worker_authorizer_and_swarm_import_without_the_local_extra() -> None:
    out = _run_without_local(
        """
        import ingest.authorizer, game_engine.worker, broadcaster.fanout
        import broadcaster.connections.aws_wire, infra.aws.kinesis, infra.aws.dynamodb
        import swarm.runner, swarm.report, tickwire.commands.worker
        from tickwire.cli import main
        assert main(["worker", "--help"]) == 0
        """
    )
    assert out.returncode == 0 or "SystemExit: 0" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr


def test_a_command_needing_the_local_extra_says_how_to_get_it() -> None:
    out = _run_without_local(
        """
        from tickwire.cli import main
        raise SystemExit(main(["gateway", "--api", "examples.chat.api:chat_api"]))
        """
    )
    assert out.returncode == 2, out.stderr
    assert "pip install 'tickwire[local]'" in out.stderr and "Traceback" not in out.stderr


def test_bounds_in_pyproject_match_the_checked_ranges() -> None:
    specs = " ".join(
        PYPROJECT["project"]["dependencies"]
        + PYPROJECT["project"]["optional-dependencies"]["local"]
    )
    for tested in (AIOHTTP, AIRSPEED, HDRHISTOGRAM):
        low, high = (".".join(map(str, v)) for v in (tested.low, tested.high))
        assert f"{tested.distribution}>={low},<{high}" in specs.replace('"', "")


def test_internals_of_the_installed_versions_hold() -> None:
    import infra.local.gateway.sessions
    import infra.local.vtl  # noqa: F401
    import swarm.stats  # noqa: F401


def test_an_untested_version_or_a_missing_internal_fails_loudly() -> None:
    with pytest.raises(InternalsChanged, match=r"tested from 9\.0 up to .* 9\.1; 3\."):
        require(Pinned("aiohttp", "9.0.1", (9, 0), (9, 1)), "the.user", [])
    with pytest.raises(InternalsChanged, match=r"gone or changed \(Thing._gone\).*the.user"):
        require(AIOHTTP, "the.user", [("Thing._gone", lambda: False)])
