"""The client's reconnect delays: :class:`infra.backoff.Backoff`, tickwire's one backoff
policy (capped exponential, full jitter), re-exported here for the client's users."""

from __future__ import annotations

from infra.backoff import Backoff

__all__ = ["Backoff"]
