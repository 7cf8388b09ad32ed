"""The heat layer of a district: shade hours, Tmrt and UTCI on the design day.

The heat kernel (:mod:`greentwin.kernels.heat`) runs on a raster five times finer than
the district's analysis grid (1 m cells in the demo's 5 m grid), because a street tree's
crown is only a few metres wide; the results are averaged over each analysis cell
(roof cells left out) so the heat maps share the grid, tiles, probes and difference
layers of the noise and air maps.

Inputs, from :class:`~greentwin.twin.district.District`:

- buildings: the footprints' heights (``kernels.raster.building_height_grid``);
- tree crowns on the design day of the district's year (15 July; the design day is a
  summer day whatever the season shown): a disc of the crown diameter around each alive
  tree, from ``height - crown height`` (crown base) to ``height`` (top);
- crown transmissivity of the direct beam by leaf state:
  ``tau = TAU_BARE + (TAU_LEAF - TAU_BARE) * leaf_fraction``. In leaf, ``TAU_LEAF =
  0.03`` (the transmissivity SOLWEIG uses for crowns; Lindberg and Grimmond 2011);
  bare deciduous crowns ``TAU_BARE = 0.5`` (an assumed value: branches hold back part of
  the beam; measured leafless transmissivities vary widely by species, cf. Konarska et
  al. 2014, Theor. Appl. Climatol. 117: 363-376). Evergreens keep ``leaf_fraction = 1``.

:func:`heat_map` computes the :class:`~greentwin.kernels.heat.HeatMap`, or updates the
previous one in place for the blocks a tree or building op touched.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.kernels.heat import DesignDay, HeatMap, HeatScene, design_day
from greentwin.kernels.raster import Grid, building_height_grid

__all__ = [
    "HEAT_INDICATORS",
    "HEAT_SUBDIVISION",
    "TAU_BARE",
    "TAU_LEAF",
    "district_day",
    "heat_grid",
    "heat_map",
    "heat_scene",
    "heat_values",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Heat indicators, in display order.
HEAT_INDICATORS: tuple[str, ...] = ("shade_hours", "tmrt", "utci")
#: Heat cells per analysis cell along each axis.
HEAT_SUBDIVISION = 5
#: Direct-beam transmissivity of a crown in full leaf (Lindberg and Grimmond 2011).
TAU_LEAF = 0.03
#: Direct-beam transmissivity of a bare deciduous crown (assumed; see the module text).
TAU_BARE = 0.5


def heat_grid(grid: Grid) -> Grid:
    """The heat raster: the analysis grid with cells ``HEAT_SUBDIVISION`` times finer."""
    k = HEAT_SUBDIVISION
    return Grid(grid.x0, grid.y0, grid.cell / k, grid.nx * k, grid.ny * k, grid.crs)


def district_day(district: Any, year: int | None = None) -> DesignDay:
    """The design day (15 July) of ``year`` (default: the survey year) at the centre of
    the district's grid."""
    g = district.grid
    lon, lat = district.to_lonlat(g.x0 + g.nx * g.cell / 2.0, g.y0 + g.ny * g.cell / 2.0)
    y = district.survey_date.year if year is None else year
    return design_day(dt.date(y, 7, 15), float(lat), float(lon), 34.0)


def heat_scene(district: Any, date: dt.date) -> HeatScene:
    """Building and crown rasters of the district on ``date`` (heat grid)."""
    fine = heat_grid(district.grid)
    buildings = building_height_grid(fine, list(district.footprints))
    top = np.zeros(fine.shape)
    base = np.zeros(fine.shape)
    tau = np.ones(fine.shape)
    if district.trees:
        table = district.tree_table()
        st = table.states(date, district.climate)
        leaf = np.clip(np.asarray(st.leaf_fraction, dtype=np.float64), 0.0, 1.0)
        t_tau = TAU_BARE + (TAU_LEAF - TAU_BARE) * leaf
        xs, ys = fine.xs(), fine.ys()
        for i in np.flatnonzero(st.alive & (st.crown_diameter_m > 0)):
            x, y = float(table.xyz[i, 0]), float(table.xyz[i, 1])
            r = float(st.crown_diameter_m[i]) / 2.0
            h = float(st.height_m[i])
            b = max(0.0, h - float(st.crown_height_m[i]))
            rows, cols = fine.window((x - r, y - r, x + r, y + r))
            if rows.stop <= rows.start or cols.stop <= cols.start:
                continue
            gx, gy = np.meshgrid(xs[cols], ys[rows])
            inside = (gx - x) ** 2 + (gy - y) ** 2 <= r * r
            blk_top, blk_base, blk_tau = top[rows, cols], base[rows, cols], tau[rows, cols]
            fresh = inside & (blk_top <= 0)
            blk_base[fresh] = b
            blk_base[inside] = np.minimum(blk_base[inside], b)
            blk_top[inside] = np.maximum(blk_top[inside], h)
            blk_tau[inside] = np.minimum(blk_tau[inside], t_tau[i])
    return HeatScene(fine.cell, buildings, top, base, tau)


def heat_map(
    district: Any,
    previous: HeatMap | None = None,
    backend: str = "auto",
    year: int | None = None,
    *,
    day: DesignDay | None = None,
    window: tuple[int, int, int, int] | None = None,
) -> HeatMap:
    """The district's heat map on the design day of ``year`` (default: the survey year).

    ``previous`` (same grid and day) is updated in place: only the blocks the changed
    buildings and crowns can reach are recomputed. ``day`` overrides the design day (a
    block of a larger grid takes its city's day, :mod:`greentwin.twin.blocks`);
    ``window`` (heat cells, row0, row1, col0, col1) limits a first computation to those
    cells (the rest of the raster only casts shadows and closes the sky).
    """
    if day is None:
        day = district_day(district, year)
    scene = heat_scene(district, day.date)
    if (
        previous is not None
        and previous.day.date == day.date
        and previous.scene.shape == scene.shape
        and math.isclose(previous.scene.cell, scene.cell)
    ):
        previous.update(scene)
        return previous
    return HeatMap(scene, day, backend=backend).compute(window)


def _block_mean(a: F64, k: int) -> F64:
    ny, nx = a.shape[0] // k, a.shape[1] // k
    blocks = a[: ny * k, : nx * k].reshape(ny, k, nx, k)
    finite = np.isfinite(blocks)
    n = finite.sum(axis=(1, 3))
    s = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def heat_values(hm: HeatMap) -> dict[str, F64]:
    """The heat maps averaged onto the analysis grid (NaN where a cell is all roof)."""
    k = HEAT_SUBDIVISION
    return {
        "shade_hours": _block_mean(hm.shade_hours, k),
        "tmrt": _block_mean(hm.tmrt, k),
        "utci": _block_mean(hm.utci, k),
    }
