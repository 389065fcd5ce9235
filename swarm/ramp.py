"""The ramp-up schedule: when each bot of a process opens its connection.

Bots connect at an even rate, never faster than the cap (AWS's 500 new connections/s per
account and Region by default, :data:`swarm.settings.MAX_NEW_CONNECTIONS_PER_S`). With
several processes the cap is split evenly, so the swarm as a whole stays under it.
Pure: offsets in seconds from the common start time.
"""

from __future__ import annotations

from dataclasses import dataclass

from swarm.errors import ConfigError

__all__ = ["Ramp", "plan_ramp"]


@dataclass(frozen=True, slots=True)
class Ramp:
    """The connect schedule of one process."""

    rate: float  # new connections per second, this process
    offsets: tuple[float, ...]  # seconds from start, one per bot of this process

    @property
    def seconds(self) -> float:
        return self.offsets[-1] if self.offsets else 0.0


def plan_ramp(bots: int, ramp_s: float, max_rate: float, procs: int = 1) -> Ramp:
    """Schedule ``bots`` connections over about ``ramp_s`` seconds in one of ``procs``
    processes, never exceeding ``max_rate / procs`` per second in this process.

    A ramp too short for the cap is stretched, not refused: the cap wins.
    """
    if bots < 0:
        raise ConfigError(f"bots must be >= 0, got {bots}")
    if ramp_s < 0:
        raise ConfigError(f"ramp must be >= 0 s, got {ramp_s}")
    if max_rate <= 0:
        raise ConfigError(f"max connect rate must be > 0/s, got {max_rate}")
    if procs < 1:
        raise ConfigError(f"procs must be >= 1, got {procs}")
    cap = max_rate / procs
    if bots == 0:
        return Ramp(rate=cap, offsets=())
    wanted = bots / ramp_s if ramp_s > 0 else cap
    rate = min(wanted, cap)
    return Ramp(rate=rate, offsets=tuple(i / rate for i in range(bots)))
