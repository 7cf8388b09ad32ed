"""The course of a district's indicators over the years (now, +5, +10, +20, +30).

:func:`course` computes, for each year, the district's maps on mid-July of that year
(:func:`~greentwin.twin.district.overlay_layers` with ``date``: trees grown to that
year, in leaf; noise in the "vegetation" mode; air annual means of that year's leaf
course; heat on that year's design day) and reduces them to six figures:

- ``carbon_t``: carbon stored in the trees of the analysis area, tonnes (green model,
  :func:`greentwin.green_model.api.services_for_area`);
- ``canopy_percent``: share of the analysis area under tree crowns, %;
- ``lden_homes``: L_den at the most exposed homes, dB(A): the facade level of each
  residential building (highest value in the ring of cells touching its footprint,
  :func:`greentwin.twin.indicators.facade_level`; END, Annex VI), averaged over the
  most exposed tenth of the residential buildings (at least one);
- ``no2_homes``: the same for the NO2 annual mean, ug/m3;
- ``shade_places``: hours of shade on the design day, mean over the most used places;
- ``utci_places``: UTCI at 15:00 on the design day, mean over the most used places.

"Most used places" are the pavements: ground cells whose centre lies within
:data:`PAVEMENT_M` metres beyond the carriageway edge of an open road (road centreline
+ half its carriageway width, from the project's road data), the places where people
walk and wait. The demo's data has no squares or pedestrian counts; a project that has
them would weight by them.

Cost: one map computation per year (the previous year's state is reused: noise
recomputes only the paths whose crowns changed; heat is recomputed for the new day).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from greentwin.twin.district import District, overlay_layers
from greentwin.twin.indicators import facade_level, residential_share

__all__ = [
    "PAVEMENT_M",
    "SERIES",
    "YEAR_OFFSETS",
    "Course",
    "course",
    "home_groups",
    "pavement_mask",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Years after the district's survey year shown in the chart.
YEAR_OFFSETS: tuple[int, ...] = (0, 5, 10, 20, 30)
#: Width of the pavement band beyond the carriageway edge, m.
PAVEMENT_M = 4.0
#: Share of the residential buildings counted as "most exposed".
TOP_SHARE = 0.1
#: name -> (label, unit) of each series, in display order.
SERIES: dict[str, tuple[str, str]] = {
    "carbon_t": ("Carbon stored in trees", "t C"),
    "canopy_percent": ("Canopy cover", "%"),
    "lden_homes": ("L_den at the most exposed homes", "dB(A)"),
    "no2_homes": ("NO2 at the most exposed homes", "ug/m3"),
    "shade_places": ("Hours of shade on pavements (design day)", "h"),
    "utci_places": ("UTCI at 15:00 on pavements (design day)", "degC"),
}


class Course(TypedDict):
    """The JSON of a course: years, and per series its label, unit and values."""

    years: list[int]
    offsets: list[int]
    series: dict[str, dict[str, Any]]
    method: dict[str, str]


def pavement_mask(district: District) -> B:
    """(ny, nx) cells of the pavements along the open roads (see the module text)."""
    import shapely

    grid = district.grid
    gx, gy = np.meshgrid(grid.xs(), grid.ys())
    near = np.zeros(grid.shape, dtype=bool)
    road = np.zeros(grid.shape, dtype=bool)
    for r in district.roads.roads:
        if r.closed:
            continue
        parts = np.split(np.asarray(r.coords, dtype=np.float64), list(r.breaks))
        lines = [shapely.LineString(p[:, :2]) for p in parts if len(p) >= 2]
        if not lines:
            continue
        geom = shapely.MultiLineString(lines)
        half = max(r.width_m, 1.0) / 2.0
        outer = geom.buffer(half + PAVEMENT_M)
        carriage = geom.buffer(half)
        xmin, ymin, xmax, ymax = outer.bounds
        rows, cols = grid.window((xmin, ymin, xmax, ymax))
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        x, y = gx[rows, cols], gy[rows, cols]
        near[rows, cols] |= shapely.contains_xy(outer, x, y)
        road[rows, cols] |= shapely.contains_xy(carriage, x, y)
    from greentwin.kernels.raster import building_height_grid

    inside = building_height_grid(grid, list(district.footprints)) > 0
    return near & ~road & ~inside


def home_groups(district: District) -> list[list[Any]]:
    """The footprints of each residential (or mixed-use) building."""
    groups: dict[str, list[Any]] = {}
    for f in district.footprints:
        info = district.buildings.get(f.id)
        if info is None:
            continue
        storeys = info.storeys or 1
        if residential_share(info.function, storeys) > 0:
            groups.setdefault(info.building_id, []).append(f)
    return list(groups.values())


def _most_exposed(district: District, values: F64, homes: Sequence[list[Any]]) -> float | None:
    levels = [facade_level(district.grid, values, parts) for parts in homes]
    found = sorted((v for v in levels if v is not None), reverse=True)
    if not found:
        return None
    k = max(1, math.ceil(TOP_SHARE * len(found)))
    return round(float(np.mean(found[:k])), 2)


def _mean(values: F64, mask: B) -> float | None:
    v = values[mask]
    v = v[np.isfinite(v)]
    return round(float(v.mean()), 2) if len(v) else None


def course(
    district: District, offsets: Sequence[int] = YEAR_OFFSETS, backend: str = "auto"
) -> Course:
    """The indicators of ``district`` in each year ``survey year + offset`` (mid-July)."""
    from greentwin.twin.indicators import _green

    t0 = time.perf_counter()
    homes = home_groups(district)
    places = pavement_mask(district)
    series: dict[str, list[float | None]] = {k: [] for k in SERIES}
    years: list[int] = []
    previous = None
    for k in offsets:
        year = district.survey_date.year + int(k)
        date = dt.date(year, 7, 15)
        maps = overlay_layers(district, None, previous=previous, date=date, backend=backend)
        previous = maps
        green = _green(district, date)
        carbon = green.get("carbon_kg")
        series["carbon_t"].append(None if carbon is None else round(carbon / 1000.0, 2))
        series["canopy_percent"].append(green.get("canopy_cover_percent"))
        series["lden_homes"].append(_most_exposed(district, maps.values["noise_lden"], homes))
        series["no2_homes"].append(_most_exposed(district, maps.values["no2"], homes))
        series["shade_places"].append(_mean(maps.values["shade_hours"], places))
        series["utci_places"].append(_mean(maps.values["utci"], places))
        years.append(year)
    log.info("indicator course over %d years: %.1f s", len(years), time.perf_counter() - t0)
    return {
        "years": years,
        "offsets": [int(k) for k in offsets],
        "series": {
            name: {"label": label, "unit": unit, "values": series[name]}
            for name, (label, unit) in SERIES.items()
        },
        "method": {
            "date": "15 July of each year (trees in leaf; heat on the design day)",
            "homes": (
                f"residential buildings' facade levels, mean of the most exposed "
                f"{round(TOP_SHARE * 100)} % (at least one)"
            ),
            "places": (
                f"pavements: ground within {PAVEMENT_M:g} m beyond the carriageway edge of "
                f"the open roads ({int(places.sum())} cells)"
            ),
            "homes_count": str(len(homes)),
        },
    }
