"""The ``tickwire`` command line: lazy subcommands, start-up errors as one line, flag names."""

from __future__ import annotations

import argparse
import json
import pkgutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tickwire import commands
from tickwire.cli import build_parser, main
from tickwire.commands import COMMANDS, plain_help


def _tickwire(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tickwire", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_the_command_table_lists_every_module_with_its_own_help() -> None:
    modules = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    assert set(COMMANDS) == modules
    parser = build_parser()  # every command registered fully
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    assert helps == COMMANDS


def test_help_imports_no_subcommand_module() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from tickwire.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tickwire.commands.', "
        "'infra', 'broadcaster', 'game_engine', 'swarm', 'numpy', 'aiohttp'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    listed = _tickwire("--help").stdout
    for name in COMMANDS:
        assert name in listed


def test_a_command_runs_with_only_its_module_registered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--match", "m1", "--player", "p1", "--secret", "x" * 32]) == 0
    assert capsys.readouterr().out.count(".") == 2  # a JWT
    assert main([]) == 2  # no command: the help, exit 2


@pytest.mark.parametrize("name", ["up", "worker"])
def test_help_shows_no_restructured_text(name: str) -> None:
    out = _tickwire(name, "--help")
    assert out.returncode == 0
    assert "``" not in out.stdout and ":mod:" not in out.stdout and ":class:" not in out.stdout


def test_plain_help() -> None:
    assert plain_help("see :mod:`tickwire.embedded`, ``--port`` and :class:`~a.b.C`") == (
        "see tickwire.embedded, --port and C"
    )


def test_gateway_on_a_taken_port_says_which_and_the_flag(taken_port: int) -> None:
    out = _tickwire("gateway", "--api", "examples.chat.api:chat_api", "--port", str(taken_port))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"tickwire gateway: port {taken_port} on 127.0.0.1 is already in use (another "
        "tickwire, or another server?); choose a free one with --port N"
    ]


def test_gateway_names_the_tls_port_when_that_one_is_taken(taken_port: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    out = _tickwire(
        "gateway", "--api", "examples.chat.api:chat_api", "--port", str(free),
        "--tls-port", str(taken_port),
    )  # fmt: skip
    assert out.returncode == 1
    assert f"port {taken_port} on 127.0.0.1 is already in use" in out.stderr
    assert "--tls-port N" in out.stderr and "Traceback" not in out.stderr


def test_up_on_a_taken_port_says_which_and_the_flag(taken_port: int, tmp_path: Path) -> None:
    out = _tickwire("up", "--port", str(taken_port), "--state-dir", str(tmp_path))
    assert out.returncode == 1
    assert (
        f"tickwire up: port {taken_port} on 127.0.0.1 is already in use (another tickwire, "
        "or another server?); choose a free one with --port N"
    ) in out.stderr
    assert "Traceback" not in out.stderr


def test_rules_that_are_not_rules_are_one_clear_line(tmp_path: Path) -> None:
    out = _tickwire("up", "--port", "0", "--state-dir", str(tmp_path), "--rules", "json:dumps")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "tickwire up: json:dumps is not a rules object" in out.stderr


def test_one_flag_name_per_setting_old_names_still_work() -> None:
    from tickwire.commands.gateway import build_settings

    gateway = build_parser("gateway")
    new = gateway.parse_args(["gateway", "--account-rate", "50000"])
    old = gateway.parse_args(["gateway", "--account-rate-per-s", "40000"])
    assert build_settings(new).account_rate_per_s == 50000
    assert build_settings(old).account_rate_per_s == 40000
    assert "--account-rate-per-s" not in _tickwire("gateway", "--help").stdout

    worker = build_parser("worker")
    assert worker.parse_args(["worker", "--match-size", "8"]).match_size == 8
    assert worker.parse_args(["worker", "--max-players", "4"]).match_size == 4
    assert worker.parse_args(["worker"]).match_size == 16
    assert "--max-players" not in _tickwire("worker", "--help").stdout


def test_version() -> None:
    out = _tickwire("--version")
    assert out.returncode == 0 and out.stdout.startswith("tickwire ")
    json.dumps(COMMANDS)  # plain data: the table is what --help lists


def test_gateway_stops_on_sigint_and_a_second_one_is_not_needed() -> None:
    """The gateway drains on the first SIGINT and exits 0 (tickwire.signals)."""
    import signal
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tickwire", "gateway", "--api", "examples.chat.api:chat_api",
         "--port", str(port), "--no-lambda-prewarm"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("WebSocket:")
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
        assert proc.stderr is not None
        assert "SIGINT received, stopping (again to exit at once)" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
