"""Ecosystem services against the formulas worked by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from greentwin.green_model import (
    Climate,
    SpeciesLibrary,
    Tree,
    phenology_year,
    services_for_area,
    shade_footprint,
    trees_to_table,
)
from greentwin.green_model.services import (
    CO2_PER_C,
    pm25_deposition_velocity,
    points_in_polygon,
    union_disc_area,
)

LIB = SpeciesLibrary.default()
D = dt.date(2020, 7, 1)
BERLIN = Climate.for_city("Berlin")


def test_carbon_tilia_volume_equation() -> None:
    t = Tree("l", "Tilia cordata", 0, 0, 0, dbh_cm=30.0, survey_date=D)
    s = t.state_at(D, BERLIN)
    sv = t.services_at(D, BERLIN)
    # TS7 Tilia cordata (McHale 2007): V = 0.0009453 dbh^1.617 h^0.59 (m^3), density 420 kg/m^3
    v = 0.0009453 * 30.0**1.617 * s.height_m**0.59
    assert sv.dry_weight_kg == pytest.approx(420.0 * v, rel=1e-9)
    assert sv.carbon_kg == pytest.approx(0.5 * 420.0 * v, rel=1e-9)
    assert sv.co2_kg == pytest.approx(3.67 * sv.carbon_kg)
    assert sv.sequestration_kg_per_year > 0
    assert sv.co2_sequestration_kg_per_year == pytest.approx(
        CO2_PER_C * sv.sequestration_kg_per_year
    )


def test_carbon_oak_biomass_equation_with_open_grown_factor() -> None:
    t = Tree("q", "Quercus robur", 0, 0, 0, dbh_cm=40.0, survey_date=D)
    sv = t.services_at(D, BERLIN)
    dw = 0.8 * (0.1130 * 40.0**2.4572 - math.exp(-4.0813 + 5.8816 / 40.0))
    assert sv.dry_weight_kg == pytest.approx(dw, rel=1e-9)
    assert sv.carbon_kg == pytest.approx(0.5 * dw, rel=1e-9)


def test_sequestration_is_one_year_of_storage_growth() -> None:
    t = Tree("a", "Acer platanoides", 0, 0, 0, age_at=(dt.date(2010, 1, 1), 10.0))
    now = t.services_at(D, BERLIN).carbon_kg
    nxt = t.services_at(D + dt.timedelta(days=365), BERLIN).carbon_kg
    assert t.services_at(D, BERLIN).sequestration_kg_per_year == pytest.approx(nxt - now)


def test_pm_removal_formula() -> None:
    t = Tree("p", "Betula pendula", 0, 0, 0, dbh_cm=25.0, survey_date=D)
    s = t.state_at(D, BERLIN)
    sv = t.services_at(D, BERLIN)
    days = phenology_year(LIB["betula_pendula"], BERLIN).leaf_days()
    # i-Tree: Vd 0.64 cm/s, 50 % resuspension, C = 20 ug/m3, per m^2 leaf area and second
    expected = 0.0064 * 20.0 * 0.5 * s.leaf_area_full_m2 * days * 86400 * 1e-6
    assert sv.pm10_removal_g_per_year == pytest.approx(expected, rel=1e-9)
    vd, rs = pm25_deposition_velocity(3.0)
    assert vd == pytest.approx(0.0015) and rs == pytest.approx(0.069)
    evergreen = Tree("s", "Picea abies", 0, 0, 0, dbh_cm=25.0, survey_date=D)
    ls = evergreen.state_at(D, BERLIN).leaf_area_full_m2
    assert evergreen.services_at(D, BERLIN).pm10_removal_g_per_year == pytest.approx(
        0.0064 * 20.0 * 0.5 * ls * 365 * 86400 * 1e-6
    )


def test_area_totals_polygon_and_canopy_union() -> None:
    trees = [
        Tree("a", "Tilia", 0.0, 0.0, 0.0, height_m=10.0, crown_diameter_m=6.0, survey_date=D),
        Tree("b", "Tilia", 0.0, 0.0, 0.0, height_m=10.0, crown_diameter_m=6.0, survey_date=D),
        Tree("c", "Tilia", 100.0, 0.0, 0.0, height_m=10.0, crown_diameter_m=6.0, survey_date=D),
    ]
    disc = math.pi * 9.0
    all_ = services_for_area(trees, D, climate=BERLIN)
    assert all_.trees == 3
    assert all_.canopy_m2 == pytest.approx(3 * disc)
    assert all_.canopy_cover_m2 == pytest.approx(2 * disc, rel=0.05)  # a and b overlap fully
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    part = services_for_area(trees, D, square, climate=BERLIN)
    assert part.trees == 2
    assert part.area_m2 == pytest.approx(400.0)
    assert part.canopy_cover_fraction == pytest.approx(disc / 400.0, rel=0.05)
    single = trees[0].services_at(D, BERLIN)
    assert part.carbon_kg == pytest.approx(2 * single.carbon_kg)


def test_union_area_of_disjoint_discs() -> None:
    xy = np.array([[0.0, 0.0], [50.0, 0.0]])
    area = union_disc_area(xy, np.array([5.0, 3.0]), cell_m=0.1)
    assert area == pytest.approx(math.pi * 34.0, rel=0.01)


def test_shade_footprint_geometry() -> None:
    t = Tree("s", "Tilia", 0.0, 0.0, 0.0, height_m=12.0, crown_diameter_m=8.0, survey_date=D)
    st = t.state_at(D, BERLIN)
    sh = shade_footprint([t], D, 45.0, 180.0, BERLIN)
    r = st.crown_diameter_m / 2
    c = st.crown_height_m / 2
    zc = st.height_m - c
    # sun in the south at 45 deg: the shadow lies north, centred (h - c) cot 45 away
    poly = sh.polygons[0]
    centre = poly.mean(axis=0)
    assert centre[0] == pytest.approx(0.0, abs=1e-9)
    assert centre[1] == pytest.approx(zc, rel=1e-6)
    assert sh.area_m2 == pytest.approx(math.pi * r * math.sqrt(r * r + c * c), rel=1e-9)
    assert 0.0 < sh.union_area_m2 <= sh.area_m2
    assert 0.0 < sh.transmissivity[0] < 1.0
    assert shade_footprint([t], D, -5.0, 180.0).area_m2 == 0.0
    winter = shade_footprint([t], dt.date(2020, 1, 15), 15.0, 180.0, BERLIN)
    assert winter.transmissivity[0] == pytest.approx(1.0)  # bare crown lets the sun through


def test_vectorised_and_object_services_agree() -> None:
    trees = [
        Tree(f"t{i}", k, float(i), 0, 0, dbh_cm=20.0 + i, survey_date=D)
        for i, k in enumerate(["Tilia", "Acer", "Betula"])
    ]
    table = trees_to_table(trees)
    tot = services_for_area(table, D, climate=BERLIN)
    assert tot.carbon_kg == pytest.approx(sum(t.services_at(D, BERLIN).carbon_kg for t in trees))


def test_points_in_polygon_counts_the_outline_as_outside_on_every_side() -> None:
    """Stems exactly on an area's outline are outside it, whichever side (shapely's
    ``contains``; the hand-written ray casting took the left edge in, the right out)."""
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0], [0.0, 0.0]])
    xy = np.array([[0.0, 2.0], [4.0, 2.0], [2.0, 0.0], [2.0, 4.0], [2.0, 2.0], [5.0, 2.0]])
    assert points_in_polygon(xy, square).tolist() == [False, False, False, False, True, False]
