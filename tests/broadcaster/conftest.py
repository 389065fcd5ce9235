"""Helpers for the broadcaster tests: frames built from plain arrays (the ``build`` fixture)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from game_engine.frame import MatchFrame, PlayerSlot


def make_frame(
    tick: int,
    ids: Any,
    x: Any,
    y: Any,
    *,
    players: tuple[PlayerSlot, ...] = (),
    hp: Any = None,
    radius: float = 1e9,
    meta: dict[str, Any] | None = None,
    match_id: str = "m1",
) -> MatchFrame:
    ids_a = np.asarray(ids, dtype=np.uint32)
    n = ids_a.shape[0]
    fields = {"hp": np.asarray(hp if hp is not None else np.full(n, 100), dtype=np.uint8)}
    return MatchFrame(
        match_id=match_id,
        tick=tick,
        ids=ids_a,
        kind=np.ones(n, np.uint8),
        x=np.asarray(x, dtype=np.float32),
        y=np.asarray(y, dtype=np.float32),
        fields=fields,
        players=players,
        view_radius=radius,
        meta=meta or {"arena": [1000, 1000]},
    )


def player(
    pid: str = "p1",
    conn: str = "c1",
    entity: int = -1,
    ack: int = 0,
    vx: float = 0.0,
    vy: float = 0.0,
) -> PlayerSlot:
    return PlayerSlot(pid, conn, entity, ack, vx, vy)


class Build:
    """Test helpers handed out by the ``build`` fixture (importlib mode: no conftest imports)."""

    frame = staticmethod(make_frame)
    player = staticmethod(player)


@pytest.fixture(scope="session")
def build() -> type[Build]:
    return Build
