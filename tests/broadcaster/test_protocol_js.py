"""The JavaScript decoder (tickwire/web/protocol.js) against the Python encoder, with node."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

from broadcaster.client_state import WorldView
from broadcaster.codec import Header, Update, encode, peek_header
from broadcaster.delta import diff
from broadcaster.parts import split_update
from broadcaster.views import MatchTable

HERE = Path(__file__).parent
NODE = shutil.which("node")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sequence(
    build: Any, seed: int, n: int, ticks: int, limit: int, tolerance: int
) -> dict[str, Any]:
    """Messages for one player over a moving world (entities come and go, velocities and
    tick gaps change, hp changes), with the Python world after each message."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    x, y = rng.uniform(-300, 300, n), rng.uniform(-300, 300, n)
    vx, vy = rng.uniform(-9, 9, n), rng.uniform(-9, 9, n)
    hp = rng.integers(0, 101, n)
    who = build.player("p", "c", entity=1, vx=0.0, vy=0.0)
    world, base, tick = WorldView(), None, 1
    out: dict[str, Any] = {"messages": [], "after": []}
    for step in range(ticks):
        gap = int(rng.integers(1, 4))
        tick += gap
        turn = rng.random(n) < 0.3
        vx[turn] += rng.uniform(-5, 5, int(turn.sum()))
        x, y = x + vx * gap, y + vy * gap
        hp = np.where(rng.random(n) < 0.1, rng.integers(0, 101, n), hp)
        alive = rng.random(n) > 0.1  # some entities vanish for a tick
        alive[0] = True
        frame = build.frame(
            tick,
            ids[alive],
            x[alive],
            y[alive],
            hp=hp[alive],
            radius=250.0,
            players=(
                who.__class__(who.player_id, who.connection_id, 1, step, float(x[0]), float(y[0])),
            ),
            meta={"arena": [600, 600], "name": "t\u00e9st"},
        )
        table = MatchTable.from_frame(frame, 4)
        cur = table.view(frame.players[0])
        header = Header(
            tick,
            step,
            0,
            1,
            base is None,
            step == ticks - 1,
            0 if base is None else base.tick,
            1,
            4,
            dropped=step // 3,
            dropped_seq=step * 2,
        )
        update, base = diff(base, cur, table, tolerance)
        for m in split_update(header, update, limit):
            changed = world.apply(m)
            state: dict[str, Any] = {"changed": changed, "header_tick": peek_header(m).tick}
            if changed:
                state |= {
                    "ids": world.ids.tolist(),
                    "columns": {k: v.tolist() for k, v in world.columns.items()},
                    "tick": world.tick,
                    "ack_seq": world.ack_seq,
                    "dropped": world.dropped,
                    "dropped_seq": world.dropped_seq,
                    "self_id": world.self_id,
                    "ended": world.ended,
                    "meta": world.meta,
                }
            out["messages"].append(_b64(m))
            out["after"].append(state)
    return out


def _bad() -> list[dict[str, str]]:
    h = b"\x01\x00\x00\x00\x01\x00" + b"\x00" * 18
    cases = {
        "empty": b"",
        "version 0": b"\x95\xc4\x18" + b"\x00" * 24,
        "version 1 with a version-2 header size": b"\x95\xc4\x20\x01" + b"\x00" * 31,
        "not an array": msgpack.packb({"a": 1}),
        "part 1 of 1": msgpack.packb(
            [b"\x01\x00\x01\x00\x01\x00" + b"\x00" * 18, None, None, None, None]
        ),
        "adds without id": msgpack.packb([h, {"x": ["i4", b"\x00" * 4]}, None, None, None]),
        "ragged columns": msgpack.packb(
            [h, {"id": ["u4", b"\x00" * 8], "x": ["i4", b"\x00" * 4]}, None, None, None]
        ),
        "bad removed": msgpack.packb([h, None, b"abc", None, None]),
        "float dtype": msgpack.packb([h, {"id": ["f4", b"\x00" * 4]}, None, None, None]),
        "truncated": msgpack.packb([h, None, None, None, None])[:-2],
        "delta first": msgpack.packb(
            [b"\x01\x00\x00\x00\x01\x00\x04\x00\x05" + b"\x00" * 15, None, None, None, None]
        ),
    }
    return [{"what": k, "data": _b64(v)} for k, v in cases.items()]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_js_decoder_matches_python(build: Any, tmp_path: Path) -> None:
    sequences = [
        _sequence(build, 1, 40, 12, 32 * 1024, 0),
        _sequence(build, 2, 60, 10, 100, 1),  # many split updates
        _sequence(build, 3, 400, 6, 2000, 3),
    ]
    assert any(peek_header(base64.b64decode(m)).part_count > 1 for m in sequences[1]["messages"])
    path = tmp_path / "cases.json"
    replaced = encode(Header(0, 0, 0, 1, False, False, 0, -1, 4, replaced=True), Update())
    path.write_text(json.dumps({"sequences": sequences, "bad": _bad(), "replaced": _b64(replaced)}))
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--test", str(HERE / "protocol_js.test.mjs")],
        env={"TICKWIRE_PROTOCOL_CASES": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 4" in result.stdout
