"""The dated price table (``swarm/prices.json``): loading and checking.

Every price carries its unit, source URL and whether it was confirmed on an AWS page;
calculations take a :class:`Prices` so tests can pass their own figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from swarm.errors import PriceError

__all__ = ["REQUIRED", "Prices", "load_prices"]

REQUIRED = (
    "apigw_ws_message_per_million",
    "apigw_ws_connection_minute_per_million",
    "kinesis_provisioned_shard_hour",
    "kinesis_provisioned_put_payload_unit_per_million",
    "kinesis_on_demand_stream_hour",
    "kinesis_on_demand_data_in_per_gb",
    "kinesis_on_demand_data_out_per_gb",
    "fargate_vcpu_hour",
    "fargate_gb_hour",
    "dynamodb_on_demand_write_per_million",
    "dynamodb_on_demand_read_per_million",
)


@dataclass(frozen=True)
class Prices:
    as_of: str
    region: str
    hours_per_month: float
    values: dict[str, float]
    unconfirmed: tuple[str, ...]

    def __getitem__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise PriceError(f"no price {name!r} in the table") from None


def parse_prices(data: dict[str, Any]) -> Prices:
    try:
        table = data["prices"]
        values = {name: float(entry["value"]) for name, entry in table.items()}
        missing = [name for name in REQUIRED if name not in values]
        if missing:
            raise PriceError(f"price table lacks {', '.join(missing)}")
        for name, entry in table.items():
            if not str(entry.get("source", "")).startswith("https://"):
                raise PriceError(f"price {name!r} has no source URL")
        return Prices(
            as_of=str(data["as_of"]),
            region=str(data["region"]),
            hours_per_month=float(data.get("hours_per_month", 730)),
            values=values,
            unconfirmed=tuple(n for n, e in table.items() if not e.get("confirmed", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PriceError):
            raise
        raise PriceError(f"malformed price table: {exc}") from exc


def load_prices(path: str | Path | None = None) -> Prices:
    """The table at ``path``, or the one shipped in the package."""
    if path is None:
        text = resources.files("swarm").joinpath("prices.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        return parse_prices(json.loads(text))
    except json.JSONDecodeError as exc:
        raise PriceError(f"price table is not JSON: {exc}") from exc
