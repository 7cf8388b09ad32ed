"""Fidelity of the heat layer against published formulas, tables and reported values.

Each expected value is derived here from its source, not taken from our own output:

- a box building's shadow: length h / tan(elevation) along the azimuth opposite the sun;
- sun positions: values read from the NOAA Solar Calculator, and NOAA's "General Solar
  Position Calculations" equations for the demo city's design day;
- UTCI: the examples in pythermalcomfort's documentation of ``utci`` and the assessment
  classes of Broede et al. (2012), Table 1;
- sky view factor of an infinitely long street canyon: cos(atan(2 H / W)) (Oke 1981,
  J. Climatol. 1: 237-254; equal to the sector integral of Dozier and Frew 1990);
- Tmrt of an open sunny point and of a shaded point: the order and size of the
  difference SOLWEIG's paper reports (Lindberg et al. 2008), as a plausibility check.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pytest
from greentwin.kernels.heat import HeatMap, HeatScene, utci
from greentwin.kernels.heat.design_day import BERLIN, berlin_design_day, design_day, sun_positions
from greentwin.kernels.heat.shadow import sunlit_numba, sunlit_reference
from greentwin.kernels.heat.svf import svf_numba
from greentwin.kernels.heat.utci import stress_class

# ------------------------------------------------------------------------- shadows
CELL = 0.5


def _box(n: int, h: float) -> np.ndarray:
    b = np.zeros((n, n))
    c = n // 2
    k = round(5.0 / CELL)
    b[c - k : c + k, c - k : c + k] = h  # a 10 m x 10 m box
    return b


@pytest.mark.parametrize("engine", [sunlit_reference, sunlit_numba])
@pytest.mark.parametrize(
    ("azimuth", "elevation"), [(180.0, 30.0), (90.0, 45.0), (225.0, 25.0), (300.0, 35.0)]
)
def test_box_shadow_length_and_direction(
    engine: Callable[..., np.ndarray], azimuth: float, elevation: float
) -> None:
    h = 15.0
    n = 200
    b = _box(n, h)
    z = np.zeros_like(b)
    lit = engine(b, z, z, np.ones_like(b), CELL, azimuth, elevation)
    length = h / math.tan(math.radians(elevation))  # the shadow of the roof edge, m
    away = math.radians(azimuth + 180.0)
    u = np.array([math.sin(away), math.cos(away)])  # (east, north) away from the sun
    rows, cols = np.nonzero((lit == 0) & (b == 0))
    pts = np.column_stack([cols + 0.5, rows + 0.5]) * CELL
    brows, bcols = np.nonzero(b > 0)
    corners = CELL * np.array(
        [[bcols.min(), brows.min()], [bcols.max() + 1, brows.min()],
         [bcols.min(), brows.max() + 1], [bcols.max() + 1, brows.max() + 1]], dtype=float
    )  # fmt: skip
    reach = float((pts @ u).max() - (corners @ u).max())
    # sampling: one marching step (a cell along the dominant axis) plus a cell diagonal
    step = CELL / max(abs(math.sin(away)), abs(math.cos(away)))
    assert abs(reach - length) <= step + CELL * math.sqrt(2) / 2
    centre = CELL * np.array([bcols.mean() + 0.5, brows.mean() + 0.5])
    d = pts.mean(axis=0) - centre
    bearing = math.degrees(math.atan2(d[0], d[1])) % 360.0
    assert abs((bearing - (azimuth + 180.0) % 360.0 + 180.0) % 360.0 - 180.0) < 3.0
    # nothing on the sun's side is shaded
    assert not ((pts - centre) @ u < -8.0).any()


def test_crown_lets_its_transmissivity_through_and_the_trunk_zone_is_open() -> None:
    n = 80
    b = np.zeros((n, n))
    top = np.zeros_like(b)
    base = np.zeros_like(b)
    tau = np.ones_like(b)
    top[38:42, 38:42] = 12.0  # crown from 6 m to 12 m
    base[38:42, 38:42] = 6.0
    tau[38:42, 38:42] = 0.03
    lit = sunlit_numba(b, top, base, tau, 1.0, 180.0, 45.0)
    # sun due south at 45 deg: the crown's shadow lies 6-12 m north of it
    assert lit[38 + 6 + 2, 40] == pytest.approx(0.03)
    assert lit[40, 40] == 1.0  # under the crown's own trunk zone the sun comes in
    assert lit[41 + 12 + 2, 40] == 1.0  # beyond the shadow of the crown top


# ------------------------------------------------------------------------- sun
# NOAA Solar Calculator (NOAA Global Monitoring Laboratory), 22 Dec 2012 12:00 UTC at
# longitude 0: elevations and azimuths as read from the calculator and published with
# the R function sunPosition() (Stack Overflow, 2012).
NOAA_2012_12_22 = [(-41.0, 72.44, 359.09), (-3.0, 69.57, 180.79), (3.0, 63.57, 180.62),
                   (41.0, 25.6, 180.3)]  # fmt: skip


@pytest.mark.parametrize(("lat", "elev", "azim"), NOAA_2012_12_22)
def test_sun_position_matches_the_noaa_calculator(lat: float, elev: float, azim: float) -> None:
    az, el = sun_positions([dt.datetime(2012, 12, 22, 12, tzinfo=dt.UTC)], lat, 0.0)
    # the calculator shows two decimals and includes refraction (as our apparent elevation)
    assert el[0] == pytest.approx(elev, abs=0.02)
    assert az[0] == pytest.approx(azim, abs=0.02)


def _noaa_general(when: dt.datetime, lat: float, lon: float) -> tuple[float, float]:
    """Azimuth and elevation, degrees: declination, equation of time and hour angle by
    NOAA GML's "General Solar Position Calculations" (Spencer's series)."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60.0
    g = 2 * math.pi / 365.0 * (doy - 1 + (hour - 12) / 24.0)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))  # fmt: skip
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g)
            - 0.006758 * math.cos(2 * g) + 0.000907 * math.sin(2 * g)
            - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))  # fmt: skip
    tst = hour * 60.0 + eqtime + 4.0 * lon  # true solar time, minutes (UTC input)
    ha = math.radians(tst / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_z = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(cos_z)
    # azimuth from the spherical triangle pole-zenith-sun (e.g. Iqbal 1983, ch. 1)
    cos_a = (math.sin(decl) - math.sin(phi) * math.cos(zen)) / (math.cos(phi) * math.sin(zen))
    az = math.degrees(math.acos(max(-1.0, min(1.0, cos_a))))
    if ha > 0:
        az = 360.0 - az
    return az % 360.0, 90.0 - math.degrees(zen)


def test_design_day_sun_follows_noaa_general_equations() -> None:
    day = berlin_design_day(2023)
    lat, lon, _ = BERLIN
    for i, hour in enumerate(day.hours):
        when = dt.datetime(2023, 7, 15, hour) - dt.timedelta(hours=day.utc_offset_h)
        az, el = _noaa_general(when, lat, lon)
        # the general equations are accurate to a few arc minutes and have no refraction
        # (under 0.05 deg above 15 deg elevation)
        assert day.azimuth_deg[i] == pytest.approx(az, abs=0.3)
        assert day.elevation_deg[i] == pytest.approx(el, abs=0.3)


def test_design_day_air_course() -> None:
    day = design_day(dt.date(2023, 7, 15), *BERLIN, tmax_c=32.0, tmin_c=19.0, dew_point_c=15.0)
    assert day.air_temp_c.max() <= 32.0 and day.air_temp_c.min() >= 19.0
    assert day.hours[int(np.argmax(day.air_temp_c))] in (14, 15, 16)  # Parton-Logan peak

    # relative humidity from the Magnus formula (Alduchov and Eskridge 1996)
    def es(t: float) -> float:
        return 6.1094 * math.exp(17.625 * t / (t + 243.04))

    k = day.index(15)
    assert day.rel_humidity[k] == pytest.approx(100 * es(15.0) / es(day.air_temp_c[k]))
    assert (day.dni > 0).all() and (day.dhi > 0).all()


# ------------------------------------------------------------------------- UTCI
def test_utci_matches_pythermalcomfort_documented_examples() -> None:
    # pythermalcomfort, models.utci docstring: utci(tdb=25, tr=25, v=1.0, rh=50) -> 24.6,
    # "no thermal stress"; utci(tdb=[25, 40], tr=25, v=1.0, rh=50) -> [24.6, 40.4]
    assert round(float(utci(25.0, 25.0, 1.0, 50.0)), 1) == 24.6
    assert np.round(utci([25.0, 40.0], 25.0, 1.0, 50.0), 1).tolist() == [24.6, 40.4]
    assert stress_class(24.6) == "no thermal stress"


def test_utci_classes_follow_broede_table_1() -> None:
    for value, label in [(47.0, "extreme heat stress"), (40.0, "very strong heat stress"),
                         (35.0, "strong heat stress"), (28.0, "moderate heat stress"),
                         (20.0, "no thermal stress"), (5.0, "slight cold stress")]:  # fmt: skip
        assert stress_class(value) == label


# ------------------------------------------------------------------------- sky view
def test_canyon_sky_view_factor_matches_oke() -> None:
    h, w = 10.0, 20.0
    ny, nx = 801, 40
    b = np.zeros((ny, nx))
    b[:, :10] = h
    b[:, 30:] = h  # a 20 m wide N-S canyon, 800 m long
    r = ny // 2
    sb, sv = svf_numba(b, np.zeros_like(b), 1.0, 64, 400.0, (r, r + 1, 19, 21))
    expected = math.cos(math.atan(2 * h / w))
    assert sb[0].mean() == pytest.approx(expected, abs=0.02)
    assert np.array_equal(sb, sv)  # no crowns: both the same


# ------------------------------------------------------------------------- Tmrt
def test_tmrt_sun_and_shade_as_solweig_reports() -> None:
    """Lindberg et al. (2008) report, on clear summer days in Goeteborg, Tmrt in open
    sunlit places far above air temperature (of the order of 25-30 K around midday) and
    close to air temperature in shade, the sun-shade contrast being the dominant
    feature. Checked here as order and magnitude, not as a measured value."""
    day = berlin_design_day(2023)
    n = 240
    b = np.zeros((n, n))
    b[100:140, 60:180] = 25.0  # a long 25 m block
    hm = HeatMap(HeatScene.open(b, 1.0), day, backend="numba").compute()
    ta = float(day.air_temp_c[day.index(15)])
    k = day.index(15)
    az = math.radians(float(day.azimuth_deg[k]) + 180.0)
    # a point in the block's afternoon shadow, 5 m past its wall, and a far open point
    shaded = (int(120 + math.cos(az) * 28), int(120 + math.sin(az) * 28))
    assert hm.sun[k][shaded] == 0.0
    open_pt = (10, 10)
    assert hm.sun[k][open_pt] == 1.0
    t_sun, t_shade = float(hm.tmrt[open_pt]), float(hm.tmrt[shaded])
    assert 20.0 <= t_sun - ta <= 40.0
    assert -2.0 <= t_shade - ta <= 12.0
    assert t_sun - t_shade >= 18.0
    assert hm.utci[open_pt] > hm.utci[shaded] + 3.0
