"""P6: bytes per visible moving entity in a steady-state delta.

The reference game (game_engine.arena) runs on the real engine: matches of 16, 30 Hz
simulation, 20 Hz sends, every player holding a random movement direction that changes at
10 Hz (P7's load profile; ``--fire`` adds aiming and firing, so projectiles fly too). For
every send tick and every player the broadcaster's own view, delta and parts code
produce the messages that player would get (each delivered, as on an ordered WebSocket).
After a warm-up, the figure is

    bytes of all delta messages / visible entity updates whose position moved

counted two ways: the whole message (including the fixed 35 bytes every message carries,
however little changed: the array marker and the 32-byte version 2 header), and the
entity payload (the message minus that header), which is what Colyseus's published 6.7 B
per x/y entity update measures.
Baselines: that published figure, and in the same run the same deltas with motion
prediction turned off (plain quantised differences), to show what prediction buys.

    python bench/p6_delta_bytes.py [--quick] [--fire]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys

from broadcaster.codec import HEADER_SIZE, Header
from broadcaster.delta import diff
from broadcaster.fanout import BroadcastSettings
from broadcaster.parts import split_update
from broadcaster.views import MatchTable, Snapshot
from game_engine.arena import Arena
from game_engine.engine import Engine
from game_engine.events import Input, Join
from game_engine.scheduler import send_due

COLYSEUS_BYTES = 6.7  # Colyseus schema, published bytes per x/y entity update
TARGET = 4.0
TICK_RATE, SEND_RATE, INPUT_RATE = 30.0, 20.0, 10.0
FIXED = 1 + 2 + HEADER_SIZE  # fixarray marker + bin8 header


def run(
    seed: int, matches: int, seconds: float, warmup_s: float, fire: bool, scale: int, tolerance: int
) -> dict[str, float]:
    rng = random.Random(seed)
    eng: Engine[object] = Engine(Arena())
    players = [(f"m{m}", f"p{p}", f"c{m}-{p}") for m in range(matches) for p in range(16)]
    for match, player, conn in players:
        eng.submit(Join(match, player, conn))
    seqs = dict.fromkeys(players, 0)
    base: dict[str, Snapshot | None] = {}
    base_plain: dict[str, Snapshot | None] = {}
    totals = {"bytes": 0, "payload": 0, "plain_payload": 0, "moving": 0, "messages": 0}
    every = round(TICK_RATE / INPUT_RATE)
    ticks = int(seconds * TICK_RATE)
    for tick in range(1, ticks + 1):
        if tick % every == 1:
            for key in players:
                seqs[key] += 1
                payload: dict[str, object] = {"move": [rng.uniform(-1, 1), rng.uniform(-1, 1)]}
                if fire:
                    payload |= {"aim": [rng.uniform(-1, 1), rng.uniform(-1, 1)], "fire": True}
                eng.submit(Input(key[0], key[1], key[2], seqs[key], payload))
        eng.tick()
        if not send_due(tick, TICK_RATE, SEND_RATE):
            continue
        counting = tick > warmup_s * TICK_RATE
        for frame in eng.frames():
            table = MatchTable.from_frame(frame, scale)
            for i, slot in enumerate(frame.players):
                cid = slot.connection_id
                cur = table.view(slot, i)
                prev = base.get(cid)
                header = Header(
                    frame.tick,
                    slot.ack_seq,
                    0,
                    1,
                    prev is None,
                    False,
                    0 if prev is None else prev.tick,
                    slot.entity_id,
                    scale,
                )
                update, base[cid] = diff(prev, cur, table, tolerance)
                msgs = split_update(header, update)
                # the same delta without motion prediction (the baseline's velocities zero)
                plain_prev = base_plain.get(cid)
                if plain_prev is not None:
                    plain_prev = plain_prev._replace(vel=None)
                plain_update, base_plain[cid] = diff(plain_prev, cur, table, 0)
                plain = split_update(header, plain_update)
                if not counting or prev is None:
                    continue
                # visible entity updates whose quantised position moved since the last send
                common, rows_prev, rows_cur = _common(prev, cur)
                moved = (prev.values[rows_prev][:, :2] != cur.values[rows_cur][:, :2]).any(axis=1)
                totals["moving"] += int(moved.sum())
                totals["bytes"] += sum(len(m) for m in msgs)
                totals["payload"] += sum(len(m) - FIXED for m in msgs)
                totals["plain_payload"] += sum(len(m) - FIXED for m in plain)
                totals["messages"] += len(msgs)
                del common
    moving = max(totals["moving"], 1)
    return {
        "per_entity_payload": totals["payload"] / moving,
        "per_entity_message": totals["bytes"] / moving,
        "plain_payload": totals["plain_payload"] / moving,
        "moving_per_message": totals["moving"] / max(totals["messages"], 1),
        "bytes_per_message": totals["bytes"] / max(totals["messages"], 1),
    }


def _common(a: Snapshot, b: Snapshot):  # type: ignore[no-untyped-def]
    import numpy as np

    common, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
    return common, ia, ib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer matches and reps (~20 s)")
    parser.add_argument("--fire", action="store_true", help="players also aim and fire")
    defaults = BroadcastSettings()
    parser.add_argument("--scale", type=int, default=defaults.position_scale)
    parser.add_argument("--tolerance", type=int, default=defaults.position_tolerance)
    args = parser.parse_args()
    reps, matches, seconds = (3, 2, 6.0) if args.quick else (5, 4, 15.0)
    results = [
        run(seed, matches, seconds, 2.0, args.fire, args.scale, args.tolerance)
        for seed in range(reps)
    ]

    def med(key: str) -> tuple[float, float, float]:
        vals = [r[key] for r in results]
        return statistics.median(vals), min(vals), max(vals)

    payload, lo, hi = med("per_entity_payload")
    message, mlo, mhi = med("per_entity_message")
    plain, plo, phi = med("plain_payload")
    print(
        f"P6 delta bytes: {matches} matches x 16 players, {seconds:.0f} s per rep, {reps} reps, "
        f"{'move+fire' if args.fire else 'movement only'} (P7 profile), scale 1/{args.scale} unit, "
        f"tolerance {args.tolerance} quanta"
    )
    print(
        f"  moving visible entities per message: {med('moving_per_message')[0]:.1f}; "
        f"bytes per message: {med('bytes_per_message')[0]:.1f}"
    )
    print(f"  entity payload per moving entity: {payload:.2f} B (spread {lo:.2f}-{hi:.2f})")
    print(
        f"  whole message per moving entity (incl. {FIXED} B header): {message:.2f} B "
        f"(spread {mlo:.2f}-{mhi:.2f})"
    )
    print(
        f"  same run, exact and without motion prediction: {plain:.2f} B payload "
        f"(spread {plo:.2f}-{phi:.2f})"
    )
    print(f"  baseline Colyseus schema: {COLYSEUS_BYTES} B per x/y entity update")
    print(
        f"  ratio payload / Colyseus: {payload / COLYSEUS_BYTES:.2f}; "
        f"target <= {TARGET} B: {'PASS' if payload <= TARGET else 'FAIL'} (payload), "
        f"{'PASS' if message <= TARGET else 'FAIL'} (whole message)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
