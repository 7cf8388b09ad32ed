"""Palette tiles: decoded to RGBA they are exactly the RGBA tiles, for every scale and
sampling, at no-data pixels, class edges and the grid's edges."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from greentwin.core.errors import TilingError
from greentwin.tiles import overlay
from greentwin.tiles.colormaps import AIR_SCALES, HEAT_SCALES, NOISE_SCALES, get_scale
from greentwin.tiles.overlay import (
    RasterGrid,
    encode_png,
    encode_png_indexed,
    render_indexed,
    render_rgba,
    render_tile,
    tile_cells,
    tiles_for_grid,
    write_tiles,
)
from PIL import Image

# 300 m x 250 m in Berlin, 5 m cells; the tiles at z 14-17 reach past every edge
GRID = RasterGrid(391000.0, 5818500.0, 5.0, 60, 50, "EPSG:25833")
SCALES = [*NOISE_SCALES, *AIR_SCALES, *HEAT_SCALES]
DIFF_SCALES = [f"diff_{s}" for s in SCALES]


def rgba_of(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGBA"))


def reference(values: np.ndarray, z: int, x: int, y: int, name: str) -> np.ndarray:
    """The RGBA pixels as drawn before palette tiles: class colour of the nearest cell,
    transparent outside the grid and on NaN (built from ``classify`` alone)."""
    scale = get_scale(name)
    idx, inside = tile_cells(GRID, z, x, y)
    cls = scale.classify(np.where(inside, values.ravel()[idx], np.nan))
    lut = np.zeros((len(scale.colors) + 1, 4), dtype=np.uint8)
    lut[:-1, :3] = scale.colors
    lut[:-1, 3] = 200
    return lut[cls]


def values_for(name: str, seed: int) -> np.ndarray:
    """Values over the whole range of the scale, with every class edge hit exactly,
    infinities, and a NaN hole and NaN border cells."""
    scale = get_scale(name)
    rng = np.random.default_rng(seed)
    edges = np.asarray(scale.edges)
    span = edges[-1] - edges[0]
    v = rng.uniform(edges[0] - span / 4, edges[-1] + span / 4, (GRID.ny, GRID.nx))
    flat = v.ravel()
    picks = rng.choice(flat.size, flat.size // 3, replace=False)
    flat[picks] = rng.choice(np.concatenate([edges, np.nextafter(edges, -np.inf)]), picks.size)
    v[3, 4], v[4, 3] = np.inf, -np.inf
    v[20:26, 30:37] = np.nan
    v[0, :] = np.nan
    v[:, -1] = np.nan
    return v


@pytest.mark.parametrize("name", SCALES + DIFF_SCALES)
def test_palette_tiles_decode_to_the_rgba_tiles(name: str) -> None:
    scale = get_scale(name)
    v = values_for(name, len(name))
    palette = scale.palette(200)
    for key in tiles_for_grid(GRID, 14, 17):
        want = reference(v, *key, name)
        index = render_indexed(GRID, v, *key, scale)
        assert np.array_equal(palette[index], want)
        assert np.array_equal(render_rgba(GRID, v, *key, scale, "nearest", 200), want)
        png = encode_png_indexed(index, palette)
        assert png[25] == 3  # colour type 3: palette
        assert np.array_equal(rgba_of(png), want)
        assert np.array_equal(rgba_of(png), rgba_of(encode_png(want)))
        assert png == render_tile(GRID, v, *key, scale, "nearest", alpha=200)


def test_bilinear_palette_tiles_are_exact() -> None:
    # bilinear sampling interpolates the value, the colour is still the value's class
    scale = get_scale("lden")
    v = values_for("lden", 7)
    v[np.isinf(v)] = 50.0
    for key in list(tiles_for_grid(GRID, 16, 17))[:6]:
        png = render_tile(GRID, v, *key, scale, "bilinear", alpha=200)
        want = encode_png(render_rgba(GRID, v, *key, scale, "bilinear", 200))
        assert np.array_equal(rgba_of(png), rgba_of(want))


def test_large_grids_classify_the_sampled_pixels_the_same() -> None:
    # more cells than pixels: the pixels' values are classified instead of the cells'
    big = RasterGrid(391000.0, 5818500.0, 1.0, 300, 250, "EPSG:25833")
    scale = get_scale("no2")
    rng = np.random.default_rng(3)
    v = rng.uniform(0.0, 70.0, (big.ny, big.nx))
    v[rng.random(v.shape) < 0.1] = np.nan
    assert v.size > overlay.TILE_SIZE**2
    for key in list(tiles_for_grid(big, 17, 17))[:3]:
        idx, inside = tile_cells(big, *key)
        want = scale.classify(np.where(inside, v.ravel()[idx], np.nan))
        got = render_indexed(big, v, *key, scale)
        assert np.array_equal(got, np.where(want < 0, len(scale.colors), want))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 16, 17, 256])
def test_bit_depths_and_opaque_palettes(n: int) -> None:
    rng = np.random.default_rng(n)
    pal = rng.integers(0, 256, (n, 4), dtype=np.uint8)
    if n % 2:
        pal[:, 3] = 255  # no tRNS chunk
    index = rng.integers(0, n, (7, 13), dtype=np.uint8)  # width not a multiple of 8
    png = encode_png_indexed(index, pal, level=1)
    assert (b"tRNS" in png) == bool((pal[:, 3] != 255).any())
    assert np.array_equal(rgba_of(png), pal[index])


def test_bad_palettes_are_refused() -> None:
    with pytest.raises(TilingError):
        encode_png_indexed(np.zeros((4, 4), np.uint8), np.zeros((0, 4), np.uint8))
    with pytest.raises(TilingError):
        encode_png_indexed(np.zeros((4, 4), np.uint8), np.zeros((3, 3), np.uint8))
    with pytest.raises(TilingError):
        get_scale("lden").palette(300)


def test_written_tiles_are_palette_pngs_and_skip_empty(tmp_path: Path) -> None:
    scale = get_scale("lden")
    v = values_for("lden", 1)
    n = write_tiles(tmp_path / "t", GRID, v, scale, 16, 16)
    pngs = sorted((tmp_path / "t").rglob("*.png"))
    assert n == len(pngs) > 0
    for p in pngs:
        z, x, y = (int(s) for s in (p.parts[-3], p.parts[-2], p.stem))
        assert np.array_equal(rgba_of(p.read_bytes()), reference(v, z, x, y, "lden"))
    empty = np.full((GRID.ny, GRID.nx), np.nan)
    assert write_tiles(tmp_path / "e", GRID, empty, scale, 16, 16) == 0
