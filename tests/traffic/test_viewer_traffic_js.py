"""The viewer's traffic layer module (web/viewer/traffic.js): widths, colours, popup.

Runs the ES module in Node with a stand-in ``window`` (the pure functions need no Cesium).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from gt_testing import ROOT

SCRIPT = """
globalThis.window = { Cesium: {} };
const m = await import(process.argv[1]);
const p = {name: "South street", flow_day: 420, flow_day_baseline: 180, change_pct: 133.3,
           time_before_s: 40, time_after_s: 52, speed_before_kmh: 30, speed_after_kmh: 23};
console.log(JSON.stringify({
  widths: [0, 100, 500, 1500, 10000].map(m.widthFor),
  colours: [-60, -10, 0, 10, 60, null].map((c) => m.colourFor(c, false)),
  closed: m.colourFor(-100, true),
  classes: m.CHANGE_CLASSES.map((c) => c.colour),
  closedColour: m.CLOSED_COLOUR,
  popup: m.popupHTML("south-ew", p),
  closedPopup: m.popupHTML("main-ew", {name: "Main", closed: true, flow_day: 0, flow_day_baseline: 1000, change_pct: -100}),
}));
"""


@pytest.fixture(scope="module")
def out() -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    module = (ROOT / "web" / "viewer" / "traffic.js").as_uri()
    res = subprocess.run(
        [node, "--input-type=module", "-e", SCRIPT, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(res.stdout)
    return result


def test_width_grows_with_flow_and_is_bounded(out: dict[str, object]) -> None:
    widths = out["widths"]
    assert isinstance(widths, list)
    assert widths == sorted(widths) and widths[0] > 0 and widths[-1] <= 18
    assert widths[3] > 2 * widths[0]


def test_colour_says_less_or_more_and_closed(out: dict[str, object]) -> None:
    classes = out["classes"]
    assert isinstance(classes, list)
    assert out["colours"] == [*classes, classes[2]]  # a new road (no change) is neutral
    assert out["closed"] == out["closedColour"]


def test_popup_gives_flow_speed_and_time_before_and_after(out: dict[str, object]) -> None:
    html = str(out["popup"])
    for text in (
        "South street",
        "180 veh/h",
        "420 veh/h",
        "30 km/h",
        "23 km/h",
        "0.7 min",
        "0.9 min",
        "+133.3 %",
    ):
        assert text in html, text
    closed = str(out["closedPopup"])
    assert "(closed)" in closed and "1000 veh/h" in closed and "0 veh/h" in closed
