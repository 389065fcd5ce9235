"""The AWS credentials the local gateway accepts on ``@connections`` calls.

AWS verifies every ``@connections`` call's SigV4 signature against the caller's IAM
credentials; the local gateway does the same by default, against the keys it knows:

- the credentials of its own process, which its Lambda workers inherit (so a handler
  calling ``@connections`` with boto3 works unchanged), and any it gives them explicitly
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in the runtime's extra environment);
- a local key pair for tools and other processes (``tickwire worker``, scripts), which
  ``tickwire gateway`` prints as ``export`` lines. It is derived from the local secret
  in the state folder (``~/.tickwire/jwt-secret``, mode 0600), so every process of one
  machine and user agrees on it without another file, and nobody else can compute it.

``GatewaySettings.sigv4_secrets`` replaces all of these with an explicit map.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from ingest.tokens import local_secret

__all__ = ["LocalCredentials", "known_secrets", "local_credentials"]

# AWS access key ids are 20 upper-case letters and digits; "ASIA"/"AKIA" mean IAM keys,
# so the local ones start with something AWS never issues.
_KEY_PREFIX = "TWLOCAL"


class LocalCredentials:
    """The local key pair for tools (``export_lines`` prints it for a shell)."""

    def __init__(self, access_key_id: str, secret_access_key: str) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def export_lines(self) -> list[str]:
        return [
            f"export AWS_ACCESS_KEY_ID={self.access_key_id}",
            f"export AWS_SECRET_ACCESS_KEY={self.secret_access_key}",
        ]


def local_credentials(state_dir: Path | None = None) -> LocalCredentials:
    """The machine's local key pair, derived from the local secret (created if missing)."""
    secret = local_secret(state_dir).encode()

    def derive(label: str) -> str:
        return hmac.new(secret, label.encode(), hashlib.sha256).hexdigest().upper()

    return LocalCredentials(_KEY_PREFIX + derive("aws-access-key-id")[:13], derive("aws-secret"))


def known_secrets(state_dir: Path | None, extra_env: Mapping[str, str]) -> dict[str, str]:
    """Access key id -> secret: the local pair, the process's own credentials and those
    in ``extra_env`` (what the gateway gives its Lambda workers)."""
    import botocore.session

    local = local_credentials(state_dir)
    known = {local.access_key_id: local.secret_access_key}
    found = botocore.session.get_session().get_credentials()
    if found is not None:
        frozen = found.get_frozen_credentials()
        known[frozen.access_key] = frozen.secret_key
    key, secret = extra_env.get("AWS_ACCESS_KEY_ID"), extra_env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        known[key] = secret
    return known
