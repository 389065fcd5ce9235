"""The fault suite's fixture: a fresh two-worker deployment per test (deployment.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The helpers live beside this file (importlib mode: conftest modules are not importable).
sys.path.insert(0, str(Path(__file__).parent))

from deployment import REGION, Deployment


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "HOME": str(tmp_path),  # the gateway's local secret and keys live here
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    dep = Deployment(tmp_path, env)
    try:
        await dep.start()
        yield dep
    finally:
        dep.stop()
