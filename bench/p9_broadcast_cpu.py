"""P9: the broadcaster's CPU per player-message (view, delta, encode, framing, fan-out).

Workload: P7's profile on the real engine and rules (``game_engine.engine.Engine`` with
``game_engine.arena.Arena``): MATCHES matches of 16 players (125 x 16 = 2,000 players),
30 Hz simulation, 20 Hz sends, every player holding a random movement direction in
[-1, 1]^2 that it replaces at 10 Hz; about one player in twenty also aims and fires on
each input (occasional projectiles). The engine's frames are recorded first (the engine's
own cost is not measured), then the real :class:`broadcaster.fanout.Broadcaster` is fed
them one send tick at a time; each tick is published once the previous one is delivered.
Its ``Connections`` completes each post at once, in process, counting bytes: the sink of
the measured system, not a stand-in for anything under test, so what is timed is the
broadcaster's own work (table, views, deltas, encoding, framing, post tasks, bookkeeping)
and not the gateway's send.

Figure: microseconds of CPU (``time.process_time`` of this process, which runs the
broadcaster on one thread; CPU rather than wall time so that other work on a shared
machine disturbs the figure less) per player-message,
median of reps with the spread. Baseline, measured in the same run over the same
messages: ``msgpack.packb`` of a per-player payload of the same shape as the average
message (what "encode once" costs), so the ratio says how many bare encodes the whole
pipeline costs. Target: <= 5 us per player-message.

    python bench/p9_broadcast_cpu.py [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time

import msgpack

from broadcaster.codec import HEADER_SIZE
from broadcaster.fanout import Broadcaster, BroadcastSettings
from game_engine.arena import Arena
from game_engine.engine import Engine
from game_engine.events import Input, Join
from game_engine.frame import MatchFrame
from game_engine.scheduler import send_due

TARGET_US = 5.0
TICK_RATE, SEND_RATE, INPUT_RATE = 30.0, 20.0, 10.0
FIRE_SHARE = 0.05  # share of inputs that also aim and fire


class CountingConnections:
    """The sink: every post completes at once; counts messages and bytes."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.sizes: list[int] = []

    def post_now(self, connection_id: str, data: bytes) -> None:
        """Synchronous, like DirectConnections': the broadcaster posts inline."""
        self.messages += 1
        self.bytes += len(data)

    async def post(self, connection_id: str, data: bytes) -> None:
        self.post_now(connection_id, data)

    async def close(self) -> None:
        return None


def record(seed: int, matches: int, send_ticks: int) -> list[list[MatchFrame]]:
    """The frames of ``send_ticks`` send ticks of the reference game, P7's inputs."""
    rng = random.Random(seed)
    eng: Engine[object] = Engine(Arena())
    players = [(f"m{m}", f"p{p}", f"c{m}-{p}") for m in range(matches) for p in range(16)]
    for match, player, conn in players:
        eng.submit(Join(match, player, conn))
    seqs = dict.fromkeys(players, 0)
    every = round(TICK_RATE / INPUT_RATE)
    out: list[list[MatchFrame]] = []
    tick = 0
    while len(out) < send_ticks:
        tick += 1
        if tick % every == 1:
            for key in players:
                seqs[key] += 1
                payload: dict[str, object] = {"move": [rng.uniform(-1, 1), rng.uniform(-1, 1)]}
                if rng.random() < FIRE_SHARE:
                    payload |= {"aim": [rng.uniform(-1, 1), rng.uniform(-1, 1)], "fire": True}
                eng.submit(Input(key[0], key[1], key[2], seqs[key], payload))
        eng.tick()
        if send_due(tick, TICK_RATE, SEND_RATE):
            out.append(eng.frames())
    return out


async def broadcast(ticks: list[list[MatchFrame]], warmup: int) -> tuple[float, int, int]:
    """Seconds spent and messages/bytes sent for the ticks after ``warmup``."""
    conns = CountingConnections()
    bc = Broadcaster(conns, BroadcastSettings())
    await bc.start()
    spent = 0.0
    m0 = b0 = 0
    try:
        for i, frames in enumerate(ticks):
            if i == warmup:
                m0, b0 = conns.messages, conns.bytes
            t0 = time.process_time()
            bc.publish(frames)
            if not await bc.drain(60.0):
                raise RuntimeError("broadcaster did not drain within 60 s")
            if i >= warmup:
                spent += time.process_time() - t0
    finally:
        await bc.stop()
    if bc.stats.errors:
        raise RuntimeError(f"broadcaster reported {bc.stats.errors} errors")
    return spent, conns.messages - m0, conns.bytes - b0


def baseline(ticks: list[list[MatchFrame]], messages: int, nbytes: int) -> float:
    """Seconds to msgpack-encode ``messages`` payloads of the average message's size once
    each: a header bin and an xy correction bin per player, as the steady state carries."""
    avg = nbytes // max(messages, 1)
    header = bytes(HEADER_SIZE)  # the protocol's header (version 2: 32 bytes)
    shape = [header, None, None, {"xy": [None, "i1", b""]}, None]
    overhead = len(msgpack.packb(shape, use_bin_type=True))
    body = bytes(max(avg - overhead, 1))  # so that each payload is the average message size
    rows = [[header, None, None, {"xy": [None, "i1", body]}, None] for _ in range(messages)]
    t0 = time.process_time()
    for r in rows:
        msgpack.packb(r, use_bin_type=True)
    return time.process_time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks and reps (< 60 s)")
    parser.add_argument("--profile", action="store_true", help="cProfile one rep, print top")
    parser.add_argument("--matches", type=int, default=125)
    args = parser.parse_args()
    reps, send_ticks, warmup = (3, 30, 10) if args.quick else (5, 80, 20)
    t0 = time.perf_counter()
    ticks = record(1, args.matches, send_ticks)
    rec_s = time.perf_counter() - t0
    players = sum(len(f.players) for f in ticks[-1])
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        asyncio.run(broadcast(ticks, warmup))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0
    per_msg: list[float] = []
    base: list[float] = []
    for _ in range(reps):
        spent, messages, nbytes = asyncio.run(broadcast(ticks, warmup))
        per_msg.append(spent / messages * 1e6)
        base.append(baseline(ticks, messages, nbytes) / messages * 1e6)
    us, lo, hi = statistics.median(per_msg), min(per_msg), max(per_msg)
    b = statistics.median(base)
    print(
        f"P9 broadcaster CPU: {args.matches} matches x 16 = {players} players, "
        f"{send_ticks - warmup} send ticks measured per rep ({warmup} warm-up), {reps} reps, "
        f"P7 profile (moving, {FIRE_SHARE:.0%} of inputs fire); frames recorded in {rec_s:.1f} s"
    )
    print(f"  avg message {nbytes / max(messages, 1):.0f} B, {messages} messages per rep")
    print(f"  broadcaster: {us:.2f} us per player-message (reps {lo:.2f}..{hi:.2f})")
    print(f"  baseline (msgpack.packb of one same-size payload): {b:.2f} us per message")
    print(
        f"  ratio: {us / b:.1f}x the bare encode; target <= {TARGET_US:.1f} us: "
        f"{'PASS' if us <= TARGET_US else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
