"""A project other than the demo in the browser: the small Helsinki build served as
``greentwin serve PROJECT.toml`` serves it; the viewer loads its city, trees and overlays
without console errors and draws something, and the citizens' hub opens.

The screenshot is saved under the test's tmp dir and copied into ``$GREENTWIN_SHOT_DIR``
when that variable is set.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.server.store import TileStore
from greentwin.twin.project import build_project
from gt_testing import ROOT, ServerThread, app_server, collect_errors, launch_chromium
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

HELSINKI = ROOT / "data" / "projects" / "helsinki"
#: Kaivokatu by the railway station: about 220 m x 240 m.
EXTENT = "[24.9395, 60.1690, 24.9435, 60.1712]"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("helsinki-view")
    for name in ("helsinki_centre.osm.pbf", "helsinki_aadt_2023.geojson"):
        shutil.copy(HELSINKI / name, folder / name)
    text = (HELSINKI / "project.toml").read_text(encoding="utf-8")
    text = re.sub(r"extent = \[[^\]]*\]", f"extent = {EXTENT}", text)
    manifest = folder / "project.toml"
    manifest.write_text(text.replace("margin_m = 60.0", "margin_m = 30.0"), encoding="utf-8")
    build_project(manifest, TileStore(folder / "var"), progress=lambda _line: None)
    return manifest, folder / "var"


@pytest.fixture
def server(project: tuple[Path, Path]) -> Iterator[ServerThread]:
    manifest, data = project
    with app_server(data, demo=True, demo_inputs=manifest, demo_example=False) as srv:
        yield srv


def test_viewer_and_hub_open_the_helsinki_project(server: ServerThread, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 700})
            collect_errors(page, errors, failed=True)
            page.goto(f"{server.url}/viewer/", wait_until="load", timeout=60_000)
            page.wait_for_function("window.greentwin !== undefined", timeout=60_000)
            ready: dict[str, Any] = page.evaluate(
                """async () => {
                  const r = await window.greentwin.ready;
                  const g = window.greentwin;
                  const frames = () => new Promise(res => requestAnimationFrame(() => res()));
                  for (let i = 0; i < 600; i++) {
                    await frames();
                    if (i > 5 && g.tilesets.buildings && g.tilesets.buildings.tilesLoaded) break;
                  }
                  return {layers: Object.keys(r.layers),
                          loaded: !!(g.tilesets.buildings && g.tilesets.buildings.tilesLoaded)};
                }"""
            )
            for name in ("buildings", "vegetation", "noise_lden", "no2"):
                assert name in ready["layers"], ready
            assert ready["loaded"] is True
            shot = tmp_path / "helsinki-viewer.png"
            png = page.screenshot(path=str(shot))
            img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
            assert img.std() > 8.0, "the view looks blank"
            target = os.environ.get("GREENTWIN_SHOT_DIR")
            if target:
                Path(target).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, Path(target) / "helsinki-viewer.png")

            hub = browser.new_page(viewport={"width": 1100, "height": 900})
            collect_errors(hub, errors, label="hub page")
            hub.goto(f"{server.url}/hub/", wait_until="load", timeout=60_000)
            hub.wait_for_function("window.hub && window.hub.ready", timeout=60_000)
            hub.evaluate("() => window.hub.ready")
        finally:
            browser.close()
    assert errors == [], errors
