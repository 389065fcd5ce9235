"""The swarm report as one self-contained HTML file: inline CSS and SVG, no scripts, no
external resources (no CDN), so it opens offline and can be attached to a CI run.

Charts: input->ack p50/p95/p99 over time; messages/s each way and bots connected over
time. Everything is drawn from the report's ``intervals``; all text is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["render_html", "svg_chart", "write_html"]

_W, _H, _PAD_L, _PAD_B, _PAD_T, _PAD_R = 720, 250, 56, 28, 22, 12
_COLOURS = ("#1b6ca8", "#e07b00", "#c0392b", "#2e8b57")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10.0 ** len(str(int(value))) / 10.0
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * mult:
            return step * mult
    return float(value)


def svg_chart(
    title: str,
    xs: Sequence[float],
    series: Sequence[tuple[str, Sequence[float | None]]],
    unit: str,
    shade_until: float = 0.0,
) -> str:
    """A line chart as inline SVG: one polyline per series, gaps where a value is None;
    the span before ``shade_until`` (the ramp-up) is shaded."""
    values = [v for _, ys in series for v in ys if v is not None]
    ymax = _nice_max(max(values, default=0.0))
    xmax = max(xs, default=1.0) or 1.0
    pw, ph = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def px(x: float) -> float:
        return _PAD_L + pw * x / xmax

    def py(y: float) -> float:
        return _PAD_T + ph * (1.0 - y / ymax)

    parts = [
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}" class="chart">',
        f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" class="plot"/>',
    ]
    for i in range(5):
        y = ymax * i / 4
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_PAD_L + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>'
            f'<text x="{_PAD_L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>'
        )
    for i in range(5):
        x = xmax * i / 4
        parts.append(f'<text x="{px(x):.1f}" y="{_H - 8}" text-anchor="middle">{x:.3g} s</text>')
    parts.append(f'<text x="{_PAD_L}" y="12" class="unit">{escape(unit)}</text>')
    if shade_until:
        parts.append(
            f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{px(min(shade_until, xmax)) - _PAD_L:.1f}" '
            f'height="{ph}" class="ramp"/><text x="{_PAD_L + 4}" y="{_PAD_T + ph - 6}">ramp-up</text>'
        )
    for n, (name, ys) in enumerate(series):
        colour = _COLOURS[n % len(_COLOURS)]
        run: list[str] = []
        runs: list[list[str]] = [run]
        for x, value in zip(xs, ys, strict=True):
            if value is None:
                run = []
                runs.append(run)
            else:
                run.append(f"{px(x):.1f},{py(value):.1f}")
        for points in runs:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif points:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{" ".join(points)}"/>'
                )
        lx = _PAD_L + 10 + n * 130
        parts.append(
            f'<rect x="{lx}" y="{_PAD_T + 6}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="{_PAD_T + 12}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:780px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}
.pass{color:#2e8b57;font-weight:bold}.fail{color:#c0392b;font-weight:bold}
figure{margin:1em 0}figcaption{font-weight:600}
svg.chart{width:100%;height:auto}svg text{font-size:11px;fill:#444}
.plot{fill:#fafafa;stroke:#bbb}.ramp{fill:#eee}.grid{stroke:#e4e4e4}.unit{font-style:italic}
code{background:#f3f3f3;padding:0 3px}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _kv_table(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    s, c, a, cap = report["summary"], report["config"], report["aws"], report["capacity"]
    intervals = report["intervals"]
    interval_s = report["schedule"]["interval_s"]
    xs = [float(i["t"]) for i in intervals]
    ramp_end = float(report["schedule"]["steady_from_s"])
    latency = svg_chart(
        "input→ack latency per interval",
        xs,
        [(f"p{p}", [i["ack_ms"][f"p{p}"] for i in intervals]) for p in (50, 95, 99)],
        "ms",
        ramp_end,
    )
    throughput = svg_chart(
        "messages per second and bots connected",
        xs,
        [
            ("in (state)", [i["msgs_in"] / interval_s for i in intervals]),
            ("out (inputs)", [i["msgs_out"] / interval_s for i in intervals]),
            ("bots connected", [float(i["connected"]) for i in intervals]),
        ],
        "per s / bots",
        ramp_end,
    )
    pct_head = "".join(
        f"<th>{k}</th>" for k in ("count", "p50", "p90", "p95", "p99", "p99.9", "max")
    )
    labels = {"connect": "connect", "ack": "input→ack", "delay": "tick-to-receive"}
    pct_rows = "".join(
        f"<tr><td>{label}</td>"
        + "".join(
            f"<td>{_cell(s['latency_ms'][name][k])}</td>"
            for k in ("count", "p50", "p90", "p95", "p99", "p99.9", "max")
        )
        + "</tr>"
        for name, label in labels.items()
    )
    errors = s["errors"]
    error_rows = _kv_table(sorted(errors.items())) if errors else "<p>No errors.</p>"
    verdict = "PASS" if cap["passed"] else "FAIL"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tickwire swarm report {escape(str(c["run_id"]))}</title>
<style>{_CSS}</style></head><body>
<h1>tickwire swarm report</h1>
<p>Run <code>{escape(str(c["run_id"]))}</code> started {escape(report["started_at"])} against
<code>{escape(str(c["url"]))}</code>: {c["bots"]:,} bots in {c["matches"]:,} matches,
{escape(str(c["behaviour"]))} behaviour, {c["input_hz"]:g} inputs/s per bot, {
        c["procs"]
    } process(es).
Verdict: <span class="{verdict.lower()}">{verdict}</span> (p99 input→ack ≤ {
        cap["p99_limit_ms"]:g} ms,
no errors, all bots connected).</p>
<h2>Latency (ms, measured phase; connect over the whole run)</h2>
<table><tr><th></th>{pct_head}</tr>{pct_rows}</table>
{latency}
<h2>Throughput</h2>
{
        _kv_table(
            [
                ("measured seconds", s["steady_seconds"]),
                ("bots connected (min..max)", f"{s['connected_min']}..{s['connected_max']}"),
                ("state messages in /s", s["msgs_in_per_s"]),
                ("input messages out /s", s["msgs_out_per_s"]),
                ("bytes in", s["bytes_in"]),
                ("bytes out", s["bytes_out"]),
            ]
        )
    }
{throughput}
<h2>Errors</h2>
{error_rows}
<h2>AWS bill and quota view</h2>
<p>What API Gateway would meter for the measured traffic (prices of {escape(a["prices_as_of"])},
us-east-1, from <code>swarm/prices.json</code>).</p>
{
        _kv_table(
            [
                ("client → gateway messages", a["messages_client_to_gateway"]),
                ("@connections calls (gateway → client)", a["messages_gateway_to_client"]),
                ("metered 32 KB units", a["metered_units"]),
                ("units per message", a["units_per_message"]),
                ("connection minutes", a["connection_minutes"]),
                ("requests/s, mean", a["requests_per_s_mean"]),
                ("requests/s, peak interval", a["requests_per_s_peak"]),
                (
                    "share of the account throttle at peak",
                    f"{100 * a['throttle_share_peak']:.2f} % of {a['account_throttle_rps']:,.0f}/s",
                ),
                (
                    "@connections calls per player per second",
                    a["connections_calls_per_player_per_s"],
                ),
                ("cost of this run (USD)", f"{a['cost_usd']:.6f}"),
                ("cost per month if sustained (USD)", a["cost_usd_per_month_if_sustained"]),
            ]
        )
    }
</body></html>
"""


def write_html(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(render_html(report), encoding="utf-8")
