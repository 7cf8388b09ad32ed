"""Colour scales of the map overlays: noise classes, air classes, difference maps.

Every scale is a list of classes ``[lower, upper)`` with an RGB colour and a label;
values are classified with :meth:`ColorScale.colorize`, and :meth:`ColorScale.legend`
gives the JSON the viewer draws its legend from. Breakpoints and their sources are
documented in ``docs/overlays.md``.

- Noise: 5 dB classes as in ISO 1996-2 / DIN 18005 practice (<35, 35-40, ...,
  75-80, >=80 dB), palette in the style of DIN 45682 (greens for quiet, through
  yellow, orange and red, to violet and blue for the loudest classes).
- NO2, PM10, PM2.5 (annual means, ug/m3): breakpoints at the WHO 2021 air-quality
  guideline levels (NO2 10, PM10 15, PM2.5 5), the EU 2030 limit values of
  Directive (EU) 2024/2881 (NO2 20, PM10 20, PM2.5 10) and the limit values of
  Directive 2008/50/EC (NO2 40, PM10 40, PM2.5 25).
- Difference maps (scenario minus baseline, dB or ug/m3): diverging blue (lower,
  better) - light grey (no change) - red (higher, worse); for shade hours, where more
  is better, the colours are swapped.
- Heat: UTCI in the assessment classes of Broede et al. (2012, Table 1); Tmrt in 5 K
  classes on the same palette; hours of shade in classes of 1-2 hours.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import TilingError

__all__ = [
    "AIR_SCALES",
    "HEAT_SCALES",
    "NOISE_SCALES",
    "ColorScale",
    "LegendClass",
    "LegendJSON",
    "air_scale",
    "difference_scale",
    "get_scale",
    "noise_scale",
]

U8 = npt.NDArray[np.uint8]
RGB = tuple[int, int, int]


class LegendClass(TypedDict):
    """One legend entry: ``min``/``max`` (None = open end), ``color`` ``#rrggbb``."""

    min: float | None
    max: float | None
    color: str
    label: str


class LegendJSON(TypedDict):
    """Legend of a scale as served to the viewer."""

    name: str
    indicator: str
    unit: str
    kind: Literal["classes", "diverging"]
    classes: list[LegendClass]
    note: str


def _hex(c: str) -> RGB:
    c = c.lstrip("#")
    return (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))


def _fmt(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True, slots=True)
class ColorScale:
    """Classes ``[edges[i], edges[i+1])`` with colours; first and last are open.

    Attributes
    ----------
    name : key of the scale (e.g. ``"noise_lden"``).
    indicator : what is shown (e.g. ``"L_den"``, ``"NO2 annual mean"``).
    unit : ``"dB(A)"``, ``"ug/m3"``, ``"dB"``.
    edges : inner class limits, increasing (n - 1 values for n classes).
    colors : n RGB colours.
    labels : n labels.
    kind : ``"classes"`` or ``"diverging"``.
    note : source of the breakpoints, in words.
    """

    name: str
    indicator: str
    unit: str
    edges: tuple[float, ...]
    colors: tuple[RGB, ...]
    labels: tuple[str, ...]
    kind: Literal["classes", "diverging"] = "classes"
    note: str = ""

    def __post_init__(self) -> None:
        n = len(self.colors)
        if len(self.edges) != n - 1 or len(self.labels) != n:
            raise TilingError(f"colour scale {self.name!r}: need n colours, n labels, n-1 edges")
        if any(b <= a for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)):
            raise TilingError(f"colour scale {self.name!r}: edges must increase")

    def classify(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Class index of each value (``-1`` for NaN), same shape as ``values``."""
        v = np.asarray(values, dtype=np.float64)
        idx = np.digitize(v, np.asarray(self.edges), right=False).astype(np.int64)
        return np.where(np.isnan(v), -1, idx)

    def palette(self, alpha: int = 255) -> U8:
        """RGBA palette, ``(n + 1, 4)`` uint8: the n class colours with opacity ``alpha``,
        then one fully transparent entry (no data), the index :meth:`palette_index` gives
        NaN."""
        if not 0 <= alpha <= 255:
            raise TilingError(f"colour scale {self.name!r}: alpha {alpha} is not within 0..255")
        lut = np.zeros((len(self.colors) + 1, 4), dtype=np.uint8)
        lut[:-1, :3] = np.asarray(self.colors, dtype=np.uint8)
        lut[:-1, 3] = alpha
        return lut

    def palette_index(self, values: npt.ArrayLike) -> U8:
        """Index into :meth:`palette` of each value, uint8: its class, or ``n`` (the
        transparent entry) for NaN."""
        v = np.asarray(values, dtype=np.float64)
        idx = np.digitize(v, np.asarray(self.edges), right=False).astype(np.uint8)
        return np.where(np.isnan(v), np.uint8(len(self.colors)), idx)

    def colorize(self, values: npt.ArrayLike, alpha: int = 255) -> U8:
        """RGBA colours, shape ``values.shape + (4,)`` uint8; NaN -> fully transparent."""
        return self.palette(alpha)[self.palette_index(values)]

    def legend(self) -> LegendJSON:
        """The legend as JSON-serialisable data (classes, colours, labels, unit)."""
        lows: list[float | None] = [None, *self.edges]
        highs: list[float | None] = [*self.edges, None]
        classes: list[LegendClass] = [
            {"min": lo, "max": hi, "color": "#{:02x}{:02x}{:02x}".format(*c), "label": lab}
            for lo, hi, c, lab in zip(lows, highs, self.colors, self.labels, strict=True)
        ]
        return {
            "name": self.name,
            "indicator": self.indicator,
            "unit": self.unit,
            "kind": self.kind,
            "classes": classes,
            "note": self.note,
        }


def _labels(edges: tuple[float, ...], unit: str) -> tuple[str, ...]:
    first = f"< {_fmt(edges[0])} {unit}"
    mid = [f"{_fmt(a)}-{_fmt(b)} {unit}" for a, b in itertools.pairwise(edges)]
    last = f">= {_fmt(edges[-1])} {unit}"
    return (first, *mid, last)


# DIN 45682-style palette, quiet -> loud (approximate RGB; implementations differ).
_NOISE_COLORS = (
    "#d9f0d3", "#a6d96a", "#4daf4a", "#ffff99", "#f4c542", "#f28e2b",
    "#e8381c", "#b2182b", "#a6428f", "#4b3ba8", "#1a1a6e",
)  # fmt: skip
_NOISE_EDGES = (35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0)


def noise_scale(indicator: str = "L_den") -> ColorScale:
    """5 dB noise classes (<35 ... >=80 dB(A)) for an indicator (L_den, L_night, ...)."""
    return ColorScale(
        name="noise_" + indicator.lower().replace(",", "").replace("_", ""),
        indicator=indicator,
        unit="dB(A)",
        edges=_NOISE_EDGES,
        colors=tuple(_hex(c) for c in _NOISE_COLORS),
        labels=_labels(_NOISE_EDGES, "dB(A)"),
        note="5 dB classes (ISO 1996-2 / DIN 18005 practice), DIN 45682-style colours",
    )


# good -> bad: teal/green, yellow, orange, red, dark red, purple
_AIR_COLORS = (
    "#1a9850", "#66bd63", "#d9ef8b", "#fee08b", "#fdae61",
    "#f46d43", "#d73027", "#a50026", "#67001f", "#40004b",
)  # fmt: skip
_AIR_EDGES: dict[str, tuple[float, ...]] = {
    "no2": (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 60.0),
    "pm10": (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 60.0),
    "pm25": (5.0, 7.5, 10.0, 12.5, 15.0, 20.0, 25.0, 30.0, 40.0),
}
_AIR_NOTES = {
    "no2": "WHO 2021 guideline 10; EU 2030 limit 20 (Dir. 2024/2881); EU limit 40 (Dir. 2008/50/EC)",
    "pm10": "WHO 2021 guideline 15; EU 2030 limit 20 (Dir. 2024/2881); EU limit 40 (Dir. 2008/50/EC)",
    "pm25": "WHO 2021 guideline 5; EU 2030 limit 10 (Dir. 2024/2881); EU limit 25 (Dir. 2008/50/EC)",
}
_AIR_NAMES = {"no2": "NO2", "pm10": "PM10", "pm25": "PM2.5"}


def air_scale(pollutant: str) -> ColorScale:
    """Annual-mean class scale for ``"no2"``, ``"pm10"`` or ``"pm25"`` (ug/m3)."""
    if pollutant not in _AIR_EDGES:
        raise TilingError(f"no air colour scale for {pollutant!r}; use no2, pm10 or pm25")
    edges = _AIR_EDGES[pollutant]
    return ColorScale(
        name=pollutant,
        indicator=f"{_AIR_NAMES[pollutant]} annual mean",
        unit="ug/m3",
        edges=edges,
        colors=tuple(_hex(c) for c in _AIR_COLORS),
        labels=_labels(edges, "ug/m3"),
        note=_AIR_NOTES[pollutant],
    )


def difference_scale(
    indicator: str,
    unit: str,
    steps: tuple[float, ...] | None = None,
    *,
    higher_is_better: bool = False,
) -> ColorScale:
    """Diverging scale for scenario minus baseline: blue = lower (better), red = higher.

    Parameters
    ----------
    indicator : what the difference is of (e.g. ``"L_den"``, ``"NO2"``).
    unit : ``"dB"`` or ``"ug/m3"``.
    steps : increasing positive class limits; the scale uses ``-steps[::-1] + steps``.
        Default: (0.5, 1, 3, 5) for dB, (0.2, 1, 2, 5) otherwise. The middle class
        ``(-steps[0], steps[0])`` is "no relevant change" (light grey).
    higher_is_better : swap the colours (blue = higher), e.g. for hours of shade.
    """
    if steps is None:
        steps = (0.5, 1.0, 3.0, 5.0) if unit == "dB" else (0.2, 1.0, 2.0, 5.0)
    if not steps or any(s <= 0 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
        raise TilingError("difference scale: steps must be positive and increasing")
    edges = tuple(-s for s in reversed(steps)) + tuple(steps)
    k = len(steps)
    blues = [(8, 48, 107), (33, 113, 181), (107, 174, 214), (198, 219, 239)]
    reds = [(254, 224, 210), (252, 146, 114), (222, 45, 38), (103, 0, 13)]
    blue = [blues[min(3, math.floor(i * 4 / k))] for i in range(k)]
    red = [reds[min(3, math.floor(i * 4 / k))] for i in range(k)]
    colors = (*blue, (224, 224, 224), *red)
    note = "blue = lower than the baseline (better), red = higher (worse)"
    if higher_is_better:
        colors = (*reversed(red), (224, 224, 224), *reversed(blue))
        note = "blue = higher than the baseline (better), red = lower (worse)"
    labels = list(_labels(edges, unit))
    labels[k] = f"no change (+-{_fmt(steps[0])} {unit})"
    return ColorScale(
        name=f"diff_{indicator.lower()}",
        indicator=f"{indicator} difference (scenario - baseline)",
        unit=unit,
        edges=edges,
        colors=colors,
        labels=tuple(labels),
        kind="diverging",
        note=note,
    )


NOISE_SCALES: dict[str, ColorScale] = {
    "lden": noise_scale("L_den"),
    "lnight": noise_scale("L_night"),
    "lday": noise_scale("L_Aeq,day"),
}
AIR_SCALES: dict[str, ColorScale] = {p: air_scale(p) for p in ("no2", "pm10", "pm25")}

# UTCI palette, no stress -> extreme heat stress (green, yellow, orange, red, dark red)
_HEAT_COLORS = ("#2c7bb6", "#1a9641", "#fdae61", "#f46d43", "#d7191c", "#7f0000")
_UTCI_EDGES = (9.0, 26.0, 32.0, 38.0, 46.0)
_UTCI_LABELS = (
    "< 9 degC: cold stress",
    "9-26 degC: no thermal stress",
    "26-32 degC: moderate heat stress",
    "32-38 degC: strong heat stress",
    "38-46 degC: very strong heat stress",
    ">= 46 degC: extreme heat stress",
)
_TMRT_EDGES = (30.0, 40.0, 50.0, 55.0, 60.0)
_SHADE_EDGES = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)
_SHADE_COLORS = ("#fff7bc", "#fee391", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
#: Heat scales and the unit and difference steps of each.
HEAT_SCALES: dict[str, ColorScale] = {
    "utci": ColorScale(
        name="utci",
        indicator="UTCI at 15:00, design day",
        unit="degC",
        edges=_UTCI_EDGES,
        colors=tuple(_hex(c) for c in _HEAT_COLORS),
        labels=_UTCI_LABELS,
        note="UTCI assessment classes, Broede et al. 2012, Table 1",
    ),
    "tmrt": ColorScale(
        name="tmrt",
        indicator="mean radiant temperature at 15:00, design day",
        unit="degC",
        edges=_TMRT_EDGES,
        colors=tuple(_hex(c) for c in _HEAT_COLORS),
        labels=_labels(_TMRT_EDGES, "degC"),
        note="Tmrt classes (SOLWEIG, Lindberg et al. 2008), colours of the UTCI classes",
    ),
    "shade_hours": ColorScale(
        name="shade_hours",
        indicator="hours of shade, 08:00-19:00, design day",
        unit="h",
        edges=_SHADE_EDGES,
        colors=tuple(_hex(c) for c in _SHADE_COLORS),
        labels=_labels(_SHADE_EDGES, "h"),
        note="sum over 12 hourly sun positions of the shaded share of the direct beam",
    ),
}
_HEAT_DIFF: dict[str, tuple[str, tuple[float, ...], bool]] = {
    "utci": ("UTCI", (0.5, 1.0, 2.0, 4.0), False),
    "tmrt": ("Tmrt", (1.0, 3.0, 6.0, 10.0), False),
    "shade_hours": ("Shade hours", (0.25, 1.0, 2.0, 4.0), True),
}


def get_scale(name: str) -> ColorScale:
    """A scale by overlay indicator name: ``lden``, ``lnight``, ``lday``, ``no2``,
    ``pm10``, ``pm25``, ``utci``, ``tmrt``, ``shade_hours``, or ``diff_<indicator>``
    for the matching difference scale."""
    if name in NOISE_SCALES:
        return NOISE_SCALES[name]
    if name in AIR_SCALES:
        return AIR_SCALES[name]
    if name in HEAT_SCALES:
        return HEAT_SCALES[name]
    if name.startswith("diff_"):
        base = name[5:]
        if base in _HEAT_DIFF:
            label, steps, better = _HEAT_DIFF[base]
            unit = HEAT_SCALES[base].unit
            return difference_scale(label, unit, steps, higher_is_better=better)
        if base in NOISE_SCALES:
            return difference_scale(NOISE_SCALES[base].indicator, "dB")
        if base in AIR_SCALES:
            return difference_scale(_AIR_NAMES[base], "ug/m3")
    raise TilingError(f"unknown overlay scale {name!r}")
