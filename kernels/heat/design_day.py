"""The clear-sky summer design day: sun positions, irradiance and air for each hour.

A heat map answers "how does a hot, clear summer afternoon feel here?", so it is computed
for one documented design day rather than for weather records. :func:`design_day`
builds it for any place and date; :func:`berlin_design_day` is the demo city's:

- date: 15 July of the scenario's year (mid-July, the warmest part of Berlin's year);
- sky: cloudless; irradiance from the Ineichen-Perez clear-sky model (Ineichen and
  Perez 2002, Solar Energy 73: 151-157) with the Linke turbidity of the month and place
  from the climatology of Remund et al. (2003), both as implemented in pvlib;
- air temperature: a hot day in the sense of the German weather service (DWD, "heisser
  Tag": daily maximum >= 30 degC) with Tmax = 32 degC, Tmin = 19 degC (design values);
  the daytime course follows the sine of Parton and Logan (1981, Agricultural
  Meteorology 23: 205-216) for screen-height air: T = Tmin + (Tmax - Tmin)
  sin(pi m / (Y + 2a)), m hours after sunrise + c, Y the day length, a = 1.86 h,
  c = -0.17 h (their Table 1, 150 cm), which puts the maximum near 15:00 CEST;
- humidity: constant dew point 15 degC; relative humidity from the Magnus formula with
  the coefficients of Alduchov and Eskridge (1996, J. Appl. Meteor. 35: 601-609):
  e_s(T) = 6.1094 exp(17.625 T / (T + 243.04)) hPa;
- wind: 2 m/s at 10 m (light wind on a hot anticyclonic day; UTCI's reference height).

Hours are local clock hours (CEST, UTC+2) 08:00 ... 19:00: twelve hourly sun positions.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError

__all__ = [
    "BERLIN",
    "DEFAULT_HOURS",
    "DesignDay",
    "berlin_design_day",
    "design_day",
    "magnus_es_hpa",
    "sun_positions",
]

F64 = npt.NDArray[np.float64]

#: (latitude, longitude, altitude m) of the demo city (Berlin, Alexanderplatz).
BERLIN = (52.5219, 13.4132, 34.0)
#: Local clock hours of the design day's sun positions (08:00 ... 19:00).
DEFAULT_HOURS: tuple[int, ...] = tuple(range(8, 20))
#: Parton and Logan (1981), Table 1, air at 150 cm: a (h) and c (h).
PARTON_LOGAN_A_H = 1.86
PARTON_LOGAN_C_H = -0.17


def magnus_es_hpa(t_c: F64 | float) -> F64:
    """Saturation vapour pressure over water, hPa (Alduchov and Eskridge 1996, eq. 21)."""
    t = np.asarray(t_c, dtype=np.float64)
    return np.asarray(6.1094 * np.exp(17.625 * t / (t + 243.04)))


@dataclass(frozen=True, slots=True)
class DesignDay:
    """One day's hourly forcing of the heat model.

    Attributes
    ----------
    date : the date.
    latitude, longitude : degrees (WGS 84); altitude_m : metres.
    utc_offset_h : local clock minus UTC, hours.
    hours : (n,) local clock hours of the samples.
    azimuth_deg : (n,) sun azimuth, degrees clockwise from north.
    elevation_deg : (n,) apparent sun elevation (with refraction), degrees.
    dni, dhi, ghi : (n,) direct normal, diffuse and global horizontal irradiance, W/m2.
    air_temp_c : (n,) air temperature, degC.
    rel_humidity : (n,) relative humidity, %.
    wind_10m : wind speed at 10 m, m/s.
    sunrise_h : local clock time of sunrise, hours.
    max_elevation_deg : the day's highest sun elevation, degrees.
    """

    date: dt.date
    latitude: float
    longitude: float
    altitude_m: float
    utc_offset_h: float
    hours: tuple[int, ...]
    azimuth_deg: F64
    elevation_deg: F64
    dni: F64
    dhi: F64
    ghi: F64
    air_temp_c: F64
    rel_humidity: F64
    wind_10m: float
    sunrise_h: float
    max_elevation_deg: float

    def index(self, hour: int) -> int:
        """Position of a local clock hour in :attr:`hours` (KernelError if absent)."""
        try:
            return self.hours.index(hour)
        except ValueError:
            raise KernelError(f"hour {hour} is not on the design day ({self.hours})") from None


def sun_positions(
    times_utc: list[dt.datetime], latitude: float, longitude: float, altitude_m: float = 0.0
) -> tuple[F64, F64]:
    """Sun azimuth (clockwise from north) and apparent elevation, degrees, by pvlib's SPA."""
    import pandas as pd
    import pvlib

    idx = pd.DatetimeIndex(times_utc)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    with warnings.catch_warnings():  # pandas deprecations inside pvlib, not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        sp = pvlib.solarposition.get_solarposition(idx, latitude, longitude, altitude=altitude_m)
    return (
        np.asarray(sp["azimuth"], dtype=np.float64),
        np.asarray(sp["apparent_elevation"], dtype=np.float64),
    )


def design_day(
    date: dt.date,
    latitude: float,
    longitude: float,
    altitude_m: float = 0.0,
    *,
    tmax_c: float = 32.0,
    tmin_c: float = 19.0,
    dew_point_c: float = 15.0,
    wind_10m: float = 2.0,
    utc_offset_h: float = 2.0,
    hours: tuple[int, ...] = DEFAULT_HOURS,
) -> DesignDay:
    """A clear-sky design day at a place (see the module text for the method).

    Raises
    ------
    KernelError
        Bad inputs (tmin > tmax, dew point above tmin, no hours, polar day or night).
    """
    if not hours or tmin_c > tmax_c or dew_point_c > tmin_c or wind_10m < 0:
        raise KernelError("design day: need hours, tmin <= tmax, dew point <= tmin, wind >= 0")
    return _design_day(
        date,
        float(latitude),
        float(longitude),
        float(altitude_m),
        float(tmax_c),
        float(tmin_c),
        float(dew_point_c),
        float(wind_10m),
        float(utc_offset_h),
        tuple(int(h) for h in hours),
    )


@functools.lru_cache(maxsize=64)
def _design_day(
    date: dt.date,
    lat: float,
    lon: float,
    alt: float,
    tmax: float,
    tmin: float,
    td: float,
    wind: float,
    offset: float,
    hours: tuple[int, ...],
) -> DesignDay:
    import pandas as pd
    import pvlib

    midnight_utc = dt.datetime(date.year, date.month, date.day) - dt.timedelta(hours=offset)
    # sunrise, sunset and the highest elevation from a 2-minute scan of the local day
    scan = [midnight_utc + dt.timedelta(minutes=2 * i) for i in range(721)]
    _, el_scan = sun_positions(scan, lat, lon, alt)
    up = np.flatnonzero(el_scan > -0.833)
    if len(up) == 0 or len(up) == len(el_scan):
        raise KernelError(f"design day {date} at {lat:.2f} N: no sunrise or no sunset")
    sunrise_h = float(up[0]) * 2.0 / 60.0
    sunset_h = float(up[-1]) * 2.0 / 60.0
    times = [midnight_utc + dt.timedelta(hours=h) for h in hours]
    az, el = sun_positions(times, lat, lon, alt)
    idx = pd.DatetimeIndex(times).tz_localize("UTC")
    loc = pvlib.location.Location(lat, lon, altitude=alt)
    with warnings.catch_warnings():  # pandas deprecations inside pvlib, not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        tl = pvlib.clearsky.lookup_linke_turbidity(idx, lat, lon)
        cs = loc.get_clearsky(idx, model="ineichen", linke_turbidity=tl)
    day_len = sunset_h - sunrise_h
    m = np.asarray(hours, dtype=np.float64) - (sunrise_h + PARTON_LOGAN_C_H)
    phase = np.clip(math.pi * m / (day_len + 2.0 * PARTON_LOGAN_A_H), 0.0, math.pi)
    ta = tmin + (tmax - tmin) * np.sin(phase)
    rh = 100.0 * magnus_es_hpa(td) / magnus_es_hpa(ta)
    return DesignDay(
        date=date,
        latitude=lat,
        longitude=lon,
        altitude_m=alt,
        utc_offset_h=offset,
        hours=hours,
        azimuth_deg=az,
        elevation_deg=el,
        dni=np.asarray(cs["dni"], dtype=np.float64),
        dhi=np.asarray(cs["dhi"], dtype=np.float64),
        ghi=np.asarray(cs["ghi"], dtype=np.float64),
        air_temp_c=np.asarray(ta, dtype=np.float64),
        rel_humidity=np.asarray(rh, dtype=np.float64),
        wind_10m=wind,
        sunrise_h=sunrise_h,
        max_elevation_deg=float(el_scan.max()),
    )


def berlin_design_day(year: int) -> DesignDay:
    """The demo city's design day: 15 July of ``year`` (module text for the values)."""
    return design_day(dt.date(year, 7, 15), *BERLIN)
