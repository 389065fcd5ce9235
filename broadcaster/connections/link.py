"""Posts over the link of a split ``tickwire up`` (:mod:`infra.local.link`).

The engine process's broadcaster posts here; the gateway process posts each message with
the checks and metering of ``POST @connections`` (:meth:`Gateway.post_now`). A send tick's
posts travel as one message. The gateway's answer to a post arrives after it: a refused
post (410, 413, 429) is raised on the *next* post to that connection, one send tick later:
410 as ``ConnectionGone``, the others as an unknown outcome (the broadcaster had counted
that message as delivered, so the connection is resynced with a full state). A full link
(the gateway process is not reading) is a 429 at once.
"""

from __future__ import annotations

from broadcaster.errors import ConnectionGone, PostFailed, Throttled, error_for_status
from infra.local.link.client import LinkClient
from ingest.errors import StreamError

__all__ = ["LinkConnections"]


class LinkConnections:
    """:class:`~broadcaster.connections.Connections` over a :class:`LinkClient`."""

    def __init__(self, client: LinkClient) -> None:
        self._client = client

    async def post(self, connection_id: str, data: bytes) -> None:
        self.post_now(connection_id, data)

    def post_now(self, connection_id: str, data: bytes) -> None:
        """Queue the post for this loop iteration's batch (synchronous: the broadcaster
        posts one-part messages inline with it)."""
        client = self._client
        status = client.take_refusal(connection_id)
        if status == 410:
            raise ConnectionGone(connection_id, "gone (reported by the gateway)")
        if status is not None:
            # An earlier post that the broadcaster counted as delivered was refused (413,
            # or 429: the client's buffer was full): an unknown-outcome error, so the
            # connection is resynced with a full state, as after any lost message.
            error = PostFailed(connection_id, f"an earlier post was refused: {status}")
            error.status = status
            raise error
        if not client.post(connection_id, data):
            raise Throttled(connection_id, "the link to the gateway process is full")

    async def delete(self, connection_id: str) -> None:
        """DeleteConnection through the gateway process (the client sees close 1000);
        posts queued before it are sent first."""
        try:
            status = await self._client.call("delete_connection", connection_id)
        except StreamError as exc:  # the link is gone: nothing left to close
            raise PostFailed(connection_id, repr(exc)) from exc
        if status != 204:
            raise error_for_status(connection_id, status, None, "DeleteConnection refused")

    async def close(self) -> None:
        """Nothing to release: the link belongs to the engine process."""
