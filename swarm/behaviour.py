"""What a bot does with its inputs: pure decisions, no I/O.

Each behaviour answers :meth:`Behaviour.next_input` once per input slot with the move,
aim and fire of the next input, or ``None`` to send nothing this slot.

- ``wander``: P7's load profile (performance.md): every input is a fresh random direction
  in [-1, 1]², applied by the server until replaced; aims where it moves; fires now and
  then.
- ``chase``: all bots of a match steer towards one waypoint shared by the match (moving
  on a circle, from the match id's hash), so they bunch up, collide and fight. Bots read
  only message headers, so a bot tracks its own position by dead reckoning from its
  inputs, not from the server's state; it fires when its estimate is near the waypoint.
- ``idle``: connected and silent (spectators, AFK players): holds a connection, sends
  nothing, so it adds fan-out load and no input load.
- ``mix``: each bot draws one of the above (60 % wander, 30 % chase, 10 % idle).
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from typing import Protocol

from swarm.errors import ConfigError

__all__ = [
    "BEHAVIOURS",
    "Behaviour",
    "Chase",
    "Idle",
    "Input",
    "Wander",
    "make_behaviour",
]

BEHAVIOURS = ("wander", "chase", "idle", "mix")
# mix: the share of each behaviour (our choice, documented in the README section).
MIX_WEIGHTS = (("wander", 0.6), ("chase", 0.3), ("idle", 0.1))
# How often a wandering bot fires (probability per input).
WANDER_FIRE_PROBABILITY = 0.1
# Chase: waypoint circle radius and period, and the distance at which a bot fires; world
# units are the reference game's (arena of a few hundred units); the estimate only steers.
CHASE_RADIUS = 100.0
CHASE_PERIOD_S = 20.0
CHASE_FIRE_DISTANCE = 30.0
CHASE_SPEED = 60.0  # units/s assumed for dead reckoning


@dataclass(frozen=True, slots=True)
class Input:
    move: tuple[float, float]
    aim: tuple[float, float]
    fire: bool


class Behaviour(Protocol):
    name: str

    def next_input(self, rng: random.Random, t: float) -> Input | None: ...


class Wander:
    name = "wander"

    def next_input(self, rng: random.Random, t: float) -> Input | None:
        dx, dy = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
        return Input((dx, dy), (dx, dy), rng.random() < WANDER_FIRE_PROBABILITY)


class Idle:
    name = "idle"

    def next_input(self, rng: random.Random, t: float) -> Input | None:
        return None


class Chase:
    """Steer towards the match's waypoint, tracked by dead reckoning."""

    name = "chase"

    def __init__(self, match: str, rng: random.Random) -> None:
        self.phase = (zlib.crc32(match.encode()) % 360) * math.pi / 180.0
        self.x = rng.uniform(-CHASE_RADIUS, CHASE_RADIUS)
        self.y = rng.uniform(-CHASE_RADIUS, CHASE_RADIUS)
        self.last_t: float | None = None
        self.move = (0.0, 0.0)

    def waypoint(self, t: float) -> tuple[float, float]:
        a = self.phase + 2.0 * math.pi * t / CHASE_PERIOD_S
        return CHASE_RADIUS * math.cos(a), CHASE_RADIUS * math.sin(a)

    def next_input(self, rng: random.Random, t: float) -> Input | None:
        if self.last_t is not None:
            dt = t - self.last_t
            self.x += self.move[0] * CHASE_SPEED * dt
            self.y += self.move[1] * CHASE_SPEED * dt
        self.last_t = t
        wx, wy = self.waypoint(t)
        dx, dy = wx - self.x, wy - self.y
        dist = math.hypot(dx, dy)
        if dist < 1e-6:
            self.move = (0.0, 0.0)
            return Input((0.0, 0.0), (1.0, 0.0), True)
        ux, uy = dx / dist, dy / dist
        self.move = (ux, uy)
        return Input((ux, uy), (ux, uy), dist < CHASE_FIRE_DISTANCE)


def make_behaviour(name: str, *, match: str, rng: random.Random) -> Behaviour:
    """The behaviour called ``name`` for one bot of ``match``."""
    if name == "mix":
        roll, acc = rng.random(), 0.0
        for candidate, weight in MIX_WEIGHTS:
            acc += weight
            if roll < acc:
                name = candidate
                break
        else:
            name = MIX_WEIGHTS[-1][0]
    if name == "wander":
        return Wander()
    if name == "chase":
        return Chase(match, rng)
    if name == "idle":
        return Idle()
    raise ConfigError(f"unknown behaviour {name!r}; one of {', '.join(BEHAVIOURS)}")
