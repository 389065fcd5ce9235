"""The reference game: a top-down arena, written against :mod:`game_engine.rules`.

Players move (their input vector, clamped to length 1, times the maximum speed; the last
input holds until replaced), aim, and fire projectiles while their trigger is held (one
shot per cooldown). A projectile that reaches a player other than its owner costs hit
points; at 0 the player dies, its killer scores, and it respawns after a delay at a
seeded random spot. Walls (the arena's border and axis-aligned boxes) stop players and
absorb projectiles. A match ends when a player reaches the score limit (0: never).

Every match is a row of the world's arrays: players are ``(M, P)`` columns, projectiles
``(M, Q)`` columns, and one :meth:`Arena.step` moves all of them with NumPy. Randomness is
a counter-based hash (splitmix64) of the match's seed, its tick and the slot, so nothing
but the arrays carries state and a snapshot restores the match exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from game_engine.errors import InputRejected, JoinRefused
from game_engine.rules import Column, MatchView, World

__all__ = ["KIND_PLAYER", "KIND_PROJECTILE", "Arena", "ArenaSettings", "Command"]

KIND_PLAYER = 0
KIND_PROJECTILE = 1

F32 = np.float32


@dataclass(frozen=True, slots=True)
class ArenaSettings:
    """The arena's rules; speeds and times are per second, converted with ``tick_rate``."""

    # Player slots per match (the swarm and P7 play matches of 16).
    max_players: int = 16
    # Live projectiles per match: 16 players x 3 shots in flight at the default cooldown
    # and range; a shot fired while the match is at its limit is not fired.
    max_projectiles: int = 48
    width: float = 1600.0
    height: float = 1600.0
    # Interior walls as (x0, y0, x1, y1) boxes; the border is always a wall.
    walls: tuple[tuple[float, float, float, float], ...] = (
        (500.0, 500.0, 700.0, 540.0),
        (900.0, 1060.0, 1100.0, 1100.0),
        (1060.0, 300.0, 1100.0, 600.0),
        (300.0, 1000.0, 340.0, 1300.0),
    )
    player_radius: float = 16.0
    max_speed: float = 240.0
    projectile_speed: float = 720.0
    projectile_range: float = 800.0
    fire_cooldown: float = 0.3
    damage: int = 25
    max_hp: int = 100
    respawn_delay: float = 2.0
    # Interest radius: farther entities are not sent to a player.
    view_radius: float = 700.0
    # A match ends when a player reaches this many kills (0: never).
    score_limit: int = 0
    # Inputs with a |component| above this are rejected rather than clamped: a client
    # sends unit vectors, anything this large is a bug or an attack.
    max_input_component: float = 1e3
    # The simulation rate the per-second figures are converted with (the engine's).
    tick_rate: float = 30.0


class Command(NamedTuple):
    """A validated input: a move vector of length <= 1, an optional aim, the trigger.
    (A named tuple: one is made per input, thousands a second, and a tuple is made
    several times faster than a frozen dataclass.)"""

    mx: float
    my: float
    ax: float | None
    ay: float | None
    fire: bool


def _number(value: Any, name: str, limit: float) -> float:
    if type(value) is float:  # what a client's JSON sends nearly always: no conversion
        f = value
    else:
        # bool is an int subclass: true/false is not a coordinate.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputRejected("wrong_type", f"{name} is {type(value).__name__}")
        try:
            f = float(value)
        except OverflowError as exc:  # an int too large for a float
            raise InputRejected("out_of_range", name) from exc
    if not math.isfinite(f):
        raise InputRejected("not_finite", name)
    if abs(f) > limit:
        raise InputRejected("out_of_range", name)
    return f


def _vector(value: Any, name: str, limit: float) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InputRejected("wrong_type", f"{name} must be [x, y]")
    return _number(value[0], name, limit), _number(value[1], name, limit)


def _row_index(rows: Sequence[int]) -> slice | npt.NDArray[np.intp]:
    """Index the world's rows ``rows``: a slice when they are consecutive (the usual
    case: matches take the lowest free rows), which reads the columns without a gather."""
    first = rows[0] if rows else 0
    if list(rows) == list(range(first, first + len(rows))):
        return slice(first, first + len(rows))
    return np.asarray(rows, dtype=np.intp)


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, vectorised: a well-mixed 64-bit hash of a counter."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass
class Arena:
    """The arena rules; one instance serves every match of a worker."""

    settings: ArenaSettings = field(default_factory=ArenaSettings)
    name: str = "arena/1"

    def __post_init__(self) -> None:
        s = self.settings
        self.max_players = s.max_players
        rate = s.tick_rate
        self._speed = F32(s.max_speed / rate)
        self._shot = F32(s.projectile_speed / rate)
        self._ttl = max(1, round(s.projectile_range / s.projectile_speed * rate))
        self._cooldown = max(1, round(s.fire_cooldown * rate))
        self._respawn = max(1, round(s.respawn_delay * rate))
        self._r = F32(s.player_radius)
        w = np.array(s.walls, dtype=np.float32).reshape(-1, 4)
        self._walls = w
        # Player-vs-wall boxes are the walls grown by the player's radius.
        self._grown = w + np.array([-1, -1, 1, 1], dtype=np.float32) * self._r
        self._lo = self._r
        self._hi_x = F32(s.width) - self._r
        self._hi_y = F32(s.height) - self._r
        self._kind_row: npt.NDArray[np.uint8] | None = None
        self._meta = {
            "rules": self.name,
            "width": s.width,
            "height": s.height,
            "walls": [list(map(float, wall)) for wall in s.walls],
            "player_radius": s.player_radius,
            "tick_rate": s.tick_rate,
            "max_hp": s.max_hp,
            # Clients predict their own movement with it (docs/protocol.md).
            "max_speed": s.max_speed,
        }

    # -- schema -------------------------------------------------------------------------
    def schema(self) -> Mapping[str, Column]:
        p, q = (self.settings.max_players,), (self.settings.max_projectiles,)
        return {
            "next_eid": Column("uint32"),
            "p_on": Column("bool", p),
            "p_alive": Column("bool", p),
            "p_x": Column("float32", p),
            "p_y": Column("float32", p),
            "p_mx": Column("float32", p),
            "p_my": Column("float32", p),
            "p_ax": Column("float32", p),
            "p_ay": Column("float32", p),
            "p_fire": Column("bool", p),
            "p_hp": Column("int16", p),
            "p_score": Column("uint16", p),
            "p_deaths": Column("uint16", p),
            "p_cool": Column("int16", p),
            "p_down": Column("int16", p),
            "p_eid": Column("uint32", p),
            "q_on": Column("bool", q),
            "q_x": Column("float32", q),
            "q_y": Column("float32", q),
            "q_vx": Column("float32", q),
            "q_vy": Column("float32", q),
            "q_owner": Column("int16", q),
            "q_ttl": Column("int16", q),
            "q_eid": Column("uint32", q),
        }

    # -- match and membership -------------------------------------------------------------
    def create_match(self, world: World, m: int) -> None:
        world["next_eid"][m] = 1

    def admit(self, world: World, m: int) -> int:
        free = np.flatnonzero(~world["p_on"][m])
        if free.size == 0:
            raise JoinRefused("match_full", f"{self.settings.max_players} players")
        slot = int(free[0])
        world["p_on"][m, slot] = True
        world["p_eid"][m, slot] = world["next_eid"][m]
        world["next_eid"][m] += 1
        world["p_ax"][m, slot] = 1.0
        world["p_ay"][m, slot] = 0.0
        # Enters dead with a one-tick delay: the next step spawns it at a seeded spot.
        world["p_down"][m, slot] = 1
        return slot

    def remove(self, world: World, m: int, slot: int) -> None:
        for name in self.schema():
            if name.startswith("p_"):
                world[name][m, slot] = 0
        # Its projectiles stay in flight but no longer credit anyone.
        owned = world["q_owner"][m] == slot
        world["q_owner"][m, owned] = -1

    # -- inputs -----------------------------------------------------------------------------
    def validate(self, payload: Mapping[str, Any]) -> Command:
        limit = self.settings.max_input_component
        if "move" not in payload:
            raise InputRejected("missing_field", "move")
        mx, my = _vector(payload["move"], "move", limit)
        length = math.hypot(mx, my)
        if length > 1.0:
            mx, my = mx / length, my / length
        ax = ay = None
        aim = payload.get("aim")
        if aim is not None:
            ax, ay = _vector(aim, "aim", limit)
            alen = math.hypot(ax, ay)
            if alen > 0.0:
                ax, ay = ax / alen, ay / alen
            else:
                ax = ay = None  # a zero aim keeps the previous one
        fire = payload.get("fire", False)
        if not isinstance(fire, bool):
            raise InputRejected("wrong_type", "fire must be a boolean")
        return Command(mx, my, ax, ay, fire)

    def apply(self, world: World, m: int, slot: int, command: Command) -> None:
        cols = world.cols  # (one lookup per column, not a World.__getitem__ call each)
        cols["p_mx"][m, slot] = command.mx
        cols["p_my"][m, slot] = command.my
        if command.ax is not None and command.ay is not None:
            cols["p_ax"][m, slot] = command.ax
            cols["p_ay"][m, slot] = command.ay
        cols["p_fire"][m, slot] = command.fire

    # -- the tick ----------------------------------------------------------------------------
    def step(self, world: World) -> None:
        self._respawn_players(world)
        self._move_players(world)
        self._fire(world)
        self._move_projectiles(world)
        self._hit(world)

    def _respawn_players(self, world: World) -> None:
        on, alive, down = world["p_on"], world["p_alive"], world["p_down"]
        waiting = on & ~alive
        # (np.count_nonzero: a third of what ndarray.any costs on arrays this small, and
        # the step tests a handful of them every tick)
        if not np.count_nonzero(waiting):
            return
        down -= waiting.astype(np.int16)
        ready = waiting & (down <= 0)
        if not np.count_nonzero(ready):
            return
        mi, si = np.nonzero(ready)
        s = self.settings
        key = (
            world.seed[mi] * np.uint64(1_000_003)
            + world.tick[mi].astype(np.uint64) * np.uint64(64)
            + si.astype(np.uint64)
        )
        h1 = _splitmix(key)
        h2 = _splitmix(h1)
        unit = F32(1.0 / 2**24)
        fx = (h1 >> np.uint64(40)).astype(np.float32) * unit
        fy = (h2 >> np.uint64(40)).astype(np.float32) * unit
        x = self._lo + fx * (F32(s.width) - 2 * self._r)
        y = self._lo + fy * (F32(s.height) - 2 * self._r)
        x, y = self._out_of_walls(x, y)
        world["p_x"][mi, si] = x
        world["p_y"][mi, si] = y
        world["p_hp"][mi, si] = s.max_hp
        world["p_cool"][mi, si] = 0
        down[mi, si] = 0
        alive[mi, si] = True

    def _out_of_walls(
        self, x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Push circles out of every grown wall box along the shallower axis, wall after
        wall, and clamp. Every wall is first tested at once (the same comparisons): the
        walls before the first that holds anyone change nothing, and are skipped."""
        grown = self._grown
        first = len(grown)
        tested: npt.NDArray[np.bool_] | None = None
        if first:
            lo_x, lo_y, hi_x, hi_y = (grown[:, k].reshape(-1, *([1] * x.ndim)) for k in range(4))
            tested = (x > lo_x) & (x < hi_x) & (y > lo_y) & (y < hi_y)  # walls x (x's shape)
            held = np.flatnonzero(np.count_nonzero(tested, axis=tuple(range(1, tested.ndim))))
            first = int(held[0]) if held.shape[0] else first
        for k in range(first, len(grown)):
            x0, y0, x1, y1 = grown[k]
            if k == first and tested is not None:
                inside = tested[k]  # nothing has moved yet
            else:
                inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
                if not np.count_nonzero(inside):
                    continue
            dl, dr, db, dt = x - x0, x1 - x, y - y0, y1 - y
            horiz = np.minimum(dl, dr) <= np.minimum(db, dt)
            nx = np.where(dl < dr, x0, x1)
            ny = np.where(db < dt, y0, y1)
            x = np.where(inside & horiz, nx, x).astype(np.float32)
            y = np.where(inside & ~horiz, ny, y).astype(np.float32)
        np.clip(x, self._lo, self._hi_x, out=x)
        np.clip(y, self._lo, self._hi_y, out=y)
        return x, y

    def _move_players(self, world: World) -> None:
        alive = world["p_alive"]
        speed = alive * self._speed
        x = world["p_x"] + world["p_mx"] * speed
        y = world["p_y"] + world["p_my"] * speed
        x, y = self._out_of_walls(x, y)
        world["p_x"][...] = x
        world["p_y"][...] = y

    def _fire(self, world: World) -> None:
        cool = world["p_cool"]
        np.maximum(cool - 1, 0, out=cool)
        shoot = world["p_alive"] & world["p_fire"] & (cool == 0)
        if not np.count_nonzero(shoot):
            return
        q_on = world["q_on"]
        # The k-th shooter of a match (in slot order) takes the k-th free projectile slot.
        rank = np.cumsum(shoot, axis=1) - 1
        free_order = np.argsort(q_on, axis=1, kind="stable")
        n_free = (~q_on).sum(axis=1)
        mi, si = np.nonzero(shoot)
        k = rank[mi, si]
        ok = k < n_free[mi]
        mi, si, k = mi[ok], si[ok], k[ok]
        qi = free_order[mi, k]
        ax, ay = world["p_ax"][mi, si], world["p_ay"][mi, si]
        world["q_on"][mi, qi] = True
        # Spawned at the shooter's edge so it never hits its own shooter.
        world["q_x"][mi, qi] = world["p_x"][mi, si] + ax * self._r
        world["q_y"][mi, qi] = world["p_y"][mi, si] + ay * self._r
        world["q_vx"][mi, qi] = ax * self._shot
        world["q_vy"][mi, qi] = ay * self._shot
        world["q_owner"][mi, qi] = si
        world["q_ttl"][mi, qi] = self._ttl
        # Entity ids: each match hands out consecutive ids in slot order.
        world["q_eid"][mi, qi] = world["next_eid"][mi] + k.astype(np.uint32)
        fired = np.zeros(shoot.shape, dtype=bool)
        fired[mi, si] = True
        world["next_eid"][...] += fired.sum(axis=1, dtype=np.uint32)
        cool[fired] = self._cooldown

    def _move_projectiles(self, world: World) -> None:
        on = world["q_on"]
        if not np.count_nonzero(on):
            return
        x = world["q_x"]
        y = world["q_y"]
        x += world["q_vx"]
        y += world["q_vy"]
        ttl = world["q_ttl"]
        ttl -= on.astype(np.int16)
        gone = (
            (ttl <= 0) | (x < 0) | (y < 0) | (x > self.settings.width) | (y > self.settings.height)
        )
        for x0, y0, x1, y1 in self._walls:
            gone |= (x > x0) & (x < x1) & (y > y0) & (y < y1)
        self._drop_projectiles(world, on & gone)

    @staticmethod
    def _drop_projectiles(world: World, mask: npt.NDArray[np.bool_]) -> None:
        for name in ("q_on", "q_x", "q_y", "q_vx", "q_vy", "q_owner", "q_ttl", "q_eid"):
            world[name][mask] = 0

    def _hit(self, world: World) -> None:
        q_on = world["q_on"]
        if not np.count_nonzero(q_on):
            return
        alive = world["p_alive"]
        owner = world["q_owner"]
        # Only live projectiles against the players of their own match: (n, P).
        mi, qi = np.nonzero(q_on)
        dx = world["q_x"][mi, qi][:, None] - world["p_x"][mi]
        dy = world["q_y"][mi, qi][:, None] - world["p_y"][mi]
        near = (dx * dx + dy * dy) <= self._r * self._r
        near &= alive[mi]
        slots = np.arange(alive.shape[1], dtype=np.int16)
        near &= owner[mi, qi][:, None] != slots[None, :]
        hit = np.flatnonzero(near.any(axis=1))
        if hit.size == 0:
            return
        # Each projectile hits one player: the lowest slot it reaches this tick.
        pi = np.argmax(near[hit], axis=1)
        mi, qi = mi[hit], qi[hit]
        s = self.settings
        hp = world["p_hp"]
        np.subtract.at(hp, (mi, pi), s.damage)
        died = alive & (hp <= 0)
        if np.count_nonzero(died):
            # The killer is the owner of the lowest-index projectile that hit the victim.
            dm, dp = np.nonzero(died)
            hits = np.zeros((*alive.shape, q_on.shape[1]), dtype=bool)
            hits[mi, pi, qi] = True
            killer_q = np.argmax(hits[dm, dp], axis=1)
            killer = owner[dm, killer_q]
            credited = killer >= 0
            np.add.at(world["p_score"], (dm[credited], killer[credited]), 1)
            world["p_deaths"][died] += 1
            alive[died] = False
            hp[died] = 0
            world["p_fire"][died] = False
            world["p_down"][died] = self._respawn
        hit_mask = np.zeros(q_on.shape, dtype=bool)
        hit_mask[mi, qi] = True
        self._drop_projectiles(world, hit_mask)

    # -- end, view, result ----------------------------------------------------------------------
    def ended(self, world: World) -> npt.NDArray[np.bool_]:
        limit = self.settings.score_limit
        if limit <= 0:
            return np.zeros(world.capacity, dtype=bool)
        return np.asarray((world["p_score"] >= limit).any(axis=1), dtype=bool)

    def views(self, world: World, rows: Sequence[int]) -> list[MatchView]:
        """Every listed match's entities (alive players, then projectiles), gathered for
        all rows at once and split per match: copies, never views of the world."""
        r = _row_index(rows)
        count = len(rows)
        alive, q_on = world["p_alive"][r], world["q_on"][r]
        mask = np.concatenate([alive, q_on], axis=1)
        # (ufuncs called directly: np.cumsum, np.round and np.clip add Python wrappers)
        ends = np.add.accumulate(np.count_nonzero(mask, axis=1)).tolist()
        spans = list(zip([0, *ends[:-1]], ends, strict=True))
        n_p, n_q = alive.shape[1], q_on.shape[1]

        def split(flat: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
            # Plain slices: np.split costs several calls per piece.
            return [flat[a:b] for a, b in spans]

        def gather(
            p_col: npt.NDArray[Any], q_col: npt.NDArray[Any], dtype: Any
        ) -> list[npt.NDArray[Any]]:
            both = np.concatenate(
                [p_col.astype(dtype, copy=False), q_col.astype(dtype, copy=False)], axis=1
            )
            return split(both[mask])

        turn = F32(256.0 / (2.0 * math.pi))
        p_ang = np.arctan2(world["p_ay"][r], world["p_ax"][r]) * turn
        q_ang = np.arctan2(world["q_vy"][r], world["q_vx"][r]) * turn
        angle = (np.rint(np.concatenate([p_ang, q_ang], axis=1)).astype(np.int64) % 256).astype(
            np.uint8
        )
        kinds = self._kinds(n_p, n_q).repeat(count, axis=0)
        ids = gather(world["p_eid"][r], world["q_eid"][r], np.uint32)
        xs = gather(world["p_x"][r], world["q_x"][r], np.float32)
        ys = gather(world["p_y"][r], world["q_y"][r], np.float32)
        hp = np.minimum(np.maximum(world["p_hp"][r], 0), 255)
        hps = gather(hp, np.zeros((count, n_q)), np.uint8)
        scores = gather(world["p_score"][r], np.zeros((count, n_q)), np.uint16)
        kind = split(kinds[mask])
        angles = split(angle[mask])
        slot_entity = np.where(alive, world["p_eid"][r].astype(np.int64), -1)
        slot_x, slot_y = world["p_x"][r].copy(), world["p_y"][r].copy()  # (r may be a slice)
        return [
            MatchView(
                ids=ids[i],
                kind=kind[i],
                x=xs[i],
                y=ys[i],
                fields={"hp": hps[i], "angle": angles[i], "score": scores[i]},
                slot_entity=slot_entity[i],
                slot_x=slot_x[i],
                slot_y=slot_y[i],
                view_radius=self.settings.view_radius,
                meta=self._meta,
            )
            for i in range(count)
        ]

    def _kinds(self, n_p: int, n_q: int) -> npt.NDArray[np.uint8]:
        """One row of the entity kinds (players, then projectiles), made once."""
        row = self._kind_row
        if row is None or row.shape[1] != n_p + n_q:
            row = np.array([[KIND_PLAYER] * n_p + [KIND_PROJECTILE] * n_q], np.uint8)
            self._kind_row = row
        return row

    def result(self, world: World, m: int) -> dict[str, Any]:
        on = world["p_on"][m]
        return {
            "tick": int(world.tick[m]),
            "scores": {int(s): int(world["p_score"][m, s]) for s in np.flatnonzero(on)},
            "deaths": {int(s): int(world["p_deaths"][m, s]) for s in np.flatnonzero(on)},
        }
