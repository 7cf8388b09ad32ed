"""Ecosystem services of trees: carbon, leaf area, PM deposition, canopy cover, shade.

Formulas and sources
--------------------
- Dry weight: :meth:`Species.dry_weight_kg` (USDA TS7 volume x TS9 density, or TS8
  biomass x 0.8 for open-grown urban trees), above ground.
- Carbon storage ``C = 0.5 DW`` (kg C); ``CO2 = 3.67 C`` (kg CO2, 44/12); i-Tree Eco
  (Nowak et al. 2013). Sequestration ``C(date + 1 year) - C(date)`` (kg C per year,
  growth calibrated to the climate; 0 for dead or removed trees).
- Particle removal (i-Tree Eco, Nowak et al. 2006 / 2013): flux ``F = V_d C`` per unit
  leaf area (g m^-2 s^-1); yearly removal ``= V_d C (1 - r) LA_full * leaf_days *
  86400 s`` with ``leaf_days`` the full-leaf-equivalent days of the phenology
  (365 for evergreens). PM10: ``V_d = 0.64 cm/s`` with 50 % resuspension (Nowak et al.
  2006); PM2.5: ``V_d`` from the wind speed table of Nowak et al. (2013) (0..10 m/s:
  0, 0.03, 0.09, 0.15, 0.17, 0.19, 0.20, 0.56, 0.92, 0.92, 2.11 cm/s) with resuspension
  rising linearly 0 -> 23 % over the same range. Default concentrations are urban
  background means (PM10 20, PM2.5 10 ug/m^3) and are parameters.
- Canopy: crown projection ``pi (d/2)^2`` (m^2) per tree; cover of an area is the
  union of the crown discs, rasterised on a grid (0.5 m cells by default).
- Shade: a crown modelled as a spheroid (horizontal radius ``r = d/2``, vertical
  semi-axis ``c = crown_height / 2``, centre at ``h - c``) casts, under parallel sun
  rays of elevation ``e``, an ellipse on flat ground with semi-axes
  ``sqrt(r^2 + c^2 cot^2 e)`` along the sun azimuth and ``r`` across it, centred at
  ``(h - c) cot e`` away from the sun. Crown transmissivity through the foliage is
  ``exp(-k LAI)`` with ``k = 0.5`` (Beer-Lambert, spherical leaf angles).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from greentwin.core import GreenModelError
from greentwin.green_model.climate import Climate
from greentwin.green_model.growth import StateArrays, TreeTable
from greentwin.green_model.phenology import phenology_year

__all__ = [
    "CARBON_FRACTION",
    "CO2_PER_C",
    "AreaServices",
    "ShadeFootprint",
    "TreeServices",
    "carbon_kg",
    "pm_removal_g_per_year",
    "services_for_area",
    "shade_footprint",
    "tree_services",
]

F64 = npt.NDArray[np.float64]

CARBON_FRACTION = 0.5
CO2_PER_C = 3.67
PM10_VD_M_S = 0.0064
PM10_RESUSPENSION = 0.5
_PM25_VD_CM_S = np.array([0.0, 0.03, 0.09, 0.15, 0.17, 0.19, 0.20, 0.56, 0.92, 0.92, 2.11])
EXTINCTION_K = 0.5


@dataclass(frozen=True, slots=True)
class TreeServices:
    """Services of one tree on a date (units in the names)."""

    id: str
    carbon_kg: float
    co2_kg: float
    sequestration_kg_per_year: float
    co2_sequestration_kg_per_year: float
    dry_weight_kg: float
    leaf_area_m2: float
    pm10_removal_g_per_year: float
    pm25_removal_g_per_year: float
    canopy_m2: float


@dataclass(frozen=True, slots=True)
class AreaServices:
    """Totals over the trees of an area on a date (units in the names).

    ``canopy_cover_m2`` is the union of crown projections (overlaps counted once);
    ``canopy_cover_fraction`` is relative to the polygon area (None without polygon).
    """

    trees: int
    carbon_kg: float
    co2_kg: float
    sequestration_kg_per_year: float
    co2_sequestration_kg_per_year: float
    leaf_area_m2: float
    pm10_removal_g_per_year: float
    pm25_removal_g_per_year: float
    canopy_m2: float
    canopy_cover_m2: float
    area_m2: float | None
    canopy_cover_fraction: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__slots__}


def carbon_kg(table: TreeTable, states: StateArrays) -> F64:
    """(n,) carbon stored above ground (kg C) = 0.5 x dry weight; 0 where absent."""
    lib = table.library
    dw = np.zeros(len(table))
    for s in np.unique(table.species):
        m = table.species == s
        sp = lib.species[lib.keys[int(s)]]
        dw[m] = sp.dry_weight_kg(states.dbh_cm[m], states.height_m[m])
    return np.where(states.present, CARBON_FRACTION * dw, 0.0)


def pm25_deposition_velocity(wind_m_s: float) -> tuple[float, float]:
    """PM2.5 deposition velocity (m/s) and resuspension fraction at a wind speed.

    Nowak et al. (2013) table, interpolated linearly over 0..10 m/s (clamped).
    """
    w = min(max(wind_m_s, 0.0), 10.0)
    vd = float(np.interp(w, np.arange(11), _PM25_VD_CM_S)) / 100.0
    return vd, 0.23 * w / 10.0


def leaf_days(table: TreeTable, climate: Climate) -> F64:
    """(n,) full-leaf-equivalent days per year of each tree's species in ``climate``."""
    lib = table.library
    per_sp = np.array([phenology_year(lib.species[k], climate).leaf_days() for k in lib.keys])
    return per_sp[table.species]


def pm_removal_g_per_year(
    leaf_area_full_m2: F64,
    leaf_days_per_year: F64,
    concentration_ug_m3: float,
    vd_m_s: float,
    resuspension: float,
) -> F64:
    """Yearly particle removal (g/year) = V_d C (1 - r) LA days 86400 s x 1e-6 g/ug."""
    return (
        vd_m_s
        * concentration_ug_m3
        * (1.0 - resuspension)
        * leaf_area_full_m2
        * leaf_days_per_year
        * 86400.0
        * 1e-6
    )


def _services_arrays(
    table: TreeTable,
    date: dt.date,
    climate: Climate | None,
    pm10_ug_m3: float,
    pm25_ug_m3: float,
    wind_m_s: float,
) -> dict[str, F64]:
    clim = climate or Climate.for_city("Berlin")
    st = table.states(date, clim)
    nxt = table.states(date + dt.timedelta(days=365), clim)
    c_now = carbon_kg(table, st)
    c_next = carbon_kg(table, nxt)
    seq = np.where(st.alive & nxt.alive, np.maximum(c_next - c_now, 0.0), 0.0)
    ld = leaf_days(table, clim)
    la_full = np.where(st.alive, st.leaf_area_full_m2, 0.0)
    vd25, rs25 = pm25_deposition_velocity(wind_m_s)
    pm10 = pm_removal_g_per_year(la_full, ld, pm10_ug_m3, PM10_VD_M_S, PM10_RESUSPENSION)
    pm25 = pm_removal_g_per_year(la_full, ld, pm25_ug_m3, vd25, rs25)
    canopy = np.where(st.present, np.pi * (st.crown_diameter_m / 2.0) ** 2, 0.0)
    return {
        "carbon": c_now,
        "dry_weight": c_now / CARBON_FRACTION,
        "seq": seq,
        "leaf_area": np.where(st.present, st.leaf_area_m2, 0.0),
        "pm10": pm10,
        "pm25": pm25,
        "canopy": canopy,
        "crown": np.where(st.present, st.crown_diameter_m, 0.0),
        "present": st.present.astype(np.float64),
    }


def tree_services(
    table: TreeTable,
    row: int,
    date: dt.date,
    climate: Climate | None = None,
    *,
    pm10_ug_m3: float = 20.0,
    pm25_ug_m3: float = 10.0,
    wind_m_s: float = 3.0,
) -> TreeServices:
    """Services of one row of a tree table on a date (see the module notes)."""
    a = _services_arrays(table, date, climate, pm10_ug_m3, pm25_ug_m3, wind_m_s)
    c = float(a["carbon"][row])
    s = float(a["seq"][row])
    return TreeServices(
        table.ids[row],
        c,
        c * CO2_PER_C,
        s,
        s * CO2_PER_C,
        float(a["dry_weight"][row]),
        float(a["leaf_area"][row]),
        float(a["pm10"][row]),
        float(a["pm25"][row]),
        float(a["canopy"][row]),
    )


def points_in_polygon(xy: F64, polygon: F64) -> npt.NDArray[np.bool_]:
    """(n,) bool: points inside a simple polygon (shapely ``contains_xy``, vectorised).

    Parameters
    ----------
    xy : (n, 2) points; polygon : (m, 2) open or closed ring, same CRS. Points on the
        outline count as outside.
    """
    ring = np.asarray(polygon, dtype=np.float64)[:, :2]
    pts = np.asarray(xy, dtype=np.float64)
    if len(ring) < 3:
        return np.zeros(len(pts), dtype=bool)
    poly = shapely.Polygon(ring)
    shapely.prepare(poly)
    return np.asarray(shapely.contains_xy(poly, pts[:, 0], pts[:, 1]), dtype=bool)


def union_disc_area(
    xy: F64,
    radius: F64,
    cell_m: float = 0.5,
    polygon: F64 | None = None,
    max_cells: int = 16_000_000,
) -> float:
    """Area (m^2) of the union of discs, optionally clipped to a polygon (raster).

    The grid spacing grows beyond ``cell_m`` when the extent would need more than
    ``max_cells`` cells. Error is about one cell per unit of perimeter.
    """
    keep = radius > 0
    xy, radius = xy[keep], radius[keep]
    if xy.shape[0] == 0:
        return 0.0
    lo = (xy - radius[:, None]).min(axis=0)
    hi = (xy + radius[:, None]).max(axis=0)
    if polygon is not None:
        p = np.asarray(polygon, dtype=np.float64)[:, :2]
        lo = np.maximum(lo, p.min(axis=0))
        hi = np.minimum(hi, p.max(axis=0))
        if np.any(hi <= lo):
            return 0.0
    ext = hi - lo
    cell = max(cell_m, math.sqrt(float(ext[0] * ext[1]) / max_cells))
    nx = max(1, math.ceil(ext[0] / cell))
    ny = max(1, math.ceil(ext[1] / cell))
    grid = np.zeros((ny, nx), dtype=bool)
    for (cx, cy), r in zip(xy, radius, strict=True):
        i0 = max(0, int((cx - r - lo[0]) / cell))
        i1 = min(nx, (math.ceil((cx + r - lo[0]) / cell)))
        j0 = max(0, int((cy - r - lo[1]) / cell))
        j1 = min(ny, (math.ceil((cy + r - lo[1]) / cell)))
        if i1 <= i0 or j1 <= j0:
            continue
        gx = lo[0] + (np.arange(i0, i1) + 0.5) * cell - cx
        gy = lo[1] + (np.arange(j0, j1) + 0.5) * cell - cy
        grid[j0:j1, i0:i1] |= (gx[None, :] ** 2 + gy[:, None] ** 2) <= r * r
    if polygon is not None:
        jj, ii = np.nonzero(grid)
        if jj.size == 0:
            return 0.0
        centres = np.stack((lo[0] + (ii + 0.5) * cell, lo[1] + (jj + 0.5) * cell), axis=1)
        return float(points_in_polygon(centres, polygon).sum() * cell * cell)
    return float(grid.sum() * cell * cell)


def services_for_area(
    trees: TreeTable | Sequence[Any],
    date: dt.date,
    polygon: npt.ArrayLike | None = None,
    climate: Climate | None = None,
    *,
    pm10_ug_m3: float = 20.0,
    pm25_ug_m3: float = 10.0,
    wind_m_s: float = 3.0,
    cell_m: float = 0.5,
) -> AreaServices:
    """Totals of the services of the trees whose stem stands inside ``polygon``.

    Parameters
    ----------
    trees : a :class:`TreeTable` or a sequence of :class:`Tree`.
    date : the date.
    polygon : (m, 2) outline in the trees' CRS, or None for all trees.
    climate : default Berlin.
    """
    table = trees if isinstance(trees, TreeTable) else _to_table(trees)
    a = _services_arrays(table, date, climate, pm10_ug_m3, pm25_ug_m3, wind_m_s)
    xy = table.xyz[:, :2]
    poly = None if polygon is None else np.asarray(polygon, dtype=np.float64)[:, :2]
    if poly is not None and poly.shape[0] < 3:
        raise GreenModelError("an area polygon needs at least 3 vertices")
    inside = a["present"] > 0
    if poly is not None:
        inside &= points_in_polygon(xy, poly)
    cover = union_disc_area(xy[inside], a["crown"][inside] / 2.0, cell_m, poly)
    area = None
    if poly is not None:
        x, y = poly[:, 0], poly[:, 1]
        area = float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
    c = float(a["carbon"][inside].sum())
    s = float(a["seq"][inside].sum())
    return AreaServices(
        int(inside.sum()),
        c,
        c * CO2_PER_C,
        s,
        s * CO2_PER_C,
        float(a["leaf_area"][inside].sum()),
        float(a["pm10"][inside].sum()),
        float(a["pm25"][inside].sum()),
        float(a["canopy"][inside].sum()),
        cover,
        area,
        None if not area else cover / area,
    )


@dataclass(frozen=True, slots=True)
class ShadeFootprint:
    """Ground shadows of tree crowns for one sun position.

    Attributes
    ----------
    polygons : list of (k, 2) float64 shadow outlines (source CRS, m), one per tree
        casting shade (``ids`` gives the tree).
    ids : tree ids of the polygons.
    transmissivity : (m,) fraction of direct sun passing through each crown.
    area_m2 : sum of the shadow ellipse areas (m^2).
    union_area_m2 : area of their union (m^2, raster estimate; each ellipse is
        rasterised as discs of radius ``r`` along its major axis, capped by ``area_m2``).
    """

    polygons: list[F64]
    ids: list[str]
    transmissivity: F64
    area_m2: float
    union_area_m2: float


def shade_footprint(
    trees: TreeTable | Sequence[Any],
    date: dt.date,
    sun_elevation_deg: float,
    sun_azimuth_deg: float,
    climate: Climate | None = None,
    *,
    vertices: int = 24,
    cell_m: float = 0.5,
) -> ShadeFootprint:
    """Shadows of the crowns on flat ground (see the module notes for the geometry).

    Parameters
    ----------
    sun_elevation_deg : sun elevation above the horizon (deg); <= 0: no shadows.
    sun_azimuth_deg : sun azimuth clockwise from grid north (deg).
    vertices : vertices per shadow ellipse.
    """
    table = trees if isinstance(trees, TreeTable) else _to_table(trees)
    if sun_elevation_deg <= 0.0:
        return ShadeFootprint([], [], np.zeros(0), 0.0, 0.0)
    st = table.states(date, climate)
    keep = st.present & (st.crown_diameter_m > 0)
    e = math.radians(max(sun_elevation_deg, 2.0))
    cot = math.cos(e) / math.sin(e)
    az = math.radians(sun_azimuth_deg)
    away = np.array([-math.sin(az), -math.cos(az)])  # unit vector pointing away from the sun
    across = np.array([-away[1], away[0]])
    r = st.crown_diameter_m[keep] / 2.0
    c = st.crown_height_m[keep] / 2.0
    zc = st.height_m[keep] - c
    centre = table.xyz[keep, :2] + (zc * cot)[:, None] * away[None, :]
    a_len = np.sqrt(r * r + (c * cot) ** 2)
    t = np.linspace(0.0, 2 * np.pi, vertices, endpoint=False)
    pts = (
        centre[:, None, :]
        + (a_len[:, None] * np.cos(t)[None, :])[:, :, None] * away[None, None, :]
        + (r[:, None] * np.sin(t)[None, :])[:, :, None] * across[None, None, :]
    )
    lai = st.lai[keep]
    trans = np.exp(-EXTINCTION_K * lai)
    ids = [table.ids[i] for i in np.nonzero(keep)[0]]
    area = float(np.sum(np.pi * a_len * r))
    # union: rasterise each ellipse as the union of discs along its major axis
    samples = []
    radii = []
    for k in range(-4, 5):
        f = k / 4.0
        half = np.sqrt(np.maximum(1.0 - f * f, 0.0)) * r
        samples.append(centre + (f * np.maximum(a_len - r, 0.0))[:, None] * away[None, :])
        radii.append(np.where(np.abs(f) < 1.0, np.maximum(half, r), r))
    union = union_disc_area(np.concatenate(samples), np.concatenate(radii), cell_m)
    return ShadeFootprint(list(pts), ids, trans, area, min(union, area) if area else 0.0)


def _to_table(trees: Sequence[Any]) -> TreeTable:
    from greentwin.green_model.state import trees_to_table

    return trees_to_table(trees)
