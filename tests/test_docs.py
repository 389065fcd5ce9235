"""The documentation stands on the repository alone: every relative link resolves, and
nothing points outside it (a user has only the repository)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "bench" / "README.md",
    ROOT / "examples" / "chat" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"\.\./shared|/work/|docs/sections")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = (page.parent / target.partition("#")[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links to missing {target}"
        assert ROOT in path.parents or path == ROOT, f"{target} leaves the repository"


@pytest.mark.parametrize(
    "path", [*PAGES, ROOT / "Dockerfile", ROOT / ".ci" / "run"], ids=lambda p: p.name
)
def test_nothing_points_outside_the_repository(path: Path) -> None:
    found = OUTSIDE.search(path.read_text(encoding="utf-8"))
    assert found is None, f"{path.relative_to(ROOT)} mentions {found.group(0)}"


def test_the_licence_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
