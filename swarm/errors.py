"""Exceptions of the swarm and the planner.

Tree::

    SwarmError                  root: everything this package raises on purpose
    ├── ConfigError             a setting or argument out of range (carries ``.reason``)
    ├── TokenError              a token could not be minted or fetched
    ├── ReportError             a report file that is not a swarm report
    └── PriceError              the price table is missing a price or malformed

Faults of the system under test (refused handshakes, closes, 429s, timeouts) are not
exceptions here: bots count them as errors by kind and carry on.
"""

from __future__ import annotations

__all__ = ["ConfigError", "PriceError", "ReportError", "SwarmError", "TokenError"]


class SwarmError(Exception):
    """Root of the swarm package's exceptions."""


class ConfigError(SwarmError, ValueError):
    """A setting out of range; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenError(SwarmError):
    """A bot's token could not be minted or fetched."""


class ReportError(SwarmError, ValueError):
    """A file that is not a swarm report of a known version."""


class PriceError(SwarmError, ValueError):
    """The price table lacks a price the calculation needs, or is malformed."""
