"""Fixtures shared by every test folder.

``moto_endpoint`` starts one ``moto_server`` (moto's HTTP server) on 127.0.0.1 for the
session, for tests that need AWS APIs over the wire (aioboto3, other processes);
in-process tests use ``moto.mock_aws`` directly.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis on a shared, noisy 2-core machine: no per-example deadline (timing is not a
# property), and in CI (CI=true) a fixed seed, so a run is reproducible and a property
# failure found by chance in one run is not an unrelated submission's red CI.
settings.register_profile("tickwire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", parent=settings.get_profile("tickwire"), derandomize=True, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") else "tickwire")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """HOME in a temp folder: a test that starts tickwire without ``state_dir`` never
    writes the developer's ~/.tickwire (local JWT secret, local CA)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(autouse=True)
def _aws_test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so no test can reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto_server on 127.0.0.1, shared by the session; state is reset per test
    by the ``moto_reset`` fixture when a test needs a clean account."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_reset(moto_endpoint: str) -> str:
    """A clean moto_server account for this test."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    ).read()
    return moto_endpoint


@pytest.fixture
def unused_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return free_port()
