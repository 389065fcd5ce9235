"""Fixtures for the browser end-to-end test.

``game`` is the whole stack: ``tickwire.embedded.EmbeddedGame`` (gateway + stream +
engine + broadcaster + the page's routes on one port).

``chromium`` and ``browser`` launch Debian's chromium through Playwright (never a downloaded
browser) with an empty profile; tests are skipped with the reason when it is absent.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from game_engine.arena import ArenaSettings
from tickwire.embedded import EmbeddedGame

CHROMIUM = os.environ.get("TICKWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is absent: install Debian's chromium (.ci/run does) to run this test"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@pytest.fixture
async def game(unused_port: int) -> AsyncIterator[EmbeddedGame]:
    """The whole stack on a free port. Players spawn at random spots of the 1600 x 1600
    arena: a view radius covering all of it makes "the page sees the bot" independent of
    where the two spawned."""
    async with EmbeddedGame(port=unused_port, arena=ArenaSettings(view_radius=2400.0)) as game:
        yield game


async def _launch(tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    profile = tmp_path / "chromium-profile"  # an empty user data dir per test
    profile.mkdir()
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 760},
        )
        try:
            yield context
        finally:
            await context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh Chromium context with an empty profile; skipped without Debian's chromium."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    async for context in _launch(tmp_path):
        yield context


@pytest.fixture
async def browser(chromium: Any) -> Any:
    """A browser context for playing the page (the same kind of context as ``chromium``)."""
    return chromium
