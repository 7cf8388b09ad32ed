"""CNOSSOS-EU emission and propagation terms against values worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from greentwin.kernels.noise.emission import (
    RoadCoefficients,
    gradient_correction,
    line_emission,
    vehicle_emission,
)
from greentwin.kernels.noise.propagation import (
    atmospheric_absorption,
    diffraction,
    divergence,
    foliage_attenuation,
    ground_favourable,
    ground_homogeneous,
)
from greentwin.kernels.roads import RoadNetwork
from gt_testing import DATA


@pytest.fixture(scope="module")
def coeffs() -> RoadCoefficients:
    return RoadCoefficients.from_dict(
        json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text())
    )


def _road(speed: float, flows_day: dict[str, float], **props: object) -> RoadNetwork:
    p: dict[str, object] = {"id": "r", "flows": {"day": flows_day}, "speed_kmh": speed}
    p.update(props)
    return RoadNetwork.from_geojson(
        {
            "type": "FeatureCollection",
            "crs": "EPSG:25833",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [[0, 0], [10, 0]]},
                    "properties": p,
                }
            ],
        }
    )


def test_emission_category_1_at_1khz(coeffs: RoadCoefficients) -> None:
    # Directive 2021/1226 Appendix F, category 1, 1 kHz: A_R 100.1, B_R 32.5, A_P 84.7, B_P 8.0
    v = 50.0
    lwr = 100.1 + 32.5 * math.log10(v / 70.0)  # eq. 2.2.3
    lwp = 84.7 + 8.0 * (v - 70.0) / 70.0  # eq. 2.2.4
    lw = 10 * math.log10(10 ** (lwr / 10) + 10 ** (lwp / 10))  # eq. 2.2.2
    line = lw + 10 * math.log10(1000.0 / (1000.0 * v))  # eq. 2.2.1, Q = 1000 veh/h
    r_lwr, r_lwp = vehicle_emission(coeffs, np.full(5, v))
    assert r_lwr[0, 4] == pytest.approx(lwr, abs=1e-9)
    assert r_lwp[0, 4] == pytest.approx(lwp, abs=1e-9)
    net = _road(v, {"1": 1000.0})
    assert line_emission(coeffs, net.roads[0])[0, 4] == pytest.approx(line, abs=1e-9)
    # 95.351 dB rolling, 82.414 dB propulsion -> 95.567 dB; + 10 lg(1/50) = 78.577 dB/m
    assert line_emission(coeffs, net.roads[0])[0, 4] == pytest.approx(78.577, abs=0.001)


def test_emission_corrections(coeffs: RoadCoefficients) -> None:
    v = np.full(5, 70.0)
    base_r, base_p = vehicle_emission(coeffs, v)
    # temperature: K = 0.08 dB/degC for cat. 1 rolling noise (eq. 2.2.9)
    cold_r, cold_p = vehicle_emission(coeffs, v, temperature_c=10.0)
    np.testing.assert_allclose(cold_r[0] - base_r[0], 0.8)
    np.testing.assert_allclose(cold_r[2] - base_r[2], 0.4)
    np.testing.assert_allclose(cold_p, base_p)
    # junction at 0 m, traffic lights: C_R = -4.5, C_P = +5.5 for cat. 1 (eqs. 2.2.16-17)
    j_r, j_p = vehicle_emission(coeffs, v, junction_type=1, junction_distance_m=np.array(0.0))
    np.testing.assert_allclose(j_r[0] - base_r[0], -4.5)
    np.testing.assert_allclose(j_p[0] - base_p[0], 5.5)
    j50_r, _ = vehicle_emission(coeffs, v, junction_type=1, junction_distance_m=np.array(50.0))
    np.testing.assert_allclose(j50_r[0] - base_r[0], -2.25)
    # gradient +4 % for cat. 1 at 70 km/h: (4 - 2) / 1.5 * 70 / 100 (eq. 2.2.11)
    assert gradient_correction(4.0, v)[0] == pytest.approx(2.0 / 1.5 * 0.7)
    assert gradient_correction(-8.0, v)[2] == pytest.approx(4.0 / 0.5 * 0.6)
    # two-wheelers: propulsion only
    assert np.all(np.isneginf(base_r[3:]))
    # 2015 vs 2020 sets differ
    old = RoadCoefficients.from_dict(
        json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text()), "2015"
    )
    assert vehicle_emission(old, v)[0][0, 4] == pytest.approx(97.3)


def test_divergence_and_absorption() -> None:
    np.testing.assert_allclose(divergence(np.array([1.0, 10.0, 100.0])), [11.0, 31.0, 51.0])
    # ISO 9613-2 Table 2, 20 degC / 70 % RH, dB/km: 0.1 0.3 1.1 2.8 5.0 9.0 22.9 76.6
    a = atmospheric_absorption(20.0, 70.0) * 1000.0
    table = np.array([0.1, 0.3, 1.1, 2.8, 5.0, 9.0, 22.9, 76.6])
    np.testing.assert_allclose(a, table, rtol=0.03, atol=0.06)
    # 10 degC / 70 %: 0.1 0.4 1.0 1.9 3.7 9.7 32.8 117
    a10 = atmospheric_absorption(10.0, 70.0) * 1000.0
    np.testing.assert_allclose(
        a10, [0.1, 0.4, 1.0, 1.9, 3.7, 9.7, 32.8, 117.0], rtol=0.03, atol=0.06
    )


def _ground_by_hand(dp: float, zs: float, zr: float, g: float, f: float) -> float:
    """Eqs. 2.5.15-2.5.17 written out for one band (G_s = 0 road platform)."""
    lim = 30 * (zs + zr)
    gp = g * dp / lim if dp <= lim else g
    if g == 0:
        return -3.0
    w = 0.0185 * f**2.5 * gp**2.6 / (f**1.5 * gp**2.6 + 1.3e3 * f**0.75 * gp**1.3 + 1.16e6)
    cf = dp * (1 + 3 * w * dp * math.exp(-math.sqrt(w * dp))) / (1 + w * dp)
    k = 2 * math.pi * f / 340.0
    q = cf / k
    term = (
        4 * k**2 / dp**2 * (zs**2 - math.sqrt(2 * q) * zs + q) * (zr**2 - math.sqrt(2 * q) * zr + q)
    )
    return max(-10 * math.log10(term), -3 * (1 - gp))


@pytest.mark.parametrize("g", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("dp", [20.0, 80.0, 300.0])
def test_ground_homogeneous(g: float, dp: float) -> None:
    got = ground_homogeneous(np.array([dp]), np.array([0.05]), np.array([4.0]), np.array([g]))[0]
    want = [
        _ground_by_hand(dp, 0.05, 4.0, g, f) for f in (63, 125, 250, 500, 1000, 2000, 4000, 8000)
    ]
    np.testing.assert_allclose(got, want, atol=1e-9)
    if g == 0.0:
        np.testing.assert_allclose(got, -3.0)
    if g == 1.0 and dp >= 300.0:
        assert got.max() > 0.0  # a porous ground attenuates some band


def test_ground_favourable_hard_and_soft() -> None:
    dp = np.array([100.0, 200.0])
    zs, zr = np.full(2, 0.05), np.full(2, 4.0)
    hard = ground_favourable(dp, zs, zr, np.zeros(2))
    np.testing.assert_allclose(hard[0], -3.0)  # d_p <= 30 (z_s + z_r) = 121.5 m
    np.testing.assert_allclose(hard[1], -3.0 * (1 + 2 * (1 - 121.5 / 200.0)))
    soft = ground_favourable(dp, zs, zr, np.ones(2))
    assert not np.allclose(soft, ground_homogeneous(dp, zs, zr, np.ones(2)))
    # heights raised by dz (a0 = 2e-4) and dz_T for one band, by hand
    d, s, r = 200.0, 0.05, 4.0
    dzt = 6e-3 * d / (s + r)
    sf = s + 2e-4 * (s / (s + r)) ** 2 * d**2 / 2 + dzt
    rf = r + 2e-4 * (r / (s + r)) ** 2 * d**2 / 2 + dzt
    f, g = 500.0, 1.0
    w = 0.0185 * f**2.5 * g / (f**1.5 * g + 1.3e3 * f**0.75 * g + 1.16e6)
    cf = d * (1 + 3 * w * d * math.exp(-math.sqrt(w * d))) / (1 + w * d)
    k = 2 * math.pi * f / 340.0
    q = cf / k
    term = (
        4 * k**2 / d**2 * (sf**2 - math.sqrt(2 * q) * sf + q) * (rf**2 - math.sqrt(2 * q) * rf + q)
    )
    assert soft[1, 3] == pytest.approx(max(-10 * math.log10(term), 0.0), abs=1e-9)


def test_single_and_double_diffraction() -> None:
    lam = 340.0 / np.array([63, 125, 250, 500, 1000, 2000, 4000, 8000.0])
    single = diffraction(np.array([1.0]))[0]
    np.testing.assert_allclose(single, 10 * np.log10(3 + 40 / lam * 1.0))
    assert single[4] == pytest.approx(20.815, abs=1e-3)  # 10 lg(3 + 40/0.34)
    double = diffraction(np.array([1.0]), np.array([5.0]))[0]
    c2 = (1 + (5 * lam / 5.0) ** 2) / (1 / 3 + (5 * lam / 5.0) ** 2)
    np.testing.assert_allclose(double, 10 * np.log10(3 + 40 / lam * c2))
    assert np.all(double > single)
    # deep in the bright zone: no diffraction (40/lambda C'' delta < -2)
    np.testing.assert_allclose(diffraction(np.array([-1.0]))[0, 4:], 0.0)


def test_foliage_table() -> None:
    f = foliage_attenuation(np.array([5.0, 15.0, 50.0, 500.0]))
    np.testing.assert_allclose(f[0], 0.0)
    np.testing.assert_allclose(f[1], [0, 0, 1, 1, 1, 1, 2, 3])
    np.testing.assert_allclose(
        f[2], 50 * np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12])
    )
    np.testing.assert_allclose(
        f[3], 200 * np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12])
    )
