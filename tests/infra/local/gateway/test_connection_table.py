"""The @connections rules as a pure model (connections.py): no event loop, no socket.
(The same rules over HTTP with boto3: test_management.py.)"""

from __future__ import annotations

import pytest

from infra.local.gateway import GatewaySettings
from infra.local.gateway.connection import Connection, ConnectionEvent, ConnectionState
from infra.local.gateway.connections import (
    BUFFERED,
    DROPPED,
    EXPIRED,
    FIRST_DROP,
    FLOODING,
    PASS,
    PING,
    PING_TIMEOUT,
    THROTTLED,
    ConnectionTable,
    post_opcode,
)
from infra.local.gateway.errors import (
    GoneException,
    LimitExceededException,
    PayloadTooLargeException,
)
from infra.local.gateway.guard import Episode
from infra.local.gateway.metering import Metering
from infra.local.gateway.throttle import TokenBucket


def table_with(
    kit, *states: ConnectionState, burst: int = 100, **settings: float
) -> ConnectionTable:
    table = ConnectionTable(
        TokenBucket(rate=1, burst=burst, clock=kit.Clock()),
        Metering(),
        GatewaySettings(max_post_bytes=10, **settings),
    )
    for i, state in enumerate(states):
        conn = Connection(f"c{i}", "127.0.0.1", "test", {})
        conn.state = state
        table.connections[conn.connection_id] = conn
    return table


def test_every_call_takes_an_account_token_then_needs_an_open_connection(kit):
    table = table_with(kit, ConnectionState.OPEN, ConnectionState.CONNECTING, burst=4)
    assert table.admit("c0").connection_id == "c0"
    for unknown_or_not_open in ("c1", "nope"):
        with pytest.raises(GoneException):
            table.admit(unknown_or_not_open)
    table.admit("c0")  # the fourth token
    with pytest.raises(LimitExceededException):
        table.admit("c0")  # 429 before anything else, even for an open connection


def test_a_post_past_the_limit_is_413_after_the_throttle_and_the_410(kit):
    table = table_with(kit, ConnectionState.OPEN, ConnectionState.CLOSING)
    assert table.post("c0", b"x" * 10).connection_id == "c0"
    with pytest.raises(PayloadTooLargeException):
        table.post("c0", b"x" * 11)
    with pytest.raises(GoneException):
        table.post("c1", b"x" * 11)  # 410 wins over 413
    with pytest.raises(PayloadTooLargeException):
        table.refuse_length(11)
    table.refuse_length(None)  # chunked: checked when read


def test_frames_are_typed_and_metered(kit):
    table = table_with(kit)
    assert table.frame(b"hi")[:2] == b"\x81\x02"  # text
    assert table.frame(b"\x82\xa1t")[0] == 0x82  # msgpack map: binary
    metrics = table._metrics
    assert (metrics.messages_out, metrics.bytes_out, metrics.units_out) == (2, 5, 2)
    assert post_opcode("é".encode(), "auto") == 0x1
    assert post_opcode(b"\xff", "auto") == 0x2 and post_opcode(b"\xe9t", "auto") == 0x2
    assert post_opcode(b"\xff", "text") == 0x1 and post_opcode(b"hi", "binary") == 0x2


def test_get_connection_answers_iso_times_and_the_identity(kit):
    table = table_with(kit, ConnectionState.OPEN)
    info = table.info(table.admit("c0"))
    assert info["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "test"}
    assert info["connectedAt"].endswith("Z") and len(info["connectedAt"]) == 24


def test_the_table_lifecycle_closes_and_meters_once(kit):
    table = table_with(kit)
    conn = Connection("c9", "127.0.0.1", "test", {}, connected_mono=100.0)
    table.add(conn)
    conn.handle(ConnectionEvent.OPENED)
    assert table.live(now_mono=161.0) == (1, 2)  # 61 s: two connection minutes so far
    assert table.closed(conn, 130.0, (1006, "abnormal")) == (1006, "abnormal")
    assert table.closed(conn, 131.0, (1006, "abnormal")) is None  # once only
    assert not table.connections and table._metrics.closes == {1006: 1}
    assert table._metrics.closed_connection_minutes == 1
    refused = Connection("c8", "127.0.0.1", "test", {})
    table.add(refused)
    table.discard(refused)
    assert refused.state is ConnectionState.CLOSED and not table.connections


def test_a_sweep_finds_expiries_pings_and_late_pongs(kit):
    table = table_with(kit, idle_timeout_s=60, ping_interval_s=10, pong_timeout_s=2)
    fresh, idle, pinged, late = (
        Connection(f"c{i}", "127.0.0.1", "t", {}, connected_mono=0.0) for i in range(4)
    )
    for conn in (fresh, idle, pinged, late):
        conn.state = ConnectionState.OPEN
        table.add(conn)
    fresh.last_active_mono = pinged.last_active_mono = late.last_active_mono = 50.0
    fresh.pong_mono = 45.0  # pong 5 s ago: no ping due yet
    pinged.pong_mono = 30.0  # pong 20 s ago: a ping is due
    late.ping_sent_mono = 47.0  # pinged 3 s ago, no pong
    due = {conn.connection_id: what for conn, what in table.sweep(now_mono=50.0)}
    assert due == {"c1": PING, "c2": PING, "c3": PING_TIMEOUT} and idle.last_active_mono == 0
    due = {conn.connection_id: what for conn, what in table.sweep(now_mono=61.0)}
    assert due["c1"] == EXPIRED  # 61 s without data


def test_a_sweep_looks_only_at_connections_a_post_found_backlogged(kit):
    table = table_with(kit, ConnectionState.OPEN, ConnectionState.OPEN, idle_timeout_s=600)
    for conn in table.connections.values():
        conn.last_active_mono = 1.0
        conn.backlog = Episode()  # the slow-reader policy is on for both
    table.connections["c1"].backlog.hit(1.0)  # a post found c1 over the high-water mark
    assert [(c.connection_id, what) for c, what in table.sweep(now_mono=2.0)] == [("c1", BUFFERED)]
    table.connections["c1"].backlog.clear()  # drained
    assert table.sweep(now_mono=3.0) == []


def test_a_handshake_passes_the_source_limit_then_the_quotas(kit):
    table = table_with(
        kit,
        burst=3,
        new_connections_burst=100,
        failed_connects_per_source_per_s=0.001,
        failed_connects_per_source_burst=1,
    )
    assert table.connect("a") is None
    table.connected("a", 401)  # a's one failure spent
    assert table.connect("a") == "connect_source"  # refused before the quotas
    assert table.connect("b") is None and table.connect("b") is None
    assert table.connect("b") == "connect"  # the account throttle's three tokens are gone
    assert table._metrics.throttled == {"connect_source": 1, "connect": 1}


def test_a_message_passes_its_connections_rate_then_the_account_throttle(kit):
    table = table_with(kit, ConnectionState.OPEN, burst=3, flood_close_after_s=2.0)
    conn = table.connections["c0"]
    conn.inbound = TokenBucket(rate=1, burst=1, clock=kit.Clock())
    conn.flooding = Episode(gap_s=1.0)
    assert table.message(conn, 10.0) == PASS
    verdicts = [table.message(conn, t) for t in (10.1, 10.5, 11.4, 12.2)]
    assert verdicts == [FIRST_DROP, DROPPED, DROPPED, FLOODING]
    conn.inbound = None  # no per-connection rate: only the account's (2 tokens left)
    assert [table.message(conn, 13.0) for _ in range(3)] == [PASS, PASS, THROTTLED]
    assert table._metrics.throttled == {"connection": 4, "message": 1}
