"""The planner's arithmetic against hand-computed cases, and the price table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swarm.errors import ConfigError, PriceError
from swarm.metering import metered_units
from swarm.planner import Workload, plan
from swarm.prices import REQUIRED, Prices, load_prices

# Round prices so every figure below can be checked by hand.
PRICES = Prices(
    as_of="2026-01-01",
    region="us-east-1",
    hours_per_month=730,
    values={
        "apigw_ws_message_per_million": 1.0,
        "apigw_ws_connection_minute_per_million": 0.25,
        "kinesis_provisioned_shard_hour": 0.015,
        "kinesis_provisioned_put_payload_unit_per_million": 0.014,
        "kinesis_on_demand_stream_hour": 0.04,
        "kinesis_on_demand_data_in_per_gb": 0.08,
        "kinesis_on_demand_data_out_per_gb": 0.04,
        "fargate_vcpu_hour": 0.04,
        "fargate_gb_hour": 0.004,
        "dynamodb_on_demand_write_per_million": 0.625,
        "dynamodb_on_demand_read_per_million": 0.125,
    },
    unconfirmed=(),
)
MONTH_S = 730 * 3600  # 2,628,000


def test_500_players_fit_the_throttle_at_20_hz_without_inputs() -> None:
    # performance.md: "at 20 Hz that is 500 players per account"
    p = plan(Workload(players=500, match_size=10, send_hz=20, input_hz=0), PRICES)
    assert p.connections_calls_per_s == 10_000
    assert p.throttle_share == 1.0 and p.quota_increase_to is None
    q = plan(Workload(players=501, match_size=10, send_hz=20, input_hz=0), PRICES)
    assert q.quota_increase_to == 11_000


def test_reference_workload_by_hand() -> None:
    w = Workload(
        players=2000,
        match_size=16,
        send_hz=20,
        input_hz=10,
        players_per_core=500,
        record_bytes=300,
        state_bytes=300,
        task_vcpu=1,
        task_memory_gb=2,
    )
    p = plan(w, PRICES)
    assert p.matches == 125  # 2000 / 16
    assert p.input_records_per_s == 20_000
    assert p.shards_for_records == 25  # 20,000 / (1,000 * 0.8)
    assert p.shards_for_bytes == 8  # 6,000,000 B/s / (1,048,576 * 0.8) = 7.15
    assert p.cores == 4 and p.workers == 4 and p.shards == 25
    assert p.account_requests_per_s == 60_000 and p.quota_increase_to == 60_000
    m = p.monthly_usd
    assert m["api_gateway_messages"] == pytest.approx(60_000 * MONTH_S / 1e6 * 1.0, abs=0.01)
    assert m["api_gateway_connection_minutes"] == pytest.approx(
        2000 * 730 * 60 * 0.25 / 1e6, abs=0.01
    )
    assert m["kinesis_shard_hours"] == pytest.approx(25 * 730 * 0.015, abs=0.01)  # 273.75
    assert m["kinesis_put_payload_units"] == pytest.approx(20_000 * MONTH_S * 0.014 / 1e6, abs=0.01)
    assert m["fargate"] == pytest.approx(4 * 730 * (0.04 + 2 * 0.004), abs=0.01)  # 140.16
    # snapshots 125 * 4 WRU / 5 s + leases 25 / 0.75 s + checkpoints 25 / 5 s = 138.33 WRU/s
    assert m["dynamodb_writes"] == pytest.approx(
        (100 + 25 / 0.75 + 5) * MONTH_S * 0.625 / 1e6, abs=0.01
    )
    assert p.monthly_total_usd == pytest.approx(sum(m.values()), abs=0.02)


def test_on_demand_kinesis_by_hand() -> None:
    w = Workload(
        players=160, match_size=16, input_hz=10, record_bytes=1500, kinesis_mode="on-demand"
    )
    p = plan(w, PRICES)
    gb = 1600 * MONTH_S * 2 / 1024**2  # 1,500 B rounds up to 2 KB per record
    assert p.monthly_usd["kinesis_stream_hours"] == pytest.approx(730 * 0.04)
    assert p.monthly_usd["kinesis_data_in"] == pytest.approx(gb * 0.08, abs=0.01)
    assert p.monthly_usd["kinesis_data_out"] == pytest.approx(gb * 0.04, abs=0.01)


def test_shards_never_fewer_than_workers_and_big_matches_flagged() -> None:
    p = plan(Workload(players=1000, match_size=10, input_hz=1, players_per_core=100), PRICES)
    assert p.shards_for_records == 2 and p.workers == 10 and p.shards == 10
    assert any("leases one" in n for n in p.notes)
    big = plan(Workload(players=200, match_size=200, input_hz=10), PRICES)
    assert not big.match_fits_shard


def test_occupancy_scales_traffic_costs_not_fixed_ones() -> None:
    full = plan(Workload(players=100, match_size=10), PRICES)
    half = plan(Workload(players=100, match_size=10, occupancy=0.5), PRICES)
    assert half.monthly_usd["api_gateway_messages"] == pytest.approx(
        full.monthly_usd["api_gateway_messages"] / 2, abs=0.01
    )
    assert half.monthly_usd["fargate"] == full.monthly_usd["fargate"]


def test_bad_workloads_are_refused_with_a_reason() -> None:
    for kw in (
        dict(players=0),
        dict(send_hz=0),
        dict(players_per_core=0),
        dict(kinesis_mode="x"),
        dict(occupancy=2),
    ):
        args = dict(players=10, match_size=5)
        args.update(kw)
        with pytest.raises(ConfigError):
            Workload(**args)  # type: ignore[arg-type]


def test_metered_units_are_32_kb_increments() -> None:
    assert [metered_units(n) for n in (0, 1, 32768, 32769, 33 * 1024, 131072)] == [1, 1, 1, 2, 2, 4]


def test_shipped_price_table_is_dated_and_sourced() -> None:
    prices = load_prices()
    assert prices.as_of and prices.region == "us-east-1"
    assert all(name in prices.values for name in REQUIRED)
    data = json.loads((Path(__file__).parents[2] / "swarm" / "prices.json").read_text())
    for entry in data["prices"].values():
        assert entry["source"].startswith("https://") and "confirmed" in entry


def test_price_table_errors(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text("{")
    with pytest.raises(PriceError):
        load_prices(bad)
    bad.write_text(json.dumps({"as_of": "x", "region": "r", "prices": {}}))
    with pytest.raises(PriceError, match="lacks"):
        load_prices(bad)
    with pytest.raises(PriceError):
        PRICES["nope"]
