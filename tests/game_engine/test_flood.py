"""A flooding player is contained: its excess inputs are refused at submit, the match's
queue never fills (so its shard is never paused), and other players' inputs still apply
at the next tick."""

from __future__ import annotations

from game_engine.arena import Arena
from game_engine.engine import Engine, EngineSettings
from game_engine.events import Input, Join


def test_a_flooding_player_cannot_fill_the_match_queue() -> None:
    eng = Engine(Arena(), EngineSettings(max_inputs_queued_per_player=32))
    eng.submit(Join("m", "flooder", "c1"))
    eng.submit(Join("m", "calm", "c2"))
    eng.tick()
    accepted = [
        eng.submit(Input("m", "flooder", "c1", seq, {"move": [1.0, 0.0]}), "s", str(seq + 10))
        for seq in range(1, 5001)
    ]
    # Every record is taken from the stream (never held: the shard keeps moving) ...
    assert all(accepted)
    # ... but only 32 wait; the rest are refused and counted.
    assert eng.counters["input.rejected.flood"] == 5000 - 32
    assert len(eng.matches["m"].queue) == 32
    assert eng.submit(Input("m", "calm", "c2", 1, {"move": [0.0, 1.0]}), "s", "6000")
    eng.tick()
    members = eng.matches["m"].members
    assert members["calm"].last_seq == 1
    assert members["flooder"].last_seq == 32
    # Once its queue drained, the flooder's next inputs are taken again.
    assert eng.submit(Input("m", "flooder", "c1", 5001, {"move": [0.0, 0.0]}), "s", "6001")
    eng.tick()
    assert members["flooder"].last_seq == 5001
    assert eng.counters["input.rejected.flood"] == 5000 - 32


def test_a_refused_input_is_not_acknowledged_and_the_frame_says_what_was_dropped() -> None:
    eng = Engine(Arena(), EngineSettings(max_inputs_queued_per_player=4))
    eng.submit(Join("m", "flooder", "c1"))
    eng.tick()
    for seq in range(1, 11):
        eng.submit(Input("m", "flooder", "c1", seq, {"move": [1.0, 0.0]}), "s", str(seq + 10))
    eng.tick()
    (slot,) = eng.frames()[0].players
    # Inputs 1-4 were applied and acknowledged; 5-10 were refused: ack_seq stops at 4 and
    # the frame counts the six refused inputs and names the latest.
    assert (slot.ack_seq, slot.dropped, slot.dropped_seq) == (4, 6, 10)
    # The counts survive a snapshot (a successor keeps telling the same story).
    other = Engine(Arena())
    other.restore(eng.snapshot("m"))
    (again,) = other.frames()[0].players
    assert (again.ack_seq, again.dropped, again.dropped_seq) == (4, 6, 10)


def test_a_retried_refused_input_is_counted_once() -> None:
    eng = Engine(Arena(), EngineSettings(max_inputs_queued_per_player=1))
    eng.submit(Join("m", "p", "c"))
    eng.tick()
    eng.submit(Input("m", "p", "c", 1, {"move": [1.0, 0.0]}), "s", "10")
    eng.submit(Input("m", "p", "c", 2, {"move": [1.0, 0.0]}), "s", "11")  # refused
    eng.submit(Input("m", "p", "c", 2, {"move": [1.0, 0.0]}), "s", "12")  # its retry
    eng.tick()
    (slot,) = eng.frames()[0].players
    assert (slot.ack_seq, slot.dropped, slot.dropped_seq) == (1, 1, 2)
