"""The viewer's time-driven maps and the indicator chart over the years, in Chromium.

Against the real server (demo district inputs; only a fixture city tileset published):
ticking "maps follow the time" with a date twenty years on replaces the overlay list with
that date's maps (heat included, served from ``/timemaps/``), and the chart draws the six
indicators over the requested years.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gt_testing import (
    ServerThread,
    app_server,
    collect_errors,
    launch_chromium,
    publish_fixture_buildings,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("timeline") / "var"
    publish_fixture_buildings(out)
    return out


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerThread]:
    with app_server(data_dir) as srv:
        yield srv


def test_maps_follow_the_time_and_the_chart_draws(server: ServerThread) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 700})
            collect_errors(page, errors, console=False)
            page.goto(f"http://127.0.0.1:{server.port}/viewer/?fly=0", wait_until="load")
            page.wait_for_function("window.greentwin && window.greentwin.timeline", timeout=60_000)
            page.evaluate("() => window.greentwin.ready")
            doc: dict[str, Any] = page.evaluate(
                "() => window.greentwin.timeline.follow(true, '2043-07-20')"
            )
            assert doc["bucket"] == "2043-07-23"
            assert doc["layers"]["utci"]["url"].startswith("/timemaps/baseline/")
            assert page.is_checked("#maps-follow-time")
            label = page.inner_text("label[for=overlay-utci]")
            assert "UTCI" in label
            assert page.evaluate("() => window.greentwin.overlays.show('utci', true)") is True
            years = page.evaluate(
                "() => window.greentwin.timeline.course([0, 20]).then(d => d.course.years)"
            )
            assert years[1] - years[0] == 20
            figures = page.locator("#course-chart figure.course")
            assert figures.count() == 6
            assert page.locator("#course-chart svg path.scenario").count() == 6
            # off again: the overlay list asks for the scenario's current maps again
            page.evaluate("() => window.greentwin.timeline.follow(false)")
            assert page.evaluate("() => window.greentwin.overlays.source") is None
            assert "current state" in page.inner_text("#timeline-status")
        finally:
            browser.close()
    assert not errors, errors
