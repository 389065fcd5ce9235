"""Where the broadcaster posts messages: one small interface, three implementations.

- :class:`~broadcaster.connections.direct.DirectConnections`: the local gateway's
  in-process send path (the embedded default; no HTTP);
- :class:`~broadcaster.connections.aws_wire.AwsWireConnections`: SigV4-signed HTTP POSTs to
  ``{endpoint}/@connections/{id}`` over a pooled aiohttp session (the fast path on AWS);
- :class:`~broadcaster.connections.sdk.SdkConnections`: aioboto3 ``post_to_connection``
  (the reference the others are checked and measured against).

Each translates 410/413/429/403 into :mod:`broadcaster.errors` (``ConnectionGone``,
``PayloadTooLarge``, ``Throttled``, ``Forbidden``) and anything else into ``PostFailed``,
chained with ``raise ... from``. None of them retries: that is the fan-out's decision.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Connections"]


class Connections(Protocol):
    """Posts one message to one connection; raises a :class:`broadcaster.errors.PostError`.

    Optional method ``post_now(connection_id, data) -> None``: the same post,
    synchronous (it queues the message and returns, raising what ``post`` raises). The
    broadcaster then posts one-part messages inline with it instead of in a task per
    message (:class:`~broadcaster.connections.direct.DirectConnections` and
    :class:`~broadcaster.connections.link.LinkConnections` have it).
    """

    async def post(self, connection_id: str, data: bytes) -> None: ...

    async def close(self) -> None: ...
