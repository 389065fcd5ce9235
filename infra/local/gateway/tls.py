"""A local certificate authority for the gateway's HTTPS/WSS listener.

On first use a CA is created (trustme) and kept in ``{state_dir}/ca/`` (``ca.pem`` public,
``ca-key.pem`` private, mode 0600); ``bundle.pem`` holds it plus the public roots, so
``AWS_CA_BUNDLE=.../bundle.pem`` trusts the gateway without breaking calls to real AWS
endpoints. Each start issues a fresh server certificate for ``127.0.0.1``, ``localhost``
and ``::1`` signed by the CA.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["DEFAULT_STATE_DIR", "LocalCA", "load_or_create_ca"]

# Expanded when used, so HOME at call time decides (tests point it at a temp folder).
DEFAULT_STATE_DIR = Path("~/.tickwire")
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LocalCA:
    ca: trustme.CA
    bundle_path: Path  # what AWS_CA_BUNDLE should point to

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*SERVER_NAMES).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this CA (for tests and bots)."""
        return ssl.create_default_context(cafile=str(self.bundle_path))

    def export_line(self) -> str:
        return f"export AWS_CA_BUNDLE={self.bundle_path}"


def load_or_create_ca(state_dir: Path | None = None) -> LocalCA:
    folder = (state_dir or DEFAULT_STATE_DIR).expanduser() / "ca"
    cert_path = folder / "ca.pem"
    key_path = folder / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        ca = trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    else:
        folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="tickwire local CA")
        key_tmp = key_path.with_suffix(".tmp")
        fd = os.open(key_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(ca.private_key_pem.bytes())
        cert_tmp = cert_path.with_suffix(".tmp")
        cert_tmp.write_bytes(ca.cert_pem.bytes())
        os.replace(key_tmp, key_path)
        os.replace(cert_tmp, cert_path)
    return LocalCA(ca, _write_bundle(folder, ca))


def _write_bundle(folder: Path, ca: trustme.CA) -> Path:
    """``bundle.pem``: the local CA followed by the public roots (certifi), so one
    ``AWS_CA_BUNDLE`` trusts this gateway and still verifies real AWS endpoints."""
    parts = [ca.cert_pem.bytes()]
    try:
        import certifi

        parts.append(Path(certifi.where()).read_bytes())
    except (ImportError, OSError):  # pragma: no cover - certifi ships with botocore's deps
        pass
    bundle = folder / "bundle.pem"
    tmp = bundle.with_suffix(".tmp")
    tmp.write_bytes(b"\n".join(parts))
    os.replace(tmp, bundle)
    return bundle
