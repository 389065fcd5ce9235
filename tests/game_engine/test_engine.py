"""The engine core: ordering, idempotency, snapshots, lifecycle, backpressure."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import gamelog
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from game_engine.arena import Arena, ArenaSettings
from game_engine.engine import Engine, EngineSettings
from game_engine.errors import SnapshotError
from game_engine.events import Input, Join, Leave

SHARD = "shardId-000000000000"


def _input(seq: int, move: list[float], player: str = "a", conn: str = "c1") -> Input:
    return Input("m", player, conn, seq, {"move": move})


def test_inputs_arriving_during_a_tick_apply_at_the_start_of_the_next() -> None:
    eng = Engine(Arena())
    eng.submit(Join("m", "a", "c1"))
    eng.tick()
    eng.tick()  # spawned
    x0 = float(eng.world["p_x"][0, 0])
    eng.submit(_input(1, [1.0, 0.0]))
    # Not applied yet: nothing moved, ack is 0 until the tick runs.
    assert eng.matches["m"].members["a"].last_seq == 0
    assert float(eng.world["p_x"][0, 0]) == x0
    eng.tick()
    assert eng.matches["m"].members["a"].last_seq == 1
    assert float(eng.world["p_x"][0, 0]) == pytest.approx(x0 + 240.0 / 30.0, abs=1e-3)


def test_seq_at_or_below_last_applied_is_skipped_and_order_is_stream_order() -> None:
    eng = Engine(Arena())
    eng.submit(Join("m", "a", "c1"))
    for seq, move in [(1, [1, 0]), (3, [0, 1]), (2, [-1, 0]), (3, [0, -1])]:
        eng.submit(_input(seq, move))
    eng.tick()
    assert eng.counters["input.applied"] == 2
    assert eng.counters["input.duplicate"] == 2
    # The last applied was seq 3 with move [0, 1].
    assert float(eng.world["p_my"][0, 0]) == 1.0
    assert eng.matches["m"].members["a"].last_seq == 3


def test_redelivery_of_every_record_twice_gives_identical_hashes() -> None:
    batches = gamelog.script(7, ticks=150)
    live = gamelog.engine()
    want = gamelog.run(live, batches)
    # Producer retries: each record appears twice, under a new sequence number.
    doubled = []
    n = 10**6
    for batch in batches:
        out = []
        for ev, shard, _ in batch:
            for _ in range(2):
                n += 1
                out.append((ev, shard, str(n)))
        doubled.append(out)
    eng = gamelog.engine()
    assert gamelog.run(eng, doubled) == want
    inputs = sum(isinstance(ev, Input) for b in batches for ev, _, _ in b)
    applied = eng.counters["input.applied"] + eng.counters["input.not_member"]
    assert applied == live.counters["input.applied"] + live.counters["input.not_member"]
    assert eng.counters["input.duplicate"] == inputs
    # The same records delivered again with their own sequence numbers are replays.
    for batch in batches:
        for ev, shard, seq in batch:
            assert eng.submit(ev, shard, seq)
    eng.tick()
    assert eng.counters["record.replayed"] == sum(len(b) for b in batches)


def test_snapshot_plus_replay_equals_the_live_run() -> None:
    batches = gamelog.script(11, ticks=160)
    live = gamelog.engine()
    want = gamelog.run(live, batches)
    k = 70
    first = gamelog.engine()
    gamelog.run(first, batches[:k])
    snaps = [first.snapshot(mid) for mid in sorted(first.matches)]
    other = gamelog.engine()
    # A different row layout on the new worker must not matter.
    other.submit(Join("unrelated", "z", "cz"), "shardId-9", "1")
    other.tick()
    for snap in snaps:
        other.restore(snap)
    assert other.drop_shard("shardId-9") == ["unrelated"]
    # Replay from well before the snapshot: the records it covers are skipped.
    replay = [r for b in batches[k - 20 : k + 1] for r in b]
    replayed = gamelog.run(other, [replay, *batches[k + 1 :]])
    assert replayed[-1] == want[-1]
    assert other.counters["record.replayed"] > 0


def test_snapshot_roundtrip_and_corrupt_snapshots_raise() -> None:
    eng = gamelog.engine()
    gamelog.run(eng, gamelog.script(3, ticks=40))
    mid = sorted(eng.matches)[0]
    before = eng.match_hash(mid)
    data = eng.snapshot(mid)
    eng.restore(data)
    assert eng.match_hash(mid) == before
    for bad in (b"", b"\xc1", data[: len(data) // 2], b"\x80"):
        with pytest.raises(SnapshotError):
            eng.restore(bad)
    other = Engine(Arena(), EngineSettings())
    other.rules.name = "other/1"
    with pytest.raises(SnapshotError):
        other.restore(data)


def test_deterministic_replay_under_three_hash_seeds() -> None:
    script = Path(gamelog.__file__)
    outputs = []
    for hashseed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run(
            [sys.executable, str(script), "5"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(Path(__file__).parents[2]),
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout.split())
    assert len(outputs[0]) == 120
    assert outputs[0] == outputs[1] == outputs[2]
    assert gamelog.run(gamelog.engine(), gamelog.script(5)) == outputs[0]


def test_full_match_refuses_joins_and_stale_leaves_are_ignored() -> None:
    eng = Engine(Arena(ArenaSettings(max_players=2)))
    for p in "abc":
        eng.submit(Join("m", p, f"c-{p}"))
    eng.tick()
    assert set(eng.matches["m"].members) == {"a", "b"}
    assert eng.counters["join.refused.match_full"] == 1
    eng.submit(Join("m", "a", "c-a2"))  # reconnect: same player, new connection
    eng.submit(Leave("m", "a", "c-a"))  # the old connection's late $disconnect
    eng.tick()
    assert eng.matches["m"].members["a"].connection_id == "c-a2"
    assert eng.counters["leave.stale"] == 1
    eng.gone("m", "a", "c-a2")
    eng.tick()
    assert "a" not in eng.matches["m"].members
    assert eng.counters["gone.removed"] == 1


def test_queue_is_bounded_and_full_queue_pushes_back() -> None:
    eng = Engine(Arena(), EngineSettings(max_queue_per_match=10, max_records_per_match_per_tick=4))
    assert eng.submit(Join("m", "a", "c1"), SHARD, "1")
    accepted = [eng.submit(_input(i, [0, 1]), SHARD, str(i + 1)) for i in range(1, 15)]
    assert accepted == [True] * 9 + [False] * 5
    assert eng.pending_min(SHARD) == 1
    eng.tick()
    assert len(eng.matches["m"].queue) == 6
    assert eng.pending_min(SHARD) == 5
    # The held record is accepted once the tick made room, and nothing was lost.
    assert eng.submit(_input(10, [0, 1]), SHARD, "11")
    for _ in range(3):
        eng.tick()
    assert eng.matches["m"].members["a"].last_seq == 10
    assert eng.pending_min(SHARD) is None


def test_match_ends_when_empty_for_the_set_time(caplog: pytest.LogCaptureFixture) -> None:
    eng = Engine(Arena(), EngineSettings(empty_timeout=1.0, tick_rate=30.0))
    eng.submit(Join("m", "a", "c1"))
    eng.tick()
    eng.submit(Leave("m", "a", "c1"))
    caplog.set_level(logging.INFO, logger="tickwire.engine")
    ended = []
    for _ in range(40):
        ended.extend(eng.tick().ended)
    assert [mid for mid, _ in ended] == ["m"]
    assert "m" not in eng.matches
    line = json.loads(caplog.records[-1].getMessage())
    assert line["event"] == "match_ended" and line["reason"] == "empty"
    # Inputs for an ended match are counted, not applied; a new join starts a new match.
    eng.submit(_input(2, [1, 0]))
    assert eng.counters["record.unknown_match"] == 1


def test_rules_end_the_match_and_the_final_frame_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tickwire.engine")
    eng = gamelog.engine(score_limit=1)
    batches = gamelog.script(2, matches=1, players=8, ticks=900)
    ended = []
    for batch in batches:
        for ev, shard, seq in batch:
            eng.submit(ev, shard, seq)
        report = eng.tick()
        ended.extend(report.ended)
        if ended:
            break
    assert [mid for mid, _ in ended] == ["match-0"]
    _, result = ended[0]
    assert result["reason"] == "rules" and max(result["scores"].values()) == 1
    assert all(k.startswith("player-") for k in result["scores"])
    frames = eng.frames()
    assert len(frames) == 1 and frames[0].ended
    assert eng.frames() == []


def test_100k_inputs_each_delivered_twice_none_applied_twice() -> None:
    """Reliability table: 0 inputs applied twice over 100,000 inputs, same final hash."""
    matches, players, ticks = 20, 16, 313  # 100,160 inputs
    shard = "shardId-000000000001"

    def play(copies: int) -> Engine:
        eng = Engine(Arena())
        n = 0
        for m in range(matches):
            for p in range(players):
                n += 1
                eng.submit(Join(f"m{m}", f"p{p}", "c"), shard, str(n))
        for t in range(1, ticks + 1):
            for m in range(matches):
                for p in range(players):
                    ev = Input(
                        f"m{m}",
                        f"p{p}",
                        "c",
                        t,
                        {"move": [((t + p) % 3) - 1, (t % 5) / 5], "fire": t % 7 == 0},
                    )
                    for _ in range(copies):
                        n += 1
                        eng.submit(ev, shard, str(n))
            eng.tick()
        return eng

    once, twice = play(1), play(2)
    total = matches * players * ticks
    assert once.counters["input.applied"] == twice.counters["input.applied"] == total
    assert twice.counters["input.duplicate"] == total
    assert set(twice.last_seqs().values()) == {ticks}
    assert twice.state_hash() == once.state_hash()


def test_a_worker_runs_at_most_max_matches() -> None:
    eng = Engine(Arena(), EngineSettings(max_matches=3, initial_capacity=2))
    for m in range(5):
        eng.submit(Join(f"m{m}", "a", "c"))
    eng.tick()
    assert sorted(eng.matches) == ["m0", "m1", "m2"]
    assert eng.counters["join.refused.worker_full"] == 2
    assert eng.world.capacity == 4


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), copies=st.lists(st.integers(1, 3), min_size=1, max_size=50))
def test_any_pattern_of_retried_records_gives_the_same_hashes(seed: int, copies: list[int]) -> None:
    batches = gamelog.script(seed, matches=2, players=4, ticks=40)
    want = gamelog.run(gamelog.engine(), batches)
    n, i = 10**6, 0
    retried = []
    for batch in batches:
        out = []
        for ev, shard, _ in batch:
            for _ in range(copies[i % len(copies)]):
                n += 1
                out.append((ev, shard, str(n)))
            i += 1
        retried.append(out)
    assert gamelog.run(gamelog.engine(), retried) == want


def test_a_player_connecting_again_replaces_its_older_connection() -> None:
    eng = Engine(Arena())
    eng.submit(Join("m", "p", "c1"))
    eng.tick()
    eng.submit(Join("m", "p", "c2"))  # a second tab, or a reconnect after a drop
    eng.submit(Join("m", "p", "c2"))  # the same join delivered twice replaces nothing
    eng.tick()
    assert eng.take_replaced() == [("m", "p", "c1")]
    assert eng.take_replaced() == []
    (slot,) = eng.frames()[0].players
    assert slot.connection_id == "c2"
