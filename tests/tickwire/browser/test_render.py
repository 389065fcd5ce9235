"""The page's interpolation and camera (render.js), run in Chromium as the page runs them."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

WAIT_MS = 30_000


async def run(page: Any, body: str) -> Any:
    """Evaluate ``body`` with render.js imported as ``m``."""
    return await page.evaluate(f"import('/static/render.js').then((m) => {{ {body} }})")


async def test_interpolation_blends_between_snapshots(game: Any, chromium: Any) -> None:
    page = await chromium.new_page()
    await page.goto(game.http_url + "/config.json")
    result = await run(
        page,
        """
        const buf = [];
        const snap = (t, x) => ({ t, tick: t, ents: new Map([[1, { kind: 0, x, y: 5 }]]) });
        m.pushSnapshot(buf, snap(100, 0));
        m.pushSnapshot(buf, snap(150, 10));
        m.pushSnapshot(buf, snap(200, 30));
        const at = (t) => m.interpolate(buf, t).get(1).x;
        // a new entity in the later snapshot only is drawn where it is
        buf[2].ents.set(2, { kind: 0, x: 7, y: 7 });
        return { before: at(50), a: at(125), b: at(175), after: at(500),
                 fresh: m.interpolate(buf, 175).get(2).x, y: m.interpolate(buf, 125).get(1).y };
        """,
    )
    assert result == {"before": 0, "a": 5, "b": 20, "after": 30, "fresh": 7, "y": 5}


async def test_snapshot_buffer_is_bounded(game: Any, chromium: Any) -> None:
    page = await chromium.new_page()
    await page.goto(game.http_url + "/config.json")
    size = await run(
        page,
        """
        const buf = [];
        for (let i = 0; i < 1000; i++) m.pushSnapshot(buf, { t: i, tick: i, ents: new Map() });
        return [buf.length, m.MAX_SNAPSHOTS, buf[buf.length - 1].t];
        """,
    )
    assert size[0] == size[1] and size[2] == 999


async def test_camera_round_trips(game: Any, chromium: Any) -> None:
    page = await chromium.new_page()
    await page.goto(game.http_url + "/config.json")
    out = await run(
        page,
        """
        const canvas = { width: 960, height: 640 };
        const arena = { width: 1600, height: 1600 };
        const cam = m.fitCamera(canvas, arena, { x: 800, y: 700 }, 900);
        const [px, py] = m.toScreen(cam, canvas, 350, 380);
        const [wx, wy] = m.toWorld(cam, canvas, px, py);
        const whole = m.fitCamera(canvas, arena, null, 900);
        // Near a corner the camera stops at the arena's edge (plus a small margin).
        const corner = m.fitCamera(canvas, arena, { x: 10, y: 1590 }, 900);
        const [edgeX] = m.toScreen(corner, canvas, 0, 0);
        return { wx, wy, centre: m.toScreen(cam, canvas, 800, 700), whole: [whole.cx, whole.cy],
                 edgeX, cornerCy: corner.cy };
        """,
    )
    assert out["wx"] == pytest.approx(350) and out["wy"] == pytest.approx(380)
    assert out["centre"] == [480, 320]
    assert out["whole"] == [800, 800]
    assert out["edgeX"] == pytest.approx(40 * 640 / 900)  # a 40-unit margin, in pixels
    assert out["cornerCy"] < 1590


async def test_page_offers_running_matches(chromium: Any) -> None:
    from infra.local.gateway import Gateway, GatewaySettings
    from infra.local.gateway.model import WebSocketApi
    from tickwire.web import routes

    running = {"arena-1": 3, "duel": 1}
    gateway = Gateway(
        WebSocketApi(name="matches-page"),
        GatewaySettings(lambda_prewarm=False),
        extra_routes=routes(None, lambda req: f"ws://{req.host}/local", lambda: running),
    )
    await gateway.start(port=0)
    try:
        page = await chromium.new_page()
        await page.goto(gateway.url + "/")
        await page.wait_for_function(
            "document.querySelectorAll('#matches option').length === 2", timeout=WAIT_MS
        )
        options = await page.eval_on_selector_all(
            "#matches option", "(os) => os.map((o) => [o.value, o.label])"
        )
        assert options == [["arena-1", "3 players"], ["duel", "1 player"]]
        assert await page.inner_text("#f-matches") == "2"
        # Without a token route the page asks for a token instead.
        assert await page.is_visible("#token")
    finally:
        await gateway.stop()
