"""Every quota and limit of the local gateway, as one dataclass.

Defaults are API Gateway's values for WebSocket APIs (the quotas table
``apigateway-execution-service-websocket-limits-table`` and the design note
``aws-websocket-api.md``); tests shrink them. Where AWS documents nothing, the default is
the one the design note picks and the field's comment says "unconfirmed".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["GatewaySettings", "PostFrameType"]

PostFrameType = Literal["auto", "text", "binary"]


@dataclass(frozen=True)
class GatewaySettings:
    # Quotas table: "WebSocket frame size" 32 KB; over it the connection closes with 1009.
    max_frame_bytes: int = 32 * 1024
    # Quotas table: "Message payload size" 128 KB; a client message over it closes 1009.
    max_message_bytes: int = 128 * 1024
    # PostToConnection: the body is at most 131,072 bytes, else 413 PayloadTooLargeException.
    max_post_bytes: int = 131_072
    # Quotas table: "Idle Connection Timeout" 10 minutes; data in either direction resets it.
    idle_timeout_s: float = 600.0
    # Quotas table: "Connection duration for WebSocket API" 2 hours.
    max_connection_duration_s: float = 7200.0
    # Close code for the idle and duration closes: unconfirmed, 1001 "Going away" chosen.
    timeout_close_code: int = 1001
    # Quotas table: "New connections per second" 500 per account and region; a refused
    # handshake answers 429 (unconfirmed for WebSocket).
    new_connections_per_s: float = 500.0
    new_connections_burst: int = 500
    # Account-level throttle: 10,000 requests/s steady state, burst 5,000, shared by client
    # messages and @connections calls (API Gateway quotas, "Throttle quota per account").
    account_rate_per_s: float = 10_000.0
    account_burst: int = 5_000
    # Integration timeout: 50 ms to 29 s (quotas table); the model's Integration.timeout_ms
    # wins when smaller.
    integration_timeout_s: float = 29.0
    # Authorizer result context: at most 8 KB (Lambda authorizer output limits).
    max_authorizer_context_bytes: int = 8 * 1024
    # Time from TCP accept to a complete upgrade request before the socket is closed
    # (slowloris defence). AWS documents no value: unconfirmed, 10 s chosen.
    handshake_timeout_s: float = 10.0
    # A connection whose unsent data to the client exceeds this answers 429 to posts
    # ("the client-side buffer is full"). AWS documents no size: unconfirmed, 1 MiB.
    client_buffer_bytes: int = 1024 * 1024
    # Frame type of a posted payload at the client: unconfirmed; "auto" = text if the
    # bytes are valid UTF-8, binary otherwise.
    post_frame_type: PostFrameType = "auto"
    # Text sent to a client whose message hit the account throttle: AWS documents none,
    # unconfirmed; a Forbidden-style frame with this message is chosen.
    throttled_message: str = "Too Many Requests"
    # AWS verifies the SigV4 signature of every @connections call (403 unsigned or
    # ill-signed); set False for raw benchmarks only.
    require_signature: bool = True
    # Access key id -> secret to verify signatures against; None: the keys the gateway
    # knows (its process's, its Lambda workers', and the local pair it prints: see
    # infra.local.gateway.credentials).
    sigv4_secrets: Mapping[str, str] | None = None
    # Lambda-proxy and HTTP-proxy message integrations run as tasks; at most this many per
    # connection are in flight before its reader waits (TCP backpressure to the client).
    max_inflight_per_connection: int = 64
    # Local Lambda runtime: warm worker processes per function (Lambda's concurrency,
    # bounded here so a flood cannot fork without limit).
    lambda_workers_per_function: int = 4
    # Start one worker per function when the gateway starts, so the first connect is fast.
    lambda_prewarm: bool = True
    # Pending TCP connections the listener queues (a local choice, not an AWS quota).
    listen_backlog: int = 1024
    # stop(): how long connections get to finish their close handshake (1001).
    shutdown_timeout_s: float = 5.0
    # Upper bound of the idle/duration reaper's period (it runs at a quarter of the
    # smallest timeout, never slower than this).
    reaper_max_interval_s: float = 1.0

    # -- One client cannot hurt the others: local policies, off here (0) because API
    # Gateway has none of them (its protections are the account and route throttles
    # above); `tickwire up` turns them on with guard.UP_PROTECTIONS' values.
    #
    # Client messages per connection: a token bucket per connection. A message past it
    # is dropped before routing (counted as throttled{source="connection"}); the first
    # drop of an episode is answered with the throttle frame (throttled_message). A
    # connection that keeps dropping for flood_close_after_s (an episode ends after a
    # second without drops) is closed with 1008 "Message rate exceeded".
    connection_message_rate_per_s: float = 0.0
    connection_message_burst: int = 400
    flood_close_after_s: float = 3.0
    # Readers that do not keep up: a connection whose unsent data (the transport's
    # buffer, beyond what the kernel holds) stays above slow_reader_bytes for
    # slow_reader_close_after_s is closed (1008 "Client is not reading"; the socket is
    # aborted: the client would never read the close frame). Posts never wait for it
    # meanwhile (past client_buffer_bytes they answer 429, as AWS's do).
    slow_reader_bytes: int = 64 * 1024
    slow_reader_close_after_s: float = 0.0
    # Liveness: the gateway pings a connection when it opens and again ping_interval_s
    # after its last pong, and closes one whose pong is pong_timeout_s late (1008 "Ping
    # timeout", the socket aborted): a client that never reads never answers. Browsers
    # and WebSocket libraries answer pings by themselves; pings are not data (the idle
    # timeout still applies).
    ping_interval_s: float = 0.0
    pong_timeout_s: float = 2.0
    # Handshakes refused by the authorizer (401/403), per source IP: a token bucket per
    # source. A source with no token left is answered 429 before its request is parsed
    # further or the authorizer runs, and takes nothing from the account-wide
    # new-connection quota (new_connections_per_s) honest players connect under.
    failed_connects_per_source_per_s: float = 0.0
    failed_connects_per_source_burst: int = 50
    # Sources remembered by that limiter (the oldest is forgotten first).
    failed_connect_sources: int = 10_000

    def __post_init__(self) -> None:
        for name in (
            "max_frame_bytes",
            "max_message_bytes",
            "max_post_bytes",
            "account_burst",
            "new_connections_burst",
            "client_buffer_bytes",
            "max_inflight_per_connection",
            "lambda_workers_per_function",
            "connection_message_burst",
            "slow_reader_bytes",
            "failed_connects_per_source_burst",
            "failed_connect_sources",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"GatewaySettings.{name} must be positive")
        for name in (
            "idle_timeout_s",
            "max_connection_duration_s",
            "new_connections_per_s",
            "account_rate_per_s",
            "integration_timeout_s",
            "handshake_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"GatewaySettings.{name} must be positive")
        for name in (
            "connection_message_rate_per_s",
            "flood_close_after_s",
            "slow_reader_close_after_s",
            "ping_interval_s",
            "pong_timeout_s",
            "failed_connects_per_source_per_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"GatewaySettings.{name} must be 0 (off) or positive")
        if self.post_frame_type not in ("auto", "text", "binary"):
            raise ValueError("GatewaySettings.post_frame_type must be auto, text or binary")

    @property
    def reaper_interval_s(self) -> float:
        """The reaper's period: a quarter of the smallest timeout it enforces, and a tenth
        of the pong timeout (a sweep then closes at most the clients that connected
        within that tenth: a connect storm's unanswered pings are closed in small
        batches, not one long iteration of the loop)."""
        bounds = [self.idle_timeout_s / 4, self.max_connection_duration_s / 4]
        if self.ping_interval_s:
            bounds.append(self.pong_timeout_s / 10)
        if self.slow_reader_bytes and self.slow_reader_close_after_s:
            bounds.append(self.slow_reader_close_after_s / 4)
        return max(0.01, min(self.reaper_max_interval_s, *bounds))
