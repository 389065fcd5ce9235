"""The event loop tickwire's long-running commands run on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["event_loop_runner"]

T = TypeVar("T")


def event_loop_runner() -> Callable[[Coroutine[Any, Any, T]], T]:
    """uvloop's runner where installed (about half the per-message loop overhead of the
    default loop), else :func:`asyncio.run`."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency except on Windows
        return asyncio.run
    return uvloop.run
