"""Players per core for the planner, from swarm reports that bracket the server's ceiling.

A run that passes shows the server carried that many bots, nothing more: ten bots that
pass say "at least 10 players per core", and planning 20,000 players from that figure
buys a thousand times the workers needed. A capacity is known only between the largest
passing run and a failing run with more bots against the same target; that is what
:func:`ceiling_from_reports` asks for, and it refuses anything less with a message
saying what to run next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarm.errors import ReportError

__all__ = ["Ceiling", "ceiling_from_reports"]

# Config fields that must agree for runs to measure the same thing (the target and the
# per-bot load); bots, matches, duration and ramp may differ.
SAME_TARGET = ("url", "behaviour", "input_hz", "tick_hz")
# Error kinds that mean a run was set up wrong, not that the server ran out of room: such
# a failing run brackets nothing.
NOT_LOAD = ("refused:401", "refused:403", "token:")


@dataclass(frozen=True)
class Ceiling:
    """The bracket: ``passed_bots`` carried, ``failed_bots`` not, on ``server_cores``."""

    passed_bots: int
    failed_bots: int
    server_cores: float

    @property
    def players_per_core(self) -> float:
        """The planning figure: the largest load that passed (the safe side)."""
        return round(self.passed_bots / self.server_cores, 1)

    def describe(self) -> str:
        return (
            f"capacity between {self.passed_bots} (passed) and {self.failed_bots} (failed) "
            f"bots on {self.server_cores:g} server core(s): planning with "
            f"{self.players_per_core:g} players per core"
        )


def ceiling_from_reports(reports: Mapping[str, Mapping[str, Any]]) -> Ceiling:
    """The bracket found by ``reports`` (path -> loaded report); raises ReportError when
    they do not bracket a ceiling, saying why and what to run."""
    if not reports:
        raise ReportError("no swarm report given")
    paths: Sequence[str] = list(reports)
    first = reports[paths[0]]
    for path in paths[1:]:
        for name in SAME_TARGET:
            if reports[path]["config"].get(name) != first["config"].get(name):
                raise ReportError(
                    f"{path} and {paths[0]} differ in {name} "
                    f"({reports[path]['config'].get(name)!r} vs {first['config'].get(name)!r}): "
                    "a ceiling needs runs of the same target and load per bot"
                )
        if reports[path]["capacity"]["server_cores"] != first["capacity"]["server_cores"]:
            raise ReportError(f"{path} and {paths[0]} differ in --server-cores")
    passing = {p: r["capacity"]["players"] for p, r in reports.items() if r["capacity"]["passed"]}
    failing = {
        p: r["capacity"]["players"]
        for p, r in reports.items()
        if not r["capacity"]["passed"] and not _misconfigured(r)
    }
    if not passing:
        raise ReportError(
            "no report passed its limits, so none measured a capacity: run tickwire swarm "
            "with fewer bots until one passes"
        )
    best = max(passing, key=lambda p: passing[p])
    above = [bots for bots in failing.values() if bots > passing[best]]
    if not above:
        raise ReportError(
            f"{best} passed at {passing[best]} bots, but no report failed with more: that "
            f"shows the server carries at least {passing[best]} players, not how many it "
            "can, and a plan from it would buy too many workers. Run tickwire swarm again "
            "with more bots until a run fails, then give both reports (--from-report "
            "passed.json --from-report failed.json), or state --players-per-core."
        )
    return Ceiling(
        passed_bots=passing[best],
        failed_bots=min(above),
        server_cores=float(first["capacity"]["server_cores"]),
    )


def _misconfigured(report: Mapping[str, Any]) -> bool:
    errors = report["summary"].get("errors", {})
    return any(kind.startswith(NOT_LOAD) for kind in errors)
