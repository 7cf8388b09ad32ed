"""The planners' viewer's panel and render loop in headless Chromium.

One overlay control (the legend-labelled list; no second list of raw layer ids), every
layer named once under Layers, the "appear once published" note gone once overlays are
there (also when they arrive while the page is open), the probe's noise on a roof (the
building's most exposed facade), and a page that stops rendering when nothing changes, so
that a command-line ``chromium --headless --screenshot`` of it finishes.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.store import TileStore
from greentwin.twin.district import INDICATORS, District, overlay_layers
from gt_testing import CHROMIUM_ARGS, CITYGML, ROOT, ServerThread, chromium_path
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "server_fixtures_panel", ROOT / "tests" / "server" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class Site:
    data_dir: Path
    overlays: Path  # overlay layers built, published during a test
    district: District
    noise: np.ndarray  # the L_den grid of those overlays


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Buildings and a vegetation layer (the small fixture tileset: fast)."""
    root = tmp_path_factory.mktemp("panel")
    src = root / "src"
    _fixtures().write_fixture_tileset(src)
    data_dir = root / "var"
    store = TileStore(data_dir)
    store.publish("baseline", "buildings", src)
    store.publish("baseline", "vegetation", src)
    return data_dir


@pytest.fixture(scope="module")
def site(base_dir: Path) -> Site:
    """... and the demo district's overlays, built but not yet published."""
    district = District.load_demo(CITYGML)
    out = base_dir.parent / "overlays"
    state = overlay_layers(district, out)
    return Site(base_dir, out, district, state.values["noise_lden"])


@dataclass(frozen=True)
class Served:
    port: int
    data_dir: Path


@pytest.fixture
def server(base_dir: Path, tmp_path: Path) -> Iterator[Served]:
    """The real application over a copy of the site (a test may publish into it)."""
    data_dir = tmp_path / "var"
    shutil.copytree(base_dir, data_dir)
    config = Config(data_dir=data_dir, access_log=False)
    with ServerThread(lambda: create_app(config)) as srv:
        yield Served(srv.port, data_dir)


def _publish_overlays(site: Site, data_dir: Path) -> None:
    store = TileStore(data_dir)
    for name in INDICATORS:
        store.publish("baseline", name, site.overlays / name, kind="overlay", entry="meta.json")


PANEL = """() => ({
  liveOverlaySelect: document.getElementById('live-overlay') !== null,
  overlaySelects: [...document.querySelectorAll('#panel select')]
    .filter(s => [...s.options].some(o => o.value === 'noise_lden')).length,
  overlayItems: [...document.querySelectorAll('#overlay-list input[type=checkbox]')]
    .map(i => i.id),
  overlayLabels: [...document.querySelectorAll('#overlay-list label')].map(l => l.textContent),
  layerText: document.getElementById('layer-list').textContent,
  noteShown: [...document.querySelectorAll('#panel .note')]
    .some(n => n.textContent.includes('once published') && n.getClientRects().length > 0),
})"""


def _open(browser: Any, url: str, errors: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1024, "height": 700})
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_function("window.greentwin !== undefined", timeout=60_000)
    page.evaluate("() => window.greentwin.ready")
    return page


def _roof_point(site: Site) -> tuple[float, float]:
    """lon, lat of a point on a roof whose noise cell holds no value."""
    import shapely

    d, values = site.district, site.noise
    g = d.grid
    for f in d.footprints:
        p = shapely.Polygon(f.exterior[:, :2], f.interiors).point_on_surface()
        col, row = int((p.x - g.x0) // g.cell), int((p.y - g.y0) // g.cell)
        if np.isnan(values[row, col]):
            lon, lat = d.to_lonlat(p.x, p.y)
            return float(lon), float(lat)
    raise AssertionError("no roof without a noise value")


@pytest.mark.slow
def test_one_overlay_control_layers_once_note_follows_publication(
    server: Served, site: Site
) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = _open(browser, f"http://127.0.0.1:{server.port}/viewer/?fly=0", errors)
            before = page.evaluate(PANEL)
            # no overlays yet: the note says they come once published
            assert before["noteShown"] is True
            assert before["overlayItems"] == []
            # every layer named once under Layers (not again as its own legend entry)
            assert before["layerText"].count("vegetation") == 1, before["layerText"]
            assert before["layerText"].count("buildings") == 1

            # overlays published while the page is open; a live announcement refreshes
            _publish_overlays(site, server.data_dir)
            page.evaluate(
                "() => window.greentwin.live.dispatchEvent(new CustomEvent('layer',"
                " {detail: {name: 'noise_lden', info: {kind: 'overlay'}}}))"
            )
            page.wait_for_function(
                "document.querySelectorAll('#overlay-list input').length > 0", timeout=30_000
            )
            after = page.evaluate(PANEL)
            assert after["noteShown"] is False
            assert after["liveOverlaySelect"] is False  # the raw-id select is gone
            assert after["overlaySelects"] == 0  # and no other list of raw ids
            assert sorted(after["overlayItems"]) == sorted(f"overlay-{n}" for n in INDICATORS)
            assert "Noise L_den (day-evening-night)" in after["overlayLabels"]
            assert not any(label in INDICATORS for label in after["overlayLabels"])

            # one overlay at a time, with its legend
            page.evaluate("() => window.greentwin.overlays.show('noise_lden', true)")
            page.evaluate("() => window.greentwin.overlays.show('no2', true)")
            checked = page.evaluate(
                "[...document.querySelectorAll('#overlay-list input:checked')].map(i => i.id)"
            )
            assert checked == ["overlay-no2"]
            assert page.is_visible("#overlay-legend-no2")
            assert not page.is_visible("#overlay-legend-noise_lden")

            # a page opened now finds them published: no note from the start
            page2 = _open(browser, f"http://127.0.0.1:{server.port}/viewer/?fly=0", errors)
            page2.wait_for_function(
                "document.querySelectorAll('#overlay-list input').length > 0", timeout=30_000
            )
            assert page2.evaluate(PANEL)["noteShown"] is False

            # the probe on a roof: the building's most exposed facade, said so
            lon, lat = _roof_point(site)
            doc = page.evaluate(
                "([lon, lat]) => window.greentwin.overlays.probe(lon, lat)", [lon, lat]
            )
            noise = doc["values"]["noise_lden"]
            assert noise["value"] is not None and "facade" in noise, noise
            assert "most exposed facade" in page.inner_text("#probe-result")
        finally:
            browser.close()
    assert errors == [], errors


IDLE_RENDERS = """async () => {
  const g = window.greentwin, v = g.viewer;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  let renders = 0;
  const off = v.scene.postRender.addEventListener(() => renders++);
  // Loading (tiles, imagery) draws frames; once all is in, a quiet 1.5 s draws none.
  const windows = [];
  const t0 = performance.now();
  while (performance.now() - t0 < 45000) {
    const before = renders;
    await new Promise(r => setTimeout(r, 1500));
    windows.push(renders - before);
    if (windows[windows.length - 1] === 0) break;
  }
  const idle = renders;
  v.scene.requestRender();  // a change asks for a frame, and gets one
  await frame(); await frame(); await frame();
  off();
  return {windows, asked: renders - idle};
}"""


def test_the_page_idles_when_nothing_changes(server: Served) -> None:
    """Render on request: no frames drawn while nothing changes (the render loop that
    drew every frame kept the page busy for ever), a frame when one is asked for."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = _open(browser, f"http://127.0.0.1:{server.port}/viewer/?fly=0", errors)
            result = page.evaluate(IDLE_RENDERS)
            assert result["windows"][-1] == 0, result
            assert result["asked"] >= 1, result
        finally:
            browser.close()
    assert errors == [], errors


def test_command_line_screenshot_finishes(server: Served, tmp_path: Path) -> None:
    """``chromium --headless --screenshot`` of the viewer, as a user types it, returns
    within a bounded time and writes a picture of the page's size."""
    chromium = chromium_path()
    assert chromium is not None
    shot = tmp_path / "cli.png"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--screenshot={shot}",
        "--window-size=1280,800",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"http://127.0.0.1:{server.port}/viewer/",
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1280, 800)
        panel = np.asarray(img.convert("L"))[:, 960:]
    assert panel.std() > 5.0  # the panel's text is drawn, not a blank page
