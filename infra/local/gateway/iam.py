"""``AuthorizationType: AWS_IAM`` on ``$connect``: the upgrade request's SigV4 signature.

Two ways to sign a WebSocket upgrade, both for the ``execute-api`` service:

- an ``Authorization`` header (clients that can set headers: boto3's signer, Node's
  ``@aws-sdk/signature-v4``);
- a presigned URL: ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders`` and ``X-Amz-Signature`` in the query string
  (browsers, which cannot set headers on a WebSocket). The URL is valid for
  ``X-Amz-Expires`` seconds from ``X-Amz-Date``; its payload hash is ``UNSIGNED-PAYLOAD``
  (botocore's presigner) or the empty body's (signers that hash the body).

Signatures are checked against the keys the gateway knows (``GatewaySettings.sigv4_secrets``,
else :func:`~.credentials.known_secrets`); IAM policies are not evaluated. The caller's
identity fields (``accessKey``, ``accountId``, ``caller``, ``user``, ``userArn``) are
filled on every later event of the connection: locally the access key stands for the IAM
user that owns it, in the API's account.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from .credentials import known_secrets
from .sigv4 import MAX_CLOCK_SKEW_S, verify_sigv4

__all__ = ["ConnectVerifier", "iam_identity"]

_UNSIGNED = "UNSIGNED-PAYLOAD"
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()
# SigV4 presigned URLs live at most 7 days.
MAX_EXPIRES_S = 7 * 24 * 3600


def iam_identity(access_key: str, account_id: str) -> dict[str, str]:
    """The identity members AWS fills for an IAM caller."""
    return {
        "accessKey": access_key,
        "accountId": account_id,
        "caller": access_key,
        "user": access_key,
        "userArn": f"arn:aws:iam::{account_id}:user/{access_key}",
    }


def _last(values: Mapping[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in values.items() if v}


class _Headers(dict[str, str]):
    """Case-insensitive ``get`` (what :func:`verify_sigv4` reads headers with)."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        lowered = key.lower()
        return next((v for k, v in self.items() if k.lower() == lowered), default)


class ConnectVerifier:
    """Verifies ``$connect`` signatures for one gateway (keys read once, at first use:
    the Lambda runtime's environment is complete by then)."""

    def __init__(
        self,
        secrets: Mapping[str, str] | None,
        state_dir: Path | None,
        extra_env: Mapping[str, str],
    ) -> None:
        self._secrets = secrets
        self._state_dir = state_dir
        self._extra_env = extra_env

    @property
    def secrets(self) -> Mapping[str, str]:
        if self._secrets is None:
            self._secrets = known_secrets(self._state_dir, self._extra_env)
        return self._secrets

    def verify(
        self,
        path: str,
        headers: Mapping[str, list[str]],
        query: Mapping[str, list[str]],
        now: _dt.datetime | None = None,
    ) -> tuple[str | None, str]:
        """(the access key id of a valid signature, "") or (None, why it is refused)."""
        flat_headers = _Headers(_last(headers))
        flat_query = _last(query)
        if "X-Amz-Signature" in flat_query:
            return self._presigned(path, flat_headers, flat_query, now)
        raw_path = path + ("?" + urlencode(flat_query) if flat_query else "")
        reason = verify_sigv4(method="GET", raw_path=raw_path, headers=flat_headers, body=b"",
                              secrets=self.secrets, now=now)  # fmt: skip
        if reason is not None:
            return None, reason
        credential = (flat_headers.get("Authorization") or "").split("Credential=", 1)[-1]
        return credential.split("/", 1)[0], ""

    def _presigned(
        self,
        path: str,
        headers: _Headers,
        query: dict[str, str],
        now: _dt.datetime | None,
    ) -> tuple[str | None, str]:
        """A presigned URL is the header form with its fields in the query string: it is
        checked as that header form (the canonical query keeps every X-Amz-* parameter
        but the signature), after its own expiry rule replaces the 5-minute skew."""
        try:
            credential = query["X-Amz-Credential"]
            amz_date = query["X-Amz-Date"]
            expires = int(query.get("X-Amz-Expires", "900"))
            signed = query["X-Amz-SignedHeaders"]
            signature = query["X-Amz-Signature"]
        except (KeyError, ValueError):
            return None, "presigned URL is malformed"
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return None, "X-Amz-Algorithm must be AWS4-HMAC-SHA256"
        try:
            signed_at = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.UTC)
        except ValueError:
            return None, "X-Amz-Date is malformed"
        current = now or _dt.datetime.now(_dt.UTC)
        age = (current - signed_at).total_seconds()
        if not 0 < expires <= MAX_EXPIRES_S or age > expires or age < -MAX_CLOCK_SKEW_S:
            return None, "Signature expired"
        rest = {k: v for k, v in query.items() if k != "X-Amz-Signature"}
        raw_path = path + "?" + urlencode(rest)
        authorization = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
            f"Signature={signature}"
        )
        reason = "no payload hash matched"
        for payload_hash in (_UNSIGNED, _EMPTY_HASH):
            as_header = _Headers({**headers, "Authorization": authorization, "X-Amz-Date": amz_date,
                                  "X-Amz-Content-SHA256": payload_hash})  # fmt: skip
            found = verify_sigv4(method="GET", raw_path=raw_path, headers=as_header, body=b"",
                                 secrets=self.secrets, now=signed_at)  # fmt: skip
            if found is None:
                return credential.split("/", 1)[0], ""
            reason = found
        return None, reason
