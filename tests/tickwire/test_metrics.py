"""The metrics facade: Prometheus text that prometheus_client's parser reads back, and EMF
documents valid per the CloudWatch Embedded Metric Format specification."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tickwire.metrics import (
    EMF_MAX_VALUES_PER_LINE,
    EmfBackend,
    Figures,
    Metrics,
    NullBackend,
    PrometheusBackend,
    backend_from_env,
    configure,
    figures,
)

CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(doc: dict[str, Any]) -> None:
    """Validate one EMF document against the specification's MUSTs."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for d in directives:
        assert set(d) <= {"Namespace", "Dimensions", "Metrics"}
        assert 1 <= len(d["Namespace"]) <= 255
        for dim_set in d["Dimensions"]:
            assert len(dim_set) <= 30
            for dim in dim_set:
                assert isinstance(doc[dim], str)  # target members are strings
        assert 1 <= len(d["Metrics"]) <= 100
        for m in d["Metrics"]:
            assert set(m) <= {"Name", "Unit", "StorageResolution"}
            assert m["Unit"] in CLOUDWATCH_UNITS
            value = doc[m["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= EMF_MAX_VALUES_PER_LINE
            assert all(isinstance(v, int | float) for v in values)


def families(backend: PrometheusBackend) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(backend.render().decode())}


def test_prometheus_text_parses_with_all_figures() -> None:
    backend = PrometheusBackend()
    fig = Figures.create(Metrics(backend))
    fig.connections.set(3)
    fig.messages.inc(direction="out")
    fig.messages.inc(5, direction="in")
    fig.metered_units.inc(2, direction="out")
    fig.tick_seconds.observe(0.004)
    fig.tick_seconds.observe(0.07)
    fig.tick_overruns.inc()
    fig.queue_depth.set(17, queue="stream")
    fig.fanout_seconds.observe(0.002)
    fig.gone.inc()
    fig.throttled.inc(where="connections")
    fig.rejected.inc(reason="bad_json")
    fams = families(backend)
    assert fams["tickwire_connections"].samples[0].value == 3
    msgs = {
        s.labels["direction"]: s.value
        for s in fams["tickwire_messages"].samples
        if s.name.endswith("_total")
    }
    assert msgs == {"out": 1.0, "in": 5.0}
    tick = {
        s.name: s.value for s in fams["tickwire_tick_seconds"].samples if not s.labels.get("le")
    }
    assert tick["tickwire_tick_seconds_count"] == 2
    assert tick["tickwire_tick_seconds_sum"] == pytest.approx(0.074)
    assert fams["tickwire_queue_depth"].samples[0].labels == {"queue": "stream"}
    for name in ("gone", "throttled", "tick_overruns", "metered_units", "fanout_seconds"):
        assert f"tickwire_{name}" in fams


def test_two_facades_do_not_share_a_registry() -> None:
    a, b = PrometheusBackend(), PrometheusBackend()
    Figures.create(Metrics(a)).gone.inc()
    Figures.create(Metrics(b))  # no "Duplicated timeseries" error
    assert "tickwire_gone_total 1.0" in a.render().decode()
    assert "tickwire_gone_total 0.0" in b.render().decode()


def test_emf_lines_are_valid_and_drain() -> None:
    out = io.StringIO()
    backend = EmfBackend(
        "tickwire-test",
        stream=out,
        fixed_dimensions={"service": "worker"},
        clock=lambda: 1700000000.5,
    )
    fig = Figures.create(Metrics(backend))
    fig.messages.inc(2, direction="out")
    fig.messages.inc(3, direction="out")
    fig.connections.set(7)
    for i in range(250):
        fig.tick_seconds.observe(i / 1000)
    assert backend.flush() == 2 + 3  # a counter, a gauge, 250 values in 3 lines
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    for doc in docs:
        check_emf(doc)
        assert doc["_aws"]["Timestamp"] == 1700000000500
        assert doc["service"] == "worker"
    by_name = {}
    for doc in docs:
        name = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        by_name.setdefault(name, []).append(doc)
    assert by_name["messages"][0]["messages"] == 5.0
    assert by_name["messages"][0]["direction"] == "out"
    assert by_name["messages"][0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["direction", "service"]
    ]
    assert by_name["connections"][0]["connections"] == 7
    assert sum(len(d["tick_seconds"]) for d in by_name["tick_seconds"]) == 250
    # Drained: nothing new, nothing written; counters report increases, not totals.
    assert backend.flush() == 0
    fig.messages.inc(direction="out")
    assert json.loads(backend.lines()[0])["messages"] == 1.0


def test_emf_bounds_histogram_values() -> None:
    backend = EmfBackend(max_values=10)
    h = Metrics(backend).histogram("x", "x")
    for i in range(15):
        h.observe(i)
    assert backend.dropped_values == 5
    assert sum(len(json.loads(line)["x"]) for line in backend.lines()) == 10


@given(
    st.dictionaries(
        st.sampled_from(["in", "out", "x y", 'q"uote', "ü"]),
        st.floats(0, 1e9, allow_nan=False),
        max_size=5,
    )
)
def test_emf_and_prometheus_agree_on_counters(incs: dict[str, float]) -> None:
    emf, prom = EmfBackend(), PrometheusBackend()
    for backend in (emf, prom):
        c = Metrics(backend).counter("messages", "m", ("direction",))
        for label, amount in incs.items():
            c.inc(amount, direction=label)
    emf_values = {}
    for line in emf.lines():
        doc = json.loads(line)
        check_emf(doc)
        emf_values[doc["direction"]] = doc["messages"]
    prom_values = {
        s.labels["direction"]: s.value
        for s in families(prom)["tickwire_messages"].samples
        if s.name == "tickwire_messages_total"
    }
    assert emf_values == pytest.approx(incs)
    assert prom_values == pytest.approx(incs)


def test_label_misuse_and_series_guard() -> None:
    backend = PrometheusBackend()
    m = Metrics(backend, max_series=3)
    c = m.counter("hits", "h", ("who",))
    with pytest.raises(ValueError):
        c.inc(who="a", extra="b")
    with pytest.raises(ValueError):
        c.inc(-1, who="a")
    for i in range(10):
        c.inc(who=str(i))
    fams = families(backend)
    assert len([s for s in fams["tickwire_hits"].samples if s.name == "tickwire_hits_total"]) == 3
    dropped = [
        s for s in fams["tickwire_metrics_dropped_series"].samples if s.name.endswith("_total")
    ]
    assert dropped[0].value == 7
    # Same name, different declaration: refused; same declaration: the same instrument.
    with pytest.raises(ValueError):
        m.gauge("hits", "h")
    assert m.counter("hits", "h", ("who",)) is c


def test_backend_from_env() -> None:
    assert isinstance(backend_from_env({}), PrometheusBackend)
    emf = backend_from_env({"TICKWIRE_METRICS": "emf", "TICKWIRE_METRICS_NAMESPACE": "game"})
    assert isinstance(emf, EmfBackend) and emf.namespace == "game"
    assert isinstance(backend_from_env({"TICKWIRE_METRICS": "off"}), NullBackend)
    with pytest.raises(ValueError):
        backend_from_env({"TICKWIRE_METRICS": "statsd"})


def test_process_wide_figures() -> None:
    backend = PrometheusBackend()
    configure(backend)
    figures().gone.inc()
    assert "tickwire_gone_total 1.0" in backend.render().decode()


def test_figures_share_the_gateways_registry() -> None:
    # The composition root can put the facade's figures on the gateway's own /metrics by
    # handing PrometheusBackend the gateway's registry: no name collides.
    from infra.local.gateway.metering import Metering

    metering = Metering()
    fig = Figures.create(Metrics(PrometheusBackend(registry=metering.registry)))
    fig.tick_overruns.inc()
    names = {f.name for f in text_string_to_metric_families(metering.prometheus_text().decode())}
    assert "tickwire_tick_overruns" in names
    assert any(n.startswith("tickwire_gateway_") for n in names)


async def test_emf_run_flushes_periodically_and_on_cancel() -> None:
    import asyncio

    out = io.StringIO()
    backend = EmfBackend(stream=out)
    gone = Figures.create(Metrics(backend)).gone
    gone.inc()
    task = asyncio.create_task(backend.run(interval_s=0.01))
    async with asyncio.timeout(20):
        while not out.getvalue():  # noqa: ASYNC110 - polling a StringIO another task fills
            await asyncio.sleep(0.01)
    gone.inc(2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    values = [json.loads(line)["gone"] for line in out.getvalue().splitlines()]
    assert sum(values) == 3
