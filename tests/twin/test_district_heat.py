"""The demo district's heat layer: inputs from buildings and trees, effect of planting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from greentwin.green_model.api import Tree
from greentwin.twin.district import District
from greentwin.twin.district_heat import (
    HEAT_SUBDIVISION,
    TAU_BARE,
    TAU_LEAF,
    heat_map,
    heat_scene,
    heat_values,
)
from gt_testing import CITYGML


@pytest.fixture(scope="module")
def district() -> District:
    return District.load_demo(CITYGML)


def test_scene_has_buildings_and_crowns_by_leaf_state(district: District) -> None:
    summer = heat_scene(district, dt.date(2023, 7, 15))
    winter = heat_scene(district, dt.date(2023, 1, 15))
    g = district.grid
    assert summer.shape == (g.ny * HEAT_SUBDIVISION, g.nx * HEAT_SUBDIVISION)
    assert summer.cell == pytest.approx(g.cell / HEAT_SUBDIVISION)
    assert (summer.buildings > 0).any()
    crown = summer.canopy_top > 0
    assert crown.any() and (summer.canopy_base[crown] < summer.canopy_top[crown]).all()
    # in full leaf the crowns hold back 97 % of the beam; bare deciduous crowns let half
    # through, evergreens stay in leaf (tau between the two extremes never below TAU_LEAF)
    assert np.isclose(summer.transmissivity[crown], TAU_LEAF).mean() > 0.9
    wc = winter.canopy_top > 0
    assert np.isclose(winter.transmissivity[wc], TAU_BARE).mean() > 0.5
    assert (winter.transmissivity[wc] >= TAU_LEAF - 1e-12).all()


def test_planting_trees_adds_shade_and_lowers_utci_under_them(district: District) -> None:
    base = heat_map(district, backend="numba")
    before = {k: v.copy() for k, v in heat_values(base).items()}
    g = district.grid
    # a row of five 15-year-old limes in open ground at the south edge of the grid
    y = g.y0 + 30.0
    xs = g.x0 + g.nx * g.cell * 0.5 + np.arange(5) * 8.0
    when = district.survey_date
    trees = tuple(
        Tree(f"row-{i}", "tilia_cordata", float(x), y, 0.0, planted=when, age_at=(when, 15.0))
        for i, x in enumerate(xs)
    )
    planted = district.replace(trees=(*district.trees, *trees))
    updated = heat_map(planted, base.copy(), backend="numba")
    after = heat_values(updated)
    full = heat_values(heat_map(planted, backend="numba"))
    for k in after:  # the block update equals a full recompute
        np.testing.assert_allclose(after[k], full[k], rtol=0, atol=1e-6, equal_nan=True)
    row, cols = int((y - g.y0) // g.cell), ((xs - g.x0) // g.cell).astype(int)
    gain = after["shade_hours"][row, cols] - before["shade_hours"][row, cols]
    assert (gain > 0.5).all()
    assert (after["utci"][row, cols] < before["utci"][row, cols]).all()
    assert (after["tmrt"][row, cols] < before["tmrt"][row, cols] - 1.0).all()
    # far from the row nothing moves
    far = (slice(g.ny - 10, g.ny), slice(0, 10))
    np.testing.assert_array_equal(after["tmrt"][far], before["tmrt"][far])


def test_roofs_have_no_heat_value_and_years_move_the_day(district: District) -> None:
    hm = heat_map(district, backend="numba")
    assert np.isnan(hm.tmrt[hm.scene.buildings > 0]).all()
    later = heat_map(district, hm, backend="numba", year=district.survey_date.year + 20)
    assert later is not hm and later.day.date.year == district.survey_date.year + 20
    # twenty years on the trees are larger: more shade over the district
    assert np.nansum(later.shade_hours) > np.nansum(hm.shade_hours)
