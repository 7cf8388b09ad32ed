"""The planners' viewer in headless Chromium against the real server.

The page must load with no console errors, the buildings tileset must reach "all tiles
loaded", a pick on a known building must return its gml:id, and the rendered view must not
be blank. The screenshot is saved under the test's tmp dir, and copied into
``$GREENTWIN_SHOT_DIR`` when that variable is set.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.server.store import TileStore
from gt_testing import (
    CITYGML,
    ServerThread,
    app_server,
    collect_errors,
    launch_chromium,
    publish_fixture_buildings,
)
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

#: A building of the Berlin test area (the first in the file).
BERLIN_BUILDING = "DEBE11YYI00006s3"


def _roof_point(gml: Path, gml_id: str) -> tuple[float, float]:
    """Mean vertex (EPSG:25833 metres) of the building's first roof polygon: a point on
    its roof (the polygon is convex), read from the CityGML itself."""
    text = gml.read_text(encoding="utf-8")
    start = text.index(f'gml:id="{gml_id}"')
    roof = text.index("<bldg:RoofSurface", start)
    match = re.search(r"<gml:posList[^>]*>([^<]+)<", text[roof:])
    assert match is not None
    ring = np.array(match.group(1).split(), dtype=np.float64).reshape(-1, 3)
    return float(ring[:, 0].mean()), float(ring[:, 1].mean())


@dataclass(frozen=True)
class District:
    data_dir: Path
    known_id: str
    lon: float
    lat: float
    real: bool


def _converter_available() -> bool:
    try:
        return importlib.util.find_spec("greentwin.tiles.convert") is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> District:
    """The Berlin district converted by the demo builder (or the fixture tileset before the
    converter existed)."""
    data_dir = tmp_path_factory.mktemp("viewer") / "var"
    if _converter_available():
        from greentwin.twin.demo import RECIPES, build_layer, cache_key
        from pyproj import Transformer

        for recipe in RECIPES:  # every layer of the demo district, built like the demo does
            if recipe.missing() is None:
                inputs = [CITYGML / name for name in recipe.inputs]
                key = cache_key(recipe, CITYGML)
                build_layer(
                    recipe.build, inputs, TileStore(data_dir), "baseline", recipe.layer, key
                )
        inputs = [CITYGML / "berlin_testarea_lod2_buildings.gml"]
        gml_id = BERLIN_BUILDING
        x, y = _roof_point(inputs[0], gml_id)
        lon, lat = Transformer.from_crs(25833, 4326, always_xy=True).transform(x, y)
        return District(data_dir, gml_id, lon, lat, real=True)
    mod = publish_fixture_buildings(data_dir)
    # FIXTURE_BLDG_A spans east -30..-10 m, north -10..10 m of the tileset origin.
    lon = mod.LON - 20.0 / (111320.0 * np.cos(np.radians(mod.LAT)))
    return District(data_dir, mod.FIXTURE_IDS[0], lon, mod.LAT, real=False)


@pytest.fixture
def server(district: District) -> Iterator[ServerThread]:
    with app_server(district.data_dir) as srv:
        yield srv


def _map_variance(png: bytes, map_width: int) -> float:
    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(img[:, :map_width].std())


def test_viewer_loads_picks_and_renders(
    server: ServerThread, district: District, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    url = f"http://127.0.0.1:{server.port}/viewer/?fly=0"
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 700})
            collect_errors(page, errors, failed=True)
            page.goto(url, wait_until="load", timeout=60_000)
            page.wait_for_function("window.greentwin !== undefined", timeout=60_000)
            loaded: dict[str, Any] = page.evaluate(
                "() => window.greentwin.ready.then(r => ({layers: Object.keys(r.layers),"
                " loaded: window.greentwin.tilesets.buildings.tilesLoaded}))"
            )
            assert loaded["layers"][:1] == ["buildings"] or "buildings" in loaded["layers"]
            assert loaded["loaded"] is True

            shot = tmp_path / "viewer.png"
            png = page.screenshot(path=str(shot))
            map_width = int(page.evaluate("document.getElementById('map').clientWidth"))
            variance = _map_variance(png, map_width)
            assert variance > 8.0, f"the view looks blank (grey-level std {variance:.2f})"
            target = os.environ.get("GREENTWIN_SHOT_DIR")
            if target:
                Path(target).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, Path(target) / "viewer.png")

            # Look straight down on the known building and pick at the centre of the view.
            result: dict[str, Any] | None = page.evaluate(
                """async ([lon, lat]) => {
                  const g = window.greentwin, C = window.Cesium, v = g.viewer;
                  v.camera.setView({destination: C.Cartesian3.fromDegrees(lon, lat, 350),
                                    orientation: {heading: 0, pitch: -C.Math.PI_OVER_TWO, roll: 0}});
                  const frames = () => new Promise(r => requestAnimationFrame(() => r()));
                  for (let i = 0; i < 600; i++) {
                    await frames();
                    if (i > 5 && g.tilesets.buildings.tilesLoaded) break;
                  }
                  const c = v.scene.canvas;
                  return g.pickAt(c.clientWidth / 2, c.clientHeight / 2);
                }""",
                [district.lon, district.lat],
            )
            assert result is not None, "nothing picked over the known building"
            props = result["properties"]
            assert district.known_id in (result["id"], props.get("parent_id")), result
            assert "class" in props and props["id"] == result["id"]
            if district.real:
                assert result["surface"] is not None  # the default colouring is by surface
                assert result["surface"]["surface_type"] == "RoofSurface"
        finally:
            browser.close()
    assert errors == [], errors
