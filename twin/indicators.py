"""Indicators of a district state and their change against the baseline.

Public API
----------
``district_indicators(district, values, dates) -> Indicators``: noise exposure of the
buildings and their dwellings by 5 dB class, air-quality means, and the green layer's
carbon, canopy and plant-cover areas on each of ``dates``.

``compare(scenario, baseline) -> dict``: every figure as ``{"scenario", "baseline",
"change"}`` (JSON-ready), the summary a scenario export carries.

``summary_rows(summary) -> list[list[str | float | None]]``: the same as flat table rows
(for CSV).

``building_at(district, x, y) -> (id, parts) | None`` and ``facade_level(grid, values,
parts) -> float | None``: the building over a point and its most exposed facade level in
a noise grid (the point probe answers this on a roof, where the grid has no value).

Method
------
Noise exposure follows the reporting of Directive 2002/49/EC (END), Annex VI: buildings
and dwellings are counted in 5 dB bands of L_den (55-59, 60-64, 65-69, 70-74, >= 75) and
L_night (50-54, ..., >= 70), each at the level of its most exposed facade at 4 m. Here the
facade level is the highest grid value in the ring of cells that touch the building's
footprint from outside (the noise grid has no value inside buildings), so it is a
free-field level in front of the facade at the grid's resolution.

Dwellings are estimated where the data does not count them: gross floor area (footprint
area x storeys above ground, else one storey per :data:`~greentwin.twin.district.
STOREY_M` m of height) x :data:`NET_FLOOR_FRACTION` / :data:`DWELLING_M2`, for residential
buildings; mixed-use buildings (ALKIS function codes 11xx, "Wohngebaeude mit ...") count
all storeys but the ground floor. Function codes follow the ALKIS building-function list
(AdV, ``31001_<code>``; the same codes without the prefix in the SIG3D code lists):
1000-1099 and 1200-1299 residential, 1100-1199 mixed.

Air-quality means are over the grid cells with a value and, weighted by dwellings, over
the facade rings; dwellings above the annual limit values that apply from 2030 under
Directive (EU) 2024/2881, Annex I (NO2 20 ug/m3, PM10 20 ug/m3) are counted.

Carbon, sequestration and canopy come from the green model
(:func:`greentwin.green_model.api.services_for_area`) over the analysis grid's extent.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from greentwin.green_model.api import services_for_area
from greentwin.kernels.raster import Grid, point_in_rings
from greentwin.twin.district import STOREY_M, BuildingInfo, District

__all__ = [
    "AIR_LIMITS",
    "DWELLING_M2",
    "LDEN_CLASSES",
    "LNIGHT_CLASSES",
    "NET_FLOOR_FRACTION",
    "BuildingExposure",
    "Indicators",
    "building_at",
    "compare",
    "district_indicators",
    "facade_level",
    "residential_share",
    "summary_rows",
    "traffic_summary",
]

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Lower bounds of the L_den and L_night reporting bands, dB(A) (END, Annex VI 1.5, 1.6).
LDEN_CLASSES: tuple[float, ...] = (55.0, 60.0, 65.0, 70.0, 75.0)
LNIGHT_CLASSES: tuple[float, ...] = (50.0, 55.0, 60.0, 65.0, 70.0)
#: Mean living area per dwelling, m2 (Berlin's housing stock averages about 73 m2:
#: Amt fuer Statistik Berlin-Brandenburg, housing stock statistics).
DWELLING_M2 = 73.0
#: Living area as a fraction of gross floor area (walls, stairs and shafts take the rest).
NET_FLOOR_FRACTION = 0.75
#: Annual-mean limit values from 2030, ug/m3 (Directive (EU) 2024/2881, Annex I).
AIR_LIMITS: dict[str, float] = {"no2": 20.0, "pm10": 20.0}


def residential_share(function: str, storeys: int) -> float:
    """The fraction of a building's floor area that is housing, from its function.

    ``function`` is an ALKIS/SIG3D building-function code (``31001_1010`` or ``1010``)
    or one of the scenario uses ``residential``, ``mixed``, ``other``; a mixed-use
    building houses people on every storey but the ground floor.
    """
    code = function.strip().lower()
    if code.startswith("31001_"):
        code = code[6:]
    if code == "residential":
        return 1.0
    if code == "mixed":
        return max(storeys - 1, 0) / storeys if storeys > 0 else 0.0
    try:
        n = int(code.split(";")[0])
    except ValueError:
        return 0.0
    if 1000 <= n < 1100 or 1200 <= n < 1300:
        return 1.0
    if 1100 <= n < 1200:
        return max(storeys - 1, 0) / storeys if storeys > 0 else 0.0
    return 0.0


def _ring_area(ring: F64) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


@dataclass(frozen=True, slots=True)
class BuildingExposure:
    """One building's dwellings and most-exposed-facade levels (None: no grid value)."""

    id: str
    name: str
    function: str
    dwellings: int
    floor_area_m2: float
    levels: dict[str, float | None]


@dataclass(slots=True)
class Indicators:
    """All figures of one district state (see the module notes for the method)."""

    buildings: list[BuildingExposure] = field(default_factory=list)
    air: dict[str, dict[str, float | None]] = field(default_factory=dict)
    green: dict[str, dict[str, float | None]] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)


def _dilate(mask: B) -> B:
    """One-cell dilation with the 8-neighbourhood."""
    out = mask.copy()
    p = np.pad(mask, 1)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                out |= p[1 + dr : 1 + dr + mask.shape[0], 1 + dc : 1 + dc + mask.shape[1]]
    return out


def _facade_rings(grid: Grid, parts: Sequence[Any]) -> tuple[tuple[slice, slice], B] | None:
    """The cells just outside a building's footprints, in a window of the grid.

    A footprint smaller than a cell covers no cell centre; its cell stands in for it.
    Returns None when the building lies off the grid.
    """
    xy = np.concatenate([np.asarray(p.exterior, dtype=np.float64)[:, :2] for p in parts])
    pad = 2.0 * grid.cell
    rows, cols = grid.window(
        (
            float(xy[:, 0].min()) - pad,
            float(xy[:, 1].min()) - pad,
            float(xy[:, 0].max()) + pad,
            float(xy[:, 1].max()) + pad,
        )
    )
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None
    gx, gy = np.meshgrid(grid.xs()[cols], grid.ys()[rows])
    inside = np.zeros(gx.shape, dtype=bool)
    for p in parts:
        rings = [p.exterior, *p.interiors]
        inside |= point_in_rings(gx.ravel(), gy.ravel(), rings).reshape(gx.shape)
    if not inside.any():
        c = np.mean(xy, axis=0)
        d = (gx - c[0]) ** 2 + (gy - c[1]) ** 2
        inside.flat[int(np.argmin(d))] = True
    return (rows, cols), _dilate(inside) & ~inside


def facade_level(grid: Grid, values: npt.NDArray[Any], parts: Sequence[Any]) -> float | None:
    """A building's most exposed facade level in a noise grid (END, Annex VI; module notes).

    Parameters
    ----------
    grid : the grid of ``values``.
    values : (ny, nx) level grid, dB(A); NaN where there is no value (inside buildings).
    parts : the building's footprints (``exterior``, ``interiors``), in the grid's CRS.

    Returns
    -------
    The highest value in the cells that touch the footprints from outside, rounded to
    0.01 dB; None when the building lies off the grid or no such cell has a value.
    """
    found = _facade_rings(grid, parts)
    if found is None:
        return None
    window, ring = found
    vals = np.asarray(values[window][ring], dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    return round(float(vals.max()), 2) if len(vals) else None


def building_at(district: District, x: float, y: float) -> tuple[str, list[Any]] | None:
    """The building whose footprint holds the point (x, y) (district CRS, metres).

    Returns
    -------
    (building id, all its footprints) or None when no footprint holds the point.
    """
    point = shapely.Point(x, y)
    for bid, parts in _group(district).items():
        for p in parts:
            poly = shapely.Polygon(
                np.asarray(p.exterior)[:, :2], [np.asarray(h)[:, :2] for h in p.interiors]
            )
            if poly.covers(point):
                return bid, parts
    return None


def _group(district: District) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for f in district.footprints:
        info = district.buildings.get(f.id)
        groups.setdefault(info.building_id if info else f.id, []).append(f)
    return groups


def _exposure(
    district: District, values: Mapping[str, F64], extra: Sequence[str]
) -> tuple[list[BuildingExposure], dict[str, list[tuple[int, float]]]]:
    """Per building: dwellings, facade levels; per air indicator (dwellings, mean) pairs."""
    grid = district.grid
    out: list[BuildingExposure] = []
    air: dict[str, list[tuple[int, float]]] = {k: [] for k in extra}
    for bid, parts in _group(district).items():
        info: BuildingInfo = district.buildings.get(parts[0].id) or BuildingInfo(bid)
        floor = 0.0
        housing = 0.0
        for p in parts:
            area = _ring_area(p.exterior) - sum(_ring_area(h) for h in p.interiors)
            storeys = info.storeys or max(1, round(p.height_m / STOREY_M))
            floor += area * storeys
            housing += area * storeys * residential_share(info.function, storeys)
        dwellings = round(housing * NET_FLOOR_FRACTION / DWELLING_M2)
        if housing > 0 and dwellings == 0:
            dwellings = 1
        found = _facade_rings(grid, parts)
        levels: dict[str, float | None] = {}
        for name in ("noise_lden", "noise_lnight", *extra):
            v = values.get(name)
            if v is None or found is None:
                levels[name] = None
                continue
            window, ring = found
            vals = v[window][ring]
            vals = vals[np.isfinite(vals)]
            if not len(vals):
                levels[name] = None
                continue
            if name in extra:
                levels[name] = round(float(vals.mean()), 3)
                air[name].append((dwellings, float(vals.mean())))
            else:
                levels[name] = round(float(vals.max()), 2)  # as facade_level()
        out.append(
            BuildingExposure(bid, info.name, info.function, dwellings, round(floor, 1), levels)
        )
    return out, air


def _green(district: District, date: dt.date) -> dict[str, float | None]:
    xmin, ymin, xmax, ymax = district.grid.bounds
    rect = np.array([[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax]])
    s = services_for_area(district.tree_table(), date, rect, district.climate)
    covers: dict[str, float] = {}
    for c in district.covers:
        if (c.planted and date < c.planted) or (c.removed and date >= c.removed):
            continue
        ring = np.asarray(c.polygon, dtype=np.float64)[:, :2]
        covers[c.cover] = covers.get(c.cover, 0.0) + _ring_area(ring)
    out: dict[str, float | None] = {
        "trees": s.trees,
        "carbon_kg": round(s.carbon_kg, 1),
        "co2_kg": round(s.co2_kg, 1),
        "co2_sequestration_kg_per_year": round(s.co2_sequestration_kg_per_year, 1),
        "leaf_area_m2": round(s.leaf_area_m2, 1),
        "canopy_cover_m2": round(s.canopy_cover_m2, 1),
        "canopy_cover_percent": (
            None if s.canopy_cover_fraction is None else round(100 * s.canopy_cover_fraction, 2)
        ),
        "pm10_removal_kg_per_year": round(s.pm10_removal_g_per_year / 1000.0, 3),
        "plant_cover_m2": round(sum(covers.values()), 1),
    }
    for name, area in sorted(covers.items()):
        out[f"plant_cover_{name}_m2"] = round(area, 1)
    return out


def district_indicators(
    district: District, values: Mapping[str, F64], dates: Sequence[dt.date]
) -> Indicators:
    """The figures of one district state.

    Parameters
    ----------
    district : the state's inputs (buildings with :class:`BuildingInfo`, trees, covers).
    values : indicator -> (ny, nx) grid on ``district.grid`` (``noise_lden``,
        ``noise_lnight``, ``no2``, ``pm10``; row 0 south, NaN = no value).
    dates : the dates of the green figures (the maps are those of the survey date).
    """
    air_names = [n for n in AIR_LIMITS if n in values]
    buildings, facade = _exposure(district, values, air_names)
    air: dict[str, dict[str, float | None]] = {}
    for name in air_names:
        v = np.asarray(values[name], dtype=np.float64)
        ok = v[np.isfinite(v)]
        pairs = facade[name]
        weight = sum(d for d, _ in pairs)
        air[name] = {
            "mean": round(float(ok.mean()), 3) if len(ok) else None,
            "max": round(float(ok.max()), 3) if len(ok) else None,
            "dwelling_weighted_mean": (
                round(sum(d * m for d, m in pairs) / weight, 3) if weight else None
            ),
            "dwellings_above_limit": sum(d for d, m in pairs if m > AIR_LIMITS[name]),
            "limit": AIR_LIMITS[name],
        }
    green = {d.isoformat(): _green(district, d) for d in dates}
    from greentwin.twin.district_traffic import network_figures

    return Indicators(buildings, air, green, network_figures(district))


def _bands(lower: Sequence[float]) -> list[str]:
    names = [f"<{lower[0]:g}"]
    names += [f"{a:g}-{b - 1:g}" for a, b in itertools.pairwise(lower)]
    names.append(f">={lower[-1]:g}")
    return names


def _classify(ind: Indicators, name: str, lower: Sequence[float]) -> dict[str, list[int]]:
    n = len(lower) + 1
    buildings, dwellings = [0] * n, [0] * n
    unassessed_b = unassessed_d = 0
    for b in ind.buildings:
        level = b.levels.get(name)
        if level is None:
            unassessed_b += 1
            unassessed_d += b.dwellings
            continue
        k = int(np.searchsorted(np.asarray(lower), level, side="right"))
        buildings[k] += 1
        dwellings[k] += b.dwellings
    return {
        "buildings": buildings,
        "dwellings": dwellings,
        "unassessed": [unassessed_b, unassessed_d],
    }


def _triple(s: Any, b: Any) -> dict[str, Any]:
    if isinstance(s, list):
        return {
            "scenario": s,
            "baseline": b,
            "change": [x - y for x, y in zip(s, b, strict=True)],
        }
    if isinstance(s, int) and isinstance(b, int):
        return {"scenario": s, "baseline": b, "change": s - b}
    change = None if s is None or b is None else round(float(s) - float(b), 6)
    return {"scenario": s, "baseline": b, "change": change}


def compare(scenario: Indicators, baseline: Indicators) -> dict[str, Any]:
    """The scenario's figures beside the baseline's, with their differences."""
    noise: dict[str, Any] = {}
    for name, key, lower in (
        ("noise_lden", "lden", LDEN_CLASSES),
        ("noise_lnight", "lnight", LNIGHT_CLASSES),
    ):
        s, b = _classify(scenario, name, lower), _classify(baseline, name, lower)
        noise[key] = {
            "unit": "dB(A)",
            "classes": _bands(lower),
            "buildings": _triple(s["buildings"], b["buildings"]),
            "dwellings": _triple(s["dwellings"], b["dwellings"]),
            "unassessed_buildings": _triple(s["unassessed"][0], b["unassessed"][0]),
            "unassessed_dwellings": _triple(s["unassessed"][1], b["unassessed"][1]),
        }
    air: dict[str, Any] = {}
    for name in scenario.air:
        sa, ba = scenario.air[name], baseline.air.get(name, {})
        air[name] = {"unit": "ug/m3"} | {k: _triple(sa[k], ba.get(k)) for k in sa if k != "limit"}
        air[name]["limit"] = sa["limit"]
    green: dict[str, Any] = {}
    for date, figures in scenario.green.items():
        base = baseline.green.get(date, {})
        keys = list(figures) + [k for k in base if k not in figures]
        green[date] = {k: _triple(figures.get(k, 0), base.get(k, 0)) for k in keys}
    totals = {
        "count": _triple(len(scenario.buildings), len(baseline.buildings)),
        "dwellings": _triple(
            sum(b.dwellings for b in scenario.buildings),
            sum(b.dwellings for b in baseline.buildings),
        ),
        "floor_area_m2": _triple(
            round(sum(b.floor_area_m2 for b in scenario.buildings), 1),
            round(sum(b.floor_area_m2 for b in baseline.buildings), 1),
        ),
    }
    traffic = traffic_summary(scenario.traffic, baseline.traffic)
    base_levels = {b.id: b.levels for b in baseline.buildings}
    per_building = [
        {
            "id": b.id,
            "name": b.name,
            "function": b.function,
            "dwellings": b.dwellings,
            "floor_area_m2": b.floor_area_m2,
            "levels": b.levels,
            "baseline_levels": base_levels.get(b.id),
        }
        for b in scenario.buildings
    ]
    return {
        "buildings": totals,
        "noise": noise,
        "air": air,
        "green": green,
        "traffic": traffic,
        "per_building": per_building,
        "method": {
            "noise": "most exposed facade, 4 m, END Annex VI bands",
            "dwelling_m2": DWELLING_M2,
            "net_floor_fraction": NET_FLOOR_FRACTION,
            "storey_m": STOREY_M,
            "air_limits_ug_m3": AIR_LIMITS,
        },
    }


#: Roads listed as the most changed by a scenario.
MOST_CHANGED = 5


def traffic_summary(s: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Vehicle-km, vehicle-hours per day and the roads whose day flow changed most."""
    if not s or not b:
        return {}
    roads: list[dict[str, Any]] = []
    base_roads = b.get("roads", {})
    for rid, (name, flow) in s.get("roads", {}).items():
        before = base_roads.get(rid, [name, 0.0])[1]
        if abs(flow - before) < 0.05:
            continue
        roads.append(
            {
                "id": rid,
                "name": name,
                "baseline": before,
                "scenario": flow,
                "change": round(flow - before, 1),
                "change_pct": round(100.0 * (flow / before - 1.0), 1) if before > 0 else None,
            }
        )
    roads.sort(key=lambda r: -abs(r["change"]))
    return {
        "unit": "vehicles/h (day) on roads; per day for vehicle_km and vehicle_hours",
        "vehicle_km": _triple(s["vehicle_km"], b["vehicle_km"]),
        "vehicle_hours": _triple(s["vehicle_hours"], b["vehicle_hours"]),
        "most_changed": roads[:MOST_CHANGED],
    }


def summary_rows(summary: Mapping[str, Any]) -> list[list[str | float | None]]:
    """Flat rows ``[section, indicator, class, unit, baseline, scenario, change]``."""
    rows: list[list[str | float | None]] = []
    for key, t in summary["buildings"].items():
        rows.append(["buildings", key, "", "", t["baseline"], t["scenario"], t["change"]])
    for band, block in summary["noise"].items():
        for what in ("buildings", "dwellings"):
            t = block[what]
            for i, cls in enumerate(block["classes"]):
                rows.append(
                    [
                        f"noise_{band}",
                        what,
                        cls,
                        block["unit"],
                        t["baseline"][i],
                        t["scenario"][i],
                        t["change"][i],
                    ]
                )
    for name, block in summary["air"].items():
        for key, t in block.items():
            if isinstance(t, dict):
                unit = "" if key == "dwellings_above_limit" else block["unit"]
                rows.append([name, key, "", unit, t["baseline"], t["scenario"], t["change"]])
    for date, block in summary["green"].items():
        for key, t in block.items():
            rows.append(["green", key, date, "", t["baseline"], t["scenario"], t["change"]])
    traffic = summary.get("traffic") or {}
    for key, unit in (("vehicle_km", "veh km/day"), ("vehicle_hours", "veh h/day")):
        if key in traffic:
            t = traffic[key]
            rows.append(["traffic", key, "", unit, t["baseline"], t["scenario"], t["change"]])
    for r in traffic.get("most_changed", []):
        rows.append(
            [
                "traffic",
                "road_flow_day",
                r["id"],
                "veh/h",
                r["baseline"],
                r["scenario"],
                r["change"],
            ]
        )
    return rows
