"""The $connect authorizer: a Lambda REQUEST handler that checks the player's JWT.

It runs as the API's authorizer function on AWS and in the local gateway (which calls it
through its Lambda runtime). Identity comes only from the signed token
(``route.request.querystring.token``); the answer follows API Gateway's contract:

| situation                                                      | answer            |
|----------------------------------------------------------------|-------------------|
| token missing, malformed, bad signature, algorithm not pinned,  | ``raise Exception("Unauthorized")`` -> 401 |
| expired, not yet valid (``nbf``), wrong ``aud``/``iss``,        |                   |
| a required claim (``exp``, ``sub``, ``match``) missing or bad   |                   |
| valid token, but Origin not allowed or ``match`` query mismatch | Deny policy -> 403 |
| valid and allowed                                               | Allow policy for the ``methodArn``, context ``{playerId, matchId}`` |

Hardening (reliability.md, promise 5): the accepted algorithms are pinned by
configuration and never read from the token; each algorithm family has its own key
(HMAC: the secret; RSA/EC: the public key), so a token "HS256-signed with the public key"
or with ``alg: none`` never verifies; ``exp`` is required; leeway is small.

Configuration is read from the environment once per cold start (:func:`config`), as a
Lambda should; tests call :func:`reset_config` after changing the environment.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

__all__ = [
    "AuthConfig",
    "ConfigError",
    "Decision",
    "Unauthorized",
    "config",
    "decide",
    "handler",
    "policy",
    "reset_config",
    "verify",
]

log = logging.getLogger(__name__)

# Algorithms this authorizer can be configured with. "none" is never among them.
HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_LEEWAY_S: Final = 10.0
# RFC 7518 section 3.2: an HMAC key must be at least as long as the hash (32 bytes for HS256).
MIN_SECRET_BYTES: Final = 32
# Ids end up in partition keys (Kinesis: at most 256 characters) and JSON records.
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


class ConfigError(Exception):
    """The authorizer's environment is unusable (a cold start fails: 500, not 401)."""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    algorithms: tuple[str, ...] = ("HS256",)
    secret: str | None = None
    public_key: str | None = None
    audience: str = "tickwire"
    issuer: str = "tickwire"
    leeway: float = DEFAULT_LEEWAY_S
    # exact origins ("https://play.example.com"); empty: no Origin check
    allowed_origins: frozenset[str] = frozenset()
    # with an allow-list, whether a request without Origin (not a browser) may connect
    allow_missing_origin: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthConfig:
        algorithms = tuple(
            a.strip() for a in env.get("TICKWIRE_JWT_ALGORITHMS", "HS256").split(",") if a.strip()
        )
        unknown = [a for a in algorithms if a not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS]
        if not algorithms or unknown:
            raise ConfigError(f"TICKWIRE_JWT_ALGORITHMS: unsupported {unknown or 'empty list'}")
        secret = env.get("TICKWIRE_JWT_SECRET") or None
        public_key = (env.get("TICKWIRE_JWT_PUBLIC_KEY") or "").replace("\\n", "\n") or None
        if HMAC_ALGORITHMS.intersection(algorithms):
            if secret is None:
                raise ConfigError("TICKWIRE_JWT_SECRET is required for HMAC algorithms")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"TICKWIRE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        if PUBLIC_KEY_ALGORITHMS.intersection(algorithms) and public_key is None:
            raise ConfigError("TICKWIRE_JWT_PUBLIC_KEY is required for public-key algorithms")
        try:
            leeway = float(env.get("TICKWIRE_JWT_LEEWAY", DEFAULT_LEEWAY_S))
        except ValueError as exc:
            raise ConfigError("TICKWIRE_JWT_LEEWAY must be a number of seconds") from exc
        origins = frozenset(
            o.strip().rstrip("/").lower()
            for o in env.get("TICKWIRE_ALLOWED_ORIGINS", "").split(",")
            if o.strip()
        )
        return cls(
            algorithms=algorithms,
            secret=secret,
            public_key=public_key,
            audience=env.get("TICKWIRE_JWT_AUDIENCE", "tickwire"),
            issuer=env.get("TICKWIRE_JWT_ISSUER", "tickwire"),
            leeway=leeway,
            allowed_origins=origins,
            allow_missing_origin=env.get("TICKWIRE_ALLOW_MISSING_ORIGIN", "") in ("1", "true"),
        )

    def key_for(self, algorithm: str) -> str:
        # Each family verifies only with its own key: the key-confusion attack needs the
        # public key accepted as an HMAC secret, which never happens here.
        key = self.secret if algorithm in HMAC_ALGORITHMS else self.public_key
        assert key is not None  # from_env guarantees a key for every configured algorithm
        return key


_config: AuthConfig | None = None


def config() -> AuthConfig:
    """The configuration of this cold start, read from the environment on first use."""
    global _config
    if _config is None:
        _config = AuthConfig.from_env(os.environ)
    return _config


def reset_config() -> None:
    """Forget the cached configuration (tests; a new cold start)."""
    global _config
    _config = None


class Unauthorized(Exception):
    """The token is not acceptable (401). ``reason`` is for logs only."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    player: str
    match: str
    reason: str = ""


def _first(params: Any, name: str) -> str | None:
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == name and isinstance(value, str):
                return value
    return None


def verify(token: str, cfg: AuthConfig) -> tuple[str, str]:
    """The (player, match) of a valid token, or :class:`Unauthorized`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"malformed token: {exc}") from exc
    algorithm = header.get("alg")
    if algorithm not in cfg.algorithms:
        raise Unauthorized(f"algorithm {algorithm!r} not accepted")
    try:
        claims = jwt.decode(
            token,
            cfg.key_for(algorithm),
            algorithms=[algorithm],
            audience=cfg.audience,
            issuer=cfg.issuer,
            leeway=cfg.leeway,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"{type(exc).__name__}: {exc}") from exc
    player, match = claims.get("sub"), claims.get("match")
    for name, value in (("sub", player), ("match", match)):
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            raise Unauthorized(f"claim {name!r} missing or not an id")
    assert isinstance(player, str) and isinstance(match, str)
    return player, match


def decide(event: Mapping[str, Any], cfg: AuthConfig) -> Decision:
    """The pure decision for one authorizer event (raises :class:`Unauthorized`)."""
    query = event.get("queryStringParameters")
    token = _first(query, "token")
    if not token:
        raise Unauthorized("no token")
    player, match = verify(token, cfg)
    if cfg.allowed_origins:
        origin = _first(event.get("headers"), "origin")
        if origin is None:
            if not cfg.allow_missing_origin:
                return Decision(False, player, match, "no Origin header")
        elif origin.rstrip("/").lower() not in cfg.allowed_origins:
            return Decision(False, player, match, f"origin {origin[:100]!r} not allowed")
    wanted = _first(query, "match")
    if wanted is not None and wanted != match:
        return Decision(False, player, match, "token is for another match")
    return Decision(True, player, match)


def policy(decision: Decision, method_arn: str) -> dict[str, Any]:
    """The authorizer output API Gateway expects."""
    out: dict[str, Any] = {
        "principalId": decision.player,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if decision.allow else "Deny",
                    "Resource": method_arn,
                }
            ],
        },
    }
    if decision.allow:
        out["context"] = {"playerId": decision.player, "matchId": decision.match}
    return out


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (``ingest.authorizer.handler``)."""
    cfg = config()
    method_arn = event.get("methodArn")
    if not isinstance(method_arn, str):
        raise Exception("Unauthorized")
    try:
        decision = decide(event, cfg)
    except Unauthorized as exc:
        log.info("refused (401): %s", exc.reason)
        # API Gateway maps exactly this message to 401 Unauthorized.
        raise Exception("Unauthorized") from None
    if not decision.allow:
        log.info(
            "denied (403) player=%s match=%s: %s", decision.player, decision.match, decision.reason
        )
    return policy(decision, method_arn)
