"""Heights: the vertical datum named by the CRS or --vertical-crs, geoid grids where
the system has them, and one warning where heights cannot be converted."""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyproj.datadir
import pytest
from greentwin.cli.main import main
from greentwin.core import ExitCode
from greentwin.tiles import geodesy
from greentwin.tiles.convert import convert
from greentwin.tiles.geodesy import to_geodetic
from gt_testing import CITYGML

KALASATAMA = CITYGML / "helsinki_kalasatama_2549_6674.gml"


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """Each test sees the once-per-CRS warnings afresh."""
    geodesy._warned_heights.clear()
    geodesy.transformer_for.cache_clear()
    yield
    geodesy._warned_heights.clear()
    geodesy.transformer_for.cache_clear()


def _height_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "greentwin.tiles.geodesy" and r.levelno == logging.WARNING
    ]


def test_2d_crs_heights_are_not_taken_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """EPSG:3879 names no vertical datum: Helsinki's N2000 heights would sit ~18 m
    low in Cesium without a word; now one warning names --vertical-crs."""
    with caplog.at_level(logging.WARNING):
        summary = convert([KALASATAMA], tmp_path / "a")
    assert summary.features == 61
    said = _height_warnings(caplog)
    assert len(said) == 1, said
    assert "EPSG:3879 names no vertical datum" in said[0] and "--vertical-crs" in said[0]


def test_ground_mode_needs_no_datum(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--height-mode ground moves the model onto the ellipsoid: no height warning."""
    with caplog.at_level(logging.WARNING):
        convert([KALASATAMA], tmp_path / "g", height_mode="ground")
    assert not _height_warnings(caplog)


def test_vertical_crs_option(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """--vertical-crs EPSG:3900 makes the CRS EPSG:3879+3900; PROJ has no N2000
    geoid grid, which is said once (not the 2D warning)."""
    with caplog.at_level(logging.WARNING):
        code = main(
            ["convert", str(KALASATAMA), str(tmp_path / "b"), "--no-progress",
             "--vertical-crs", "EPSG:3900"]
        )  # fmt: skip
    assert code == ExitCode.OK
    said = _height_warnings(caplog)
    assert len(said) == 1, said
    assert said[0].startswith("EPSG:3879+3900 has a vertical datum")
    # with --crs as well, the option still names the heights
    caplog.clear()
    geodesy._warned_heights.clear()
    geodesy.transformer_for.cache_clear()
    with caplog.at_level(logging.WARNING):
        convert([KALASATAMA], tmp_path / "c", crs="EPSG:3879", vertical_crs="EPSG:3900")
    assert [m.split()[0] for m in _height_warnings(caplog)] == ["EPSG:3879+3900"]
    assert main(
        ["convert", str(KALASATAMA), str(tmp_path / "d"), "--vertical-crs", "EPSG:3879"]
    ) == (ExitCode.CRS)


def test_geographic_compound_without_grid_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """EPSG:6697 (PLATEAU) needs the GSIGEO2011 grid: without it, one warning."""
    if _grid("jp_gsi_gsigeo2011.tif"):
        pytest.skip("the Japanese geoid grid is installed here")
    with caplog.at_level(logging.WARNING):
        to_geodetic("EPSG:6668+6695", np.array([[138.35, 34.9, 40.0]]), check_heights=True)
        to_geodetic("EPSG:6668+6695", np.array([[138.35, 34.9, 41.0]]), check_heights=True)
    said = _height_warnings(caplog)
    assert len(said) == 1 and "geoid grid" in said[0], said


def _grid(*names: str) -> Path | None:
    """A grid file in pyproj's folders or the system's PROJ folder (Debian proj-data)."""
    folders = [*pyproj.datadir.get_data_dir().split(os.pathsep), "/usr/share/proj"]
    for folder in folders:
        for name in names:
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


def _gtx_undulation(path: Path, lon: float, lat: float) -> float:
    """Geoid height from a GTX grid, bilinear (NOAA VDatum GTX format: big-endian
    float64 south-west latitude, longitude, spacing in latitude, longitude; int32
    rows, columns; float32 heights row by row from the south)."""
    data = path.read_bytes()
    lat0, lon0, dlat, dlon = struct.unpack(">4d", data[:32])
    rows, cols = struct.unpack(">2i", data[32:40])
    grid = np.frombuffer(data, ">f4", count=rows * cols, offset=40).reshape(rows, cols)
    fy = (lat - lat0) / dlat
    fx = ((lon - lon0) % 360.0) / dlon
    i, j = int(fy), int(fx)
    ty, tx = fy - i, fx - j
    q = grid[i : i + 2, j : j + 2].astype(np.float64)
    return float(
        q[0, 0] * (1 - tx) * (1 - ty) + q[0, 1] * tx * (1 - ty)
        + q[1, 0] * (1 - tx) * ty + q[1, 1] * tx * ty
    )  # fmt: skip


def test_heights_follow_the_geoid_grid_where_installed(caplog: pytest.LogCaptureFixture) -> None:
    """EGM96 heights (EPSG:4326+5773) become ellipsoidal heights h = H + N with the
    grid of Debian's proj-data (egm96_15.gtx), found through the system PROJ folder."""
    gtx = _grid("egm96_15.gtx")
    if gtx is None:
        pytest.skip("no EGM96 grid here (install proj-data)")
    lon, lat = 24.97, 60.19
    with caplog.at_level(logging.WARNING):
        out = to_geodetic("EPSG:4326+5773", np.array([[lon, lat, 10.0], [lon, lat, 30.0]]))
    assert not _height_warnings(caplog)
    n = _gtx_undulation(gtx, lon, lat)
    assert 15.0 < n < 20.0  # EGM96 in southern Finland
    assert out[:, 2] == pytest.approx([10.0 + n, 30.0 + n], abs=0.02)
