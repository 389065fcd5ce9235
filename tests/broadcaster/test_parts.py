"""Framing: every frame within the limit; parts reassemble to the original update."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.client_state import WorldView
from broadcaster.codec import Block, Header, Update, encode_update_body, peek_header
from broadcaster.errors import ProtocolError
from broadcaster.parts import PART_OVERHEAD, reassemble, split_update


def _update(n: int, seed: int) -> Update:
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(1 << 20, size=n, replace=False)).astype(np.uint32)
    return Update(
        adds=Block(
            ids,
            {
                "kind": rng.integers(0, 4, n).astype(np.uint8),
                "x": rng.integers(-(1 << 30), 1 << 30, n).astype(np.int32),
                "y": rng.integers(-(1 << 30), 1 << 30, n).astype(np.int32),
            },
        ),
        meta={"name": "arena", "walls": list(range(n % 50))},
    )


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 3000), seed=st.integers(0, 1000), limit=st.integers(PART_OVERHEAD + 1, 40_000)
)
def test_every_frame_fits_and_parts_reassemble(n: int, seed: int, limit: int) -> None:
    update = _update(n, seed)
    header = Header(9, 4, 0, 1, True, False, 0, 3, 16)
    msgs = split_update(header, update, limit)
    assert all(len(m) <= limit for m in msgs)
    heads = [peek_header(m) for m in msgs]
    assert [h.part_index for h in heads] == list(range(len(msgs)))
    assert {(h.tick, h.part_count, h.ack_seq) for h in heads} == {(9, len(msgs), 4)}
    got = reassemble(msgs)
    assert got.update is not None
    assert encode_update_body(got.update) == encode_update_body(update)


def test_world_applies_parts_only_when_complete_and_drops_abandoned_parts() -> None:
    update = _update(2000, 1)
    msgs = split_update(Header(3, 0, 0, 1, True, False, 0, -1, 16), update, 4096)
    assert len(msgs) > 3
    world = WorldView()
    assert world.apply(msgs[0]) is False and world.tick == -1
    world.apply(msgs[1])
    # a new update's first part replaces the abandoned one
    for m in msgs[:-1]:
        assert world.apply(m) is False
    assert world.apply(msgs[-1]) is True
    assert len(world) == 2000 and world.tick == 3
    # a stray part out of order is ignored
    assert world.apply(msgs[2]) is False and world.tick == 3


def test_limit_too_small_is_a_clear_error_and_bad_parts_are_rejected() -> None:
    with pytest.raises(ValueError, match="overhead"):
        split_update(Header(1, 0, 0, 1, True, False, 0, -1, 16), Update(), PART_OVERHEAD)
    msgs = split_update(Header(1, 0, 0, 1, True, False, 0, -1, 16), _update(500, 2), 1000)
    with pytest.raises(ProtocolError):
        reassemble(msgs[1:])
    with pytest.raises(ProtocolError):
        reassemble([])
