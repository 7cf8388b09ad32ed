"""The demo district's trees shape noise and air on a date: a row of trees between the
main street and the blocks north of it in the "vegetation" and "cnossos" noise modes,
summer and winter; leaf area over the season; the SRM1 tree factor of a street."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from greentwin.green_model.api import Tree
from greentwin.kernels.air.compute import AirMap
from greentwin.kernels.noise.compute import NoiseScene
from greentwin.twin.district import (
    District,
    _full_noise,
    air_roads,
    canopy_lai_course,
    canopy_lai_on,
    course_dates,
    noise_crowns,
    obstacle_heights,
    overlay_layers,
)
from gt_testing import CITYGML

SUMMER = dt.date(2023, 7, 8)
WINTER = dt.date(2023, 1, 23)
X0, X1 = 396760.0, 397050.0  # along the main street (y ~5819531.5)


@pytest.fixture(scope="module")
def demo() -> District:
    return District.load_demo(CITYGML)


def _main_y(d: District) -> float:
    return float(d.roads.road("main-ew").coords[:, 1].mean())


def _row(d: District, planted: dt.date, pitch: float, offset: float, sides=(1.0, -1.0)):
    """Lindens every ``pitch`` m, ``offset`` m from the main street's axis."""
    y0 = _main_y(d)
    return tuple(
        Tree(f"row{int(s)}_{i}", "tilia_cordata", float(x), y0 + s * offset, planted=planted)
        for s in sides
        for i, x in enumerate(np.arange(X0, X1, pitch))
    )


@pytest.mark.slow
def test_row_of_trees_lowers_lden_in_summer_less_in_winter_not_in_cnossos(
    demo: District,
) -> None:
    # a double row of mature lindens (planted 1970: ~12 m crowns, ~19 m tall) north of
    # the main street, between it and the blocks
    y0 = _main_y(demo)
    rows = _row(demo, dt.date(1970, 4, 1), 7.0, 12.0, (1.0,)) + tuple(
        Tree(f"b{t.id}", t.species, t.x + 3.5, t.y + 9.0, planted=t.planted)
        for t in _row(demo, dt.date(1970, 4, 1), 7.0, 12.0, (1.0,))
    )
    planted = demo.replace(trees=demo.trees + rows)
    buildings, heights = obstacle_heights(demo)
    drops = {}
    for name, date in (("summer", SUMMER), ("winter", WINTER)):
        nm, cells = _full_noise(
            demo, buildings, heights, "numba", noise_crowns(demo, date), "vegetation"
        )
        before = nm.indicators()["L_den"].copy()
        touched = nm.update_scene(
            NoiseScene(demo.grid, heights, crowns=noise_crowns(planted, date))
        )
        assert 0 < len(touched) < len(before)  # only the paths that cross the new crowns
        drops[name] = before - nm.indicators()["L_den"]
    g = demo.grid
    xy = g.centers()[cells]
    behind = (xy[:, 1] > y0 + 25.0) & (xy[:, 1] < y0 + 80.0) & (xy[:, 0] > X0) & (xy[:, 0] < X1)
    assert behind.sum() > 50
    s, w = drops["summer"][behind], drops["winter"][behind]
    assert s.mean() > 0.1 and s.max() > 1.0  # in leaf: the row lowers L_den behind it
    assert w.mean() < s.mean() and np.all(w <= s + 1e-6)  # leafless: branches only
    assert np.all(s >= -1e-6) and np.all(w >= -1e-6)
    # CNOSSOS-EU mode: no foliage term, the trees change nothing
    cn_a, _ = _full_noise(demo, buildings, heights, "numba")
    cn_b, _ = _full_noise(
        planted, buildings, heights, "numba", noise_crowns(planted, SUMMER), "cnossos"
    )
    np.testing.assert_array_equal(cn_a.indicators()["L_den"], cn_b.indicators()["L_den"])


def test_leaf_area_on_a_date_and_over_the_year(demo: District) -> None:
    summer, winter = canopy_lai_on(demo, SUMMER), canopy_lai_on(demo, WINTER)
    assert summer.max() > 2.0
    assert winter.sum() < 0.2 * summer.sum()  # deciduous crowns are bare in January
    course = canopy_lai_course(demo, 2023)
    assert course.shape == (24, *demo.grid.shape)
    k = course_dates(2023).index(SUMMER)
    np.testing.assert_allclose(course[k], summer, rtol=1e-9, atol=1e-12)
    # planting adds leaf area over the year where the new crowns are
    young = demo.replace(trees=demo.trees + _row(demo, dt.date(2020, 4, 1), 10.0, 10.0))
    more = canopy_lai_course(young, 2023)
    assert more.mean(axis=0).sum() > course.mean(axis=0).sum()
    # annual PM10 with the seasonal course: the new trees remove more (lower PM10 there)
    grid = demo.grid
    a = AirMap(grid, demo.roads, lai=course, backend="numpy").maps()["pm10"]
    b = AirMap(grid, demo.roads, lai=more, backend="numpy").maps()["pm10"]
    gained = more.mean(axis=0) > course.mean(axis=0) + 1e-3
    assert gained.any() and np.all(b[gained] < a[gained])
    # the course is not one date: a summer-only LAI would remove more than the year's mean
    c = AirMap(grid, demo.roads, lai=more[k], backend="numpy").maps()["pm10"]
    assert np.all(c[gained] < b[gained])


def test_street_tree_factor_from_the_trees(demo: District) -> None:
    def fb(d: District, date: dt.date) -> float:
        return air_roads(d, date).road("main-ew").tree_factor

    assert fb(demo, SUMMER) == 1.0  # the demo's trees do not line the main street
    young = demo.replace(trees=demo.trees + _row(demo, dt.date(2023, 4, 1), 10.0, 10.0))
    assert fb(young, SUMMER) == 1.25  # rows 10 m apart, gaps between the small crowns
    assert fb(young, dt.date(2053, 7, 1)) == 1.5  # thirty years on the crowns touch
    removed = young.replace(trees=demo.trees)
    assert fb(removed, SUMMER) == 1.0


@pytest.mark.slow
def test_overlays_of_both_modes_follow_a_planting(demo: District) -> None:
    """The district's overlay update after planting: the vegetation noise maps and PM10
    change, the CNOSSOS-EU maps do not."""
    base = overlay_layers(demo, None, backend="numba", date=SUMMER)
    before = {k: v.copy() for k, v in base.values.items()}
    rows = _row(demo, dt.date(1970, 4, 1), 7.0, 12.0, (1.0,))
    planted = demo.replace(trees=demo.trees + rows)
    after = overlay_layers(planted, None, previous=base, backend="numba", date=SUMMER)
    for name in ("noise_lden_cnossos", "noise_lnight_cnossos"):
        np.testing.assert_array_equal(after.values[name], before[name])
    drop = before["noise_lden"] - after.values["noise_lden"]
    assert np.nanmax(drop) > 0.5 and np.nanmin(drop) > -1e-6
    assert np.any(after.values["pm10"] < before["pm10"] - 1e-9)
    assert after.date == SUMMER
