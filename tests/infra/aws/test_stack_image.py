"""The Dockerfile ships every package the project installs, and what the stack runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from infra.aws.stack import render_stack

REPO = Path(__file__).resolve().parents[3]


def _instructions() -> list[tuple[str, str]]:
    lines = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    return [
        (m.group(1).upper(), m.group(2).strip())
        for line in lines
        if (m := re.match(r"^\s*([A-Za-z]+)\s+(.*)$", line)) and not line.lstrip().startswith("#")
    ]


def test_every_package_is_copied() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {args.split()[0] for kind, args in _instructions() if kind == "COPY"}
    assert packages <= copied
    for source in copied:
        assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not packages & set(ignored)


def test_entry_points_match_the_stack() -> None:
    instructions = dict(_instructions())
    assert instructions["ENTRYPOINT"] == '["tickwire"]'
    assert instructions["CMD"] == '["worker"]'
    assert any("awslambdaric" in args for kind, args in _instructions() if kind == "RUN")
    resources = render_stack()["Resources"]
    container = resources["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert (container["EntryPoint"], container["Command"]) == (["tickwire"], ["worker"])
    image = resources["AuthorizerFunction"]["Properties"]["ImageConfig"]
    assert image == {
        "EntryPoint": ["python", "-m", "awslambdaric"],
        "Command": ["ingest.authorizer.handler"],
    }
    import importlib

    module, _, function = image["Command"][0].rpartition(".")
    assert callable(getattr(importlib.import_module(module), function))


def test_dependencies_install_before_the_sources_are_copied() -> None:
    """A code change must not reinstall every dependency: the layer that installs them
    sees pyproject.toml only, and the package itself installs with --no-deps."""
    steps = _instructions()
    packages = {"tickwire", "infra", "ingest", "game_engine", "broadcaster", "swarm"}
    first_source = next(
        i for i, (kind, args) in enumerate(steps) if kind == "COPY" and args.split()[0] in packages
    )
    deps = next(i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "-r " in args)
    assert deps < first_source
    copied_before = [args for kind, args in steps[:deps] if kind == "COPY"]
    assert copied_before == ["pyproject.toml ./"]
    assert any(kind == "RUN" and "--no-deps ." in args for kind, args in steps[first_source:])
    assert (REPO / "LICENSE").is_file()
