"""The capacity planner: shards, workers, the account throttle and the monthly bill.

Pure arithmetic over a :class:`Workload` and a :class:`~swarm.prices.Prices` table; the
``tickwire plan`` command is a thin shell around :func:`plan`. The model, per second:

- client inputs: ``players * input_hz`` WebSocket messages in, each one Kinesis record
  (the route's PutRecord integration) of ``record_bytes``;
- state: ``players * send_hz`` ``@connections`` calls, one message per player per send
  tick (the broadcaster's contract), each ``ceil(state_bytes / 32 KB)`` metered units;
- the account throttle (10,000 requests/s) counts client messages and ``@connections``
  calls alike;
- shards: a match lives on one shard (partition key = match), so shards are sized for the
  aggregate against the per-shard write limits (1,000 records/s, 1 MiB/s) at a target
  utilisation, never fewer than the workers (a worker leases whole shards), and a single
  match must fit in one shard;
- workers: ``ceil(players / players_per_core)`` cores (measured by P7 or a swarm report),
  packed into Fargate tasks of ``task_vcpu``;
- DynamoDB: each match writes a snapshot every ``snapshot_interval_s``; each shard renews
  its lease every ``lease_renew_s`` (write) and its checkpoint with every snapshot round.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from swarm.errors import ConfigError
from swarm.metering import metered_units
from swarm.prices import Prices
from swarm.settings import (
    ACCOUNT_THROTTLE_RPS,
    KINESIS_SHARD_BYTES_PER_S,
    KINESIS_SHARD_RECORDS_PER_S,
)

__all__ = ["DEFAULT_PLAYERS_PER_CORE", "Plan", "Workload", "plan", "render_plan"]

# Players one core of tickwire sustains at 20 Hz state / 10 Hz input with p99 input->ack
# <= 100 ms and no errors. Source: bench/p7_capacity.py, 2026-11-28, on the 2-core
# development VM with `tickwire up` on one core and the swarm on the other, after the
# broadcaster's batching and the ingest path's compilation: 400 players passed (p99
# 78.5 ms), 480 missed by 0.6 ms. That is the whole stack in one process (gateway, VTL,
# stream, engine, broadcaster); a Fargate worker runs only the engine and broadcaster, so
# treat it as a floor. Measure yours with `tickwire swarm` and pass --from-report or
# --players-per-core.
DEFAULT_PLAYERS_PER_CORE = 400.0
# Kinesis hash keys spread matches unevenly over shards: plan to this share of a shard's
# write limits (our choice, not an AWS figure).
SHARD_UTILISATION = 0.8
# A Kinesis PUT payload unit is 25 KB of a record (Kinesis pricing page, provisioned mode).
PUT_PAYLOAD_UNIT_BYTES = 25 * 1024
# On-demand data-in is metered per record rounded up to 1 KB (Kinesis pricing page).
ON_DEMAND_RECORD_ROUNDING = 1024
# DynamoDB write request unit: 1 KB; read request unit: 4 KB (DynamoDB pricing page).
DDB_WRITE_UNIT_BYTES = 1024
DDB_READ_UNIT_BYTES = 4096
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Workload:
    players: int
    match_size: int
    send_hz: float = 20.0
    input_hz: float = 10.0
    players_per_core: float = DEFAULT_PLAYERS_PER_CORE
    # Bytes of one stream record (the route's JSON envelope around the client's input).
    record_bytes: int = 300
    # Bytes of one state message (a steady-state delta of a 16-player match).
    state_bytes: int = 300
    snapshot_bytes: int = 4096
    snapshot_interval_s: float = 5.0
    # The worker's default (game_engine.worker.WorkerSettings.renew_interval): a quarter of
    # its 3 s lease.
    lease_renew_s: float = 0.75
    task_vcpu: float = 1.0
    task_memory_gb: float = 2.0
    kinesis_mode: str = "provisioned"  # or "on-demand"
    # Share of the month the players are online at this concurrency.
    occupancy: float = 1.0
    throttle_rps: float = ACCOUNT_THROTTLE_RPS
    shard_utilisation: float = SHARD_UTILISATION

    def __post_init__(self) -> None:
        if self.players < 1 or self.match_size < 1:
            raise ConfigError("players and match size must be >= 1")
        if min(self.send_hz, self.input_hz) < 0 or self.send_hz == 0:
            raise ConfigError("send rate must be > 0 and input rate >= 0")
        if self.players_per_core <= 0:
            raise ConfigError("players per core must be > 0")
        if self.kinesis_mode not in ("provisioned", "on-demand"):
            raise ConfigError("kinesis mode is 'provisioned' or 'on-demand'")
        if not 0 < self.occupancy <= 1 or not 0 < self.shard_utilisation <= 1:
            raise ConfigError("occupancy and shard utilisation must be in (0, 1]")
        if min(self.record_bytes, self.state_bytes, self.snapshot_bytes) < 1:
            raise ConfigError("sizes must be >= 1 byte")
        if (
            min(self.snapshot_interval_s, self.lease_renew_s, self.task_vcpu, self.task_memory_gb)
            <= 0
        ):
            raise ConfigError("intervals and task sizes must be > 0")


@dataclass(frozen=True)
class Plan:
    workload: Workload
    matches: int
    input_records_per_s: float
    input_bytes_per_s: float
    shards_for_records: int
    shards_for_bytes: int
    shards: int
    match_fits_shard: bool
    cores: int
    workers: int
    connections_calls_per_s: float
    client_messages_per_s: float
    account_requests_per_s: float
    throttle_share: float
    quota_increase_to: int | None
    monthly_usd: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def monthly_total_usd(self) -> float:
        return round(sum(self.monthly_usd.values()), 2)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["monthly_total_usd"] = self.monthly_total_usd
        return out


def plan(w: Workload, prices: Prices) -> Plan:
    """The plan for workload ``w`` at ``prices``."""
    notes: list[str] = []
    matches = math.ceil(w.players / w.match_size)
    records = w.players * w.input_hz
    in_bytes = records * w.record_bytes
    rec_cap = KINESIS_SHARD_RECORDS_PER_S * w.shard_utilisation
    byte_cap = KINESIS_SHARD_BYTES_PER_S * w.shard_utilisation
    shards_records = math.ceil(records / rec_cap) if records else 0
    shards_bytes = math.ceil(in_bytes / byte_cap) if in_bytes else 0
    cores = math.ceil(w.players / w.players_per_core)
    workers = math.ceil(cores / w.task_vcpu)
    shards = max(1, shards_records, shards_bytes, workers)
    if shards > max(shards_records, shards_bytes, 1):
        notes.append(f"shards raised to {shards} so each of the {workers} workers leases one")
    match_fits = (
        w.match_size * w.input_hz <= KINESIS_SHARD_RECORDS_PER_S
        and w.match_size * w.input_hz * w.record_bytes <= KINESIS_SHARD_BYTES_PER_S
    )
    if not match_fits:
        notes.append("one match writes more than a shard accepts: lower the input rate")
    posts = w.players * w.send_hz
    client = w.players * w.input_hz
    requests = posts + client
    share = requests / w.throttle_rps
    quota = None
    if requests > w.throttle_rps:
        quota = int(math.ceil(requests / 1000.0) * 1000)
        notes.append(
            f"{requests:,.0f} requests/s exceed the {w.throttle_rps:,.0f}/s account throttle: "
            f"ask AWS for {quota:,}/s (Service Quotas, API Gateway 'Throttle rate')"
        )

    hours = prices.hours_per_month
    online_s = hours * SECONDS_PER_HOUR * w.occupancy
    units = metered_units(w.state_bytes) * posts + client  # inputs are small: 1 unit each
    cost: dict[str, float] = {}
    cost["api_gateway_messages"] = units * online_s / 1e6 * prices["apigw_ws_message_per_million"]
    cost["api_gateway_connection_minutes"] = (
        w.players * online_s / 60.0 / 1e6 * prices["apigw_ws_connection_minute_per_million"]
    )
    if w.kinesis_mode == "provisioned":
        cost["kinesis_shard_hours"] = shards * hours * prices["kinesis_provisioned_shard_hour"]
        put_units = records * math.ceil(w.record_bytes / PUT_PAYLOAD_UNIT_BYTES)
        cost["kinesis_put_payload_units"] = (
            put_units * online_s / 1e6 * prices["kinesis_provisioned_put_payload_unit_per_million"]
        )
    else:
        gb = records * online_s * math.ceil(w.record_bytes / ON_DEMAND_RECORD_ROUNDING) / 1024**2
        cost["kinesis_stream_hours"] = hours * prices["kinesis_on_demand_stream_hour"]
        cost["kinesis_data_in"] = gb * prices["kinesis_on_demand_data_in_per_gb"]
        cost["kinesis_data_out"] = gb * prices["kinesis_on_demand_data_out_per_gb"]
    cost["fargate"] = (
        workers
        * hours
        * (w.task_vcpu * prices["fargate_vcpu_hour"] + w.task_memory_gb * prices["fargate_gb_hour"])
    )
    snapshot_wru = math.ceil(w.snapshot_bytes / DDB_WRITE_UNIT_BYTES)
    writes_per_s = (
        matches * snapshot_wru / w.snapshot_interval_s
        + shards / w.lease_renew_s
        + shards / w.snapshot_interval_s
    )
    reads_per_s = shards / w.lease_renew_s  # lease scans by workers looking for work
    cost["dynamodb_writes"] = (
        writes_per_s * online_s / 1e6 * prices["dynamodb_on_demand_write_per_million"]
    )
    cost["dynamodb_reads"] = (
        reads_per_s * online_s / 1e6 * prices["dynamodb_on_demand_read_per_million"]
    )
    if prices.unconfirmed:
        notes.append(
            f"{len(prices.unconfirmed)} of the prices (as of {prices.as_of}) could not be "
            "confirmed on an AWS page: see swarm/prices.json"
        )
    return Plan(
        workload=w,
        matches=matches,
        input_records_per_s=records,
        input_bytes_per_s=in_bytes,
        shards_for_records=shards_records,
        shards_for_bytes=shards_bytes,
        shards=shards,
        match_fits_shard=match_fits,
        cores=cores,
        workers=workers,
        connections_calls_per_s=posts,
        client_messages_per_s=client,
        account_requests_per_s=requests,
        throttle_share=round(share, 4),
        quota_increase_to=quota,
        monthly_usd={k: round(v, 2) for k, v in cost.items()},
        notes=notes,
    )


def render_plan(p: Plan) -> str:
    w = p.workload
    lines = [
        f"{w.players:,} players in {p.matches:,} matches of {w.match_size}, "
        f"{w.send_hz:g} Hz state, {w.input_hz:g} Hz input",
        f"  Kinesis shards     {p.shards:>8}   (records {p.input_records_per_s:,.0f}/s -> "
        f"{p.shards_for_records}, bytes {p.input_bytes_per_s / 1024:,.0f} KiB/s -> "
        f"{p.shards_for_bytes}, at {w.shard_utilisation:.0%} of 1,000 rec/s and 1 MiB/s)",
        f"  worker cores       {p.cores:>8}   ({w.players_per_core:,.0f} players per core)",
        f"  Fargate tasks      {p.workers:>8}   ({w.task_vcpu:g} vCPU, {w.task_memory_gb:g} GB)",
        f"  @connections       {p.connections_calls_per_s:>8,.0f}/s",
        f"  account requests   {p.account_requests_per_s:>8,.0f}/s   "
        f"({p.throttle_share:.0%} of the {w.throttle_rps:,.0f}/s throttle)"
        + (f"; quota needed {p.quota_increase_to:,}/s" if p.quota_increase_to else ""),
        "  monthly cost (USD, us-east-1 list prices)",
    ]
    for name, usd in p.monthly_usd.items():
        lines.append(f"    {name:<32}{usd:>12,.2f}")
    lines.append(f"    {'total':<32}{p.monthly_total_usd:>12,.2f}")
    lines.extend(f"  note: {n}" for n in p.notes)
    return "\n".join(lines)
