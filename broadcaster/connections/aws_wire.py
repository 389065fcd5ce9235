"""``@connections`` over the wire, signed by hand: the fast path to API Gateway on AWS.

A pooled aiohttp session POSTs ``{endpoint}/@connections/{id}`` with SigV4 headers from
:class:`~broadcaster.connections.sigv4.SigV4Signer` (the same signature botocore's
``SigV4Auth`` computes). Credentials come from a botocore session (environment, profile,
container or instance role) or are given as a botocore credentials object, frozen once per second and refreshed in a thread when
botocore says they are due, so the event loop never blocks on a credential provider.

Backpressure: at most ``max_connections`` sockets (aiohttp's connector limit); callers
beyond that wait for a socket. The fan-out bounds its own posts in flight below that.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import aiohttp
import botocore.session
from yarl import URL

from broadcaster.connections.sigv4 import Credentials, SigV4Signer, amz_date
from broadcaster.errors import BroadcastError, PostFailed, error_for_status

__all__ = ["AwsWireConnections"]

# Sockets kept to the endpoint (aiohttp connector limit).
DEFAULT_MAX_CONNECTIONS = 256
# Per-request timeout. None by default: a per-request timer costs ~10% of a post's CPU,
# and the Broadcaster already bounds every post (BroadcastSettings.post_timeout_s). Give
# one when using this class on its own; a request past it raises PostFailed.
DEFAULT_REQUEST_TIMEOUT_S: float | None = None
# Opening a socket to the endpoint.
DEFAULT_CONNECT_TIMEOUT_S = 5.0
# Parsed URLs kept per connection (yarl parsing is a measurable share of a post).
_URL_CACHE_SIZE = 100_000


class AwsWireConnections:
    """``Connections`` by signed HTTP POSTs over one pooled aiohttp session."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        *,
        botocore_session: botocore.session.Session | None = None,
        credentials: Any = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout_s: float | None = DEFAULT_REQUEST_TIMEOUT_S,
        ssl_context: ssl.SSLContext | bool | None = None,
    ) -> None:
        self.signer = SigV4Signer(endpoint, region)
        self._botocore = botocore_session or botocore.session.get_session()
        # botocore Credentials / RefreshableCredentials; from the session when not given.
        self._source: Any = credentials
        self._creds: Credentials | None = None
        self._second = -1
        self._timestamp = ""
        self._max_connections = max_connections
        # None: no per-request timer (the fan-out bounds every post with its own timeout).
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, sock_connect=DEFAULT_CONNECT_TIMEOUT_S
        )
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._urls: dict[str, URL] = {}

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                skip_auto_headers=("User-Agent", "Content-Type"),
                auto_decompress=False,
            )
        return self._session

    def _load_credentials(self) -> Credentials:
        if self._source is None:
            self._source = self._botocore.get_credentials()
            if self._source is None:
                raise BroadcastError("no AWS credentials found for the @connections endpoint")
        frozen = self._source.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    async def _refresh(self) -> None:
        self._creds = await asyncio.to_thread(self._load_credentials)

    async def credentials(self) -> tuple[Credentials, str]:
        """The credentials and the X-Amz-Date to sign with now (re-read once a second)."""
        now = time.time()
        second = int(now)
        if second != self._second or self._creds is None:
            self._second, self._timestamp = second, amz_date(now)
            if self._creds is None:
                await self._refresh()
            elif getattr(self._source, "refresh_needed", lambda: False)():
                # Keep signing with the current ones while the provider is asked in a thread.
                if self._refreshing is None or self._refreshing.done():
                    self._refreshing = asyncio.create_task(self._refresh())
        assert self._creds is not None
        return self._creds, self._timestamp

    async def post(self, connection_id: str, data: bytes) -> None:
        creds, timestamp = await self.credentials()
        url, headers = self.signer.sign(connection_id, data, creds, timestamp)
        target = self._urls.get(url)
        if target is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            target = self._urls[url] = URL(url, encoded=True)
        session = self._ensure_session()
        try:
            resp = await session.request("POST", target, data=data, headers=headers)
            try:
                if resp.status == 200:
                    return
                body = await resp.read()
                error_type = resp.headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
            finally:
                resp.release()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PostFailed(connection_id, repr(exc)) from exc
        # The error's own body is the cause: there is no exception to chain from.
        raise error_for_status(
            connection_id, resp.status, error_type, body[:200].decode("utf-8", "replace")
        )

    async def delete(self, connection_id: str) -> None:
        """DeleteConnection (rare: a player replaced by its newer connection), signed by
        botocore's SigV4Auth rather than the POST fast path."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as BotoCredentials

        creds, _ = await self.credentials()
        url = self.signer.path(connection_id).url
        request = AWSRequest(method="DELETE", url=url)
        signing = BotoCredentials(creds.access_key, creds.secret_key, creds.token)
        SigV4Auth(signing, "execute-api", self.signer.region).add_auth(request)
        try:
            async with self._ensure_session().request(
                "DELETE", URL(url, encoded=True), headers=dict(request.headers.items())
            ) as resp:
                if resp.status in (200, 204):
                    return
                body = await resp.read()
                error_type = resp.headers.get("x-amzn-ErrorType", "").split(":", 1)[0]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PostFailed(connection_id, repr(exc)) from exc
        raise error_for_status(
            connection_id, resp.status, error_type, body[:200].decode("utf-8", "replace")
        )

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
