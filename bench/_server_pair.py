"""Plumbing shared by P1 and P2: a bare aiohttp baseline and the gateway, each serving in
its own process; repetitions that alternate which one runs first (load drift on a shared
machine must not favour either); medians, spreads and the ratio.

A benchmark module defines ``async def serve(kind, pipe)`` ("bare" or "gateway"): it
sends its port through ``pipe``, serves until it receives "stop", then sends "stopped".
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing as mp
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

KINDS = ("bare", "gateway")


def _serve_in_process(module: str, kind: str, pipe: Connection, profile: str | None) -> None:
    serve = importlib.import_module(module).serve

    def run() -> None:
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            runner.run(serve(kind, pipe))

    if profile:
        import cProfile

        cProfile.runctx("run()", globals(), {"run": run}, profile)
    else:
        run()


@contextmanager
def server_pair(module: str, profile: str | None = None) -> Iterator[dict[str, int]]:
    """Start both servers of ``module``; yields {kind: port}; stops them after."""
    ctx = mp.get_context("spawn")
    started: list[tuple[Any, Connection]] = []
    ports: dict[str, int] = {}
    try:
        for kind in KINDS:
            mine, theirs = ctx.Pipe()
            gateway_profile = profile if kind == "gateway" else None
            process = ctx.Process(
                target=_serve_in_process, args=(module, kind, theirs, gateway_profile), daemon=True
            )
            process.start()
            started.append((process, mine))
            ports[kind] = mine.recv()
        yield ports
    finally:
        for process, pipe in started:
            pipe.send("stop")
            if pipe.poll(30):
                pipe.recv()
            process.join(10)


def compare(
    reps: int,
    measure: Callable[[str, int], float],
    ports: dict[str, int],
    *,
    figure: str,
    unit: str,
    labels: dict[str, str],
    target: float,
) -> int:
    """Run ``measure(kind, port)`` ``reps`` times per server, alternating the order; print
    each rep, the medians with their spread and the ratio; exit code 0 when it meets
    ``target``."""
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for rep in range(reps):
        for kind in KINDS if rep % 2 == 0 else KINDS[::-1]:
            rate = measure(kind, ports[kind])
            print(f"rep {rep + 1} {kind:8s} {rate:9.0f} {unit}")
            rates[kind].append(rate)
    medians = {kind: statistics.median(values) for kind, values in rates.items()}
    width = max(len(label) for label in labels.values())
    for kind in KINDS:
        values = rates[kind]
        print(
            f"{labels[kind]:<{width}}  {medians[kind]:.0f} {unit} "
            f"(spread {min(values):.0f}..{max(values):.0f})"
        )
    ratios = [g / b for g, b in zip(rates["gateway"], rates["bare"], strict=True)]
    ratio = medians["gateway"] / medians["bare"]
    print(
        f"{figure} ratio: {ratio:.2f} (per-rep {min(ratios):.2f}..{max(ratios):.2f}; "
        f"target >= {target})"
    )
    return 0 if ratio >= target else 1
