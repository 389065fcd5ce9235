"""Token buckets with a fake clock, metered units, and /metrics over HTTP."""

from __future__ import annotations

import aiohttp

from infra.local.gateway.metering import metered_units
from infra.local.gateway.throttle import TokenBucket


def test_token_bucket_burst_then_rate(kit):
    clock = kit.Clock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    clock.now = 0.1  # one token back
    assert bucket.take() and not bucket.take()
    clock.now = 100.0  # refills to the burst, never beyond
    assert sum(bucket.take() for _ in range(10)) == 5


def test_token_bucket_never_exceeds_burst_after_partial_use(kit):
    clock = kit.Clock()
    bucket = TokenBucket(rate=1, burst=5, clock=clock)
    bucket.take()
    clock.now = 100.0
    assert sum(bucket.take() for _ in range(10)) == 5


def test_metered_units_are_32kb_increments():
    assert [metered_units(n) for n in (0, 1, 32 * 1024, 32 * 1024 + 1, 128 * 1024)] == [
        1,
        1,
        1,
        2,
        4,
    ]


async def test_metrics_endpoint_counts_like_aws(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url, max_msg_size=0) as ws:
            cid = await kit.connection_id_of(ws)  # 1 in, 1 out (Forbidden frame)
            await gw.post_to_connection(cid, b"x" * (33 * 1024))  # 2 units out
            await ws.receive(timeout=10)
            async with session.get(gw.url + "/metrics") as r:
                text = await r.text()
    assert 'tickwire_gateway_metered_messages_total{direction="in"} 1.0' in text
    assert 'tickwire_gateway_metered_messages_total{direction="out"} 3.0' in text
    assert "tickwire_gateway_connection_minutes_total 1.0" in text
    assert "tickwire_gateway_open_connections 1.0" in text
    assert "tickwire_gateway_estimated_cost_usd" in text
