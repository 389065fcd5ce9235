"""API Gateway's metering unit for WebSocket messages: the one rule tickwire counts by.

The API Gateway pricing page bills WebSocket APIs by "messages sent and received", metered
in 32 KB increments (a 33 KB message is two messages), up to the 128 KB payload quota.
AWS does not say what an empty message costs; tickwire's agreed rule is that every message
is at least one unit (it is still a message sent or received; the increments only add
units past 32 KB). The local gateway's metering, the swarm's AWS view, the planner and P8
all count with :func:`metered_units`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["METERING_UNIT_BYTES", "metered_units"]

# API Gateway pricing page: "metered in 32 KB increments" (KB = 1,024 bytes, as the
# WebSocket frame quota of 32 KB that the same unit matches).
METERING_UNIT_BYTES: Final = 32 * 1024


def metered_units(nbytes: int) -> int:
    """Billed messages for one message of ``nbytes`` (at least 1, also for an empty one)."""
    return (nbytes + METERING_UNIT_BYTES - 1) // METERING_UNIT_BYTES or 1
