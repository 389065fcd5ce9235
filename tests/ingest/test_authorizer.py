"""The JWT authorizer, called as API Gateway calls it: every negative of reliability.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.local.gateway.authorizer import evaluate_policy
from ingest import authorizer
from ingest.authorizer import AuthConfig, ConfigError, handler
from ingest.tokens import mint

SECRET = "s" * 40
ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef/prod/$connect"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in (
        "TICKWIRE_JWT_ALGORITHMS",
        "TICKWIRE_JWT_PUBLIC_KEY",
        "TICKWIRE_ALLOWED_ORIGINS",
        "TICKWIRE_JWT_AUDIENCE",
        "TICKWIRE_JWT_ISSUER",
        "TICKWIRE_JWT_LEEWAY",
        "TICKWIRE_ALLOW_MISSING_ORIGIN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TICKWIRE_JWT_SECRET", SECRET)
    authorizer.reset_config()
    yield monkeypatch
    authorizer.reset_config()


def event(
    token: str | None, *, origin: str | None = None, match: str | None = None
) -> dict[str, Any]:
    query: dict[str, str] = {}
    if token is not None:
        query["token"] = token
    if match is not None:
        query["match"] = match
    headers = {"Host": "abcdef.execute-api.us-east-1.amazonaws.com"}
    if origin is not None:
        headers["Origin"] = origin
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT"},
    }


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "p1",
        "match": "m1",
        "aud": "tickwire",
        "iss": "tickwire",
        "iat": now,
        "exp": now + 600,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand (PyJWT refuses to make these, an attacker does not)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def refused_401(ev: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler(ev, None)


def denied_403(ev: dict[str, Any]) -> dict[str, Any]:
    out = handler(ev, None)
    assert out["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert not evaluate_policy(out["policyDocument"], ARN)
    assert "context" not in out
    return out


def test_valid_token_allows_with_context(env: pytest.MonkeyPatch) -> None:
    out = handler(event(mint(SECRET, match="m1", player="p1")), None)
    assert out["principalId"] == "p1"
    assert out["context"] == {"playerId": "p1", "matchId": "m1"}
    assert evaluate_policy(out["policyDocument"], ARN)  # the gateway's own IAM evaluation


def test_alg_none_refused(env: pytest.MonkeyPatch) -> None:
    refused_401(event(forge({"alg": "none", "typ": "JWT"}, claims(), None)))
    refused_401(event(forge({"alg": "None", "typ": "JWT"}, claims(), None)))


@pytest.mark.parametrize("algorithms", ["RS256", "HS256,RS256"])
def test_hs256_signed_with_public_key_refused(
    env: pytest.MonkeyPatch, rsa_keys: tuple[bytes, str], algorithms: str
) -> None:
    private, public = rsa_keys
    env.setenv("TICKWIRE_JWT_ALGORITHMS", algorithms)
    env.setenv("TICKWIRE_JWT_PUBLIC_KEY", public)
    authorizer.reset_config()
    refused_401(event(forge({"alg": "HS256", "typ": "JWT"}, claims(), public.encode())))
    # the genuine RS256 token is accepted
    good = jwt.encode(claims(), private, algorithm="RS256")
    assert handler(event(good), None)["context"]["playerId"] == "p1"


def test_rs256_refused_when_only_hs256_configured(
    env: pytest.MonkeyPatch, rsa_keys: tuple[bytes, str]
) -> None:
    refused_401(event(jwt.encode(claims(), rsa_keys[0], algorithm="RS256")))


@pytest.mark.parametrize(
    "payload",
    [
        claims(exp=int(time.time()) - 120),  # expired beyond leeway
        claims(nbf=int(time.time()) + 600),  # not valid yet
        claims(aud="someone-else"),
        claims(iss="evil"),
        claims(exp=None),  # exp missing
        claims(aud=None),
        claims(sub=None),
        claims(match=None),
        claims(match=7),
        claims(sub='p1","x":"y'),  # not an id: would break records and keys
        claims(match="m" * 200),
    ],
    ids=[
        "expired",
        "future-nbf",
        "wrong-aud",
        "wrong-iss",
        "no-exp",
        "no-aud",
        "no-sub",
        "no-match",
        "match-not-string",
        "sub-not-id",
        "match-too-long",
    ],
)
def test_bad_claims_refused(env: pytest.MonkeyPatch, payload: dict[str, Any]) -> None:
    refused_401(event(jwt.encode(payload, SECRET, algorithm="HS256")))


def test_leeway_is_small_and_set(env: pytest.MonkeyPatch) -> None:
    just_expired = jwt.encode(claims(exp=int(time.time()) - 3), SECRET, algorithm="HS256")
    assert handler(event(just_expired), None)["context"]["matchId"] == "m1"
    env.setenv("TICKWIRE_JWT_LEEWAY", "0")
    authorizer.reset_config()
    refused_401(event(just_expired))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "e30.e30.", "x" * 5000, None])
def test_malformed_or_missing_refused(env: pytest.MonkeyPatch, token: str | None) -> None:
    refused_401(event(token))


def test_wrong_secret_and_tampering_refused(env: pytest.MonkeyPatch) -> None:
    refused_401(event(mint("w" * 40, match="m1", player="p1")))
    good = mint(SECRET, match="m1", player="p1")
    head, _, sig = good.split(".")
    forged_body = b64(json.dumps(claims(sub="admin")).encode())
    refused_401(event(f"{head}.{forged_body}.{sig}"))


def test_token_for_another_match_denied(env: pytest.MonkeyPatch) -> None:
    token = mint(SECRET, match="m1", player="p1")
    denied_403(event(token, match="m2"))
    assert handler(event(token, match="m1"), None)["context"]["matchId"] == "m1"


def test_origin_allow_list(env: pytest.MonkeyPatch) -> None:
    env.setenv("TICKWIRE_ALLOWED_ORIGINS", "https://good.example.com, http://localhost:8080")
    authorizer.reset_config()
    token = mint(SECRET, match="m1", player="p1")
    assert handler(event(token, origin="https://good.example.com"), None)["context"]
    assert handler(event(token, origin="HTTPS://GOOD.example.com/"), None)["context"]
    assert handler(event(token, origin="http://localhost:8080"), None)["context"]
    for bad in [
        "https://good.example.com.evil",
        "https://evil.com",
        "http://good.example.com",
        "https://good.example.com:8443",
        "null",
        "",
    ]:
        denied_403(event(token, origin=bad))
    denied_403(event(token))  # no Origin while a list is set
    env.setenv("TICKWIRE_ALLOW_MISSING_ORIGIN", "1")
    authorizer.reset_config()
    assert handler(event(token), None)["context"]
    denied_403(event(token, origin="https://good.example.com.evil"))


def test_origin_header_name_is_case_insensitive(env: pytest.MonkeyPatch) -> None:
    env.setenv("TICKWIRE_ALLOWED_ORIGINS", "https://good.example.com")
    authorizer.reset_config()
    ev = event(mint(SECRET, match="m1", player="p1"))
    ev["headers"]["origin"] = "https://good.example.com.evil"
    denied_403(ev)


def test_config_is_read_once_per_cold_start(env: pytest.MonkeyPatch) -> None:
    token = mint(SECRET, match="m1", player="p1")
    handler(event(token), None)
    env.setenv("TICKWIRE_JWT_SECRET", "z" * 40)
    assert handler(event(token), None)["context"]  # still the cached secret
    authorizer.reset_config()
    refused_401(event(token))


@pytest.mark.parametrize(
    "environ",
    [
        {"TICKWIRE_JWT_SECRET": "short"},
        {"TICKWIRE_JWT_ALGORITHMS": "none", "TICKWIRE_JWT_SECRET": SECRET},
        {"TICKWIRE_JWT_ALGORITHMS": "RS256"},
        {"TICKWIRE_JWT_ALGORITHMS": "", "TICKWIRE_JWT_SECRET": SECRET},
        {},
        {"TICKWIRE_JWT_SECRET": SECRET, "TICKWIRE_JWT_LEEWAY": "soon"},
    ],
)
def test_bad_configuration_fails_the_cold_start(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        AuthConfig.from_env(environ)


def test_audience_and_issuer_are_settings(env: pytest.MonkeyPatch) -> None:
    env.setenv("TICKWIRE_JWT_AUDIENCE", "arena")
    env.setenv("TICKWIRE_JWT_ISSUER", "lobby")
    authorizer.reset_config()
    refused_401(event(mint(SECRET, match="m1", player="p1")))
    ok = mint(SECRET, match="m1", player="p1", audience="arena", issuer="lobby")
    assert handler(event(ok), None)["context"]["playerId"] == "p1"


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=300), origin=st.one_of(st.none(), st.text(max_size=50)))
def test_any_token_is_refused_cleanly(token: str, origin: str | None) -> None:
    authorizer._config = AuthConfig(secret=SECRET)  # the fixture can't wrap @given examples
    try:
        handler(event(token, origin=origin), None)
    except Exception as exc:
        assert str(exc) == "Unauthorized" and type(exc) is Exception
    finally:
        authorizer.reset_config()
