"""A seeded game script: per tick, the records that arrived during it (stream order).

Used in-process by the tests and run as a program by the PYTHONHASHSEED test, which
prints the per-tick state hashes.
"""

from __future__ import annotations

import random
import sys

from game_engine.arena import Arena, ArenaSettings
from game_engine.engine import Engine, EngineSettings
from game_engine.events import Event, Input, Join, Leave

Batch = list[tuple[Event, str, str]]  # (event, shard id, sequence number)


def script(seed: int, *, matches: int = 3, players: int = 6, ticks: int = 120) -> list[Batch]:
    """Joins, inputs (move/aim/fire, seq rising by one), a few leaves and rejoins."""
    rng = random.Random(seed)
    seq_no = 1000
    out: list[Batch] = []
    next_seq: dict[tuple[int, int], int] = {}
    present: set[tuple[int, int]] = set()
    for t in range(ticks):
        batch: Batch = []
        for m in range(matches):
            for p in range(players):
                key = (m, p)
                ev: Event | None = None
                if key not in present:
                    if t == 0 or rng.random() < 0.05:
                        ev = Join(f"match-{m}", f"player-{p}", f"conn-{p}-{t}")
                        present.add(key)
                elif rng.random() < 0.01:
                    ev = Leave(f"match-{m}", f"player-{p}", _conn(out, batch, m, p))
                    present.discard(key)
                elif rng.random() < 0.6:
                    s = next_seq.get(key, 0) + 1
                    next_seq[key] = s
                    ev = Input(
                        f"match-{m}",
                        f"player-{p}",
                        _conn(out, batch, m, p),
                        s,
                        {
                            "action": "input",
                            "seq": s,
                            "move": [rng.uniform(-1, 1), rng.uniform(-1, 1)],
                            "aim": [rng.uniform(-1, 1), rng.uniform(-1, 1)],
                            "fire": rng.random() < 0.5,
                        },
                    )
                if ev is not None:
                    seq_no += 1
                    batch.append((ev, "shardId-000000000000", str(seq_no)))
        out.append(batch)
    return out


def _conn(out: list[Batch], batch: Batch, m: int, p: int) -> str:
    for b in [batch, *reversed(out)]:
        for ev, _, _ in reversed(b):
            if isinstance(ev, Join) and ev.match == f"match-{m}" and ev.player == f"player-{p}":
                return ev.conn
    raise AssertionError("no join")


def engine(score_limit: int = 0) -> Engine:
    # Small arena so players meet and shoot each other within a few seconds.
    rules = Arena(
        ArenaSettings(
            width=500.0, height=500.0, walls=((200, 200, 260, 240),), score_limit=score_limit
        )
    )
    return Engine(rules, EngineSettings(empty_timeout=5.0))


def run(eng: Engine, batches: list[Batch]) -> list[str]:
    """Feed each batch, tick once after it; return the state hash after every tick."""
    hashes = []
    for batch in batches:
        for ev, shard, seq in batch:
            assert eng.submit(ev, shard, seq)
        eng.tick()
        hashes.append(eng.state_hash())
    return hashes


if __name__ == "__main__":
    for h in run(engine(), script(int(sys.argv[1]))):
        print(h)
