"""Rasterisation for the kernels: building heights, ground factor, tree crowns.

All rasters share one :class:`Grid`: cells of ``cell`` metres, row 0 at the
southern edge (``y0``), column 0 at the western edge (``x0``); array shape
``(ny, nx)``. A cell belongs to a polygon when its centre lies inside (even-odd
rule, holes respected). Nothing here reads files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import namespace_of, to_numpy

__all__ = [
    "BuildingFootprint",
    "Crown",
    "CrownRaster",
    "Grid",
    "building_height_grid",
    "crown_grid",
    "footprints_from_features",
    "ground_factor_grid",
    "point_in_rings",
    "rasterize_polygons",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Grid:
    """A regular raster in a projected CRS.

    Attributes
    ----------
    x0, y0 : south-west corner of cell (0, 0), metres.
    cell : cell size, metres (square cells).
    nx, ny : number of columns (east) and rows (north).
    crs : ``"EPSG:<code>"``.
    """

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    crs: str = "EPSG:25833"

    def __post_init__(self) -> None:
        if not (self.cell > 0 and self.nx > 0 and self.ny > 0):
            raise KernelError(f"Grid: cell, nx, ny must be positive (got {self})")

    @classmethod
    def covering(
        cls,
        bounds: tuple[float, float, float, float],
        cell: float,
        crs: str = "EPSG:25833",
        margin: float = 0.0,
    ) -> Grid:
        """The smallest grid aligned on multiples of ``cell`` that covers ``bounds`` + margin.

        Parameters
        ----------
        bounds : (xmin, ymin, xmax, ymax), metres.
        cell : cell size, metres.
        margin : extra border on every side, metres.
        """
        xmin, ymin, xmax, ymax = bounds
        x0 = math.floor((xmin - margin) / cell) * cell
        y0 = math.floor((ymin - margin) / cell) * cell
        nx = max(1, math.ceil((xmax + margin - x0) / cell))
        ny = max(1, math.ceil((ymax + margin - y0) / cell))
        return cls(float(x0), float(y0), float(cell), int(nx), int(ny), crs)

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return (self.ny, self.nx)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid's outer edges, metres."""
        return (self.x0, self.y0, self.x0 + self.nx * self.cell, self.y0 + self.ny * self.cell)

    def xs(self) -> F64:
        """(nx,) float64, x of the cell centres, metres."""
        return np.asarray(self.x0 + (np.arange(self.nx) + 0.5) * self.cell, dtype=np.float64)

    def ys(self) -> F64:
        """(ny,) float64, y of the cell centres, metres."""
        return np.asarray(self.y0 + (np.arange(self.ny) + 0.5) * self.cell, dtype=np.float64)

    def centers(self) -> F64:
        """(ny * nx, 2) float64, cell centres in row-major order (row = y), metres."""
        gx, gy = np.meshgrid(self.xs(), self.ys())
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def index(self, x: F64, y: F64) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Row and column of the cells holding points (x, y); may be out of range."""
        col = np.floor((np.asarray(x) - self.x0) / self.cell).astype(np.int64)
        row = np.floor((np.asarray(y) - self.y0) / self.cell).astype(np.int64)
        return row, col

    def contains(self, x: F64, y: F64) -> B:
        """Whether points (x, y) fall in the grid."""
        row, col = self.index(x, y)
        return np.asarray((row >= 0) & (row < self.ny) & (col >= 0) & (col < self.nx))

    def window(self, bounds: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """(rows, cols) slices of the cells whose centres may lie within ``bounds``."""
        xmin, ymin, xmax, ymax = bounds
        c0 = max(0, math.floor((xmin - self.x0) / self.cell - 0.5))
        c1 = min(self.nx, math.ceil((xmax - self.x0) / self.cell + 0.5))
        r0 = max(0, math.floor((ymin - self.y0) / self.cell - 0.5))
        r1 = min(self.ny, math.ceil((ymax - self.y0) / self.cell + 0.5))
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


@dataclass(frozen=True, slots=True, eq=False)
class BuildingFootprint:
    """A building's footprint and height above ground.

    Attributes
    ----------
    id : building identifier.
    exterior : (n, 2) float64, metres, open or closed ring.
    height_m : height of the roof edge above ground, m (eaves or measured height).
    interiors : holes (courtyards), each (m, 2) float64.
    """

    id: str
    exterior: F64
    height_m: float
    interiors: tuple[F64, ...] = ()


@dataclass(frozen=True, slots=True)
class Crown:
    """A tree crown as a vertical cylinder (plan circle, base and top heights).

    Attributes
    ----------
    x, y : stem position, metres.
    radius_m : crown radius, m.
    base_m, top_m : crown base and top above ground, m.
    density : foliage density 0..1 (1 = dense foliage, 0 = leafless), scales attenuation.
    """

    x: float
    y: float
    radius_m: float
    base_m: float
    top_m: float
    density: float = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class CrownRaster:
    """Foliage on a grid: where crowns are, between which heights.

    Attributes
    ----------
    base : (ny, nx) float64, lowest crown base over the cell, m (0 where no crown).
    top : (ny, nx) float64, highest crown top over the cell, m (0 where no crown).
    density : (ny, nx) float64, foliage density 0..1 (0 where no crown).
    """

    base: F64
    top: F64
    density: F64


def point_in_rings(px: F64, py: F64, rings: Sequence[F64]) -> B:
    """Points inside a polygon given as rings, exterior first then holes (shapely).

    A point is inside when it lies in the polygon's interior (shapely's ``contains``):
    points on any ring, exterior or hole, count as outside. Rings that do not form a
    valid polygon (crossing holes, a hole outside) fall back to the even-odd rule over
    the rings' interiors.

    Parameters
    ----------
    px, py : (p,) float64, query points, NumPy or CuPy.
    rings : ring vertex arrays (k, 2) or (k, 3), open or closed; rings of fewer than
        3 vertices are ignored.

    Returns
    -------
    (p,) bool, in the library of ``px`` and ``py`` (GEOS works on the host: CuPy
    points are copied there and the answer back).

    Notes
    -----
    Shapely (GEOS, prepared geometry) replaced a hand-written crossing-number test over
    all (point, edge) pairs, with the same cells covered on the demo district's
    buildings at 0.5-3 m. Measured on random star-shaped rings (one CPU core): 8
    vertices x 400 points 74 us against 146 us; 40 x 400: 106 against 273 us; 40 x
    4,000: 0.8 against 5.0 ms; 200 x 40,000: 15 against 368 ms. The rasterisers below
    keep their own windowing (each polygon tests only the cell centres of its bounding
    box), which is where the vectorised speed comes from.
    """
    xp = namespace_of(px, py)
    xs = to_numpy(px).astype(np.float64, copy=False)
    ys = to_numpy(py).astype(np.float64, copy=False)
    parts = [to_numpy(r).astype(np.float64, copy=False)[:, :2] for r in rings]
    parts = [r for r in parts if len(r) >= 3]
    inside = np.zeros(xs.shape, dtype=bool)
    if parts:
        poly = shapely.Polygon(parts[0], parts[1:])
        if shapely.is_valid(poly):
            shapely.prepare(poly)
            inside = np.asarray(shapely.contains_xy(poly, xs, ys), dtype=bool)
        else:
            for r in parts:
                ring = shapely.Polygon(r)
                shapely.prepare(ring)
                inside ^= shapely.contains_xy(ring, xs, ys)
    return inside if xp is np else xp.asarray(inside)


def rasterize_polygons(
    grid: Grid,
    polygons: Sequence[Sequence[F64]],
    values: Sequence[float] | F64,
    fill: float = 0.0,
    reduce: str = "max",
) -> F64:
    """Burn polygons into a grid (cell centre inside = covered).

    Parameters
    ----------
    grid : the target grid.
    polygons : each a list of rings, exterior first then holes, (k, 2) float64 metres.
    values : one value per polygon.
    fill : value of cells no polygon covers.
    reduce : ``"max"`` keeps the largest value where polygons overlap, ``"last"`` the
        polygon drawn last.

    Returns
    -------
    (ny, nx) float64

    Notes
    -----
    Cost is about (cells in each polygon's bounding box) x (its vertices).
    """
    if reduce not in ("max", "last"):
        raise KernelError(f"rasterize_polygons: reduce must be 'max' or 'last', not {reduce!r}")
    vals = np.asarray(values, dtype=np.float64)
    if len(vals) != len(polygons):
        raise KernelError("rasterize_polygons: one value per polygon is needed")
    out = np.full(grid.shape, fill, dtype=np.float64)
    covered = np.zeros(grid.shape, dtype=bool)
    xs, ys = grid.xs(), grid.ys()
    for rings, v in zip(polygons, vals, strict=True):
        if not rings or len(rings[0]) < 3:
            continue
        ext = np.asarray(rings[0], dtype=np.float64)
        if not np.isfinite(ext).all():
            continue
        rows, cols = grid.window(
            (
                float(ext[:, 0].min()),
                float(ext[:, 1].min()),
                float(ext[:, 0].max()),
                float(ext[:, 1].max()),
            )
        )
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        gx, gy = np.meshgrid(xs[cols], ys[rows])
        mask = point_in_rings(gx.ravel(), gy.ravel(), list(rings)).reshape(gx.shape)
        if not mask.any():
            continue
        sub = out[rows, cols]
        cov = covered[rows, cols]
        if reduce == "max":
            new = np.where(cov, np.maximum(sub, v), v)
            sub[mask] = new[mask]
        else:
            sub[mask] = v
        cov |= mask
    return out


def building_height_grid(grid: Grid, buildings: Sequence[BuildingFootprint]) -> F64:
    """Building height raster: the tallest building whose footprint covers each cell.

    Returns
    -------
    (ny, nx) float64, metres above ground; 0 where there is no building.
    """
    polys = [[b.exterior, *b.interiors] for b in buildings]
    return rasterize_polygons(grid, polys, [max(0.0, b.height_m) for b in buildings], 0.0, "max")


def ground_factor_grid(
    grid: Grid,
    areas: Sequence[tuple[Sequence[F64], float]] = (),
    default_g: float = 0.0,
) -> F64:
    """Ground factor G raster (Annex II, 2.5.7: 0 = hard, 1 = porous/soft).

    Parameters
    ----------
    areas : (rings, G) pairs, e.g. parks and lawns with G = 1; later areas override.
    default_g : G of every other cell (0 for paved inner-city ground).

    Returns
    -------
    (ny, nx) float64 in 0..1
    """
    for _, g in areas:
        if not 0.0 <= g <= 1.0:
            raise KernelError(f"ground factor {g} outside 0..1")
    if not 0.0 <= default_g <= 1.0:
        raise KernelError(f"default ground factor {default_g} outside 0..1")
    return rasterize_polygons(
        grid, [a[0] for a in areas], [a[1] for a in areas], fill=default_g, reduce="last"
    )


def crown_grid(grid: Grid, crowns: Iterable[Crown]) -> CrownRaster:
    """Rasterise tree crowns (plan circles) with their base and top heights.

    A cell is foliage when its centre is within a crown's radius. Overlapping
    crowns merge: lowest base, highest top, largest density.
    """
    base = np.full(grid.shape, np.inf)
    top = np.zeros(grid.shape)
    dens = np.zeros(grid.shape)
    xs, ys = grid.xs(), grid.ys()
    for c in crowns:
        if not (c.radius_m > 0 and c.top_m > c.base_m and c.density > 0):
            continue
        rows, cols = grid.window(
            (c.x - c.radius_m, c.y - c.radius_m, c.x + c.radius_m, c.y + c.radius_m)
        )
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        gx, gy = np.meshgrid(xs[cols], ys[rows])
        m = (gx - c.x) ** 2 + (gy - c.y) ** 2 <= c.radius_m**2
        b, t, d = base[rows, cols], top[rows, cols], dens[rows, cols]
        b[m] = np.minimum(b[m], max(0.0, c.base_m))
        t[m] = np.maximum(t[m], c.top_m)
        d[m] = np.maximum(d[m], min(1.0, c.density))
    base[~np.isfinite(base)] = 0.0
    return CrownRaster(base=base, top=top, density=dens)


def footprints_from_features(
    features: Iterable[Any], default_height_m: float = 10.0
) -> list[BuildingFootprint]:
    """Footprints and heights of Building features from the CityGML feature model.

    Parameters
    ----------
    features : ``greentwin.citygml.model.Feature`` objects (others are ignored).
    default_height_m : height when a building has neither measuredHeight nor 3D geometry.

    Returns
    -------
    One footprint per ground polygon of each Building/BuildingPart. The footprint is
    taken from GroundSurface polygons, else from the lowest horizontal polygons of the
    lowest LoD; the height is ``measuredHeight`` if given, else the z range of the
    geometry.
    """
    out: list[BuildingFootprint] = []

    def visit(f: Any) -> None:
        cls = getattr(f, "cls", "")
        children = getattr(f, "children", []) or []
        if cls in ("Building", "BuildingPart"):
            out.extend(_feature_footprints(f, default_height_m))
        for ch in children:
            if getattr(ch, "cls", "") == "BuildingPart" or cls != "Building":
                visit(ch)

    for feat in features:
        visit(feat)
    return out


def _feature_footprints(f: Any, default_height_m: float) -> list[BuildingFootprint]:
    lods: dict[int, list[Any]] = getattr(f, "lods", {}) or {}
    polys = [p for lod in sorted(lods) for p in lods[lod]]
    if not polys:
        return []
    zs = np.concatenate([np.asarray(p.exterior)[:, 2] for p in polys if len(p.exterior)])
    zmin, zmax = float(zs.min()), float(zs.max())
    attrs = getattr(f, "attributes", {}) or {}
    mh = attrs.get("measuredHeight")
    if isinstance(mh, int | float) and not isinstance(mh, bool) and mh > 0:
        height = float(mh)
    elif zmax - zmin > 0.5:
        height = zmax - zmin
    else:
        height = default_height_m
    ground = [p for p in polys if p.surface_type == "GroundSurface"]
    if not ground:
        lowest = [
            p
            for p in polys
            if np.ptp(np.asarray(p.exterior)[:, 2]) < 0.2
            and float(np.asarray(p.exterior)[:, 2].min()) < zmin + 0.5
        ]
        ground = lowest
    res: list[BuildingFootprint] = []
    for k, p in enumerate(ground):
        ext = np.asarray(p.exterior, dtype=np.float64)[:, :2]
        holes = tuple(np.asarray(h, dtype=np.float64)[:, :2] for h in p.interiors)
        res.append(BuildingFootprint(f"{f.id}" if k == 0 else f"{f.id}#{k}", ext, height, holes))
    return res
