"""Climate of a city: daily temperature climatology, thermal time and growth calibration.

Monthly mean air temperatures are approximate 1991-2020 climate normals of each city's
main station (FMI Helsinki Kaisaniemi; Estonian Environment Agency Tallinn-Harku;
DWD Berlin-Tempelhof; NOAA NCEI normals for the USDA reference cities), rounded to
0.1-0.5 degC. Daily values interpolate the monthly means linearly between mid-months
(periodic), and a temperature ``anomaly_c`` is added to every day.

Growth calibration (the Nordic growing season): the Urban Tree Database equations
predict growth per year *in their reference city*. A tree in another climate ages
along the same curve at ``growth_factor = GDD5(city) / GDD5(reference city)`` years
per calendar year, where GDD5 is the yearly sum of degree-days above 5 degC of the
climatology (thermal growing-season sum). The factor is clamped to [0.3, 1.5] and can
be set per city (``Climate(growth_factor=...)``) when local tree-register data give a
better value.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError

__all__ = ["CITY_NORMALS", "REGION_NORMALS", "Climate", "gdd5_per_year"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Monthly mean temperature normals (degC, Jan..Dec) and latitude of supported cities.
CITY_NORMALS: dict[str, tuple[float, tuple[float, ...]]] = {
    "Helsinki": (60.17, (-3.9, -4.7, -1.3, 4.4, 10.6, 15.0, 18.1, 16.6, 11.9, 6.3, 2.0, -1.3)),
    "Tallinn": (59.44, (-2.9, -3.6, -0.6, 4.6, 10.3, 14.5, 17.5, 16.3, 11.7, 6.5, 2.2, -0.8)),
    "Tartu": (58.38, (-4.6, -5.1, -1.3, 5.3, 11.5, 15.5, 18.1, 16.5, 11.4, 5.6, 1.0, -2.4)),
    "Stockholm": (59.33, (-1.0, -1.3, 1.4, 6.3, 11.4, 15.6, 18.5, 17.3, 12.9, 7.5, 3.5, 0.6)),
    "Berlin": (52.52, (1.0, 1.9, 5.0, 10.0, 14.3, 17.7, 19.6, 19.3, 15.0, 10.0, 5.3, 2.1)),
}

#: Reference cities of the USDA regions used by the species library (TS1).
REGION_NORMALS: dict[str, tuple[str, tuple[float, ...]]] = {
    "MidWst": (
        "Minneapolis",
        (-9.8, -7.4, -0.5, 7.4, 14.3, 20.1, 22.8, 21.4, 16.9, 9.4, 1.1, -6.3),
    ),
    "LoMidW": (
        "Indianapolis",
        (-2.3, 0.0, 5.3, 11.6, 17.4, 22.4, 24.2, 23.5, 19.6, 12.9, 6.3, 0.5),
    ),
    "NoEast": ("New York JFK", (0.6, 1.4, 4.9, 10.3, 15.6, 20.9, 24.7, 24.2, 20.6, 14.4, 8.7, 3.4)),
    "PacfNW": ("Longview", (5.0, 5.8, 7.7, 9.9, 13.2, 16.0, 18.9, 19.1, 16.4, 11.6, 7.3, 4.4)),
    "TpIntW": ("Boise", (-0.5, 2.3, 6.4, 10.0, 14.8, 19.4, 24.7, 23.8, 18.1, 11.1, 4.3, -0.5)),
    "NMtnPr": (
        "Fort Collins",
        (-1.6, -0.6, 3.8, 7.7, 12.7, 18.2, 21.6, 20.5, 15.7, 9.2, 2.8, -1.8),
    ),
    "InlVal": ("Modesto", (8.3, 10.6, 13.3, 15.8, 19.9, 23.4, 25.5, 24.9, 22.7, 18.2, 11.9, 7.9)),
}

_MID_MONTH = np.array(
    [15.5, 45.0, 74.5, 105.0, 135.5, 166.0, 196.5, 227.5, 258.0, 288.5, 319.0, 349.5]
)
_DOY = np.arange(1, 366, dtype=np.float64)


def daily_climatology(monthly: tuple[float, ...] | F64, anomaly_c: float = 0.0) -> F64:
    """Daily mean temperature of a 365-day year from 12 monthly means.

    Parameters
    ----------
    monthly : (12,) degC, January first.
    anomaly_c : added to every day (degC).

    Returns
    -------
    (365,) float64 degC, index 0 = 1 January.
    """
    m = np.asarray(monthly, dtype=np.float64)
    if m.shape != (12,):
        raise GreenModelError("monthly normals need 12 values (January .. December)")
    xp = np.concatenate(([_MID_MONTH[-1] - 365.0], _MID_MONTH, [_MID_MONTH[0] + 365.0]))
    fp = np.concatenate(([m[-1]], m, [m[0]]))
    return np.interp(_DOY, xp, fp) + anomaly_c


def gdd5_per_year(monthly: tuple[float, ...] | F64, anomaly_c: float = 0.0) -> float:
    """Yearly growing degree-days above 5 degC of a climatology (degC day)."""
    return float(np.maximum(daily_climatology(monthly, anomaly_c) - 5.0, 0.0).sum())


@dataclass(frozen=True, slots=True)
class Climate:
    """The climate trees grow in: a named city's normals plus a temperature anomaly.

    Attributes
    ----------
    city : name (one of :data:`CITY_NORMALS`, or any name with ``monthly`` given).
    latitude : degrees north.
    monthly : (12,) monthly mean temperatures, degC.
    anomaly_c : temperature anomaly added to the climatology (degC), e.g. a warm year.
    growth_factor : override of the growth calibration (calendar year -> growth
        year) for every species; None computes it from GDD5 ratios per source region.
    autumn_shift_days_per_c : shift of autumn phases per degC of anomaly (days/degC,
        Menzel et al. 2006, Global Change Biology 12:1969: about +1 day per degC).
    """

    city: str
    latitude: float
    monthly: tuple[float, ...]
    anomaly_c: float = 0.0
    growth_factor: float | None = None
    autumn_shift_days_per_c: float = 1.0
    _daily: F64 = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_daily", daily_climatology(self.monthly, self.anomaly_c))

    @classmethod
    def for_city(
        cls, city: str, anomaly_c: float = 0.0, growth_factor: float | None = None
    ) -> Climate:
        """The climate of a supported city (case-insensitive name).

        Raises
        ------
        GreenModelError
            If the city is unknown; the message lists the supported names.
        """
        for name, (lat, monthly) in CITY_NORMALS.items():
            if name.lower() == city.strip().lower():
                return cls(name, lat, monthly, anomaly_c, growth_factor)
        raise GreenModelError(
            f"no climate normals for city {city!r}; use one of {sorted(CITY_NORMALS)} "
            "or build Climate(city, latitude, monthly=...) from 12 monthly means"
        )

    def with_anomaly(self, anomaly_c: float) -> Climate:
        """The same climate with another temperature anomaly."""
        return Climate(
            self.city,
            self.latitude,
            self.monthly,
            anomaly_c,
            self.growth_factor,
            self.autumn_shift_days_per_c,
        )

    @property
    def daily(self) -> F64:
        """(365,) daily mean temperature with the anomaly, degC."""
        return self._daily

    def gdd5(self) -> float:
        """Yearly degree-days above 5 degC (degC day), anomaly included."""
        return float(np.maximum(self._daily - 5.0, 0.0).sum())

    def growth_factor_for(self, region: str) -> float:
        """Growth years per calendar year for a tree fitted in USDA ``region``.

        ``GDD5(city) / GDD5(region's reference city)`` clamped to [0.3, 1.5], or the
        explicit ``growth_factor`` when set.
        """
        if self.growth_factor is not None:
            return float(self.growth_factor)
        ref = REGION_NORMALS.get(region)
        if ref is None:
            return 1.0
        ratio = self.gdd5() / gdd5_per_year(ref[1])
        return float(np.clip(ratio, 0.3, 1.5))


def day_of_year(d: dt.date) -> int:
    """1-based day of year on a 365-day calendar (29 February counts as 28 February)."""
    doy = d.timetuple().tm_yday
    if d.month > 2 and (d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0)):
        doy -= 1
    return min(doy, 365)


def years_between(start: dt.date, end: dt.date) -> float:
    """Calendar years from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return (end.toordinal() - start.toordinal()) / 365.2425
