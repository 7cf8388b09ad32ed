"""Models against their references: SRM1 (Regeling beoordeling luchtkwaliteit 2007),
i-Tree resuspension (Nowak et al. 2013, Table 1), CNOSSOS-EU emission (Directive (EU)
2015/996, Annex II, as amended by 2021/1226). Expected values are worked out here from
the cited formulas and tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.air.canyon import SRM1_TYPES, dilution, tree_factor_from_crowns
from greentwin.kernels.air.deposition import (
    deposition_velocity,
    effective_deposition_velocity,
    resuspension,
)
from greentwin.kernels.air.dispersion import WindRose
from greentwin.kernels.air.emission import EmissionFactors
from greentwin.kernels.noise.emission import (
    RoadCoefficients,
    line_emission,
    uphill_shares,
    vehicle_emission,
)
from greentwin.kernels.roads import RoadNetwork
from gt_testing import DATA

# ---------------------------------------------------------------- SRM1 dilution
# The regulation's table: a, b, c per road type; alpha (30-60 m) for types 1 and 4 only.
REGULATION = {
    1: (3.25e-4, -2.05e-2, 0.39, 0.856),
    2: (4.88e-4, -3.08e-2, 0.59, None),
    3: (5.00e-4, -3.16e-2, 0.57, None),
    4: (3.10e-4, -1.82e-2, 0.33, 0.799),
}


@pytest.mark.parametrize("road_type", [1, 2, 3, 4])
def test_srm1_dilution_follows_the_regulation(road_type: int) -> None:
    a, b, c, alpha = REGULATION[road_type]
    s = np.array([4.0, 10.0, 20.0, 30.0, 30.5, 45.0, 60.0, 60.5])
    expect = []
    for x in s:
        if x <= 30.0:
            expect.append(a * x * x + b * x + c)
        elif alpha is not None and x <= 60.0:
            expect.append(alpha * x**-0.747)
        else:
            expect.append(0.0)  # types 2 and 3 end at 30 m, types 1 and 4 at 60 m
    np.testing.assert_allclose(dilution(s, road_type), expect, rtol=1e-12, atol=1e-15)
    assert SRM1_TYPES[road_type].max_distance_m == (60.0 if alpha is not None else 30.0)


def test_srm1_power_law_only_for_types_1_and_4() -> None:
    # before the fix type 2 kept a power-law tail up to 60 m
    assert dilution(np.array([45.0]), 2)[0] == 0.0
    assert dilution(np.array([45.0]), 3)[0] == 0.0
    assert dilution(np.array([45.0]), 1)[0] == pytest.approx(0.856 * 45.0**-0.747)
    assert SRM1_TYPES[3].description.startswith("buildings on both sides")
    assert SRM1_TYPES[1].description.startswith("open terrain")
    assert SRM1_TYPES[4].description.startswith("continuous buildings on one side")


# ---------------------------------------------------------------- SRM1 tree factor
STREET = np.array([[[0.0, 0.0], [100.0, 0.0]]])  # a 100 m street along x, 10 m wide


def _row(pitch: float, offset: float, radius: float, both: bool = True) -> tuple:
    x = np.arange(pitch / 2, 100.0, pitch)
    sides = (offset, -offset) if both else (offset,)
    xy = np.concatenate([np.column_stack([x, np.full(len(x), y)]) for y in sides])
    return xy, np.full(len(xy), radius)


def test_tree_factor_definitions() -> None:
    none = tree_factor_from_crowns(STREET, 10.0, np.zeros((0, 2)), np.zeros(0))
    assert none == 1.0
    # a tree here and there (40 m apart): 1.0
    assert tree_factor_from_crowns(STREET, 10.0, *_row(40.0, 7.0, 3.0)) == 1.0
    # rows 10 m apart (< 15 m) with gaps between 3 m crowns (3 + 3 < 10): 1.25
    assert tree_factor_from_crowns(STREET, 10.0, *_row(10.0, 7.0, 3.0)) == 1.25
    # crowns touch (6 + 6 >= 10); each reaches 6 - (7 - 5) = 4 m over the 10 m street on
    # both sides: 8 m >= 10 / 3: 1.5
    assert tree_factor_from_crowns(STREET, 10.0, *_row(10.0, 7.0, 6.0)) == 1.5
    # touching crowns on one side reaching 5.5 - (9 - 5) = 1.5 m over a 10 m street:
    # less than a third -> 1.25
    assert tree_factor_from_crowns(STREET, 10.0, *_row(10.0, 9.0, 5.5, both=False)) == 1.25
    # trees far from the street (30 m) do not count
    assert tree_factor_from_crowns(STREET, 10.0, *_row(10.0, 30.0, 6.0)) == 1.0
    # leafless crowns (radius 0 given for the date) do not shelter the street
    xy, _ = _row(10.0, 7.0, 6.0)
    assert tree_factor_from_crowns(STREET, 10.0, xy, np.zeros(len(xy))) == 1.0


# ---------------------------------------------------------------- i-Tree resuspension
# Nowak et al. (2013), Table 1: wind speed (m/s) -> resuspension (%)
RESUSP = {0: 0.0, 1: 1.5, 2: 3.0, 3: 4.5, 4: 6.0, 5: 7.5, 6: 9.0, 7: 10.0, 8: 11.0, 9: 12.0}
RESUSP |= {10: 13.0, 11: 16.0, 12: 20.0, 13: 23.0}


@pytest.mark.parametrize("u", sorted(RESUSP))
def test_resuspension_per_wind_speed(u: int) -> None:
    assert float(resuspension(float(u))) == pytest.approx(RESUSP[u] / 100.0, abs=1e-12)


def test_resuspension_between_and_beyond_the_table() -> None:
    # linear between table speeds, the 13 m/s value above 13 m/s
    assert float(resuspension(10.5)) == pytest.approx((13.0 + 16.0) / 2 / 100.0)
    assert float(resuspension(20.0)) == pytest.approx(0.23)
    # before the fix the share reached 23 % at 10 m/s
    assert float(resuspension(10.0)) == pytest.approx(0.13)
    assert float(deposition_velocity(12.0)) == pytest.approx(0.0211)


def test_effective_velocity_uses_the_table() -> None:
    rose = WindRose((0.25,) * 4, (3.0, 10.0, 3.0, 10.0))
    expect = 0.5 * 0.0015 * (1 - 0.045) + 0.5 * 0.0211 * (1 - 0.13)
    assert effective_deposition_velocity(rose) == pytest.approx(expect, rel=1e-12)


# ---------------------------------------------------------------- CNOSSOS-EU emission
@pytest.fixture(scope="module")
def coeffs() -> RoadCoefficients:
    return RoadCoefficients.from_dict(
        json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text())
    )


def _road(**props: object) -> RoadNetwork:
    p: dict[str, object] = {"id": "r", "flows": {"day": {"1": 1000.0}}, "speed_kmh": 50.0}
    p.update(props)
    feat = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[0, 0], [100, 0]]},
        "properties": p,
    }
    return RoadNetwork.from_geojson(
        {"type": "FeatureCollection", "crs": "EPSG:25833", "features": [feat]}
    )


def _cat1_1khz(v: float, surf_alpha: float = 0.0, surf_beta: float = 0.0, grad: float = 0.0):
    """Category-1 sound power at 1 kHz by hand (Annex II eqs. 2.2.2-2.2.4, 2.2.11, 2.2.14)."""
    lwr = 100.1 + 32.5 * math.log10(v / 70.0) + surf_alpha + surf_beta * math.log10(v / 70.0)
    dgrad = (min(12.0, grad) - 2.0) / 1.5 * v / 100.0 if grad > 2.0 else 0.0
    if grad < -6.0:
        dgrad = min(12.0, -grad) - 6.0
    lwp = 84.7 + 8.0 * (v - 70.0) / 70.0 + min(surf_alpha, 0.0) + dgrad
    return 10 ** (lwr / 10) + 10 ** (lwp / 10)


@pytest.mark.parametrize(
    ("direction", "up_share"), [("forward", 1.0), ("backward", 0.0), ("both", 0.5)]
)
def test_one_way_road_on_a_slope(coeffs: RoadCoefficients, direction: str, up_share: float) -> None:
    road = _road(gradient_pct=8.0, direction=direction).roads[0]
    assert uphill_shares(road) == (up_share, 1.0 - up_share)
    e = up_share * _cat1_1khz(50.0, grad=8.0) + (1 - up_share) * _cat1_1khz(50.0, grad=-8.0)
    expect = 10 * math.log10(e * 1000.0 / (1000.0 * 50.0))  # eq. 2.2.1
    assert line_emission(coeffs, road)[0, 4] == pytest.approx(expect, abs=1e-9)
    # a negative gradient along the digitised direction: "forward" drives downhill
    rev = _road(gradient_pct=-8.0, direction=direction).roads[0]
    assert uphill_shares(rev) == (1.0 - up_share, up_share)


def test_direction_round_trip_and_validation() -> None:
    net = _road(direction="backward", gradient_pct=3.0)
    again = RoadNetwork.from_geojson(net.to_geojson())
    assert again.roads[0].direction == "backward"
    bad = _road(direction="sideways")
    assert not bad.roads and bad.skipped


# Directive (EU) 2021/1226, Appendix F, road surfaces: (v_min, v_max) km/h
SURFACE_RANGES = {
    "NL01": (50, 130), "NL02": (50, 130), "NL03": (80, 130), "NL04": (40, 80),
    "NL05": (40, 80), "NL06": (70, 120), "NL07": (70, 80), "NL08": (70, 120),
    "NL09": (50, 130), "NL10": (30, 60), "NL11": (30, 60), "NL12": (30, 60),
    "NL13": (40, 130), "NL14": (40, 130),
}  # fmt: skip


def test_surface_table_complete(coeffs: RoadCoefficients) -> None:
    for key, (lo, hi) in SURFACE_RANGES.items():
        s = coeffs.surfaces[key]
        assert (s.v_min, s.v_max) == (lo, hi), key
        assert s.alpha.shape == (5, 8) and s.beta.shape == (5,)
        np.testing.assert_array_equal(s.alpha[3:], 0.0)  # no correction for 4a, 4b
        assert s.description
    # NL02 (2-layer ZOAB), category 1: alpha -4.0 at 1 kHz, beta -3.0
    assert coeffs.surfaces["NL02"].alpha[0, 4] == -4.0
    assert coeffs.surfaces["NL02"].beta[0] == -3.0
    # NL03 (2-layer ZOAB fine), category 3: alpha 9.4 at 63 Hz, beta -0.9
    assert coeffs.surfaces["NL03"].alpha[2, 0] == 9.4
    assert coeffs.surfaces["NL03"].beta[2] == -0.9


@pytest.mark.parametrize(
    ("surface", "v", "v_used"),
    [
        ("NL02", 60.0, 60.0),  # inside 50-130
        ("NL02", 40.0, 50.0),  # below NL02's range: its lower end
        ("NL10", 30.0, 30.0),  # herring-bone pavers, valid 30-60: no clamp to 50
        ("NL10", 80.0, 60.0),  # above NL10's range: its upper end
        ("NL12", 40.0, 40.0),
    ],
)
def test_surface_correction_over_the_directive_range(
    coeffs: RoadCoefficients, surface: str, v: float, v_used: float
) -> None:
    s = coeffs.surfaces[surface]
    a, b = float(s.alpha[0, 4]), float(s.beta[0])
    lwr, lwp = vehicle_emission(coeffs, np.full(5, v), surface=surface)
    ref_r, ref_p = vehicle_emission(coeffs, np.full(5, v))
    # eq. 2.2.14: alpha + beta lg(v / 70), v within the surface's range; eq. 2.2.15
    assert lwr[0, 4] - ref_r[0, 4] == pytest.approx(a + b * math.log10(v_used / 70.0), abs=1e-9)
    assert lwp[0, 4] - ref_p[0, 4] == pytest.approx(min(a, 0.0), abs=1e-9)


def test_roads_accept_every_surface(coeffs: RoadCoefficients) -> None:
    for key in SURFACE_RANGES:
        assert _road(surface=key).roads[0].surface == key


# ---------------------------------------------------------------- air emission factors
def test_medium_and_heavy_factors_differ() -> None:
    ef = EmissionFactors(
        medium={"nox": 5.0, "pm10": 0.2}, f_no2_medium=0.2, scale_with_speed=False
    ).per_category(np.full(5, 50.0))
    assert ef[1, 0] == 5.0 and ef[1, 2] == 0.2 and ef[1, 1] == pytest.approx(0.2 * 5.0)
    assert ef[2, 0] == 15.25 and ef[2, 2] == 0.515 and ef[2, 1] == pytest.approx(0.1 * 15.25)
    # the default medium takes the heavy factors
    d = EmissionFactors(scale_with_speed=False).per_category(np.full(5, 50.0))
    np.testing.assert_array_equal(d[1], d[2])
    with pytest.raises(KernelError):
        EmissionFactors(medium={"nox": -1.0, "pm10": 0.1})
