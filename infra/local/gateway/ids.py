"""Identifiers shaped like API Gateway's: connection, request and message ids."""

from __future__ import annotations

import base64
import os

__all__ = ["new_connection_id", "new_request_id"]


def new_connection_id() -> str:
    """16 characters of URL-safe base64 ending in ``=`` (11 random bytes), like
    ``Mg_ugfpqPHcCIVA=``."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")


def new_request_id() -> str:
    """A request/message id in the same style (API Gateway's are 16 characters too)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode("ascii")
