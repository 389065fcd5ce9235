"""The local gateway's in-process ``@connections`` path (the embedded default)."""

from __future__ import annotations

from typing import Protocol

from broadcaster.errors import PostFailed, error_for_status
from infra.local.gateway.errors import ApiError

__all__ = ["DirectConnections", "InProcessGateway"]


class InProcessGateway(Protocol):
    def post_now(self, connection_id: str, data: bytes) -> None: ...


class DirectConnections:
    """Calls ``gateway.post_now`` (the checks and metering of the HTTP POST, no HTTP).

    The gateway's post queues the frame and returns, so ``post_now`` is synchronous and
    the broadcaster posts one-part messages inline with it (no task per message)."""

    def __init__(self, gateway: InProcessGateway) -> None:
        self._gateway = gateway

    def post_now(self, connection_id: str, data: bytes) -> None:
        try:
            self._gateway.post_now(connection_id, data)
        except ApiError as exc:
            raise error_for_status(connection_id, exc.status, exc.error_type, str(exc)) from exc
        except (OSError, ConnectionError) as exc:
            raise PostFailed(connection_id, repr(exc)) from exc

    async def post(self, connection_id: str, data: bytes) -> None:
        self.post_now(connection_id, data)

    async def delete(self, connection_id: str) -> None:
        """DeleteConnection: the client sees close 1000, as on AWS. (A gateway stand-in
        without ``delete_connection`` leaves the close to the client.)"""
        delete = getattr(self._gateway, "delete_connection", None)
        if delete is None:
            return
        try:
            await delete(connection_id)
        except ApiError as exc:
            raise error_for_status(connection_id, exc.status, exc.error_type, str(exc)) from exc

    async def close(self) -> None:
        """Nothing to release: the gateway belongs to its owner."""
