"""Named limits of the swarm, each with its source.

Every figure the swarm and the planner compare against is here, so a test can shrink it
and a reader can check where it came from.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_THROTTLE_BURST",
    "ACCOUNT_THROTTLE_RPS",
    "ACK_TIMEOUT_S",
    "CONNECTION_DURATION_LIMIT_S",
    "CONNECT_TIMEOUT_S",
    "HISTOGRAM_HIGHEST_US",
    "HISTOGRAM_SIGNIFICANT_FIGURES",
    "INTERVAL_S",
    "KINESIS_SHARD_BYTES_PER_S",
    "KINESIS_SHARD_RECORDS_PER_S",
    "MAX_NEW_CONNECTIONS_PER_S",
    "MAX_PENDING_INPUTS",
    "MESSAGE_PAYLOAD_LIMIT_BYTES",
    "PACER_HZ",
]

# API Gateway WebSocket quota "new connections per second per account per Region": 500
# (developer guide, apigateway-execution-service-websocket-limits-table). The ramp never
# exceeds it unless told to.
MAX_NEW_CONNECTIONS_PER_S = 500.0

# API Gateway account-level throttle: 10,000 requests/s, burst 5,000, shared by client
# messages and every @connections call (same quotas table / account throttling page).
ACCOUNT_THROTTLE_RPS = 10_000.0
ACCOUNT_THROTTLE_BURST = 5_000

# Metering: infra.metering (32 KB units, at least one per message). The payload quota:
MESSAGE_PAYLOAD_LIMIT_BYTES = 128 * 1024

# Connection duration quota: 2 hours; a swarm run longer than this would be cut by AWS.
CONNECTION_DURATION_LIMIT_S = 2 * 3600.0

# Kinesis PutRecord(s) per-shard write limit: 1,000 records/s and 1 MiB/s
# (Kinesis Data Streams quotas page).
KINESIS_SHARD_RECORDS_PER_S = 1_000
KINESIS_SHARD_BYTES_PER_S = 1024 * 1024

# Our own choices (no AWS source):
# WebSocket handshake, authorizer included; AWS's own integration timeout is 29 s.
CONNECT_TIMEOUT_S = 10.0
# An input not acknowledged by a state message within this time counts as an error.
ACK_TIMEOUT_S = 5.0
# Inputs awaiting their ack per bot; beyond this the oldest is counted as timed out and
# dropped, so a server that never acks cannot grow a bot's memory.
MAX_PENDING_INPUTS = 256
# The interval line and the time series in the report.
INTERVAL_S = 2.0
# One pacer task per process wakes this often and sends for the bots that are due, so
# input pacing costs one timer per process rather than one per bot.
PACER_HZ = 100.0
# Histograms in microseconds, 1 µs to 10 minutes, 3 significant figures (0.1 %).
HISTOGRAM_HIGHEST_US = 600_000_000
HISTOGRAM_SIGNIFICANT_FIGURES = 3
