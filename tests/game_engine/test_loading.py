"""Loading a game's rules by name (``--rules module:attribute``), and running them."""

from __future__ import annotations

import pytest

from game_engine.arena import Arena
from game_engine.engine import Engine
from game_engine.errors import RulesNotFound
from game_engine.events import Join
from game_engine.loading import load_rules


def test_loads_an_instance_a_class_or_a_factory() -> None:
    assert isinstance(load_rules("game_engine.arena:Arena"), Arena)
    rules = load_rules("game_engine.arena:Arena")
    engine = Engine(rules)
    engine.submit(Join("m", "p", "c"))
    engine.tick()
    assert engine.counters["join.admitted"] == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_colon", "module:attribute"),
        ("no_such_module_xyz:Rules", "cannot import"),
        ("game_engine.arena:Nope", "no attribute"),
        ("game_engine.arena:ArenaSettings", "not a rules object"),
        ("json:dumps", "calling it with no arguments failed"),
    ],
)
def test_bad_names_say_why(name: str, reason: str) -> None:
    with pytest.raises(RulesNotFound, match=reason):
        load_rules(name)
