"""SigV4 for ``POST {endpoint}/@connections/{id}``, precomputed for a hot loop.

Produces the same ``Authorization`` header as botocore's ``SigV4Auth`` for the request
botocore itself would build (tests compare the two byte for byte): the path as botocore
sends it (``/{stage}/@connections/`` + the id percent-encoded with only ``-_.~`` and
alphanumerics left as is), the canonical path being that path quoted once more (the
"double encoding" of every service but S3), signed headers ``host;x-amz-date`` plus
``x-amz-security-token`` when the credentials have a token, and the SHA-256 of the body.

What is computed once: the canonical path and URL per connection id (a bounded cache),
the signing key per (secret, date), the credential scope, and the date string per second.
Per request: one SHA-256 of the body, one of the canonical request, one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from botocore.utils import normalize_url_path

__all__ = ["Credentials", "SigV4Signer", "SignedPath", "amz_date"]

_ALGORITHM = "AWS4-HMAC-SHA256"
# SigV4 signing name of the API Gateway management API (botocore service model).
SERVICE = "execute-api"
# Connection ids cached for their URL and canonical path; cleared when full.
_PATH_CACHE_SIZE = 100_000


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True, slots=True)
class SignedPath:
    url: str  # what goes on the wire
    canonical_path: str  # what is signed


def amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _host_header(endpoint: str) -> str:
    # As botocore derives the signed Host: lowercase host, IPv6 in brackets, and the port
    # unless it is the scheme's default.
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


class SigV4Signer:
    """Signs PostToConnection requests for one endpoint (``https://{host}/{stage}``)."""

    def __init__(self, endpoint: str, region: str, service: str = SERVICE) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint must be http(s)://host[:port]/stage, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.service = service
        self.host = _host_header(self.endpoint)
        self._base_path = parts.path
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._paths: dict[str, SignedPath] = {}
        self._key_for: tuple[str, str] | None = None
        self._key = b""

    def path(self, connection_id: str) -> SignedPath:
        cached = self._paths.get(connection_id)
        if cached is None:
            if len(self._paths) >= _PATH_CACHE_SIZE:
                self._paths.clear()
            wire = f"{self._base_path}/@connections/{quote(connection_id, safe='~')}"
            cached = SignedPath(self._origin + wire, quote(normalize_url_path(wire), safe="/~"))
            self._paths[connection_id] = cached
        return cached

    def _signing_key(self, secret: str, date: str) -> bytes:
        if self._key_for != (secret, date):
            k = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
            for part in (self.region, self.service, "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            self._key, self._key_for = k, (secret, date)
        return self._key

    def sign(
        self, connection_id: str, body: bytes, creds: Credentials, timestamp: str
    ) -> tuple[str, dict[str, str]]:
        """The URL and the headers (Host, X-Amz-Date, token, Authorization) for a POST."""
        sp = self.path(connection_id)
        date = timestamp[:8]
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        if creds.token:
            canonical_headers = (
                f"host:{self.host}\nx-amz-date:{timestamp}\nx-amz-security-token:{creds.token}\n"
            )
            signed = "host;x-amz-date;x-amz-security-token"
        else:
            canonical_headers = f"host:{self.host}\nx-amz-date:{timestamp}\n"
            signed = "host;x-amz-date"
        canonical = (
            f"POST\n{sp.canonical_path}\n\n{canonical_headers}\n{signed}\n"
            f"{hashlib.sha256(body).hexdigest()}"
        )
        to_sign = (
            f"{_ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.digest(
            self._signing_key(creds.secret_key, date), to_sign.encode(), "sha256"
        ).hex()
        headers = {
            "Host": self.host,
            "X-Amz-Date": timestamp,
            "Authorization": (
                f"{_ALGORITHM} Credential={creds.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }
        if creds.token:
            headers["X-Amz-Security-Token"] = creds.token
        return sp.url, headers
