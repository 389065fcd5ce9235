"""The loop watch tells the loop's own stalls from descheduling, and the GC pacer keeps
automatic collection off while collecting on its timer."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tickwire.gc_tuning import GcPacer
from tickwire.loopwatch import LoopWatch
from tickwire.metrics import Metrics, PrometheusBackend


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def test_a_busy_callback_is_an_own_stall_a_sleeping_one_only_wall_clock() -> None:
    watch = LoopWatch(interval_s=0.002)
    watch.start()
    try:
        await asyncio.sleep(0.02)
        _busy(0.03)  # the loop's own work: 30 ms on the CPU
        await asyncio.sleep(0.02)
        # The thread off the CPU, as when the kernel runs another process (a blocking
        # sleep in the loop is this test's point).
        time.sleep(0.03)  # noqa: ASYNC251
        await asyncio.sleep(0.02)
    finally:
        watch.stop()
    assert watch.stalls.largest >= 0.025
    assert sum(watch.stalls.counts) >= 2
    # Only the busy stall was the loop's own; the sleep is not counted as one.
    assert 0.02 <= watch.own_stalls.largest <= 0.045
    # (buckets past 15 ms: the busy 30 ms alone, never the 30 ms sleep)
    assert sum(watch.own_stalls.counts[7:]) == 1


async def test_stalls_are_served_as_prometheus_histograms() -> None:
    registry = CollectorRegistry()
    watch = LoopWatch(interval_s=0.002)
    registry.register(watch)
    watch.start()
    try:
        await asyncio.sleep(0.01)
        _busy(0.012)
        await asyncio.sleep(0.01)
    finally:
        watch.stop()
    text = generate_latest(registry).decode()
    assert 'tickwire_loop_own_stall_seconds_bucket{le="0.015"} 1.0' in text
    assert "tickwire_loop_stall_seconds_max" in text
    assert "tickwire_gc_pause_seconds_count" in text


async def test_gc_pacer_collects_on_its_timer_with_automatic_collection_off() -> None:
    was = gc.isenabled()
    pacer = GcPacer(young_every_s=0.01, middle_every_s=0.03, full_every_s=0.1)
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        pacer.start()
        assert not gc.isenabled()
        await asyncio.sleep(0.35)
    finally:
        await pacer.stop()
        gc.callbacks.remove(seen)
        gc.unfreeze()
    assert gc.isenabled() == was
    assert {0, 1, 2} <= set(collections), collections
    assert pacer.full_collections >= 2


def test_histograms_take_many_observations_at_once() -> None:
    metrics = Metrics(PrometheusBackend())
    h = metrics.histogram("fan_seconds", "fan-out")
    h.observe(0.003)
    h.observe_many(0.2, 5000)
    text = metrics.backend.render().decode()  # type: ignore[attr-defined]
    assert 'tickwire_fan_seconds_bucket{le="0.005"} 1.0' in text
    assert 'tickwire_fan_seconds_bucket{le="0.25"} 5001.0' in text
    assert "tickwire_fan_seconds_sum 1000.003" in text


def test_up_runs_the_probe_at_the_period_it_is_given() -> None:
    from tickwire.cli import build_parser
    from tickwire.commands.up import settings_from

    parser = build_parser("up")
    assert settings_from(parser.parse_args(["up"])).loop_probe_s == 0.01
    assert settings_from(parser.parse_args(["up", "--loop-probe-ms", "2"])).loop_probe_s == 0.002
    with pytest.raises(SystemExit):
        parser.parse_args(["up", "--loop-probe-ms", "0"])
