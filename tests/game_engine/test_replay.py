"""The takeover's fast-forward (game_engine.replay): snapshot + records -> the present,
each record at the tick its time says, no flood bound, nothing applied twice."""

from __future__ import annotations

from typing import Any

from walk_rules import Walk

from game_engine.arena import Arena
from game_engine.engine import Engine, EngineSettings
from game_engine.events import Event, Input, Join
from game_engine.replay import Replay
from game_engine.snapshot_codec import decode_snapshot

PERIOD_MS = 1000 / 30
T0 = 1_700_000_000_000  # epoch ms of the snapshot


def walk(seq: int, vx: int, t: float, player: str = "p", match: str = "m") -> Input:
    return Input(match, player, "c", seq, {"vx": vx}, round(t))


def snapshot_at_t0(engine: Engine[Any], match: str = "m") -> Any:
    return decode_snapshot(engine.snapshot(match, wall_ms=T0), rules=engine.rules.name)


def test_records_are_applied_at_the_tick_their_time_says_and_the_match_reaches_now() -> None:
    live: Engine[Any] = Engine(Walk())
    live.submit(Join("m", "p", "c"), "s", "1")
    live.tick()
    snap = snapshot_at_t0(live)
    # vx=1 from the 10th tick after the snapshot, vx=0 from the 20th: x = 10.
    records: list[tuple[str, Event | None]] = [
        ("2", walk(1, 1, T0 + 9.5 * PERIOD_MS)),
        ("3", None),  # a record set aside by the reader: skipped, still counted as read
        ("4", walk(2, 0, T0 + 19.5 * PERIOD_MS)),
    ]
    replay: Replay[Any] = Replay(Walk(), EngineSettings(), "s", [snap], records)
    now = T0 + 60 * PERIOD_MS + 1
    while not replay.run(now, max_ticks=7):
        pass
    assert replay.ticks == 60
    ((_, data),) = replay.snapshots()
    after: Engine[Any] = Engine(Walk())
    after.restore(data)
    assert int(after.world["x"][after.matches["m"].row]) == 10
    assert after.matches["m"].members["p"].last_seq == 2
    # The tick counter went on from the snapshot's: a client never sees it go back.
    assert int(after.world.tick[after.matches["m"].row]) == 1 + 60


def test_replay_is_not_live_intake_a_burst_is_applied_whole_and_duplicates_once() -> None:
    live: Engine[Any] = Engine(Arena())
    live.submit(Join("m", "p", "c"), "s", "1")
    live.tick()
    snap = decode_snapshot(live.snapshot("m", wall_ms=T0), rules=live.rules.name)
    burst: list[tuple[str, Event | None]] = [
        (str(10 + i), Input("m", "p", "c", i, {"move": [1.0, 0.0]}, T0 + 1)) for i in range(1, 501)
    ]
    burst.append(("9999", Input("m", "p", "c", 500, {"move": [1.0, 0.0]}, T0 + 2)))  # a retry
    replay: Replay[Any] = Replay(Arena(), EngineSettings(), "s", [snap], burst)
    assert replay.run(T0 + 10 * PERIOD_MS, max_ticks=100)
    counters = replay.engine.counters
    # 500 inputs of one player in one tick: 15 times the live flood bound, all applied.
    assert counters["input.applied"] == 500
    assert counters["input.rejected.flood"] == 0
    assert counters["input.duplicate"] == 1
    assert replay.engine.matches["m"].members["p"].last_seq == 500


def test_records_the_snapshot_covers_are_skipped() -> None:
    live: Engine[Any] = Engine(Walk())
    live.submit(Join("m", "p", "c"), "s", "1")
    live.submit(walk(1, 1, T0 - 5), "s", "2")
    live.tick()
    snap = snapshot_at_t0(live)
    records: list[tuple[str, Event | None]] = [
        ("1", Join("m", "p", "c", T0 - 10)),
        ("2", walk(1, 1, T0 - 5)),
        ("3", walk(2, 2, T0 + 1)),
    ]
    replay: Replay[Any] = Replay(Walk(), EngineSettings(), "s", [snap], records)
    assert replay.run(T0 + 3 * PERIOD_MS)
    assert replay.engine.counters["record.replayed"] == 2
    assert replay.engine.counters["input.applied"] == 1


def test_without_snapshots_the_timeline_starts_at_the_first_record_and_new_matches_appear() -> None:
    records: list[tuple[str, Event | None]] = [
        ("1", Join("m", "p", "c", T0)),
        ("2", walk(1, 3, T0 + 1)),
    ]
    replay: Replay[Any] = Replay(Walk(), EngineSettings(), "s", [], records)
    assert replay.run(T0 + 10 * PERIOD_MS + 1)
    assert [m for m, _ in replay.snapshots()] == ["m"]
    assert replay.ticks == 10


def test_records_stamped_ahead_of_now_are_still_applied_before_the_end() -> None:
    records: list[tuple[str, Event | None]] = [
        ("1", Join("m", "p", "c", T0)),
        ("2", walk(1, 3, T0 + 60_000)),  # another machine's clock, a minute ahead
    ]
    replay: Replay[Any] = Replay(Walk(), EngineSettings(), "s", [], records)
    assert replay.run(T0 + 2 * PERIOD_MS + 1)
    assert replay.engine.matches["m"].members["p"].last_seq == 1


def test_a_raising_rules_hook_ends_its_match_in_replay_too() -> None:
    records: list[tuple[str, Event | None]] = [
        ("1", Join("a", "p", "c", T0)),
        ("2", Join("b", "p", "c", T0)),
        ("3", Input("a", "p", "c", 1, {"boom": True}, T0 + 1)),
        ("4", walk(1, 2, T0 + 1, match="b")),
    ]
    replay: Replay[Any] = Replay(Walk(), EngineSettings(), "s", [], records)
    assert replay.run(T0 + 5 * PERIOD_MS)
    assert [m for m, _ in replay.ended] == ["a"]
    assert [m for m, _ in replay.snapshots()] == ["b"]
