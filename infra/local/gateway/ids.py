"""Identifiers shaped like API Gateway's: connection, request and message ids."""

from __future__ import annotations

import base64
import itertools
import os

__all__ = ["new_connection_id", "new_request_id"]


def new_connection_id() -> str:
    """16 characters of URL-safe base64 ending in ``=`` (11 random bytes), like
    ``Mg_ugfpqPHcCIVA=``."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")


# Request and message ids only need to be unique, not unguessable: a random per-process
# prefix and a counter, instead of a system call per message.
_PREFIX = os.urandom(5)
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_request_id() -> str:
    """A request/message id in the same style (16 characters, unique per process)."""
    return base64.urlsafe_b64encode(_PREFIX + next(_COUNTER).to_bytes(6, "big")).decode("ascii")
