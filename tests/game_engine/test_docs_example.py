"""The rules example in docs/sections/40-engine.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "sections" / "40-engine.md"


def test_the_documented_rules_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "no python example in the engine docs"
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    engine = namespace["engine"]
    assert engine.ticks == 2  # type: ignore[attr-defined]
