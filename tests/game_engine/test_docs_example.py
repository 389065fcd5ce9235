"""The rules example in the README ("Writing rules") runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "README.md"


def test_the_documented_rules_example_runs() -> None:
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "class Drift" in b
    ]
    assert blocks, "no rules example (class Drift) in the README"
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    engine = namespace["engine"]
    assert engine.ticks == 2  # type: ignore[attr-defined]
