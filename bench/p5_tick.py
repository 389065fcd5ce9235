"""P5: the reference game's tick, all matches stepped together vs match by match.

2,000 players in 125 matches of 16, every player moving, aiming and firing (so the
projectile columns are busy), on the default arena. The baseline is the same rules
stepping each match on its own (a Python loop over 125 one-row views of the same world);
both paths must end in the same state hash, or the figure is void.

Prints: the vectorised tick in ms (median, spread), the loop's, the speed-up (target
>= 4x) and the vectorised tick as a share of a 50 ms tick (target < 5%).

    python bench/p5_tick.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

import numpy as np

from game_engine.arena import Arena, Command
from game_engine.engine import Engine
from game_engine.events import Input, Join

MATCHES = 125
PLAYERS = 16
TICK_BUDGET_MS = 50.0


def build() -> Engine[Command]:
    eng: Engine[Command] = Engine(Arena())
    rng = random.Random(1)
    for m in range(MATCHES):
        for p in range(PLAYERS):
            eng.submit(Join(f"m{m}", f"p{p}", f"c{p}"))
    # Three seconds of play so that projectiles are in flight everywhere.
    for t in range(1, 91):
        for m in range(MATCHES):
            for p in range(PLAYERS):
                payload = {
                    "move": [rng.uniform(-1, 1), rng.uniform(-1, 1)],
                    "aim": [rng.uniform(-1, 1), rng.uniform(-1, 1)],
                    "fire": True,
                }
                eng.submit(Input(f"m{m}", f"p{p}", f"c{p}", t, payload))
        eng.tick()
    return eng


def timed(
    eng: Engine[Command], saved: dict[str, np.ndarray], steps: int, loop: bool
) -> tuple[float, str]:
    for name, arr in saved.items():
        eng.world.cols[name][...] = arr
    world = eng.world
    rows = [world.view_rows(m.row, m.row + 1) for m in eng.matches.values()]
    rules = eng.rules
    t0 = time.perf_counter()
    for _ in range(steps):
        if loop:
            for sub in rows:
                rules.step(sub)
        else:
            rules.step(world)
    elapsed = (time.perf_counter() - t0) / steps * 1e3
    return elapsed, eng.state_hash()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer reps (about 10 s)")
    args = ap.parse_args(argv)
    reps, steps = (5, 30) if args.quick else (11, 90)
    eng = build()
    saved = {name: arr.copy() for name, arr in eng.world.cols.items()}
    live = int(eng.world["q_on"].sum())
    vec, base = [], []
    for _ in range(reps):
        v, hv = timed(eng, saved, steps, loop=False)
        b, hb = timed(eng, saved, steps, loop=True)
        if hv != hb:
            print("FAIL: vectorised and looped steps disagree", file=sys.stderr)
            return 1
        vec.append(v)
        base.append(b)
    mv, mb = statistics.median(vec), statistics.median(base)
    print(
        f"P5 engine tick: {MATCHES} matches x {PLAYERS} players, {live} projectiles in flight, {steps} steps x {reps} reps"
    )
    print(
        f"  vectorised (all matches at once): median {mv:.3f} ms  (min {min(vec):.3f}, max {max(vec):.3f})"
    )
    print(
        f"  baseline (match by match loop):   median {mb:.3f} ms  (min {min(base):.3f}, max {max(base):.3f})"
    )
    print(f"  speed-up: {mb / mv:.1f}x  (target >= 4x)")
    print(
        f"  share of a {TICK_BUDGET_MS:.0f} ms tick: {mv / TICK_BUDGET_MS * 100:.2f}%  (target < 5%)"
    )
    rates(eng, reps)
    return 0


def rates(eng: Engine[Command], reps: int) -> None:
    """What the simulation and send rates cost: a whole engine tick with the P7 input load
    (every player sends 10 inputs/s, so 2,000 x 10 / 30 per tick at 30 Hz) and building
    the frames of one send; CPU share per second for candidate rate pairs."""
    rng = random.Random(2)
    seqs = dict(eng.last_seqs())
    per_tick = MATCHES * PLAYERS * 10 // 30
    keys = sorted(seqs)
    tick_ms, frame_ms = [], []
    for _ in range(reps * 10):
        for key in rng.sample(keys, per_tick):
            seqs[key] += 1
            payload = {"move": [rng.uniform(-1, 1), rng.uniform(-1, 1)], "fire": rng.random() < 0.5}
            eng.submit(Input(key[0], key[1], "c", seqs[key], payload))
        t0 = time.perf_counter()
        eng.tick()
        t1 = time.perf_counter()
        eng.frames()
        t2 = time.perf_counter()
        tick_ms.append((t1 - t0) * 1e3)
        frame_ms.append((t2 - t1) * 1e3)
    t, f = statistics.median(tick_ms), statistics.median(frame_ms)
    print(
        f"  engine tick with {per_tick} inputs applied: median {t:.3f} ms; frames for one send: median {f:.3f} ms"
    )
    for sim, send in ((30, 20), (30, 30), (60, 20), (60, 60)):
        share = (t * sim + f * send) / 10
        print(f"  {sim} Hz simulation + {send} Hz send: {share:.1f}% of one core")


if __name__ == "__main__":
    sys.exit(main())
