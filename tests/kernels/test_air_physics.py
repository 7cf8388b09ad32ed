"""Air kernel physics: emissions, dispersion, SRM1, NO2 chemistry, deposition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.air.canyon import SRM1_TYPES, dilution, distance_to_segments, srm1_increment
from greentwin.kernels.air.chemistry import (
    no2_empirical,
    no2_photostationary,
    pss_no2_ppb,
)
from greentwin.kernels.air.deposition import (
    deposition_velocity,
    effective_deposition_velocity,
    removal_fraction,
)
from greentwin.kernels.air.dispersion import (
    WindRose,
    erf,
    gaussian_line_perpendicular,
    plume_sum,
    segment_single_wind,
    sigma_y,
    sigma_z,
)
from greentwin.kernels.air.emission import (
    EmissionFactors,
    emission_rate,
    vehicles_per_day_from_flows,
)


# ---------------------------------------------------------------- emission
def test_vehicles_per_day_weights_periods() -> None:
    flows = np.zeros((3, 5))
    flows[0, 0], flows[1, 0], flows[2, 0] = 100.0, 50.0, 10.0
    assert vehicles_per_day_from_flows(flows)[0] == pytest.approx(12 * 100 + 4 * 50 + 8 * 10)


def test_emission_rate_formula_by_hand() -> None:
    # 15,000 veh/day, 10 % heavy, Dutch 2007 factors: E = N sum f EF / 86.4
    ef = EmissionFactors(scale_with_speed=False).per_category(np.full(5, 50.0))
    e = emission_rate(np.array([13500.0, 1500.0, 0, 0, 0]), ef)
    assert e[0] == pytest.approx((13500 * 0.62 + 1500 * 15.25) / 86.4)
    assert e[2] == pytest.approx((13500 * 0.065 + 1500 * 0.515) / 86.4)
    assert e[1] == pytest.approx((13500 * 0.62 * 0.15 + 1500 * 15.25 * 0.10) / 86.4)


def test_speed_scaling_anchored_and_u_shaped() -> None:
    f = EmissionFactors()
    at_anchor = f.per_category(np.full(5, f.anchor_speed_kmh))
    assert at_anchor[0, 0] == pytest.approx(0.62)
    assert at_anchor[2, 2] == pytest.approx(0.515)
    slow, mid, fast = (f.per_category(np.full(5, v))[0, 0] for v in (10.0, 70.0, 130.0))
    assert slow > 0.62 > mid and fast > mid


# ---------------------------------------------------------------- dispersion
def test_sigma_z_class_d_formula() -> None:
    x = np.array([10.0, 100.0, 1000.0])
    np.testing.assert_allclose(sigma_z(x, "D"), 0.14 * x * (1 + 0.0003 * x) ** -0.5)
    np.testing.assert_allclose(sigma_y(x, "D"), 0.16 * x * (1 + 0.0004 * x) ** -0.5)
    assert sigma_z(np.array([100.0]), "F")[0] < sigma_z(np.array([100.0]), "A")[0]
    with pytest.raises(KernelError):
        sigma_z(x, "G")


def test_line_source_by_hand() -> None:
    # C = 2 q / (sqrt(2 pi) sigma_z u); class D at x = 50 m
    sz = 0.14 * 50 / math.sqrt(1 + 0.015)
    expect = 2 * 100.0 / (math.sqrt(2 * math.pi) * sz * 4.0)
    assert gaussian_line_perpendicular(100.0, np.array([50.0]), 4.0)[0] == pytest.approx(expect)


def test_erf_matches_math() -> None:
    x = np.linspace(-4, 4, 161)
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], atol=2e-7)


def test_long_segment_tends_to_infinite_line() -> None:
    # wind from the south (0 -> 180), road along x: receivers north of it, downwind
    d = np.array([10.0, 40.0, 120.0])
    c = segment_single_wind(
        100.0, (-20000.0, 0.0), (20000.0, 0.0), np.zeros(3), d, 180.0, 3.0, "D", 0.0, n_sub=20000
    )
    np.testing.assert_allclose(c, gaussian_line_perpendicular(100.0, d, 3.0), rtol=2e-3)
    # upwind receivers get nothing
    up = segment_single_wind(100.0, (-500.0, 0.0), (500.0, 0.0), np.zeros(1), -d[:1], 180.0, 3.0)
    assert up[0] == 0.0


def test_long_term_kernel_equals_wind_averaged_plumes() -> None:
    # a 400 m road; uniform rose of 72 directions: mean of single-wind plumes
    n_dir, u = 72, 3.0
    rx = np.array([0.0, 30.0, -80.0, 150.0])
    ry = np.array([25.0, -60.0, 40.0, 10.0])
    single = np.mean(
        [
            segment_single_wind(
                50.0, (-200.0, 0.0), (200.0, 0.0), rx, ry, 360.0 * k / n_dir, u, "D", 1.5, n_sub=400
            )
            for k in range(n_dir)
        ],
        axis=0,
    )
    spacing = 1.0
    sx = np.arange(-200.0, 200.0, spacing) + spacing / 2
    q = np.full((len(sx), 1), 50.0 * spacing)
    lt = plume_sum(
        rx,
        ry,
        sx,
        np.zeros_like(sx),
        q,
        np.full(len(sx), 0.5),
        WindRose.uniform(n_dir, u),
        {"D": 1.0},
        1.5,
        1e6,
    )[:, 0]
    np.testing.assert_allclose(lt, single, rtol=0.03)


def test_rose_direction_carries_plume_downwind() -> None:
    # all wind from the west: a receiver east of the source sees it, west does not
    f = [0.0] * 12
    f[9] = 1.0  # sector 9 = 270 deg = from the west
    rose = WindRose(tuple(f), (3.0,) * 12)
    c = plume_sum(
        np.array([100.0, -100.0]),
        np.zeros(2),
        np.zeros(1),
        np.zeros(1),
        np.ones((1, 1)),
        np.ones(1),
        rose,
    )
    assert c[0, 0] > 0 and c[1, 0] == 0.0


def test_plume_sum_chunking_and_reach() -> None:
    rng = np.random.default_rng(1)
    rx, ry = rng.uniform(-300, 300, (2, 500))
    sx, sy = rng.uniform(-100, 100, (2, 40))
    q = rng.uniform(0, 10, (40, 2))
    rose = WindRose.uniform()
    a = plume_sum(rx, ry, sx, sy, q, np.ones(40), rose, chunk_pairs=100)
    b = plume_sum(rx, ry, sx, sy, q, np.ones(40), rose, chunk_pairs=10**7)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    far = plume_sum(np.array([5000.0]), np.zeros(1), sx, sy, q, np.ones(40), rose, reach_m=500)
    assert np.all(far == 0)


def test_wind_rose_validation() -> None:
    with pytest.raises(KernelError):
        WindRose((0.5, 0.5, 0.5, 0.5), (3.0,) * 4)
    r = WindRose.from_dict({"frequency": [1, 1, 2, 0], "speed": [2, 3, 4, 5]})
    assert sum(r.frequency) == pytest.approx(1.0)


# ---------------------------------------------------------------- SRM1 street canyons
def test_srm1_type4_matches_models_md() -> None:
    t = SRM1_TYPES[4]
    s = np.array([5.0, 20.0, 30.0, 45.0, 61.0])
    expect = [
        3.1e-4 * 25 - 1.82e-2 * 5 + 0.33,
        3.1e-4 * 400 - 1.82e-2 * 20 + 0.33,
        3.1e-4 * 900 - 1.82e-2 * 30 + 0.33,
        0.799 * 45**-0.747,
        0.0,
    ]
    np.testing.assert_allclose(dilution(s, 4), expect, rtol=2e-3)
    assert t.alpha == pytest.approx(0.799, rel=2e-3)


@pytest.mark.parametrize("road_type", [1, 2, 3, 4])
def test_srm1_dilution_continuous_and_decreasing(road_type: int) -> None:
    s = np.linspace(3.0, SRM1_TYPES[road_type].max_distance_m, 400)
    th = dilution(s, road_type)
    # non-increasing, up to the quadratic's vertex just below 30 m (type 4: 29.4 m)
    assert np.all(np.diff(th) <= 1e-4) and np.all(th > 0)
    assert th[0] > 2 * th[-1]
    alpha = SRM1_TYPES[road_type].alpha
    if alpha is not None:  # types 1 and 4: the power law continues the quadratic at 30 m
        left = dilution(np.array([29.999]), road_type)[0]
        assert left == pytest.approx(alpha * 30.001**-0.747, rel=2e-3)


def test_srm1_tree_factor_raises_concentration() -> None:
    c = [srm1_increment(100.0, np.array([10.0]), 3, fb, 5.0)[0] for fb in (1.0, 1.25, 1.5)]
    assert c[0] < c[1] < c[2] and c[2] == pytest.approx(1.5 * c[0])
    with pytest.raises(KernelError):
        srm1_increment(100.0, np.array([10.0]), 3, 1.3)


def test_srm1_reference_situation() -> None:
    """MODELS.md: 15,000 veh/day canyon, 5 m from the kerb: NO2 40.4 (+-15 %),
    PM10 29.5 (+-10 %) incl. background. Assumed inputs: docs/air.md."""
    ef = EmissionFactors(scale_with_speed=False).per_category(np.full(5, 30.0))
    e = emission_rate(np.array([13500.0, 1500.0, 0, 0, 0]), ef)
    s = np.array([5.0 + 5.0])  # 10 m carriageway: axis -> kerb 5 m, + 5 m
    inc = srm1_increment(e[:, None], s[None, :], 3, 1.0, 5.0)[:, 0]
    no2 = 24.0 + no2_empirical(inc[0], inc[1], 40.0)
    pm10 = 26.0 + inc[2]
    assert abs(no2 - 40.4) / 40.4 < 0.15
    assert abs(pm10 - 29.5) / 29.5 < 0.10


def test_distance_to_segments() -> None:
    segs = np.array([[[0.0, 0.0], [10.0, 0.0]], [[10.0, 0.0], [10.0, 10.0]]])
    d = distance_to_segments(
        np.array([5.0, 15.0, -3.0, 12.0]), np.array([2.0, 5.0, -4.0, 12.0]), segs
    )
    np.testing.assert_allclose(d, [2.0, 5.0, 5.0, math.hypot(2, 2)])


# ---------------------------------------------------------------- chemistry
def test_no2_empirical_by_hand_and_limits() -> None:
    nox, f, o3 = 60.0, 0.1, 40.0
    expect = f * nox + 0.6 * o3 * (1 - f) * nox / ((1 - f) * nox + 100.0)
    assert no2_empirical(np.array([nox]), np.array([f * nox]), o3)[0] == pytest.approx(expect)
    assert no2_empirical(np.zeros(1), np.zeros(1), o3)[0] == 0.0
    x = np.linspace(0, 500, 200)
    assert np.all(np.diff(no2_empirical(x, 0.1 * x, o3)) > 0)


def test_photostationary_root_and_zero_traffic() -> None:
    nox, ox, rjk = np.array([40.0]), np.array([45.0]), 20.0
    n2 = pss_no2_ppb(nox, ox, rjk)
    assert n2[0] ** 2 - (rjk + ox[0] + nox[0]) * n2[0] + ox[0] * nox[0] == pytest.approx(
        0, abs=1e-9
    )
    assert 0 < n2[0] < min(nox[0], ox[0])
    z = no2_photostationary(np.zeros(3), np.zeros(3), 30.0, 20.0, 50.0)
    np.testing.assert_allclose(z, 0.0, atol=1e-12)
    x = np.linspace(0, 300, 50)
    inc = no2_photostationary(x, 0.1 * x, 30.0, 20.0, 50.0)
    assert np.all(np.diff(inc) > 0)


# ---------------------------------------------------------------- deposition
def test_deposition_table_and_removal() -> None:
    np.testing.assert_allclose(
        deposition_velocity(np.array([0.0, 3.0, 10.0, 15.0])), [0.0, 0.0015, 0.0211, 0.0211]
    )
    assert deposition_velocity(np.array([2.5]))[0] == pytest.approx(0.0012)
    vd = effective_deposition_velocity(WindRose.uniform(12, 3.5))
    frac = removal_fraction(np.array([0.0, 2.0, 4.0]), vd)
    assert frac[0] == 0 and 0 < frac[1] < frac[2] < 0.1  # a small local effect
