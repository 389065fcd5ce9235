"""Checking AWS Signature Version 4 on ``@connections`` calls (pure; hashlib and hmac).

By default the gateway only checks that a call carries a SigV4 ``Authorization`` header
for the ``execute-api`` service (AWS answers unsigned calls 403). Given the secret keys
it should know (``GatewaySettings.sigv4_secrets``: access key id -> secret), it verifies
the signature itself, the way AWS does: canonical request (method, path URI-encoded twice
as botocore signs non-S3 services, sorted query, the signed headers, the payload hash),
string to sign, HMAC key chain, and a request time within 5 minutes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

__all__ = ["MAX_CLOCK_SKEW_S", "verify_sigv4"]

# SigV4: a request more than 5 minutes from the server's clock is refused.
MAX_CLOCK_SKEW_S = 300
_ALGORITHM = "AWS4-HMAC-SHA256"


def _parse_authorization(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in header[len(_ALGORITHM) :].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    return fields


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: the same for a key, day, region and service (cached)."""
    return _hmac(
        _hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request"
    )


def _amz_time(text: str) -> _dt.datetime | None:
    """``X-Amz-Date`` (``YYYYMMDDTHHMMSSZ``) as a UTC time, or None when malformed.
    (``datetime.strptime`` did the same at a third of the verification's cost.)"""
    if len(text) != 16 or not text.isascii() or text[8] != "T" or text[15] != "Z":
        return None
    if not text[:8].isdigit():
        return None
    clock = text[9:15]
    if not clock.isdigit():
        return None
    try:
        return _dt.datetime(
            int(text[0:4]), int(text[4:6]), int(text[6:8]),
            int(clock[0:2]), int(clock[2:4]), int(clock[4:6]), tzinfo=_dt.UTC,
        )  # fmt: skip
    except ValueError:
        return None


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Mapping[str, str],
    now: _dt.datetime | None = None,
) -> str | None:
    """None when the request is validly signed by a known key, else the reason.

    ``raw_path`` is the path and query exactly as sent; ``headers`` is case-insensitive
    (aiohttp's ``CIMultiDict``).
    """
    header = headers.get("Authorization", "")
    if not header.startswith(_ALGORITHM + " "):
        return "Missing Authentication Token"
    fields = _parse_authorization(header)
    try:
        access_key, date, region, service, terminal = fields["Credential"].split("/")
        signed_names = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        return "Authorization header is malformed"
    if service != "execute-api" or terminal != "aws4_request":
        return "Credential should be scoped to correct service: 'execute-api'"
    secret = secrets.get(access_key)
    if secret is None:
        return "The security token included in the request is invalid"
    amz_date = headers.get("X-Amz-Date", "")
    moment = _amz_time(amz_date)
    if moment is None:
        return "X-Amz-Date is missing or malformed"
    current = now or _dt.datetime.now(_dt.UTC)
    if abs((current - moment).total_seconds()) > MAX_CLOCK_SKEW_S or amz_date[:8] != date:
        return "Signature expired"
    path, _, query = raw_path.partition("?")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(parse_qsl(query, keep_blank_values=True))
    )
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_names
    )
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        (
            method.upper(),
            quote(path or "/", safe="/~"),
            canonical_query,
            canonical_headers,
            ";".join(signed_names),
            payload_hash,
        )
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    key = _signing_key(secret, date, region, service)
    expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided."
    return None
