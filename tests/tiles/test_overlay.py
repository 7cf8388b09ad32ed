"""Overlay tiles: colours in the right places, transparency, differences, probes, legends."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from greentwin.core.errors import TilingError
from greentwin.tiles.colormaps import air_scale, difference_scale, get_scale, noise_scale
from greentwin.tiles.overlay import (
    ORIGIN_SHIFT,
    TILE_SIZE,
    RasterGrid,
    default_zoom_range,
    difference,
    legend,
    probe,
    render_tile,
    tile_bounds_3857,
    tiles_for_grid,
    tiles_for_window,
    write_tiles,
)
from PIL import Image
from pyproj import Transformer

# 400 m x 300 m in Berlin (ETRS89 / UTM 33N), 5 m cells
GRID = RasterGrid(390000.0, 5818000.0, 5.0, 80, 60, "EPSG:25833")
TO_GRID = Transformer.from_crs("EPSG:3857", GRID.crs, always_xy=True)


def pattern() -> np.ndarray:
    """Noise-like values: rises west -> east (30..85 dB), NaN hole in the middle."""
    v = np.tile(np.linspace(30.0, 85.0, GRID.nx), (GRID.ny, 1))
    v[25:35, 35:45] = np.nan
    return v


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (TILE_SIZE, TILE_SIZE) and im.mode == "P"  # palette tile
        return np.asarray(im.convert("RGBA"))


def pixel_to_grid(z: int, x: int, y: int, i: int, j: int) -> tuple[float, float]:
    """Grid-CRS position of pixel (column i, row j) of a tile, by the inverse transform."""
    xmin, _, _, ymax = tile_bounds_3857(z, x, y)
    res = 2 * ORIGIN_SHIFT / 2**z / TILE_SIZE
    gx, gy = TO_GRID.transform(xmin + (i + 0.5) * res, ymax - (j + 0.5) * res)
    return float(gx), float(gy)


def test_tiles_cover_the_grid() -> None:
    tiles = list(tiles_for_grid(GRID, 14, 17))
    assert {z for z, _, _ in tiles} == {14, 15, 16, 17}
    assert len([t for t in tiles if t[0] == 14]) <= 4
    t = Transformer.from_crs(GRID.crs, "EPSG:3857", always_xy=True)
    cx, cy = t.transform(GRID.x0 + 200, GRID.y0 + 150)
    for z in (14, 17):
        assert any(
            b[0] <= cx < b[2] and b[1] <= cy < b[3]
            for b in (tile_bounds_3857(*tt) for tt in tiles if tt[0] == z)
        )


def test_tile_colours_match_grid_via_inverse_transform() -> None:
    values = pattern()
    scale = noise_scale("L_den")
    z = 17
    checked = inside_px = outside_px = 0
    for _, x, y in (tt for tt in tiles_for_grid(GRID, z, z)):
        img = decode(render_tile(GRID, values, z, x, y, scale, alpha=255))
        for j in range(3, TILE_SIZE, 23):
            for i in range(5, TILE_SIZE, 19):
                gx, gy = pixel_to_grid(z, x, y, i, j)
                col = int(np.floor((gx - GRID.x0) / GRID.cell))
                row = int(np.floor((gy - GRID.y0) / GRID.cell))
                px = img[j, i]
                if 0 <= col < GRID.nx and 0 <= row < GRID.ny and not np.isnan(values[row, col]):
                    expect = scale.colorize(np.array([values[row, col]]))[0]
                    assert tuple(px) == tuple(expect), (i, j, row, col)
                    inside_px += 1
                else:
                    assert px[3] == 0  # transparent outside the grid and on NaN
                    outside_px += 1
                checked += 1
    assert inside_px > 50 and outside_px > 50


def test_tile_far_away_is_transparent() -> None:
    img = decode(render_tile(GRID, pattern(), 17, 0, 0, noise_scale()))
    assert img[..., 3].max() == 0


def test_difference_map_sign_and_colours() -> None:
    base = np.full((GRID.ny, GRID.nx), 30.0)
    scen = base.copy()
    scen[:, :40] -= 4.0  # west half better
    scen[:, 40:] += 4.0  # east half worse
    d = difference(base, scen)
    assert d[0, 0] == -4.0 and d[0, -1] == 4.0
    scale = difference_scale("NO2", "ug/m3")
    blue, red = scale.colorize(np.array([-4.0, 4.0]))
    assert blue[2] > blue[0] and red[0] > red[2]  # blue = lower, red = higher
    assert tuple(scale.colorize(np.array([0.0]))[0][:3]) == (224, 224, 224)
    z = 16
    seen = set()
    for _, x, y in tiles_for_grid(GRID, z, z):
        img = decode(render_tile(GRID, d, z, x, y, scale, alpha=255))
        for j in range(0, TILE_SIZE, 8):
            for i in range(0, TILE_SIZE, 8):
                if img[j, i, 3] == 0:
                    continue
                gx, _ = pixel_to_grid(z, x, y, i, j)
                west = gx < GRID.x0 + 40 * GRID.cell
                assert tuple(img[j, i, :3]) == tuple((blue if west else red)[:3])
                seen.add(west)
    assert seen == {True, False}


def test_bilinear_sampling_between_nearest_values() -> None:
    v = np.tile(np.linspace(36.0, 79.0, GRID.nx), (GRID.ny, 1))
    scale = noise_scale()
    allowed = {
        tuple(c)
        for c in scale.colorize(
            np.array([37.0, 42.0, 47.0, 52.0, 57.0, 62.0, 67.0, 72.0, 77.0]), alpha=200
        )
    }
    z, x, y = next(t for t in tiles_for_grid(GRID, 16, 16))
    img = decode(render_tile(GRID, v, z, x, y, scale, sampling="bilinear"))
    colours = {tuple(p) for p in img.reshape(-1, 4) if p[3] > 0}
    assert colours and colours <= allowed
    with pytest.raises(TilingError):
        render_tile(GRID, v, 18, 0, 0, scale, sampling="cubic")  # type: ignore[arg-type]


def test_probe_by_lonlat_and_xy() -> None:
    values = pattern()
    pm = np.full((GRID.ny, GRID.nx), 22.5)
    gx, gy = GRID.x0 + 12.5 * 5 + 1.0, GRID.y0 + 7 * 5 + 2.0
    res = probe(GRID, {"lden": values, "pm10": pm}, x=gx, y=gy)
    assert res["inside"] and res["row"] == 7 and res["col"] == 12
    assert res["values"]["lden"] == pytest.approx(values[7, 12], abs=1e-3)
    assert res["values"]["pm10"] == 22.5
    by_ll = probe(GRID, {"lden": values}, lon=res["lon"], lat=res["lat"])
    assert by_ll["row"] == 7 and by_ll["col"] == 12
    hole = probe(GRID, {"lden": values}, x=GRID.x0 + 40 * 5 + 1, y=GRID.y0 + 30 * 5 + 1)
    assert hole["values"]["lden"] is None
    out = probe(GRID, {"lden": values}, lon=0.0, lat=0.0)
    assert not out["inside"] and out["values"]["lden"] is None
    json.dumps(res)
    with pytest.raises(TilingError):
        probe(GRID, {"lden": values}, lon=13.0)


def test_legends_are_json_with_classes() -> None:
    noise = legend(noise_scale("L_night"))
    assert noise["unit"] == "dB(A)" and len(noise["classes"]) == 11
    assert noise["classes"][0]["max"] == 35 and noise["classes"][-1]["min"] == 80
    no2 = legend(air_scale("no2"))
    mins = [c["min"] for c in no2["classes"]]
    assert 10.0 in mins and 20.0 in mins and 40.0 in mins  # WHO, EU 2030, EU limit
    for lg in (noise, no2, legend(get_scale("diff_lden")), legend(get_scale("pm25"))):
        s = json.dumps(lg)
        assert all(c["color"].startswith("#") and len(c["color"]) == 7 for c in lg["classes"])
        assert json.loads(s) == lg
    with pytest.raises(TilingError):
        get_scale("ozone")


def test_noise_classes_5db() -> None:
    s = noise_scale()
    idx = s.classify(np.array([20.0, 35.0, 39.9, 40.0, 79.9, 80.0, 120.0, np.nan]))
    assert idx.tolist() == [0, 1, 1, 2, 9, 10, 10, -1]


def test_write_tiles_atomic(tmp_path: Path) -> None:
    out = tmp_path / "no2" / "v1"
    n = write_tiles(out, GRID, pattern(), noise_scale(), 15, 16)
    files = sorted(out.rglob("*.png"))
    assert n == len(files) > 0
    assert json.loads((out / "legend.json").read_text())["unit"] == "dB(A)"
    # rewriting replaces the directory in one step, no temporary left behind
    n2 = write_tiles(out, GRID, pattern() + 10, noise_scale(), 15, 15)
    assert n2 == len(list(out.rglob("*.png")))
    assert [p.name for p in (tmp_path / "no2").iterdir()] == ["v1"]


def test_changed_window_touches_few_tiles() -> None:
    every = set(tiles_for_grid(GRID, 18, 18))
    touched = set(tiles_for_window(GRID, slice(0, 4), slice(0, 4), 18, 18))
    assert touched <= every and 0 < len(touched) < len(every)


def test_default_zoom_range_and_bad_tile() -> None:
    zmin, zmax = default_zoom_range(GRID)
    assert zmin == 14 and 17 <= zmax <= 19
    with pytest.raises(TilingError):
        tile_bounds_3857(3, 9, 0)
    with pytest.raises(TilingError):
        render_tile(GRID, np.zeros((2, 2)), 17, 0, 0, noise_scale())
