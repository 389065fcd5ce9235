"""The AWS bill and quota view of a swarm run (pure arithmetic).

What API Gateway would count for the traffic the bots saw, had the target been a stack
on AWS: every message in each direction metered in 32 KB units, connection minutes, and
the request rate against the account throttle (10,000/s, shared by client messages and
``@connections`` calls: each state message a bot receives is one ``PostToConnection``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# One definition of the 32 KB metering rule, shared with the local gateway's metering
# (what P8 checks the swarm's view against).
from infra.metering import metered_units
from swarm.prices import Prices
from swarm.settings import ACCOUNT_THROTTLE_RPS

__all__ = ["aws_view", "metered_units"]


def aws_view(
    counters: Mapping[str, int],
    *,
    connection_seconds: float,
    seconds: float,
    peak_requests_per_s: float,
    players: int,
    prices: Prices,
    throttle_rps: float = ACCOUNT_THROTTLE_RPS,
) -> dict[str, Any]:
    """The bill and quota figures of ``seconds`` of traffic with these totals."""
    msgs_in = counters.get("msgs_in", 0)  # gateway -> bot: @connections calls
    msgs_out = counters.get("msgs_out", 0)  # bot -> gateway: client messages
    units = counters.get("units_in", 0) + counters.get("units_out", 0)
    minutes = connection_seconds / 60.0
    rps = (msgs_in + msgs_out) / seconds if seconds > 0 else 0.0
    posts_per_s = msgs_in / seconds if seconds > 0 else 0.0
    cost_messages = units / 1e6 * prices["apigw_ws_message_per_million"]
    cost_minutes = minutes / 1e6 * prices["apigw_ws_connection_minute_per_million"]
    scale_month = prices.hours_per_month * 3600.0 / seconds if seconds > 0 else 0.0
    return {
        "messages_client_to_gateway": msgs_out,
        "messages_gateway_to_client": msgs_in,
        "metered_units": units,
        "units_per_message": round(units / (msgs_in + msgs_out), 4) if msgs_in + msgs_out else None,
        "connection_minutes": round(minutes, 3),
        "requests_per_s_mean": round(rps, 1),
        "requests_per_s_peak": round(peak_requests_per_s, 1),
        "account_throttle_rps": throttle_rps,
        "throttle_share_peak": round(peak_requests_per_s / throttle_rps, 4),
        "connections_calls_per_s": round(posts_per_s, 1),
        "connections_calls_per_player_per_s": round(posts_per_s / players, 3) if players else None,
        "cost_usd": round(cost_messages + cost_minutes, 6),
        "cost_usd_per_month_if_sustained": round((cost_messages + cost_minutes) * scale_month, 2),
        "prices_as_of": prices.as_of,
    }
