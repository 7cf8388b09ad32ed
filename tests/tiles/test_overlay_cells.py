"""The pixel -> cell lookup of overlay tiles is kept between renders and gives the same
pixels as reprojecting each pixel centre."""

from __future__ import annotations

import numpy as np
from greentwin.tiles import overlay
from greentwin.tiles.colormaps import noise_scale
from greentwin.tiles.overlay import (
    RasterGrid,
    cell_cache_info,
    render_rgba,
    tile_cells,
    tiles_for_grid,
    tiles_touching,
)
from pyproj import Transformer

# 400 m x 300 m in Berlin (ETRS89 / UTM 33N), 5 m cells; a grid no other test uses
GRID = RasterGrid(391000.0, 5818500.0, 5.0, 80, 60, "EPSG:25833")


def _values() -> np.ndarray:
    v = np.tile(np.linspace(30.0, 85.0, GRID.nx), (GRID.ny, 1))
    v[25:35, 35:45] = np.nan
    return v


def test_cells_are_the_nearest_cell_of_each_pixel_centre() -> None:
    z, x, y = next(iter(tiles_for_grid(GRID, 17, 17)))
    idx, inside = tile_cells(GRID, z, x, y)
    # pixel centres straight from the XYZ definition, then to the grid CRS
    size = 2 * overlay.ORIGIN_SHIFT / 2**z
    res = size / overlay.TILE_SIZE
    px = -overlay.ORIGIN_SHIFT + x * size + (np.arange(overlay.TILE_SIZE) + 0.5) * res
    py = overlay.ORIGIN_SHIFT - y * size - (np.arange(overlay.TILE_SIZE) + 0.5) * res
    mx, my = np.meshgrid(px, py)
    gx, gy = Transformer.from_crs("EPSG:3857", GRID.crs, always_xy=True).transform(mx, my)
    col = np.floor((gx - GRID.x0) / GRID.cell).astype(int)
    row = np.floor((gy - GRID.y0) / GRID.cell).astype(int)
    ok = (col >= 0) & (col < GRID.nx) & (row >= 0) & (row < GRID.ny)
    assert ok.any() and np.array_equal(inside, ok)
    assert np.array_equal(idx[ok], (row * GRID.nx + col)[ok])


def test_a_second_render_does_not_reproject() -> None:
    tiles = list(tiles_for_grid(GRID, 16, 18))
    v = _values()
    first = [render_rgba(GRID, v, *t, noise_scale("lden")) for t in tiles]
    before = cell_cache_info()
    v2 = v + 3.0  # another edit: other values on the same grid
    again = [render_rgba(GRID, v2, *t, noise_scale("lden")) for t in tiles]
    after = cell_cache_info()
    assert after["misses"] == before["misses"]
    assert after["hits"] - before["hits"] == len(tiles)
    assert any(not np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    # the pixels are those of the bilinear-free reference: colour of the cell under them
    idx, inside = tile_cells(GRID, *tiles[0])
    want = noise_scale("lden").colorize(np.where(inside, v2.ravel()[idx], np.nan), alpha=200)
    assert np.array_equal(again[0], want)


def test_tiles_touching_finds_only_tiles_over_marked_cells() -> None:
    tiles = list(tiles_for_grid(GRID, 18, 18))
    mark = np.zeros((GRID.ny, GRID.nx), dtype=bool)
    assert tiles_touching(GRID, mark, tiles) == []
    mark[0, 0] = True  # the south-west corner cell
    hit = tiles_touching(GRID, mark, tiles)
    assert 1 <= len(hit) < len(tiles)
    for t in tiles:
        idx, inside = tile_cells(GRID, *t)
        assert (t in hit) == bool((idx[inside] == 0).any())
