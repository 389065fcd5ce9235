"""Minting, the local dev secret, and ``tickwire token``."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from ingest import authorizer
from ingest.tokens import local_secret, mint, resolve_secret
from tickwire.cli import main


def test_mint_claims() -> None:
    token = mint("k" * 32, match="m1", player="p1", ttl=60)
    claims = jwt.decode(
        token, "k" * 32, algorithms=["HS256"], audience="tickwire", issuer="tickwire"
    )
    assert claims["sub"] == "p1" and claims["match"] == "m1"
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


@pytest.mark.parametrize("bad", [{"match": ""}, {"player": 'a"b'}, {"ttl": 0}])
def test_mint_rejects_bad_input(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"match": "m", "player": "p", **bad}
    with pytest.raises(ValueError):
        mint("k" * 32, **args)  # type: ignore[arg-type]


def test_local_secret_created_once(tmp_path: Path) -> None:
    first = local_secret(tmp_path / "state")
    assert len(bytes.fromhex(first)) == 32
    path = tmp_path / "state" / "jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret(tmp_path / "state") == first


def test_resolve_secret_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKWIRE_JWT_SECRET", raising=False)
    assert resolve_secret(None, tmp_path) == local_secret(tmp_path)
    monkeypatch.setenv("TICKWIRE_JWT_SECRET", "e" * 32)
    assert resolve_secret(None, tmp_path) == "e" * 32
    assert resolve_secret("x" * 32, tmp_path) == "x" * 32


def test_token_command_mints_what_the_authorizer_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TICKWIRE_JWT_SECRET", raising=False)
    assert (
        main(
            [
                "token",
                "--match",
                "m9",
                "--player",
                "alice",
                "--ttl",
                "120",
                "--state-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    monkeypatch.setenv("TICKWIRE_JWT_SECRET", local_secret(tmp_path))
    authorizer.reset_config()
    try:
        out = authorizer.handler(
            {
                "methodArn": "arn:aws:execute-api:r:1:a/s/$connect",
                "queryStringParameters": {"token": token},
            },
            None,
        )
    finally:
        authorizer.reset_config()
    assert out["context"] == {"playerId": "alice", "matchId": "m9"}
    assert main(["token", "--match", "bad match", "--player", "p", "--secret", "k" * 32]) == 2


def test_a_secret_the_authorizer_would_refuse_is_refused_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="5 bytes; the authorizer needs at least 32"):
        mint("short", match="m1", player="p1")
    assert main(["token", "--match", "m", "--player", "p", "--secret", "s3cr3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tickwire token: the secret is 5 bytes") and "Traceback" not in err
