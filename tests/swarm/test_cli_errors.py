"""``tickwire swarm`` as a new user meets it: flags named in errors, the local secret by
default, a URL without its stage refused at once, the header's measured seconds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from swarm.config import SwarmConfig
from swarm.errors import ConfigError

from .conftest import SECRET


def _swarm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickwire", "swarm", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_url_is_shown_as_required() -> None:
    out = _swarm("--bots", "2")
    assert out.returncode == 2
    assert "the following arguments are required: --url" in out.stderr
    assert "--url URL" in _swarm("--help").stdout.split("options:")[0]  # in the usage line


def test_a_url_without_the_stage_fails_at_once_saying_so() -> None:
    started = time.monotonic()
    out = _swarm("--url", "ws://127.0.0.1:9/", "--secret", SECRET, "--duration", "30")
    assert out.returncode == 2
    assert time.monotonic() - started < 30
    assert out.stderr.strip() == (
        "tickwire swarm: --url 'ws://127.0.0.1:9/' lacks the API stage: add it as the path, "
        "as in ws://127.0.0.1:9/local (tickwire up) or .../prod (a stack)"
    )


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"url": "http://x/local"}, "--url"),
        ({"bots": 0}, "--bots"),
        ({"matches": 9}, "--matches"),
        ({"duration_s": 0}, "--duration"),
        ({"input_hz": 0}, "--input-hz"),
        ({"procs": 5}, "--procs"),
        ({"secret": None}, "--secret"),
        ({"behaviour": "dance"}, "--behaviour"),
        ({"interval_s": 0}, "--interval"),
        ({"tick_hz": -1}, "--tick-rate"),
        ({"max_connect_rate": 0}, "--max-connect-rate"),
    ],
)
def test_config_errors_name_the_flag(changes: dict[str, Any], flag: str) -> None:
    fields: dict[str, Any] = {"url": "ws://h/local", "bots": 4, "matches": 1, "duration_s": 1.0}
    fields["secret"] = SECRET
    with pytest.raises(ConfigError, match=flag):
        SwarmConfig(**(fields | changes))


async def test_local_secret_by_default_and_the_measured_seconds_agree(
    ack_server: Any, tmp_path: Path
) -> None:
    """No --secret, no TICKWIRE_JWT_SECRET, no --token-url: tokens from the local dev
    secret (as tickwire token and up). --duration 1.5 with 1 s intervals measures 2 s,
    and the header says so as the summary does."""
    (tmp_path / "jwt-secret").write_text(SECRET + "\n")
    env = {k: v for k, v in os.environ.items() if k != "TICKWIRE_JWT_SECRET"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire", "swarm",
        "--url", ack_server.url, "--state-dir", str(tmp_path), "--bots", "2",
        "--duration", "1.5", "--interval", "1", "--tick-rate", "20", "--p99-limit", "5000",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    text = out.decode()
    assert ack_server.connects == 2 and ack_server.refused == 0, text + err.decode()
    header = text.splitlines()[0]
    assert "measured 2 s" in header, header
    assert "tokens: minted with the local dev secret" in text
    assert "measured 2 s:" in text  # the summary line
