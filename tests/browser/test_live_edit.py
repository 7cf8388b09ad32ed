"""Live editing in the planners' viewer: two pages follow one scenario over greentwin/1.

Page A signs in through the form, picks the scenario in the picker and places a tree with
the "Place a tree" tool (a click on the map); page B, open on the same scenario, swaps in
the new ``trees`` layer version without a reload. Then B loses its connection, A plants a
second tree through the same code path (``window.greentwin.edit.placeTree``), and B resumes
(epoch + seq) and gets exactly the missed update; finally A's Undo button removes the last
tree on both pages.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.hub_setup import LIVE_CONFIG_KEY
from greentwin.server.store import TileStore
from greentwin.server.ws import LiveConfig
from gt_testing import CHROMIUM_ARGS, CITYGML, ROOT, ServerThread, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

TOKEN = "tok-live-planner"


def live_server(data_dir: Path, *, demo: bool = False) -> ServerThread:
    """The real application with a planner token configured, on a loopback port."""

    def make_app() -> web.Application:
        # no example proposal: the recompute queue stays this test's own
        config = Config(data_dir=data_dir, access_log=False, demo=demo, demo_example=False)
        app = create_app(config)
        app[LIVE_CONFIG_KEY] = LiveConfig(tokens={TOKEN: "planner"}, heartbeat_s=5.0)
        return app

    return ServerThread(make_app, name="greentwin-live-test")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """A fixture buildings tileset as the baseline city (fast), and the live channel."""
    spec = importlib.util.spec_from_file_location(
        "server_fixtures_live", ROOT / "tests" / "server" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = tmp_path / "src"
    mod.write_fixture_tileset(src)
    data_dir = tmp_path / "var"
    TileStore(data_dir).publish("baseline", "buildings", src)
    with live_server(data_dir) as srv:
        yield srv


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


OPEN_SCENARIO = """async (sid) => {
  const g = window.greentwin;
  await g.ready;
  // two software-rendered pages share a small CPU: stop the render loop, the live channel
  // and the edit tools do not need it (the click falls back to the ellipsoid)
  g.viewer.useDefaultRenderLoop = false;
  await g.liveReady;
  return g.live.info.id;
}"""


def test_edit_in_one_page_appears_in_the_other(server: ServerThread) -> None:
    from playwright.sync_api import Page, sync_playwright

    base = f"http://127.0.0.1:{server.port}"
    sid = _post(f"{base}/api/scenarios", {"name": "Live street"})["id"]
    errors: list[str] = []

    def open_page(browser: Any) -> Page:
        context = browser.new_context(viewport={"width": 800, "height": 560}, accept_downloads=True)
        page: Page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(f"{base}/viewer/?fly=0", wait_until="load", timeout=60_000)
        page.wait_for_function("window.greentwin && window.greentwin.edit", timeout=60_000)
        assert page.evaluate(OPEN_SCENARIO, sid) == "baseline"  # a viewer sees the baseline
        # sign in through the form, then pick the scenario in the picker
        page.fill("#signin-token", TOKEN)
        page.click("#signin button[type=submit]")
        page.wait_for_function("window.greentwin.live.role === 'planner'", timeout=20_000)
        page.wait_for_function(
            f"[...document.querySelectorAll('#scenario-pick option')].some(o => o.value === '{sid}')",
            timeout=20_000,
        )
        page.select_option("#scenario-pick", sid)
        page.wait_for_function(
            f"window.greentwin.live.info?.id === '{sid}'"
            " && window.greentwin.live.current().trees !== undefined",
            timeout=20_000,
        )
        assert "tok-" not in page.url  # the token never goes into the URL
        return page

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            a = open_page(browser)
            b = open_page(browser)
            assert not a.is_disabled("#tools #tool")
            before = b.evaluate("window.greentwin.live.current().trees")
            assert before["version"] == 0
            b.evaluate("window.__noReload = true")

            # A: the "Place a tree" tool, one click in the middle of the map
            a.select_option("#tool", "tree")
            a.select_option("#tree-species", "acer_platanoides")
            box = a.locator("#cesium canvas").bounding_box()
            assert box is not None
            a.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            a.wait_for_function(
                "document.getElementById('edit-result').textContent.includes('saved as step 1')",
                timeout=20_000,
            )

            # B: the trees layer got a new version and shows the tree, same page
            b.wait_for_function(
                "window.greentwin.live.current().trees.version === 1"
                " && window.greentwin.live.features('trees').length === 1",
                timeout=20_000,
            )
            after = b.evaluate("window.greentwin.live.current().trees")
            assert after["url"] != before["url"]
            tree_b = b.evaluate("window.greentwin.live.features('trees')[0]")
            a.wait_for_function("window.greentwin.live.features('trees').length === 1")
            tree_a = a.evaluate("window.greentwin.live.features('trees')[0]")
            assert tree_b["id"] == tree_a["id"] and tree_b["id"].startswith("tree-")
            assert tree_b["properties"]["species"] == "acer_platanoides"
            assert tree_b["lonlat"] == pytest.approx(tree_a["lonlat"], abs=1e-6)
            assert b.evaluate("window.__noReload") is True

            # B drops its connection; A plants a second tree (the tool's code path)
            b.evaluate("window.greentwin.live.dropConnection()")
            lon, lat = tree_a["lonlat"]
            ack = a.evaluate(
                "([lon, lat]) => window.greentwin.edit.placeTree(lon, lat,"
                " {species: 'tilia_cordata', nursery_size_cm: 18, id: 'tree-second'})",
                [lon + 1e-4, lat],
            )
            assert ack["seq"] == 2
            # B reconnects by itself and resumes from seq 1: it gets the missed update
            b.wait_for_function(
                "window.greentwin.live.features('trees').some(t => t.id === 'tree-second')",
                timeout=30_000,
            )
            assert b.evaluate("window.greentwin.live.seq.get(window.greentwin.live.scenario)") == 2

            # A's Undo button: the second tree goes away on both pages
            a.click("#undo")
            b.wait_for_function(
                "window.greentwin.live.current().trees.version === 3"
                " && window.greentwin.live.features('trees').length === 1",
                timeout=20_000,
            )
            assert "Undone" in a.inner_text("#edit-result")
            assert b.evaluate("window.__noReload") is True
        finally:
            browser.close()
    assert [e for e in errors if "WebSocket" not in e] == [], errors


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[ServerThread]:
    """The demo district (every layer built like the demo does) with its real recompute."""
    from greentwin.twin.demo import RECIPES, build_layer, cache_key

    data_dir = tmp_path / "var"
    for recipe in RECIPES:
        if recipe.missing() is None:
            inputs = [CITYGML / name for name in recipe.inputs]
            key = cache_key(recipe, CITYGML)
            build_layer(recipe.build, inputs, TileStore(data_dir), "baseline", recipe.layer, key)
    with live_server(data_dir, demo=True) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_road_and_tree_edits_swap_overlay_and_vegetation(
    demo_server: ServerThread, tmp_path: Path
) -> None:
    """Demo district: a road change swaps the noise overlay, a tree the vegetation tileset;
    the summary table and a map download follow the scenario."""
    from playwright.sync_api import Page, sync_playwright

    base = f"http://127.0.0.1:{demo_server.port}"
    errors: list[str] = []

    def open_page(browser: Any) -> Page:
        context = browser.new_context(viewport={"width": 800, "height": 560}, accept_downloads=True)
        page: Page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto(f"{base}/viewer/?fly=0", wait_until="load", timeout=60_000)
        page.wait_for_function("window.greentwin && window.greentwin.edit", timeout=60_000)
        page.evaluate(OPEN_SCENARIO, "")
        page.fill("#signin-token", TOKEN)
        page.click("#signin button[type=submit]")
        page.wait_for_function("window.greentwin.live.role === 'planner'", timeout=30_000)
        return page

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            a = open_page(browser)
            a.fill("#scenario-name", "Quieter main street")
            a.click("#scenario-new")  # branch from the baseline and follow it
            a.wait_for_function(
                "window.greentwin.live.info?.status === 'draft'"
                " && window.greentwin.live.current().road_network !== undefined",
                timeout=60_000,
            )
            sid = a.evaluate("window.greentwin.live.scenario")
            b = open_page(browser)
            b.wait_for_function(
                f"[...document.querySelectorAll('#scenario-pick option')].some(o => o.value === '{sid}')",
                timeout=30_000,
            )
            b.select_option("#scenario-pick", sid)
            b.wait_for_function(
                f"window.greentwin.live.info?.id === '{sid}'"
                " && window.greentwin.live.current().noise_lden !== undefined",
                timeout=60_000,
            )
            before = b.evaluate("window.greentwin.live.current()")
            assert before["noise_lden"]["version"] == 0  # the baseline's overlay
            # the one overlay control: the legend-labelled list (it follows the scenario)
            b.wait_for_selector("#overlay-noise_lden", timeout=30_000)
            b.check("#overlay-noise_lden")

            # A: pick the main street in the road tool and triple its daytime cars
            a.select_option("#tool", "road")
            a.select_option("#road-id", "main-ew")
            cell = a.locator('#road-flows input[data-period="day"][data-cat="light"]')
            cell.fill(str(int(float(cell.input_value()) * 3)))
            a.click("#road-apply")
            a.wait_for_function(
                "document.getElementById('edit-result').textContent.includes('saved as step 1')",
                timeout=60_000,
            )
            b.wait_for_function(
                "window.greentwin.live.current().noise_lden.version === 1", timeout=60_000
            )
            after = b.evaluate("window.greentwin.live.current()")
            assert after["noise_lden"]["url"] != before["noise_lden"]["url"]
            assert after["diff_noise_lden"]["version"] == 1
            shown = b.evaluate(
                """() => {
                  const v = window.greentwin.viewer, out = [];
                  for (let i = 0; i < v.imageryLayers.length; i++) {
                    const l = v.imageryLayers.get(i);
                    if (l.show && l.imageryProvider.url) out.push(l.imageryProvider.url);
                  }
                  return out;
                }"""
            )
            assert any(after["noise_lden"]["url"].split("{")[0] in u for u in shown), shown
            assert not any(before["noise_lden"]["url"].split("{")[0] in u for u in shown)

            # A: a tree; B swaps the vegetation tileset (new version, new URL)
            ack = a.evaluate(
                "window.greentwin.edit.placeTree(13.48067, 52.51645,"
                " {species: 'tilia_cordata', age_years: 12})"
            )
            assert ack["seq"] == 2
            b.wait_for_function(
                "window.greentwin.live.current().vegetation.version === 2"
                " && window.greentwin.tilesets.vegetation.gtUrl ==="
                " window.greentwin.live.current().vegetation.url",
                timeout=60_000,
            )

            # A: the indicators against the baseline, then a download of the maps
            a.click("#summary-go")
            a.wait_for_selector("#summary-table", timeout=120_000)
            cells = a.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('#summary-table tr')]
                  .slice(1).map(r => [r.cells[0].textContent,
                                      [...r.cells].slice(1).map(c => c.textContent)]))"""
            )
            assert cells["Trees"][2] == "+1"
            loud = cells["Dwellings, L_den 65 dB(A) or more"]
            assert int(loud[1].replace(",", "")) >= int(loud[0].replace(",", ""))
            assert "Quieter main street" in a.inner_text("#summary-table caption")
            a.select_option("#export-format", "geotiff")
            with a.expect_download(timeout=120_000) as dl:
                a.click("#export-go")
            saved = tmp_path / "maps.zip"
            dl.value.save_as(saved)
            assert dl.value.suggested_filename.endswith("-overlays.zip")
            with zipfile.ZipFile(saved) as z:
                assert {"noise_lden.tif", "diff_noise_lden.tif", "overlays.json"} <= set(
                    z.namelist()
                )
        finally:
            browser.close()
    assert errors == [], errors
