"""The broadcaster's exceptions.

Tree::

    BroadcastError                  root of everything this package raises
    ├── ProtocolError               bytes that are not a valid state message (decoders)
    └── PostError                   a post to @connections failed (has ``status``,
        │                           ``error_type``, ``connection_id``)
        ├── ConnectionGone          410 GoneException: the connection is closed or unknown
        ├── PayloadTooLarge         413 PayloadTooLargeException: over the 128 KB payload
        ├── Throttled               429 LimitExceededException: account throttle or a
        │                           slow reader's full buffer; retry later, slower
        ├── Forbidden               403 ForbiddenException: bad signature or credentials
        └── PostFailed              anything else (5xx, transport): the outcome is unknown

Adapters in :mod:`broadcaster.connections` translate each implementation's errors into
these, chained with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "BroadcastError",
    "ConnectionGone",
    "Forbidden",
    "PayloadTooLarge",
    "PostError",
    "PostFailed",
    "ProtocolError",
    "Throttled",
    "error_for_status",
]


class BroadcastError(Exception):
    """Root of the broadcaster's exceptions."""


class ProtocolError(BroadcastError):
    """Bytes that do not decode as a state message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PostError(BroadcastError):
    status: int = 0
    error_type: str = ""

    def __init__(self, connection_id: str, detail: str = "") -> None:
        super().__init__(
            f"{self.error_type or 'post failed'} for {connection_id}: {detail}".rstrip(": ")
        )
        self.connection_id = connection_id
        self.detail = detail


class ConnectionGone(PostError):
    status = 410
    error_type = "GoneException"


class PayloadTooLarge(PostError):
    status = 413
    error_type = "PayloadTooLargeException"


class Throttled(PostError):
    status = 429
    error_type = "LimitExceededException"


class Forbidden(PostError):
    status = 403
    error_type = "ForbiddenException"


class PostFailed(PostError):
    """A post whose outcome is unknown (server error, timeout, transport failure)."""


_BY_STATUS: dict[int, type[PostError]] = {
    cls.status: cls for cls in (ConnectionGone, PayloadTooLarge, Throttled, Forbidden)
}
_BY_TYPE: dict[str, type[PostError]] = {
    cls.error_type: cls for cls in (ConnectionGone, PayloadTooLarge, Throttled, Forbidden)
}


def error_for_status(
    connection_id: str, status: int | None, error_type: str | None = None, detail: str = ""
) -> PostError:
    """The package's error for an @connections answer (status, or the AWS error code)."""
    cls = _BY_TYPE.get(error_type or "") or _BY_STATUS.get(status or 0) or PostFailed
    err = cls(connection_id, detail or f"status {status}")
    if cls is PostFailed:
        err.status = status or 0
        err.error_type = error_type or ""
    return err
