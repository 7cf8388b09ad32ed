"""The viewer's traffic layer in headless Chromium: a closed main street is drawn as closed,
its parallel streets wider and coloured as carrying more, with the legend in the panel."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from greentwin.server.store import TileStore
from gt_testing import CHROMIUM_ARGS, ROOT, ServerThread, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]


def _live_edit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "live_edit_for_traffic", ROOT / "tests" / "browser" / "test_live_edit.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[ServerThread, ModuleType]]:
    from greentwin.twin.demo import RECIPES, build_layer, cache_key
    from gt_testing import CITYGML

    mod = _live_edit()
    data_dir = tmp_path / "var"
    for recipe in RECIPES:
        if recipe.missing() is None:
            inputs = [CITYGML / name for name in recipe.inputs]
            build_layer(
                recipe.build,
                inputs,
                TileStore(data_dir),
                "baseline",
                recipe.layer,
                cache_key(recipe, CITYGML),
            )
    with mod.live_server(data_dir, demo=True) as srv:
        yield srv, mod


ROADS = """() => {
  const layer = window.greentwin.live.layers.get("road_network");
  const now = Cesium.JulianDate.now();
  return layer.handle.entities.values.filter((e) => e.polyline).map((e) => ({
    id: e.id,
    width: e.polyline.width.getValue(now),
    dashed: e.polyline.material instanceof Cesium.PolylineDashMaterialProperty,
    colour: e.polyline.material.color.getValue(now).toCssHexString(),
  }));
}"""


def test_closed_main_street_is_drawn_with_moved_traffic(
    demo: tuple[ServerThread, ModuleType],
) -> None:
    from playwright.sync_api import sync_playwright

    srv, mod = demo
    base = f"http://127.0.0.1:{srv.port}"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 800, "height": 560}).new_page()
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto(f"{base}/viewer/?fly=0", wait_until="load", timeout=60_000)
            page.wait_for_function("window.greentwin && window.greentwin.edit", timeout=60_000)
            page.evaluate(mod.OPEN_SCENARIO, "")
            page.fill("#signin-token", mod.TOKEN)
            page.click("#signin button[type=submit]")
            page.wait_for_function("window.greentwin.live.role === 'planner'", timeout=30_000)
            page.fill("#scenario-name", "Main street closed")
            page.click("#scenario-new")
            page.wait_for_function(
                "window.greentwin.live.info?.status === 'draft'"
                " && window.greentwin.live.current().road_network !== undefined",
                timeout=60_000,
            )
            assert "Colour: change of the day flow" in page.inner_text("#traffic")
            before = {r["id"]: r for r in page.evaluate(ROADS)}
            sid = page.evaluate("window.greentwin.live.scenario")
            req = urllib.request.Request(
                f"{base}/api/scenarios/{sid}/edits",
                data=json.dumps({"op": {"op": "close_road", "id": "main-ew"}}).encode(),
                method="POST",
            )
            req.add_header("Content-Type", "application/json")
            req.add_header("Authorization", f"Bearer {mod.TOKEN}")
            with urllib.request.urlopen(req, timeout=120) as resp:
                assert resp.status in (200, 201, 202)
            page.wait_for_function(
                "window.greentwin.live.current().road_network.version >= 1", timeout=120_000
            )
            page.wait_for_timeout(500)
            after: dict[str, Any] = {r["id"]: r for r in page.evaluate(ROADS)}
        finally:
            browser.close()
    assert after["main-ew"]["dashed"] and not before["main-ew"]["dashed"]
    for street in ("south-ew", "north-ew"):
        assert after[street]["width"] > before[street]["width"], street
        assert after[street]["colour"][:7] in ("#f4a582", "#ca0020"), street  # more traffic
    assert [e for e in errors if "WebSocket" not in e] == [], errors
