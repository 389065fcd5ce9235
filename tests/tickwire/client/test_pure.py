"""The client's pure parts: backoff, input log, input validation, prediction."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.client import (
    Backoff,
    Input,
    InputError,
    InputLog,
    Reconciler,
    encode_input,
    kinematic_step,
    validate_input,
)


def test_backoff_windows_grow_then_cap() -> None:
    b = Backoff(base=0.5, cap=4.0, factor=2.0, max_attempts=5)
    assert [b.window(i) for i in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert not b.exhausted(4) and b.exhausted(5)
    assert b.window(10_000) == 4.0  # no float overflow


@given(st.integers(0, 200), st.integers(0, 2**32))
def test_backoff_delay_within_window(attempt: int, seed: int) -> None:
    b = Backoff()
    d = b.delay(attempt, random.Random(seed))
    assert 0.0 <= d <= b.window(attempt) <= b.cap


def test_backoff_jitter_spreads_clients() -> None:
    b = Backoff(base=1.0, cap=1.0)
    rng = random.Random(7)
    delays = [b.delay(0, rng) for _ in range(1000)]
    # Full jitter: a thousand clients dropped at once do not come back in one wave.
    assert min(delays) < 0.1 and max(delays) > 0.9


@pytest.mark.parametrize(
    "kwargs", [{"base": -1}, {"base": 2, "cap": 1}, {"factor": 0.5}, {"max_attempts": 0}]
)
def test_backoff_refuses_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_encode_input_matches_contract() -> None:
    assert json.loads(encode_input(3, Input((1.0, -0.5)))) == {
        "action": "input",
        "seq": 3,
        "move": [1.0, -0.5],
    }
    assert json.loads(encode_input(4, Input((0.0, 0.0), (0.6, 0.8), True))) == {
        "action": "input",
        "seq": 4,
        "move": [0.0, 0.0],
        "aim": [0.6, 0.8],
        "fire": True,
    }


@pytest.mark.parametrize(
    ("move", "aim", "fire"),
    [
        ((2.0, 0.0), None, False),
        ((math.nan, 0.0), None, False),
        ((0.0,), None, False),
        ("ab", None, False),
        ((0.0, 0.0), (math.inf, 0.0), False),
        ((0.0, 0.0), None, 1),
    ],
)
def test_validate_input_refuses(move: object, aim: object, fire: object) -> None:
    with pytest.raises(InputError):
        validate_input(move, aim, fire)  # type: ignore[arg-type]


def test_input_log_seq_ack_and_latency() -> None:
    log = InputLog()
    for i in range(5):
        assert log.record(Input((0.0, 0.0)), now=float(i)).seq == i + 1
    assert log.acknowledge(3, now=10.0) == [10.0, 9.0, 8.0]
    assert [p.seq for p in log.pending] == [4, 5]
    assert log.acknowledge(2, now=11.0) == []  # acks never go backwards
    assert log.ack_seq == 3
    log.new_connection()
    log.record(Input((0.0, 0.0)), now=20.0)
    # Inputs 4 and 5 were sent on the old connection: acked, but no latency sample.
    assert log.acknowledge(6, now=20.5) == [0.5]
    assert log.pending == ()


@given(st.lists(st.integers(0, 60), max_size=80), st.integers(1, 20))
def test_input_log_is_bounded_and_ordered(acks: list[int], bound: int) -> None:
    log = InputLog(max_pending=bound)
    t = 0.0
    sent: list[int] = []
    for ack in acks:
        sent.append(log.record(Input((0.0, 0.0)), t).seq)
        t += 1.0
        for sample in log.acknowledge(ack, t):
            assert sample >= 0
        seqs = [p.seq for p in log.pending]
        assert len(seqs) <= bound
        assert seqs == sorted(seqs)
        assert all(s > log.ack_seq for s in seqs)
    # Seqs rise strictly, and each new one is above every ack seen before it.
    assert all(a < b for a, b in itertools.pairwise(sent))
    assert log.last_seq >= len(acks)


def test_input_log_continues_above_a_foreign_ack() -> None:
    log = InputLog()
    log.record(Input((0.0, 0.0)), 0.0)
    # A restarted client: the engine already applied this player's seqs up to 40.
    log.acknowledge(40, 0.1)
    assert log.record(Input((0.0, 0.0)), 0.2).seq == 41


def test_reconciler_replays_pending_inputs() -> None:
    log = InputLog()
    rec: Reconciler[tuple[float, float]] = Reconciler(kinematic_step(10.0))
    assert rec.predict(log.pending, 0.0) is None
    log.record(Input((1.0, 0.0)), now=0.0)  # seq 1
    log.record(Input((0.0, 1.0)), now=0.5)  # seq 2
    log.record(Input((-1.0, 0.0)), now=1.0)  # seq 3
    rec.on_server_state((0.0, 0.0), ack_seq=1)
    log.acknowledge(1, now=1.0)
    # seq 2 held 0.5 s (+5 y), seq 3 held until now=1.25 (-2.5 x)
    assert rec.predict(log.pending, 1.25) == pytest.approx((-2.5, 5.0))
    # The server corrects: everything acked, prediction equals the server's state.
    rec.on_server_state((3.0, 4.0), ack_seq=3)
    log.acknowledge(3, now=1.3)
    assert rec.predict(log.pending, 5.0) == (3.0, 4.0)


def test_reconciler_bounds_replay_and_clamps() -> None:
    log = InputLog()
    rec: Reconciler[tuple[float, float]] = Reconciler(
        kinematic_step(10.0, bounds=(0.0, 0.0, 100.0, 100.0)), max_replay=1.0
    )
    rec.on_server_state((50.0, 50.0), 0)
    log.record(Input((1.0, -1.0)), now=0.0)
    # 60 s without an ack: replay stops at 1 s (10 units), and y clamps at 0 never.
    assert rec.predict(log.pending, 60.0) == pytest.approx((60.0, 40.0))
    rec.on_server_state((99.0, 1.0), 0)
    assert rec.predict(log.pending, 60.0) == pytest.approx((100.0, 0.0))
