"""render.js's drawing under Node with a recording canvas context (no browser needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RENDER_JS = Path(__file__).parents[3] / "tickwire" / "web" / "static" / "render.js"

SCRIPT = """
import { drawScene, fitCamera } from %(module)s;
const calls = [];
const ctx = new Proxy({ canvas: { width: 400, height: 400 } }, {
  get(target, name) {
    if (name in target) return target[name];
    return (...args) => calls.push(name);
  },
  set(target, name, value) { target[name] = value; return true; },
});
const meta = %(meta)s;
const ents = new Map([[1, { kind: 0, x: 50, y: 50, hp: 100, angle: 0, score: 0 }]]);
const cam = fitCamera(ctx.canvas, meta, %(centre)s, 300);
drawScene(ctx, { cam, meta, ents, selfId: 1, followId: -1 });
console.log(JSON.stringify({ lines: calls.filter((c) => c === "lineTo").length,
                             rects: calls.filter((c) => c === "strokeRect").length, cam }));
"""


def _draw(meta: dict[str, object], centre: str = "null") -> dict[str, object]:
    script = SCRIPT % {
        "module": json.dumps(RENDER_JS.as_uri()),
        "meta": json.dumps(meta),
        "centre": centre,
    }
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


def test_the_arena_gets_its_grid_and_border() -> None:
    drawn = _draw({"width": 1600, "height": 1600})
    # 17 grid lines each way, plus the aim line of the one player
    assert drawn["lines"] == 17 * 2 + 1 and drawn["rects"] == 1


def test_rules_without_a_field_get_no_grid_and_an_unclamped_camera() -> None:
    drawn = _draw({})  # the README's Drift declares no width/height
    assert drawn["lines"] == 1 and drawn["rects"] == 0
    followed = _draw({}, centre="{x: 50, y: 50}")
    assert followed["cam"] == {"cx": 50, "cy": 50, "scale": 400 / 300}
