"""Minting player tokens (the JWTs the authorizer checks) and the local dev secret.

``mint`` is what a game's matchmaker does on AWS (with its own secret) and what
``tickwire token`` and the tests do locally. The local dev secret lives in
``~/.tickwire/jwt-secret`` (32 random bytes, hex, mode 0600), created on first use, so
``tickwire up`` and ``tickwire token`` agree without configuration.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Final

import jwt

from ingest.authorizer import ID_PATTERN, MIN_SECRET_BYTES

__all__ = ["DEFAULT_STATE_DIR", "SECRET_FILE", "local_secret", "mint", "resolve_secret"]

DEFAULT_STATE_DIR: Final = Path("~/.tickwire")
SECRET_FILE: Final = "jwt-secret"
# RFC 7518 section 3.2: an HS256 key should be at least 256 bits.
SECRET_BYTES: Final = 32


def mint(
    secret: str,
    *,
    match: str,
    player: str,
    ttl: int = 3600,
    audience: str = "tickwire",
    issuer: str = "tickwire",
) -> str:
    """An HS256 token for ``player`` in ``match``, valid for ``ttl`` seconds.

    Raises ValueError for a secret shorter than the authorizer accepts (32 bytes): every
    token signed with it would be refused at ``$connect``.
    """
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"the secret is {len(secret.encode())} bytes; the authorizer needs at least "
            f"{MIN_SECRET_BYTES} (RFC 7518 section 3.2), so tokens signed with it would be "
            "refused: try `openssl rand -hex 32`"
        )
    for name, value in (("match", match), ("player", player)):
        if not ID_PATTERN.fullmatch(value):
            raise ValueError(f"{name} must match {ID_PATTERN.pattern}")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    now = int(time.time())
    claims = {
        "sub": player,
        "match": match,
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def local_secret(state_dir: Path | None = None) -> str:
    """The local dev secret, created (32 random bytes, hex) on first use."""
    directory = (state_dir or DEFAULT_STATE_DIR).expanduser()
    path = directory / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(SECRET_BYTES)
    try:
        # O_EXCL: two processes starting at once agree on the first one's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def resolve_secret(explicit: str | None = None, state_dir: Path | None = None) -> str:
    """``explicit``, else TICKWIRE_JWT_SECRET, else the local dev secret."""
    return explicit or os.environ.get("TICKWIRE_JWT_SECRET") or local_secret(state_dir)
