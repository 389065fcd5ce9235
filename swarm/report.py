"""The swarm report: a JSON document (schema version 1) and the final text table.

Report layout (``REPORT_KEYS``)::

    {"tickwire_swarm_report": 1, "started_at", "config", "schedule",
     "summary": {..., "latency_ms": {"connect"|"ack"|"delay": {p50, p90, p95, p99, p99.9,
                                                              min, max, mean, count}}},
     "intervals": [{index, t, phase, connected, msgs_in, msgs_out, bytes_in, bytes_out,
                    errors, ack_ms: {p50, p95, p99}}],
     "aws": swarm.metering.aws_view(...), "capacity": {...},
     "histograms": {"ack"|"delay"|"connect": HDR base64}}

Totals are over the steady intervals (after ramp-up and one warm-up interval); the
connect histogram covers the whole run. The report never contains the token secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from swarm.errors import ReportError
from swarm.metering import aws_view
from swarm.prices import Prices, load_prices
from swarm.runner import Interval, SwarmResult
from swarm.stats import HISTOGRAMS

__all__ = [
    "REPORT_KEYS",
    "REPORT_VERSION",
    "build_report",
    "failed_criteria",
    "interval_row",
    "load_report",
    "render_table",
    "write_report",
]

REPORT_VERSION = 1
REPORT_KEYS = (
    "tickwire_swarm_report",
    "started_at",
    "config",
    "schedule",
    "summary",
    "intervals",
    "aws",
    "capacity",
    "histograms",
)
# Settings copied into the report (never the secret).
_CONFIG_FIELDS = (
    "url",
    "bots",
    "matches",
    "duration_s",
    "ramp_s",
    "input_hz",
    "procs",
    "behaviour",
    "max_connect_rate",
    "interval_s",
    "ack_timeout_s",
    "tick_hz",
    "run_id",
)


def interval_row(interval: Interval) -> dict[str, Any]:
    s = interval.sample
    ack = s.percentiles("ack")
    return {
        "index": interval.index,
        "t": interval.t,
        "phase": interval.phase,
        "connected": s.connected,
        "msgs_in": s.counters["msgs_in"],
        "msgs_out": s.counters["msgs_out"],
        "bytes_in": s.counters["bytes_in"],
        "bytes_out": s.counters["bytes_out"],
        "errors": dict(s.errors),
        "ack_ms": {"p50": ack["p50"], "p95": ack["p95"], "p99": ack["p99"]},
    }


def build_report(
    result: SwarmResult,
    *,
    prices: Prices | None = None,
    server_cores: float = 1.0,
    p99_limit_ms: float = 100.0,
) -> dict[str, Any]:
    prices = prices if prices is not None else load_prices()
    c = result.config
    steady, overall = result.steady, result.overall
    seconds = result.steady_seconds
    interval_s = result.schedule.interval
    steady_intervals = [i for i in result.intervals if i.phase == "steady"]
    peak_rps = max(
        (
            (i.sample.counters["msgs_in"] + i.sample.counters["msgs_out"]) / interval_s
            for i in steady_intervals
        ),
        default=0.0,
    )
    connected = [i.sample.connected for i in steady_intervals]
    errors = dict(overall.errors)
    if result.crashes:  # a bot process that died is an error of the run, not a pass
        errors["process:crash"] = len(result.crashes)
    per_s = (lambda n: round(n / seconds, 1)) if seconds > 0 else (lambda n: 0.0)
    failed = failed_criteria(
        p99_ms=steady.percentiles("ack")["p99"],
        p99_limit_ms=p99_limit_ms,
        errors=errors,
        connected_min=min(connected, default=0),
        bots=c.bots,
    )
    ok = not failed
    summary = {
        "bots": c.bots,
        "connected_min": min(connected, default=0),
        "connected_max": max((i.sample.connected for i in result.intervals), default=0),
        "steady_seconds": seconds,
        "wall_seconds": round(result.wall_s, 2),
        **{name: steady.counters[name] for name in steady.counters},
        "msgs_in_per_s": per_s(steady.counters["msgs_in"]),
        "msgs_out_per_s": per_s(steady.counters["msgs_out"]),
        "errors": errors,
        "error_count": sum(errors.values()),
        "crashes": result.crashes,
        "latency_ms": {name: steady.percentiles(name) for name in HISTOGRAMS},
    }
    return {
        "tickwire_swarm_report": REPORT_VERSION,
        "started_at": result.started_at,
        "config": {name: getattr(c, name) for name in _CONFIG_FIELDS},
        "schedule": {
            "interval_s": interval_s,
            "ramp_s": round(result.schedule.ramp_s, 3),
            "steady_from_s": result.schedule.steady_index * interval_s,
            "end_s": result.schedule.end_s,
        },
        "summary": summary,
        "intervals": [interval_row(i) for i in result.intervals],
        "aws": aws_view(
            steady.counters,
            connection_seconds=steady.connection_seconds,
            seconds=seconds,
            peak_requests_per_s=peak_rps,
            players=c.bots,
            prices=prices,
        ),
        "capacity": {
            "p99_limit_ms": p99_limit_ms,
            "passed": ok,
            "failed": failed,
            "players": c.bots,
            "server_cores": server_cores,
            "players_per_core": round(c.bots / server_cores, 1) if ok else None,
        },
        "histograms": steady.encode()["histograms"],
    }


def write_report(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def load_report(path: str | Path) -> dict[str, Any]:
    """A report written by :func:`write_report`; raises ReportError for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read swarm report {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("tickwire_swarm_report") != REPORT_VERSION:
        raise ReportError(f"{path} is not a version {REPORT_VERSION} swarm report")
    missing = [k for k in REPORT_KEYS if k not in data]
    if missing:
        raise ReportError(f"{path} lacks {', '.join(missing)}")
    return data


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_table(report: dict[str, Any]) -> str:
    """The final table: percentiles per measurement, throughput, errors, AWS view."""
    s = report["summary"]
    lines = [
        f"{'latency (ms)':<22}{'count':>9}{'p50':>9}{'p90':>9}{'p95':>9}{'p99':>9}"
        f"{'p99.9':>9}{'max':>9}",
    ]
    labels = {"connect": "connect", "ack": "input->ack", "delay": "tick-to-receive"}
    for name, label in labels.items():
        p = s["latency_ms"][name]
        lines.append(
            f"{label:<22}{p['count']:>9}"
            + "".join(f"{_ms(p[k]):>9}" for k in ("p50", "p90", "p95", "p99", "p99.9", "max"))
        )
    lines.append("")
    lines.append(
        f"bots {s['bots']} (connected {s['connected_min']}..{s['connected_max']}), "
        f"measured {s['steady_seconds']:.0f} s: "
        f"in {s['msgs_in_per_s']:.0f} msg/s ({s['bytes_in']} B), "
        f"out {s['msgs_out_per_s']:.0f} msg/s ({s['bytes_out']} B)"
    )
    errors = s["errors"]
    lines.append(
        "errors: none"
        if not errors
        else "errors: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
    )
    for crash in s["crashes"]:
        lines.append(f"process {crash['proc']} failed: {crash['error']}")
    a = report["aws"]
    per_message = a["units_per_message"]
    lines.append(
        f"AWS view: {a['metered_units']} metered 32 KB units "
        + (f"({per_message} per message), " if per_message is not None else "(no messages), ")
        + f"{a['connection_minutes']:.1f} connection "
        f"minutes, {a['requests_per_s_peak']:.0f} req/s peak = "
        f"{100 * a['throttle_share_peak']:.1f} % of the {a['account_throttle_rps']:.0f}/s "
        f"account throttle; ${a['cost_usd']:.6f} for this run, "
        f"${a['cost_usd_per_month_if_sustained']:.2f}/month if sustained "
        f"(prices of {a['prices_as_of']})"
    )
    cap = report["capacity"]
    if cap["passed"]:
        lines.append(
            f"verdict: PASS (p99 input->ack {_ms(s['latency_ms']['ack']['p99'])} ms <= "
            f"{cap['p99_limit_ms']:g} ms, no errors, all {s['bots']} bots connected)"
        )
    else:
        lines.append("verdict: FAIL: " + "; ".join(cap.get("failed") or ["see above"]))
    return "\n".join(lines)


def failed_criteria(
    *,
    p99_ms: float | None,
    p99_limit_ms: float,
    errors: Mapping[str, int],
    connected_min: int,
    bots: int,
) -> list[str]:
    """Which of the pass criteria a run missed, each as a short phrase (empty: it passed).

    The criteria are P7's: p99 input->ack within the limit, no errors (a crashed bot
    process counts as one), every bot connected through the measured phase.
    """
    failed: list[str] = []
    if p99_ms is None:
        failed.append("no input was acknowledged in the measured phase")
    elif p99_ms > p99_limit_ms:
        failed.append(f"p99 input->ack {p99_ms:.1f} ms > {p99_limit_ms:g} ms (--p99-limit)")
    if errors:
        top = ", ".join(
            f"{kind} {n}" for kind, n in sorted(errors.items(), key=lambda e: -e[1])[:3]
        )
        failed.append(f"{sum(errors.values())} errors ({top})")
    if connected_min < bots:
        failed.append(f"only {connected_min} of {bots} bots stayed connected")
    return failed
