"""The viewer's green layer over time, tree picking, noise overlay and probe in Chromium.

Against the real server with every demo layer built like the demo does (buildings,
vegetation, noise and air overlays): the trees render; the same view in January and in
July differs in the tree area; clicking a tree shows its species; the noise overlay draws
coloured pixels and its legend; the probe tool shows values. Screenshots go to the test's
tmp dir and are copied to ``$GREENTWIN_SHOT_DIR`` (january.png, july.png, noise.png)
when that variable is set.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from greentwin.server.store import TileStore
from greentwin.twin.demo import RECIPES, build_layer, cache_key
from greentwin.twin.district import District
from gt_testing import CITYGML, ServerThread, app_server, collect_errors, launch_chromium
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

VIEWPORT = {"width": 900, "height": 600}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every demo layer, built and published like the demo builder does."""
    out = tmp_path_factory.mktemp("green") / "var"
    for recipe in RECIPES:
        if recipe.missing() is None:
            inputs = [CITYGML / name for name in recipe.inputs]
            key = cache_key(recipe, CITYGML)
            build_layer(recipe.build, inputs, TileStore(out), "baseline", recipe.layer, key)
    return out


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerThread]:
    with app_server(data_dir) as srv:
        yield srv


def _gray(png: bytes, width: int) -> np.ndarray:
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    return img[:, :width]


_SETTLE = """async () => {
  const g = window.greentwin, v = g.viewer;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  for (let i = 0; i < 900; i++) {
    await frame();
    const veg = g.tilesets.vegetation;
    if (i > 10 && (!veg || veg.tilesLoaded) && g.tilesets.buildings.tilesLoaded
        && v.scene.globe.tilesLoaded) break;
  }
  for (let i = 0; i < 5; i++) await frame();
}"""


def test_trees_seasons_pick_overlay_probe(server: ServerThread, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    district = District.load_demo(CITYGML)
    xy = np.array([[t.x, t.y] for t in district.trees])
    cx, cy = xy.mean(axis=0)
    lon, lat = (float(v) for v in district.to_lonlat(cx, cy - 120.0))
    # Trees near the view centre first, as candidates for the pick (crown middle).
    order = np.argsort(np.hypot(xy[:, 0] - cx, xy[:, 1] - cy))[:40]
    candidates = []
    for i in order:
        t = district.trees[int(i)]
        tlon, tlat = district.to_lonlat(t.x, t.y)
        h = t.z + district.height_offset + 0.6 * (t.height_m or 8.0)
        candidates.append([float(tlon), float(tlat), float(h)])
    road_lon, road_lat = (float(v) for v in district.to_lonlat(396900.0, 5819533.0))

    shots: dict[str, Path] = {}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = collect_errors(browser.new_page(viewport=VIEWPORT), errors)
            page.goto(
                f"http://127.0.0.1:{server.port}/viewer/?fly=0", wait_until="load", timeout=60_000
            )
            page.wait_for_function("window.greentwin && window.greentwin.green", timeout=60_000)
            page.evaluate("() => window.greentwin.ready")
            page.evaluate(
                """([lon, lat]) => {
                  const C = window.Cesium, v = window.greentwin.viewer;
                  v.scene.globe.enableLighting = false;  // same light in both seasons
                  v.camera.setView({destination: C.Cartesian3.fromDegrees(lon, lat, 170),
                    orientation: {heading: 0, pitch: C.Math.toRadians(-45), roll: 0}});
                }""",
                [lon, lat],
            )
            map_width = int(page.evaluate("document.getElementById('map').clientWidth"))

            pngs: dict[str, np.ndarray] = {}
            for name, date in (("january", "2024-01-15"), ("july", "2024-07-15")):
                doc = page.evaluate("(d) => window.greentwin.green.setDate(d)", date)
                assert doc["url"].startswith("/vegetation/baseline/"), doc
                page.evaluate(_SETTLE)
                shot = tmp_path / f"{name}.png"
                pngs[name] = _gray(page.screenshot(path=str(shot)), map_width)
                shots[name] = shot
            veg = page.evaluate(
                "() => { const t = window.greentwin.tilesets.vegetation;"
                " return {loaded: t.tilesLoaded, url: window.greentwin.green.current.url}; }"
            )
            assert veg["loaded"] and veg["url"]
            delta = np.abs(pngs["january"] - pngs["july"]).max(axis=2)
            changed = float((delta > 40).mean())
            assert changed > 0.01, f"January and July look the same ({changed:.4f} changed)"

            picked = page.evaluate(
                """async (cands) => {
                  const g = window.greentwin, C = window.Cesium, v = g.viewer;
                  for (const [lon, lat, h] of cands) {
                    const w = C.SceneTransforms.worldToWindowCoordinates(
                      v.scene, C.Cartesian3.fromDegrees(lon, lat, h));
                    if (!w) continue;
                    const doc = await g.green.pickTree(w.x, w.y);
                    if (doc) return {doc, info: document.getElementById('tree-info').textContent};
                  }
                  return null;
                }""",
                candidates,
            )
            assert picked is not None, "no tree could be picked"
            assert picked["doc"]["tree"]["scientific_name"] in picked["info"]
            assert "Tilia cordata" in picked["info"] and "Carbon stored" in picked["info"]

            totals = page.evaluate(
                "() => window.greentwin.green.totals(window.greentwin.green.visiblePolygon(),"
                " 'Visible area')"
            )
            assert totals["totals"]["trees"] > 0

            assert page.evaluate("() => window.greentwin.overlays.show('noise_lden', true)")
            page.evaluate(_SETTLE)
            shot = tmp_path / "noise.png"
            noise = _gray(page.screenshot(path=str(shot)), map_width)
            shots["noise"] = shot
            diff = np.abs(noise - pngs["july"]).max(axis=2)
            coloured = float((diff > 30).mean())
            assert coloured > 0.05, f"the noise overlay changed only {coloured:.4f} of the view"
            legend = page.inner_text("#overlay-legend-noise_lden")
            assert "dB(A)" in legend and page.is_visible("#overlay-legend-noise_lden")

            probe = page.evaluate(
                "([lon, lat]) => window.greentwin.overlays.probe(lon, lat)", [road_lon, road_lat]
            )
            assert probe["inside"] and probe["values"]["noise_lden"]["value"] > 55
            text = page.inner_text("#probe-result")
            assert "dB(A)" in text and "ug/m3" in text
        finally:
            browser.close()
    target = os.environ.get("GREENTWIN_SHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for name, shot in shots.items():
            shutil.copyfile(shot, Path(target) / f"{name}.png")
    assert errors == [], errors
