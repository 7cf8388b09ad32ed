"""Map overlays: raster grids as Web Mercator XYZ PNG tiles, point probes, legends.

Tile scheme: the XYZ ("slippy map") scheme on EPSG:3857, 256 x 256 px tiles, tile
(0, 0) at the north-west, ``x`` east, ``y`` south. Every pixel centre of a tile is
transformed from EPSG:3857 to the grid's CRS with pyproj (vectorised per tile) and
the grid is sampled there (nearest cell, or bilinear between cell centres). Pixels
outside the grid or on NaN cells are fully transparent.

Tile format: every pixel's colour is the colour class of its sampled value, so a tile is
an 8-bit palette image (PNG colour type 3, 4 bits per pixel for up to 16 entries): the
scale's class colours with the overlay's opacity in a ``tRNS`` chunk, and one fully
transparent entry for no data (:func:`render_indexed`, :func:`encode_png_indexed`).
Decoded to RGBA it is exactly the pixels of :func:`render_rgba`.

Grids: any object with ``x0, y0, cell, nx, ny, crs`` (for example
``greentwin.kernels.raster.Grid``, or :class:`RasterGrid`), with values of shape
``(ny, nx)`` whose **row 0 is the southern edge** (``y0``).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import struct
import threading
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol, TypedDict

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import CRSError, TilingError
from greentwin.tiles.colormaps import ColorScale, LegendJSON
from PIL import Image
from pyproj import Transformer

__all__ = [
    "CELL_CACHE_BYTES",
    "PALETTE_LEVEL",
    "TILE_SIZE",
    "GridLike",
    "ProbeResult",
    "RasterGrid",
    "cell_cache_info",
    "default_zoom_range",
    "difference",
    "encode_png",
    "encode_png_indexed",
    "legend",
    "probe",
    "render_indexed",
    "render_rgba",
    "render_tile",
    "tile_bounds_3857",
    "tile_cells",
    "tiles_for_bounds",
    "tiles_for_grid",
    "tiles_for_window",
    "tiles_touching",
    "write_tiles",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
TILE_SIZE = 256
#: Half the extent of the Web Mercator square, m (EPSG:3857).
ORIGIN_SHIFT = 20037508.342789244
MAX_LAT = 85.0511287798066


class GridLike(Protocol):
    """What the overlay functions need of a grid (row 0 = south edge)."""

    @property
    def x0(self) -> float: ...
    @property
    def y0(self) -> float: ...
    @property
    def cell(self) -> float: ...
    @property
    def nx(self) -> int: ...
    @property
    def ny(self) -> int: ...
    @property
    def crs(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RasterGrid:
    """A regular grid in a projected CRS: south-west corner, square cells, row 0 south."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    crs: str = "EPSG:25833"


class ProbeResult(TypedDict):
    """Values at a point: position in the grid CRS and WGS84, and one value per indicator."""

    x: float
    y: float
    lon: float
    lat: float
    crs: str
    inside: bool
    row: int | None
    col: int | None
    values: dict[str, float | None]


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    try:
        return Transformer.from_crs(src, dst, always_xy=True)
    except Exception as exc:  # pyproj raises CRSError/ProjError subclasses
        raise CRSError(f"cannot transform {src} -> {dst}: {exc}") from exc


def _check(grid: GridLike, values: npt.ArrayLike) -> F64:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (grid.ny, grid.nx):
        raise TilingError(f"overlay values have shape {v.shape}, grid is {(grid.ny, grid.nx)}")
    return v


def tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of an XYZ tile in EPSG:3857 metres."""
    if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise TilingError(f"tile {z}/{x}/{y} does not exist")
    size = 2 * ORIGIN_SHIFT / 2**z
    xmin = -ORIGIN_SHIFT + x * size
    ymax = ORIGIN_SHIFT - y * size
    return (xmin, ymax - size, xmin + size, ymax)


def _sample(grid: GridLike, v: F64, gx: F64, gy: F64, method: str) -> F64:
    """Values at points (gx, gy) in the grid CRS; NaN outside."""
    fx = (gx - grid.x0) / grid.cell
    fy = (gy - grid.y0) / grid.cell
    inside = (fx >= 0) & (fx < grid.nx) & (fy >= 0) & (fy < grid.ny)
    col = np.clip(np.floor(fx).astype(np.int64), 0, grid.nx - 1)
    row = np.clip(np.floor(fy).astype(np.int64), 0, grid.ny - 1)
    out = v[row, col]
    if method == "bilinear":
        cx = np.clip(fx - 0.5, 0, grid.nx - 1)
        cy = np.clip(fy - 0.5, 0, grid.ny - 1)
        c0 = np.minimum(np.floor(cx).astype(np.int64), max(grid.nx - 2, 0))
        r0 = np.minimum(np.floor(cy).astype(np.int64), max(grid.ny - 2, 0))
        c1 = np.minimum(c0 + 1, grid.nx - 1)
        r1 = np.minimum(r0 + 1, grid.ny - 1)
        tx, ty = cx - c0, cy - r0
        bil = (
            v[r0, c0] * (1 - tx) * (1 - ty)
            + v[r0, c1] * tx * (1 - ty)
            + v[r1, c0] * (1 - tx) * ty
            + v[r1, c1] * tx * ty
        )
        out = np.where(np.isnan(bil), out, bil)  # a NaN neighbour: fall back to nearest
    elif method != "nearest":
        raise TilingError(f"unknown sampling {method!r}; use 'nearest' or 'bilinear'")
    return np.where(inside, out, np.nan)


def render_tile(
    grid: GridLike,
    values: npt.ArrayLike,
    z: int,
    x: int,
    y: int,
    scale: ColorScale,
    sampling: Literal["nearest", "bilinear"] = "nearest",
    alpha: int = 200,
) -> bytes:
    """One 256 x 256 PNG tile of a grid, colour-classified by ``scale``.

    Parameters
    ----------
    grid : the grid (row 0 south).
    values : (ny, nx) float, the indicator (dB, ug/m3; NaN = no data).
    z, x, y : XYZ tile address.
    scale : colour scale.
    sampling : ``"nearest"`` cell or ``"bilinear"`` between cell centres.
    alpha : opacity of coloured pixels, 0-255.

    Returns
    -------
    PNG bytes, a palette image (:func:`encode_png_indexed`) whose RGBA is
    :func:`render_rgba`; pixels outside the grid or on NaN are transparent.
    """
    index = render_indexed(grid, values, z, x, y, scale, sampling)
    return encode_png_indexed(index, scale.palette(alpha))


def render_rgba(
    grid: GridLike,
    values: npt.ArrayLike,
    z: int,
    x: int,
    y: int,
    scale: ColorScale,
    sampling: Literal["nearest", "bilinear"] = "nearest",
    alpha: int = 200,
) -> npt.NDArray[np.uint8]:
    """The pixels of :func:`render_tile`, (256, 256, 4) uint8, before PNG encoding."""
    return _render_rgba(grid, _check(grid, values), z, x, y, scale, sampling, alpha)


def render_indexed(
    grid: GridLike,
    values: npt.ArrayLike,
    z: int,
    x: int,
    y: int,
    scale: ColorScale,
    sampling: Literal["nearest", "bilinear"] = "nearest",
) -> npt.NDArray[np.uint8]:
    """The pixels of :func:`render_tile` as indices into ``scale.palette(alpha)``,
    (256, 256) uint8: each pixel's colour class, ``len(scale.colors)`` (the transparent
    entry) outside the grid or on NaN. ``scale.palette(alpha)[index]`` is
    :func:`render_rgba`."""
    return _render_index(grid, _check(grid, values), z, x, y, scale, sampling)


def encode_png(rgba: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes of an RGBA tile (zlib level 6, no optimisation pass)."""
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


#: zlib level of :func:`encode_png_indexed` (see ``docs/overlays.md`` for the figures).
PALETTE_LEVEL = 6


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png_indexed(
    index: npt.NDArray[np.uint8], palette: npt.NDArray[np.uint8], level: int = PALETTE_LEVEL
) -> bytes:
    """PNG bytes of a palette image (colour type 3; PNG specification, 3rd ed., 11.2).

    Parameters
    ----------
    index : (h, w) uint8, palette index per pixel.
    palette : (n, 4) uint8 RGBA, n <= 256; the alphas go into a ``tRNS`` chunk (left out
        when all are 255).
    level : zlib level of the image data.

    Up to 16 entries are written 4 bits per pixel (2 bits up to 4, 1 bit up to 2), rows
    without filtering (filter type 0: a palette index is not a quantity to predict).
    """
    idx = np.ascontiguousarray(index, dtype=np.uint8)
    pal = np.asarray(palette, dtype=np.uint8)
    n = len(pal)
    if idx.ndim != 2 or pal.ndim != 2 or pal.shape[1] != 4 or not 1 <= n <= 256:
        raise TilingError(f"palette image of shape {idx.shape} with palette {pal.shape}")
    h, w = idx.shape
    bits = 1 if n <= 2 else 2 if n <= 4 else 4 if n <= 16 else 8
    if bits < 8:
        per = 8 // bits
        padded = np.zeros((h, -(-w // per) * per), dtype=np.uint8)
        padded[:, :w] = idx
        packed = np.zeros((h, padded.shape[1] // per), dtype=np.uint8)
        for k in range(per):
            packed |= padded[:, k::per] << (8 - bits * (k + 1))
        idx = packed
    rows = np.zeros((h, idx.shape[1] + 1), dtype=np.uint8)  # filter byte 0 per row
    rows[:, 1:] = idx
    alpha = pal[:, 3]
    head = struct.pack(">IIBBBBB", w, h, bits, 3, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", head),
            _chunk(b"PLTE", pal[:, :3].tobytes()),
            _chunk(b"tRNS", alpha.tobytes()) if (alpha != 255).any() else b"",
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )


#: Bytes of pixel -> cell lookups :func:`tile_cells` keeps between calls (least recently
#: used first out). One tile costs 320 KiB (int32 cell index and a mask per pixel).
CELL_CACHE_BYTES = 160 * 1024**2

_CellKey = tuple[float, float, float, int, int, str, int, int, int]
_cells: OrderedDict[
    _CellKey, tuple[npt.NDArray[np.int64] | npt.NDArray[np.int32], npt.NDArray[np.bool_]]
]
_cells = OrderedDict()
_cells_lock = threading.Lock()
_cell_stats = {"hits": 0, "misses": 0, "bytes": 0}


def cell_cache_info() -> dict[str, int]:
    """Counters of :func:`tile_cells`: ``hits``, ``misses`` (reprojections) and ``bytes``."""
    with _cells_lock:
        return dict(_cell_stats)


def tile_cells(
    grid: GridLike, z: int, x: int, y: int
) -> tuple[npt.NDArray[np.int64] | npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """The grid cell under each pixel centre of a tile (nearest), and which are inside.

    Returns (flat cell index ``row * nx + col``, clipped into the grid, and the mask of
    pixels inside the grid), both (256, 256) and read-only. The pixel -> cell mapping
    depends only on the grid and the tile, so it is kept between calls (up to
    :data:`CELL_CACHE_BYTES`): re-rendering a tile after an edit does not reproject its
    pixels again.
    """
    key: _CellKey = (
        float(grid.x0),
        float(grid.y0),
        float(grid.cell),
        int(grid.nx),
        int(grid.ny),
        str(grid.crs),
        z,
        x,
        y,
    )
    with _cells_lock:
        hit = _cells.get(key)
        if hit is not None:
            _cells.move_to_end(key)
            _cell_stats["hits"] += 1
            return hit
    xmin, _, _, ymax = tile_bounds_3857(z, x, y)
    res = 2 * ORIGIN_SHIFT / 2**z / TILE_SIZE
    centres = (np.arange(TILE_SIZE) + 0.5) * res
    mx, my = np.meshgrid(xmin + centres, ymax - centres)
    gx, gy = _transformer("EPSG:3857", grid.crs).transform(mx, my)
    fx = (np.asarray(gx) - grid.x0) / grid.cell
    fy = (np.asarray(gy) - grid.y0) / grid.cell
    inside = np.asarray((fx >= 0) & (fx < grid.nx) & (fy >= 0) & (fy < grid.ny))
    col = np.clip(np.floor(np.nan_to_num(fx, nan=-1.0)).astype(np.int64), 0, grid.nx - 1)
    row = np.clip(np.floor(np.nan_to_num(fy, nan=-1.0)).astype(np.int64), 0, grid.ny - 1)
    flat = row * grid.nx + col
    idx = flat.astype(np.int32) if grid.nx * grid.ny < 2**31 else flat
    idx.setflags(write=False)
    inside.setflags(write=False)
    entry = (idx, inside)
    with _cells_lock:
        _cell_stats["misses"] += 1
        if key not in _cells:
            _cells[key] = entry
            _cell_stats["bytes"] += idx.nbytes + inside.nbytes
        while _cell_stats["bytes"] > CELL_CACHE_BYTES and len(_cells) > 1:
            _, (i_old, m_old) = _cells.popitem(last=False)
            _cell_stats["bytes"] -= i_old.nbytes + m_old.nbytes
    return entry


def tiles_touching(
    grid: GridLike, cells: npt.NDArray[np.bool_], tiles: Iterable[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The tiles (of ``tiles``) with at least one pixel on a cell marked in ``cells``.

    ``cells`` is a (ny, nx) mask, for example of the cells whose colour class changed:
    with nearest sampling every other tile keeps exactly its pixels.
    """
    flat = np.asarray(cells, dtype=bool)
    if flat.shape != (grid.ny, grid.nx):
        raise TilingError(f"cell mask has shape {flat.shape}, grid is {(grid.ny, grid.nx)}")
    flat = flat.ravel()
    out: list[tuple[int, int, int]] = []
    for key in tiles:
        idx, inside = tile_cells(grid, *key)
        if (flat[idx] & inside).any():
            out.append(key)
    return out


def _render_index(
    grid: GridLike, v: F64, z: int, x: int, y: int, scale: ColorScale, sampling: str
) -> npt.NDArray[np.uint8]:
    if sampling == "nearest":
        idx, inside = tile_cells(grid, z, x, y)
        if v.size <= TILE_SIZE * TILE_SIZE:  # fewer cells than pixels: classify the cells
            cls = scale.palette_index(v).ravel()
            return np.where(inside, cls[idx], np.uint8(len(scale.colors)))
        return scale.palette_index(np.where(inside, v.ravel()[idx], np.nan))
    xmin, _, _, ymax = tile_bounds_3857(z, x, y)
    res = 2 * ORIGIN_SHIFT / 2**z / TILE_SIZE
    centres = (np.arange(TILE_SIZE) + 0.5) * res
    mx, my = np.meshgrid(xmin + centres, ymax - centres)
    gx, gy = _transformer("EPSG:3857", grid.crs).transform(mx, my)
    sampled = _sample(grid, v, np.asarray(gx), np.asarray(gy), sampling)
    return scale.palette_index(sampled)


def _render_rgba(
    grid: GridLike, v: F64, z: int, x: int, y: int, scale: ColorScale, sampling: str, alpha: int
) -> npt.NDArray[np.uint8]:
    return scale.palette(alpha)[_render_index(grid, v, z, x, y, scale, sampling)]


def _lonlat_to_tile(
    lon: F64, lat: F64, z: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    n = 2**z
    lat_r = np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))
    tx = np.floor((lon + 180.0) / 360.0 * n)
    ty = np.floor((1.0 - np.log(np.tan(lat_r) + 1.0 / np.cos(lat_r)) / math.pi) / 2.0 * n)
    return np.clip(tx, 0, n - 1).astype(np.int64), np.clip(ty, 0, n - 1).astype(np.int64)


def tiles_for_bounds(
    bounds: tuple[float, float, float, float], crs: str, zmin: int, zmax: int
) -> Iterator[tuple[int, int, int]]:
    """XYZ tiles (z, x, y) that intersect a box given in ``crs`` (edges densified)."""
    if not 0 <= zmin <= zmax <= 24:
        raise TilingError(f"zoom range {zmin}..{zmax} is not within 0..24")
    xmin, ymin, xmax, ymax = bounds
    t = np.linspace(0.0, 1.0, 33)
    ex = np.concatenate(
        [xmin + (xmax - xmin) * t, np.full(33, xmax), xmax - (xmax - xmin) * t, np.full(33, xmin)]
    )
    ey = np.concatenate(
        [np.full(33, ymin), ymin + (ymax - ymin) * t, np.full(33, ymax), ymax - (ymax - ymin) * t]
    )
    lon, lat = _transformer(crs, "EPSG:4326").transform(ex, ey)
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise CRSError(f"grid bounds {bounds} cannot be transformed from {crs} to WGS84")
    for z in range(zmin, zmax + 1):
        tx, ty = _lonlat_to_tile(lon, lat, z)
        for xx in range(int(tx.min()), int(tx.max()) + 1):
            for yy in range(int(ty.min()), int(ty.max()) + 1):
                yield (z, xx, yy)


def tiles_for_grid(
    grid: GridLike, zmin: int = 14, zmax: int = 19
) -> Iterator[tuple[int, int, int]]:
    """XYZ tiles (z, x, y) covering the grid for zooms ``zmin..zmax``."""
    b = (grid.x0, grid.y0, grid.x0 + grid.nx * grid.cell, grid.y0 + grid.ny * grid.cell)
    return tiles_for_bounds(b, grid.crs, zmin, zmax)


def tiles_for_window(
    grid: GridLike, rows: slice, cols: slice, zmin: int = 14, zmax: int = 19
) -> Iterator[tuple[int, int, int]]:
    """Tiles touched by a changed window of cells (e.g. from ``AirMap.update_roads``)."""
    x0 = grid.x0 + (cols.start or 0) * grid.cell
    x1 = grid.x0 + (grid.nx if cols.stop is None else cols.stop) * grid.cell
    y0 = grid.y0 + (rows.start or 0) * grid.cell
    y1 = grid.y0 + (grid.ny if rows.stop is None else rows.stop) * grid.cell
    return tiles_for_bounds((x0, y0, x1, y1), grid.crs, zmin, zmax)


def default_zoom_range(grid: GridLike, zmin: int = 14, zmax_cap: int = 19) -> tuple[int, int]:
    """(zmin, zmax): zmax is the first zoom whose pixels are <= a quarter cell (capped)."""
    cx = grid.x0 + grid.nx * grid.cell / 2
    cy = grid.y0 + grid.ny * grid.cell / 2
    _, lat = _transformer(grid.crs, "EPSG:4326").transform(cx, cy)
    ground_res0 = 2 * ORIGIN_SHIFT / TILE_SIZE * math.cos(math.radians(float(lat)))
    z = math.ceil(math.log2(ground_res0 / (grid.cell / 4.0)))
    zmax = max(zmin, min(zmax_cap, z))
    return zmin, zmax


def write_tiles(
    out_dir: Path,
    grid: GridLike,
    values: npt.ArrayLike,
    scale: ColorScale,
    zmin: int = 14,
    zmax: int = 19,
    *,
    sampling: Literal["nearest", "bilinear"] = "nearest",
    skip_empty: bool = True,
    alpha: int = 200,
) -> int:
    """Write ``{z}/{x}/{y}.png`` tiles and ``legend.json`` into ``out_dir``, atomically.

    The tiles go to a temporary sibling directory that is renamed into place when
    complete; an existing ``out_dir`` is replaced only then, so a failure leaves the
    previous version untouched.

    Returns
    -------
    Number of tiles written (fully transparent tiles are skipped when ``skip_empty``).
    """
    v = _check(grid, values)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    count = 0
    palette = scale.palette(alpha)
    opaque = palette[:, 3] > 0
    try:
        for z, x, y in tiles_for_grid(grid, zmin, zmax):
            index = _render_index(grid, v, z, x, y, scale, sampling)
            if skip_empty and not opaque[index].any():
                continue
            path = tmp / str(z) / str(x)
            path.mkdir(parents=True, exist_ok=True)
            (path / f"{y}.png").write_bytes(encode_png_indexed(index, palette))
            count += 1
        (tmp / "legend.json").write_text(json.dumps(legend(scale), indent=1), encoding="utf-8")
        old: Path | None = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote %d overlay tiles (z %d-%d) to %s", count, zmin, zmax, out_dir)
    return count


def difference(baseline: npt.ArrayLike, scenario: npt.ArrayLike) -> F64:
    """Scenario minus baseline, (ny, nx) float64 (NaN where either is NaN)."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(scenario, dtype=np.float64)
    if a.shape != b.shape:
        raise TilingError(f"difference of grids with shapes {a.shape} and {b.shape}")
    return b - a


def probe(
    grid: GridLike,
    values_by_indicator: Mapping[str, npt.ArrayLike],
    *,
    lon: float | None = None,
    lat: float | None = None,
    x: float | None = None,
    y: float | None = None,
) -> ProbeResult:
    """Values of every indicator in the cell holding a point.

    Give either ``lon``/``lat`` (WGS84 degrees) or ``x``/``y`` (metres in the grid CRS).

    Returns
    -------
    :class:`ProbeResult`; ``values`` are None outside the grid or on NaN cells.
    """
    if lon is not None and lat is not None and x is None and y is None:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise TilingError(f"probe: lon/lat {lon}, {lat} out of range")
        gx, gy = _transformer("EPSG:4326", grid.crs).transform(lon, lat)
        px, py, plon, plat = float(gx), float(gy), float(lon), float(lat)
    elif x is not None and y is not None and lon is None and lat is None:
        px, py = float(x), float(y)
        lo, la = _transformer(grid.crs, "EPSG:4326").transform(px, py)
        plon, plat = float(lo), float(la)
    else:
        raise TilingError("probe: give either lon and lat, or x and y")
    if not (math.isfinite(px) and math.isfinite(py)):
        raise TilingError("probe: the point cannot be placed in the grid CRS")
    col = math.floor((px - grid.x0) / grid.cell)
    row = math.floor((py - grid.y0) / grid.cell)
    inside = 0 <= col < grid.nx and 0 <= row < grid.ny
    vals: dict[str, float | None] = {}
    for name, arr in values_by_indicator.items():
        v = _check(grid, arr)
        val = float(v[row, col]) if inside else math.nan
        vals[name] = None if math.isnan(val) else round(val, 3)
    return {
        "x": px,
        "y": py,
        "lon": plon,
        "lat": plat,
        "crs": grid.crs,
        "inside": inside,
        "row": row if inside else None,
        "col": col if inside else None,
        "values": vals,
    }


def legend(scale: ColorScale) -> LegendJSON:
    """Legend data of a scale (classes, colours, labels, unit), JSON-serialisable."""
    return scale.legend()
