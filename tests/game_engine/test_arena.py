"""The reference game: validation, movement, walls, shooting, respawn, determinism."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from game_engine.arena import KIND_PLAYER, KIND_PROJECTILE, Arena, ArenaSettings
from game_engine.engine import Engine
from game_engine.errors import InputRejected
from game_engine.events import Input, Join

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.fixed_dictionaries(
    {}, optional={"move": junk, "aim": junk, "fire": junk, "seq": junk}
) | st.dictionaries(st.text(max_size=6), junk, max_size=4)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_validate_accepts_or_rejects_with_a_reason_never_crashes(payload: dict[str, Any]) -> None:
    arena = Arena()
    try:
        cmd = arena.validate(payload)
    except InputRejected as exc:
        assert exc.reason in {"wrong_type", "not_finite", "out_of_range", "missing_field"}
        return
    assert math.hypot(cmd.mx, cmd.my) <= 1.0 + 1e-9
    assert all(math.isfinite(v) for v in (cmd.mx, cmd.my))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"move": [float("nan"), 0]}, "not_finite"),
        ({"move": [0, float("inf")]}, "not_finite"),
        ({"move": [1e300, 0]}, "out_of_range"),
        ({"move": [10**400, 0]}, "out_of_range"),
        ({"move": ["1", 0]}, "wrong_type"),
        ({"move": [True, 0]}, "wrong_type"),
        ({"move": [0, 0, 0]}, "wrong_type"),
        ({"move": None}, "wrong_type"),
        ({"move": [0, 0], "fire": 1}, "wrong_type"),
        ({"move": [0, 0], "aim": [0, float("nan")]}, "not_finite"),
        ({"aim": [1, 0]}, "missing_field"),
    ],
)
def test_bad_inputs_are_counted_and_the_tick_goes_on(payload: dict[str, Any], reason: str) -> None:
    eng = Engine(Arena())
    eng.submit(Join("m", "a", "c"))
    eng.submit(Input("m", "a", "c", 1, payload))
    eng.submit(Input("m", "a", "c", 2, {"move": [1, 0]}))
    eng.tick()
    eng.tick()
    assert eng.counters[f"input.rejected.{reason}"] == 1
    assert eng.counters["input.applied"] == 1
    assert eng.matches["m"].members["a"].last_seq == 2
    assert np.isfinite(eng.world["p_x"]).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(payloads, min_size=1, max_size=20))
def test_a_tick_fed_arbitrary_payloads_keeps_the_state_finite(batch: list[dict[str, Any]]) -> None:
    eng = Engine(Arena())
    eng.submit(Join("m", "a", "c"))
    for seq, payload in enumerate(batch, start=1):
        eng.submit(Input("m", "a", "c", seq, payload))
        eng.tick()
    for name in ("p_x", "p_y", "p_mx", "p_my", "p_ax", "p_ay", "q_x", "q_y"):
        assert np.isfinite(eng.world[name]).all()


def _engine(**kw: Any) -> Engine:
    return Engine(Arena(ArenaSettings(**kw)))


def _place(eng: Engine, slot: int, x: float, y: float) -> None:
    eng.world["p_x"][0, slot], eng.world["p_y"][0, slot] = x, y


def test_move_is_clamped_to_max_speed_and_walls_stop_players() -> None:
    eng = _engine(walls=((300.0, 0.0, 340.0, 1600.0),))
    eng.submit(Join("m", "a", "c"))
    eng.tick()
    eng.tick()
    _place(eng, 0, 200.0, 800.0)
    eng.submit(Input("m", "a", "c", 1, {"move": [500.0, 0.0]}))  # clamped to length 1
    eng.tick()
    assert float(eng.world["p_x"][0, 0]) == pytest.approx(208.0, abs=1e-3)
    for _ in range(30):
        eng.tick()
    # The wall's left face (300) minus the player's radius (16).
    assert float(eng.world["p_x"][0, 0]) == pytest.approx(284.0, abs=1e-3)
    eng.submit(Input("m", "a", "c", 2, {"move": [-1.0, -1.0]}))
    for _ in range(300):
        eng.tick()
    assert float(eng.world["p_x"][0, 0]) == pytest.approx(16.0)
    assert float(eng.world["p_y"][0, 0]) == pytest.approx(16.0)


def test_shots_hit_kill_score_and_the_victim_respawns() -> None:
    eng = _engine(walls=())
    eng.submit(Join("m", "a", "ca"))
    eng.submit(Join("m", "b", "cb"))
    eng.tick()
    eng.tick()
    _place(eng, 0, 100.0, 100.0)
    _place(eng, 1, 300.0, 100.0)
    eng.submit(Input("m", "a", "ca", 1, {"move": [0, 0], "aim": [1, 0], "fire": True}))
    frames_seen_projectile = False
    for _ in range(60):
        eng.tick()
        frame = eng.frames()[0]
        frames_seen_projectile |= bool((frame.kind == KIND_PROJECTILE).any())
        if eng.world["p_deaths"][0, 1]:
            break
    assert frames_seen_projectile
    # 100 hp / 25 damage: four hits, and the killer is credited.
    assert int(eng.world["p_deaths"][0, 1]) == 1
    assert int(eng.world["p_score"][0, 0]) == 1
    frame = eng.frames()[0]
    slots = {p.player_id: p for p in frame.players}
    assert slots["b"].entity_id == -1 and slots["a"].entity_id >= 0
    assert (frame.kind == KIND_PLAYER).sum() == 1
    eng.submit(Input("m", "a", "ca", 2, {"move": [0, 0], "fire": False}))
    for _ in range(61):
        eng.tick()
    assert bool(eng.world["p_alive"][0, 1]) and int(eng.world["p_hp"][0, 1]) == 100


def test_frames_are_copies_and_ids_are_unique() -> None:
    eng = _engine()
    for p in range(8):
        eng.submit(Join("m", f"p{p}", f"c{p}"))
        eng.submit(Input("m", f"p{p}", f"c{p}", 1, {"move": [0.5, 0.5], "fire": True}))
    for _ in range(20):
        eng.tick()
    frame = eng.frames()[0]
    assert len(set(frame.ids.tolist())) == frame.ids.size
    x_before = frame.x.copy()
    eng.tick()
    assert (frame.x == x_before).all()
    assert frame.ids.dtype == np.uint32 and frame.x.dtype == np.float32
    assert set(frame.fields) == {"hp", "angle", "score"}


def _out_of_walls_wall_by_wall(
    arena: Arena, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The reference: every grown wall tested and pushed out one after another."""
    x, y = x.copy(), y.copy()
    for x0, y0, x1, y1 in arena._grown:
        inside = (x > x0) & (x < x1) & (y > y0) & (y < y1)
        if not inside.any():
            continue
        dl, dr, db, dt = x - x0, x1 - x, y - y0, y1 - y
        horiz = np.minimum(dl, dr) <= np.minimum(db, dt)
        nx, ny = np.where(dl < dr, x0, x1), np.where(db < dt, y0, y1)
        x = np.where(inside & horiz, nx, x).astype(np.float32)
        y = np.where(inside & ~horiz, ny, y).astype(np.float32)
    np.clip(x, arena._lo, arena._hi_x, out=x)
    np.clip(y, arena._lo, arena._hi_y, out=y)
    return x, y


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.sampled_from([(0,), (1,), (7,), (4, 16), (3, 1)]),
    overlapping=st.booleans(),
)
def test_walls_tested_at_once_push_as_wall_by_wall(
    seed: int, shape: tuple[int, ...], overlapping: bool
) -> None:
    """_out_of_walls tests every wall at once and pushes from the first wall holding
    someone: the same positions as walls tested and pushed one after another, whether a
    push leaves a player in a later wall (overlapping walls) or not."""
    walls = ArenaSettings().walls
    if overlapping:
        walls = ((100.0, 100.0, 300.0, 140.0), (280.0, 90.0, 320.0, 400.0), *walls)
    arena = Arena(ArenaSettings(walls=walls))
    rng = np.random.default_rng(seed)
    grown = arena._grown
    # positions anywhere, near or inside walls, and on their edges exactly
    x = rng.uniform(-50, 1650, shape).astype(np.float32)
    y = rng.uniform(-50, 1650, shape).astype(np.float32)
    near = rng.random(shape) < 0.5
    wall = grown[rng.integers(0, len(grown), shape)]
    x = np.where(near, rng.uniform(wall[..., 0] - 5, wall[..., 2] + 5), x).astype(np.float32)
    y = np.where(near, rng.uniform(wall[..., 1] - 5, wall[..., 3] + 5), y).astype(np.float32)
    edge = rng.random(shape) < 0.1
    x = np.where(edge, wall[..., 0], x).astype(np.float32)
    want = _out_of_walls_wall_by_wall(arena, x, y)
    got = arena._out_of_walls(x.copy(), y.copy())
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
