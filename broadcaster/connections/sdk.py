"""``@connections`` through aioboto3's ``post_to_connection``: the reference implementation.

One long-lived client per instance (created on first use). Retries are off: retrying is
the fan-out's decision (a 410 is never retried, a 429 slows everything down).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from broadcaster.errors import PostFailed, error_for_status

__all__ = ["SdkConnections"]

# Sockets botocore keeps to the endpoint (its max_pool_connections).
DEFAULT_MAX_POOL = 256


class SdkConnections:
    """``Connections`` by aioboto3 ``apigatewaymanagementapi.post_to_connection``."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        *,
        session: aioboto3.Session | None = None,
        max_pool_connections: int = DEFAULT_MAX_POOL,
        verify: bool | str | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._region = region
        self._session = session or aioboto3.Session()
        self._config = AioConfig(
            max_pool_connections=max_pool_connections,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        self._verify = verify
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _get_client(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(
                        self._session.client(
                            "apigatewaymanagementapi",
                            endpoint_url=self._endpoint,
                            region_name=self._region,
                            config=self._config,
                            verify=self._verify,
                        )
                    )
                    self._stack = stack
        return self._client

    async def post(self, connection_id: str, data: bytes) -> None:
        client = await self._get_client()
        try:
            await client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise error_for_status(
                connection_id, status, err.get("Code"), err.get("Message", "")
            ) from exc
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise PostFailed(connection_id, repr(exc)) from exc

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack, self._client = None, None
