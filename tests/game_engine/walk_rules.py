"""Walk: tiny rules for engine tests where the state must say exactly what happened.

One player per match walks +vx per tick, so x tells on which tick an input landed; an
input with ``"boom"`` makes ``validate`` raise something other than ``InputRejected`` (a
bug in the rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from game_engine.errors import InputRejected, JoinRefused
from game_engine.rules import Column, MatchView, World


class Walk:
    """One player per match walking +vx per tick: x tells on which tick an input landed."""

    name = "walk/1"
    max_players = 1

    def schema(self) -> Mapping[str, Column]:
        return {"x": Column("int64"), "vx": Column("int64"), "on": Column("bool")}

    def create_match(self, world: World, m: int) -> None:
        pass

    def admit(self, world: World, m: int) -> int:
        if world["on"][m]:
            raise JoinRefused("match_full")
        world["on"][m] = True
        return 0

    def remove(self, world: World, m: int, slot: int) -> None:
        world["on"][m] = False

    def validate(self, payload: Mapping[str, Any]) -> int:
        if payload.get("boom"):
            raise RuntimeError("a bug in the rules")
        vx = payload.get("vx")
        if type(vx) is not int:
            raise InputRejected("wrong_type")
        return vx

    def apply(self, world: World, m: int, slot: int, command: int) -> None:
        world["vx"][m] = command

    def step(self, world: World) -> None:
        np.add(world["x"], world["vx"], out=world["x"])

    def ended(self, world: World) -> npt.NDArray[np.bool_]:
        return np.zeros(world.capacity, dtype=bool)

    def views(self, world: World, rows: Sequence[int]) -> list[MatchView]:
        return [
            MatchView(
                ids=np.array([1], np.uint32),
                kind=np.zeros(1, np.uint8),
                x=world["x"][m : m + 1].astype(np.float32),
                y=np.zeros(1, np.float32),
                fields={},
                slot_entity=np.array([1]),
                slot_x=np.zeros(1, np.float32),
                slot_y=np.zeros(1, np.float32),
                view_radius=1e9,
            )
            for m in rows
        ]

    def result(self, world: World, m: int) -> dict[str, Any]:
        return {"x": int(world["x"][m])}
