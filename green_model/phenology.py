"""Leaf phenology: leaf-out by thermal time, autumn by climatological dates.

- Leaf-out (bud burst) is the day the degree-days above 5 degC, summed from 1 January
  over the city's daily climatology plus the anomaly, reach the species' threshold.
  Thresholds are calibrated so that the Tallinn 1991-2020 climatology reproduces the
  Estonian mean leaf-out dates of Ahas et al. (2000, Türi 1948-95: *Betula pendula*
  10 May, *Quercus robur* 22 May, *Malus* 17 May, *Acer platanoides* ~12 May).
  A warm anomaly advances leaf-out through the thermal sum.
- Full leaf 28 days after bud burst (LWFBrook90 default leaf-expansion period).
- Autumn: the city's mean dates come from its (anomaly-free) climatology: leaf
  colouring starts when the daily mean falls below 12 degC, leaf fall starts below
  9 degC and is complete below 4.5 degC (for Helsinki: colouring peaks in weeks
  39-41 and leaf fall ends in late October, as observed in southern Finland).
  Species offsets shift them, and the anomaly shifts them by
  ``Climate.autumn_shift_days_per_c`` days per degC (mean dates shifted by the
  anomaly: Meier & Bigler 2023, GMD 16:7171, found process models no better).
- Evergreen conifers keep their foliage (phase ``full_leaf`` all year).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from greentwin.green_model.climate import Climate, daily_climatology, day_of_year
from greentwin.green_model.species import RGB, Species

__all__ = ["LEAF_PHASES", "LeafPhase", "PhenologyYear", "leaf_phase_at", "phenology_year"]

F64 = npt.NDArray[np.float64]

LeafPhase = Literal["bare", "bud_burst", "full_leaf", "autumn_colour", "leaf_fall"]
LEAF_PHASES: tuple[LeafPhase, ...] = (
    "bare",
    "bud_burst",
    "full_leaf",
    "autumn_colour",
    "leaf_fall",
)

#: Leaf expansion from bud burst to full leaf (days), LWFBrook90 default.
LEAF_EXPANSION_DAYS = 28.0
#: Daily mean temperature thresholds (degC) of the autumn phases in the climatology.
COLOUR_ONSET_C = 12.0
FALL_START_C = 9.0
FALL_END_C = 4.5


@dataclass(frozen=True, slots=True)
class PhenologyYear:
    """Phase dates of one species in one climate (days of year, 1..365, fractional).

    Attributes
    ----------
    evergreen : True when foliage is kept all year (the dates are then unused).
    bud_burst, full_leaf, colour_onset, fall_start, fall_end : day of year.
    """

    evergreen: bool
    bud_burst: float
    full_leaf: float
    colour_onset: float
    fall_start: float
    fall_end: float

    def leaf_fraction(self, doy: npt.ArrayLike) -> F64:
        """Fraction of full-leaf area present on day(s) of year ``doy`` (0..1)."""
        d = np.asarray(doy, dtype=np.float64)
        if self.evergreen:
            return np.ones_like(d)
        up = np.clip((d - self.bud_burst) / (self.full_leaf - self.bud_burst), 0.0, 1.0)
        down = np.clip((self.fall_end - d) / (self.fall_end - self.fall_start), 0.0, 1.0)
        return np.asarray(np.minimum(up, down), dtype=np.float64)

    def leaf_days(self) -> float:
        """Full-leaf equivalent days per year (integral of the leaf fraction)."""
        return float(self.leaf_fraction(np.arange(1, 366)).sum())

    def phase(self, doy: float) -> LeafPhase:
        """The leaf phase on a day of year."""
        if self.evergreen:
            return "full_leaf"
        if doy < self.bud_burst or doy >= self.fall_end:
            return "bare"
        if doy < self.full_leaf:
            return "bud_burst"
        if doy < self.colour_onset:
            return "full_leaf"
        if doy < self.fall_start:
            return "autumn_colour"
        return "leaf_fall"


def _crossing_down(daily: F64, threshold: float, after: int = 182) -> float:
    """First day of year after ``after`` on which the climatology drops below ``threshold``."""
    seg = daily[after:]
    below = np.nonzero(seg < threshold)[0]
    if below.size == 0:
        return 365.0
    i = int(below[0]) + after  # index of first day below
    if i == 0:
        return 1.0
    t0, t1 = daily[i - 1], daily[i]
    frac = (t0 - threshold) / (t0 - t1) if t0 != t1 else 0.0
    return float(i + frac)  # doy of index i-1 is i


@lru_cache(maxsize=64)
def _city_autumn(monthly: tuple[float, ...]) -> tuple[float, float, float]:
    daily = daily_climatology(monthly)
    return (
        _crossing_down(daily, COLOUR_ONSET_C),
        _crossing_down(daily, FALL_START_C),
        _crossing_down(daily, FALL_END_C),
    )


def _leaf_out_doy(daily: F64, threshold: float) -> float:
    cum = np.cumsum(np.maximum(daily - 5.0, 0.0))
    if cum[-1] < threshold:
        return 170.0
    return float(np.interp(threshold, cum, np.arange(1, 366, dtype=np.float64)))


def phenology_year(species: Species, climate: Climate) -> PhenologyYear:
    """Phase dates of ``species`` in ``climate`` (see the module notes for the model)."""
    return _phenology_cached(
        species.key,
        species.evergreen,
        species.leaf_out_gdd,
        species.autumn_offset_days,
        climate.monthly,
        climate.anomaly_c,
        climate.autumn_shift_days_per_c,
    )


@lru_cache(maxsize=1024)
def _phenology_cached(
    key: str,
    evergreen: bool,
    leaf_out_gdd: float,
    autumn_offset: float,
    monthly: tuple[float, ...],
    anomaly_c: float,
    autumn_shift: float,
) -> PhenologyYear:
    daily = daily_climatology(monthly, anomaly_c)
    bud = _leaf_out_doy(daily, leaf_out_gdd)
    onset, fstart, fend = _city_autumn(monthly)
    shift = autumn_offset + autumn_shift * anomaly_c
    onset, fstart, fend = onset + shift, fstart + shift, fend + shift
    full = bud + LEAF_EXPANSION_DAYS
    onset = max(onset, full + 1.0)
    fstart = max(fstart, onset + 1.0)
    fend = max(fend, fstart + 1.0)
    return PhenologyYear(evergreen, bud, full, onset, fstart, fend)


def _lerp(a: RGB, b: RGB, t: float) -> RGB:
    t = min(max(t, 0.0), 1.0)
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def leaf_phase_at(
    species: Species, climate: Climate, date: dt.date
) -> tuple[LeafPhase, float, RGB]:
    """Leaf phase, leaf fraction (0..1) and foliage colour (sRGB 0..1) on a date.

    The colour is the spring colour at bud burst blending into the summer colour at
    full leaf, the summer colour blending into the species' autumn colour through the
    colouring period, the autumn colour while leaves fall, and the bark colour when bare.
    """
    ph = phenology_year(species, climate)
    doy = float(day_of_year(date))
    phase = ph.phase(doy)
    frac = float(ph.leaf_fraction(doy))
    c = species.colours
    if phase == "bare":
        colour = c["bark"]
    elif phase == "bud_burst":
        colour = _lerp(c["spring"], c["summer"], (doy - ph.bud_burst) / LEAF_EXPANSION_DAYS)
    elif phase == "full_leaf":
        colour = c["summer"]
    elif phase == "autumn_colour":
        colour = _lerp(
            c["summer"], c["autumn"], (doy - ph.colour_onset) / (ph.fall_start - ph.colour_onset)
        )
    else:
        colour = c["autumn"]
    return phase, frac, colour
