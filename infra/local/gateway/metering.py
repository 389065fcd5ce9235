"""What an AWS bill would count for this gateway, and its Prometheus view.

API Gateway bills WebSocket APIs for messages, in both directions, metered in 32 KB
increments (a 33 KB message counts 2, up to 128 KB), and for connection minutes. The
counters are plain integers bumped on the hot paths (no locks, no label lookups); a custom
collector turns them into Prometheus metrics when ``/metrics`` is scraped, from a
per-gateway ``CollectorRegistry`` so several gateways in one process never collide.

Prices (us-east-1): $1.00 per million messages (first billion), $0.25 per million
connection minutes. Connection minutes are rounded up per connection (assumed: AWS
documents the unit, not the rounding).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.metering import METERING_UNIT_BYTES, metered_units  # the one 32 KB rule

__all__ = ["METERING_UNIT_BYTES", "Metering", "metered_units"]

# Pricing, us-east-1 (first billion messages; connection minutes).
PRICE_PER_MILLION_MESSAGES_USD = 1.00
PRICE_PER_MILLION_CONNECTION_MINUTES_USD = 0.25


class Metering:
    """Counters of one gateway. Attributes are bumped directly by the gateway."""

    def __init__(self, live: Callable[[], tuple[int, int]] | None = None) -> None:
        self.units_in = 0  # billed messages, client -> gateway
        self.units_out = 0  # billed messages, gateway -> client
        self.messages_in = 0
        self.messages_out = 0
        # of messages_in, those handled in the socket's read callback (sessions._take)
        self.messages_in_callback = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections_opened = 0
        self.closed_connection_minutes = 0  # rounded up per connection
        self.closed_connection_seconds = 0.0
        self.connects_refused: Counter[int] = Counter()  # by HTTP status
        self.management_calls: Counter[tuple[str, int]] = Counter()  # (operation, status)
        # by source: message, management, connect, buffer (a full client buffer), connection
        # (a connection's own message rate), connect_source (a source's failed handshakes)
        self.throttled: Counter[str] = Counter()
        self.error_frames: Counter[str] = Counter()  # Forbidden, Internal server error, ...
        self.closes: Counter[int] = Counter()  # by close code
        # connections closed by a protection (guard.POLICY_CLOSES): by policy
        self.policy_closes: Counter[str] = Counter()
        # () -> (open connections, their connection minutes so far, each rounded up)
        self._live = live or (lambda: (0, 0))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def connection_closed(self, age_s: float) -> None:
        self.closed_connection_seconds += age_s
        self.closed_connection_minutes += max(1, math.ceil(age_s / 60.0))

    def billed_connection_minutes(self) -> int:
        return self.closed_connection_minutes + self._live()[1]

    def estimated_cost_usd(self) -> float:
        messages = self.units_in + self.units_out
        return (
            messages * PRICE_PER_MILLION_MESSAGES_USD
            + self.billed_connection_minutes() * PRICE_PER_MILLION_CONNECTION_MINUTES_USD
        ) / 1e6

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def summary(self) -> str:
        """A few lines for the shutdown log."""
        return (
            f"metered messages: {self.units_in} in, {self.units_out} out "
            f"({self.messages_in} / {self.messages_out} WebSocket messages, "
            f"{self.bytes_in} / {self.bytes_out} bytes); "
            f"connections: {self.connections_opened}, "
            f"connection minutes: {self.billed_connection_minutes()}; "
            f"throttled: {sum(self.throttled.values())}; "
            f"estimated AWS cost: ${self.estimated_cost_usd():.6f}"
        )


class _Collector(Collector):
    def __init__(self, metering: Metering) -> None:
        self._m = metering

    def collect(self) -> Iterator[Metric]:
        m = self._m
        units = CounterMetricFamily(
            "tickwire_gateway_metered_messages",
            "Messages as AWS bills them (32 KB units), by direction",
            labels=["direction"],
        )
        units.add_metric(["in"], m.units_in)
        units.add_metric(["out"], m.units_out)
        yield units
        frames = CounterMetricFamily(
            "tickwire_gateway_websocket_messages", "WebSocket data messages", labels=["direction"]
        )
        frames.add_metric(["in"], m.messages_in)
        frames.add_metric(["out"], m.messages_out)
        yield frames
        nbytes = CounterMetricFamily(
            "tickwire_gateway_message_bytes", "Payload bytes of data messages", labels=["direction"]
        )
        nbytes.add_metric(["in"], m.bytes_in)
        nbytes.add_metric(["out"], m.bytes_out)
        yield nbytes
        yield CounterMetricFamily(
            "tickwire_gateway_connection_minutes",
            "Connection minutes as billed (rounded up per connection)",
            value=m.billed_connection_minutes(),
        )
        yield CounterMetricFamily(
            "tickwire_gateway_connections_opened",
            "Accepted connections",
            value=m.connections_opened,
        )
        count, _ = m._live()
        yield GaugeMetricFamily(
            "tickwire_gateway_open_connections", "Connections open now", value=count
        )
        refused = CounterMetricFamily(
            "tickwire_gateway_connects_refused", "Refused handshakes by status", labels=["status"]
        )
        for status, n in sorted(m.connects_refused.items()):
            refused.add_metric([str(status)], n)
        yield refused
        calls = CounterMetricFamily(
            "tickwire_gateway_management_calls",
            "@connections calls by operation and status",
            labels=["operation", "status"],
        )
        for (op, status), n in sorted(m.management_calls.items()):
            calls.add_metric([op, str(status)], n)
        yield calls
        throttled = CounterMetricFamily(
            "tickwire_gateway_throttled", "Requests refused by a throttle", labels=["source"]
        )
        for source, n in sorted(m.throttled.items()):
            throttled.add_metric([source], n)
        yield throttled
        errors = CounterMetricFamily(
            "tickwire_gateway_error_frames", "Error frames sent to clients", labels=["message"]
        )
        for message, n in sorted(m.error_frames.items()):
            errors.add_metric([message], n)
        yield errors
        closes = CounterMetricFamily(
            "tickwire_gateway_closes", "Closed connections by close code", labels=["code"]
        )
        for code, n in sorted(m.closes.items()):
            closes.add_metric([str(code)], n)
        yield closes
        policy = CounterMetricFamily(
            "tickwire_gateway_policy_closes",
            "Connections closed by a protection of the other clients, by policy",
            labels=["policy"],
        )
        for name, n in sorted(m.policy_closes.items()):
            policy.add_metric([name], n)
        yield policy
        yield GaugeMetricFamily(
            "tickwire_gateway_estimated_cost_usd",
            "What AWS would bill so far (us-east-1 list prices)",
            value=m.estimated_cost_usd(),
        )
