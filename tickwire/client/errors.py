"""Exceptions of the Python game client.

Tree::

    ClientError                  root: everything this package raises on purpose
    ├── InputError               local misuse: an input that the gateway would refuse
    ├── NotConnected             send_input() found no connection within ``send_wait``
    ├── ConnectFailed            the handshake was refused (``.status``: 401/403/429/5xx) or
    │                            the server could not be reached; after retries are exhausted
    └── ClientClosed             the client was closed (by ``close()`` or for good)

Remote faults the client survives (a server close, the 2-hour limit, an idle close) are
not raised: they trigger a reconnect and are counted in :class:`ClientStats`.
"""

from __future__ import annotations

__all__ = ["ClientClosed", "ClientError", "ConnectFailed", "InputError", "NotConnected"]


class ClientError(Exception):
    """Root of the client's exceptions."""


class InputError(ClientError, ValueError):
    """An input the client refuses to send (wrong shape, not finite, out of range)."""


class NotConnected(ClientError):
    """No connection opened within ``ClientSettings.send_wait`` (the client is still
    reconnecting)."""


class ConnectFailed(ClientError):
    """Connecting failed; ``status`` is the handshake's HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ClientClosed(ClientError):
    """The client is closed."""
