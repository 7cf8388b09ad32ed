"""Indicator summary: dwellings, facade levels, classes, GeoTIFF writing."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
import tifffile
from greentwin.kernels.raster import BuildingFootprint, Grid
from greentwin.twin.district import BuildingInfo, District
from greentwin.twin.exports import geotiff_bytes
from greentwin.twin.indicators import (
    compare,
    district_indicators,
    residential_share,
    summary_rows,
)
from gt_testing import CITYGML


def test_residential_share_from_function_codes() -> None:
    assert residential_share("31001_1010", 4) == 1.0  # Wohnhaus
    assert residential_share("1000", 2) == 1.0  # SIG3D code without the ALKIS prefix
    assert residential_share("31001_1220", 1) == 1.0
    assert residential_share("31001_1120", 4) == pytest.approx(0.75)  # shops below
    assert residential_share("mixed", 1) == 0.0
    assert residential_share("31001_2010", 7) == 0.0  # offices
    assert residential_share("31001_3021", 3) == 0.0  # a school
    assert residential_share("", 3) == 0.0
    assert residential_share("residential", 3) == 1.0


def _square(x: float, y: float, side: float) -> np.ndarray:
    return np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]])


@pytest.fixture(scope="module")
def demo() -> District:
    return District.load_demo(CITYGML)


def _synthetic(demo: District) -> tuple[District, dict[str, np.ndarray]]:
    """Two 20 m buildings on a 5 m grid whose L_den rises 1 dB per column eastwards."""
    grid = Grid(1000.0, 2000.0, 5.0, 40, 20, demo.crs)
    a = BuildingFootprint("a", _square(1050.0, 2040.0, 20.0), 15.0)
    b = BuildingFootprint("b", _square(1150.0, 2040.0, 20.0), 6.0)
    info = {
        "a": BuildingInfo("A", "31001_1010", 5, 40.0, "flats"),
        "b": BuildingInfo("B", "31001_2020", None, 40.0, "offices"),
    }
    district = demo.replace(footprints=(a, b), buildings=info, grid=grid)
    cols = np.arange(40, dtype=np.float64)
    lden = np.tile(50.0 + cols, (20, 1))
    # no values inside the buildings, as the noise map has
    for fp in (a, b):
        c0, r0 = int((fp.exterior[0, 0] - 1000.0) / 5.0), int((fp.exterior[0, 1] - 2000.0) / 5.0)
        lden[r0 : r0 + 4, c0 : c0 + 4] = np.nan
    values = {
        "noise_lden": lden,
        "noise_lnight": lden - 10.0,
        "no2": np.full((20, 40), 25.0),
        "pm10": np.full((20, 40), 15.0),
    }
    return district, values


def test_dwellings_and_most_exposed_facade(demo: District) -> None:
    district, values = _synthetic(demo)
    ind = district_indicators(district, values, [district.survey_date])
    by_id = {b.id: b for b in ind.buildings}
    flats, offices = by_id["A"], by_id["B"]
    # 400 m2 x 5 storeys x 0.75 / 73 m2 = 20.55 -> 21 dwellings
    assert flats.dwellings == round(400 * 5 * 0.75 / 73.0)
    assert flats.floor_area_m2 == pytest.approx(2000.0)
    assert offices.dwellings == 0
    assert offices.floor_area_m2 == pytest.approx(800.0)  # 6 m -> 2 storeys of 3 m
    # building A covers columns 10-13; its east facade ring is column 14: 64 dB
    assert flats.levels["noise_lden"] == pytest.approx(64.0)
    assert flats.levels["noise_lnight"] == pytest.approx(54.0)
    assert offices.levels["noise_lden"] == pytest.approx(50.0 + 34)
    assert ind.air["no2"]["dwelling_weighted_mean"] == pytest.approx(25.0)
    assert ind.air["no2"]["dwellings_above_limit"] == flats.dwellings  # 25 > 20
    assert ind.air["pm10"]["dwellings_above_limit"] == 0

    # a scenario 6 dB quieter moves the flats from 60-64 down to 55-59
    quieter = {**values, "noise_lden": values["noise_lden"] - 6.0}
    s = district_indicators(district, quieter, [district.survey_date])
    doc = compare(s, ind)
    lden = doc["noise"]["lden"]
    assert lden["dwellings"]["baseline"] == [0, 0, flats.dwellings, 0, 0, 0]
    assert lden["dwellings"]["scenario"] == [0, flats.dwellings, 0, 0, 0, 0]
    assert lden["dwellings"]["change"] == [0, flats.dwellings, -flats.dwellings, 0, 0, 0]
    assert lden["buildings"]["scenario"] == [0, 1, 0, 0, 0, 1]  # offices: 84 - 6 = 78
    rows = summary_rows(doc)
    assert ["noise_lden", "dwellings", "55-59", "dB(A)", 0, flats.dwellings, flats.dwellings] in (
        rows
    )


def test_green_figures_grow_with_the_years(demo: District) -> None:
    d0, d30 = demo.survey_date, dt.date(demo.survey_date.year + 30, 7, 1)
    values = {"noise_lden": np.full(demo.grid.shape, 60.0)}
    ind = district_indicators(demo, values, [d0, d30])
    now, later = ind.green[d0.isoformat()], ind.green[d30.isoformat()]
    assert now["trees"] == len(demo.trees)
    assert later["carbon_kg"] > now["carbon_kg"] > 0  # type: ignore[operator]
    assert 0 < now["canopy_cover_percent"] < 100  # type: ignore[operator]


def test_geotiff_round_trip() -> None:
    grid = np.arange(12, dtype=np.float64).reshape(3, 4)  # row 0 south
    grid[0, 0] = np.nan
    data = geotiff_bytes(
        grid, x0=390000.0, y0=5810000.0, cell=5.0, crs="EPSG:25833", description="t"
    )
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        meta = tif.geotiff_metadata
        arr = tif.pages[0].asarray()
        assert tif.pages[0].tags["ImageDescription"].value == "t"
    assert meta is not None
    assert meta["ProjectedCSTypeGeoKey"] == 25833
    assert meta["ModelTiepoint"] == [0.0, 0.0, 0.0, 390000.0, 5810015.0, 0.0]
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr, grid[::-1].astype(np.float32))  # north up
    assert np.isnan(arr[2, 0])


def test_geotiff_is_a_cloud_optimized_geotiff_read_by_rasterio() -> None:
    """GDAL (through rasterio) reads the export back: a COG (tiled, DEFLATE) with the CRS
    as the full WKT, the grid's transform, NaN as no-data and the values north up."""
    import pyproj
    import rasterio
    from rasterio.io import MemoryFile

    grid = np.linspace(30.0, 80.0, 20 * 30).reshape(20, 30)  # row 0 south
    grid[3, 4] = np.nan
    data = geotiff_bytes(grid, x0=390000.0, y0=5810000.0, cell=5.0, crs="EPSG:25833")
    with MemoryFile(data) as mem, mem.open() as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.profile["tiled"] is True
        assert src.compression == rasterio.enums.Compression.deflate
        want = pyproj.CRS.from_epsg(25833)
        assert pyproj.CRS.from_wkt(src.crs.to_wkt()).equals(want)
        assert src.crs.to_epsg() == 25833
        # north up: x = 390000 + 5 col, y = 5810000 + 20 * 5 - 5 row
        assert tuple(src.transform)[:6] == (5.0, 0.0, 390000.0, 0.0, -5.0, 5810100.0)
        assert np.isnan(src.nodata)
        arr = src.read(1)
    np.testing.assert_array_equal(arr, grid[::-1].astype(np.float32))
    assert np.isnan(arr[20 - 1 - 3, 4])


def test_geotiff_keeps_a_crs_without_an_epsg_code() -> None:
    """A CRS given only as WKT (no EPSG code) is written, not refused."""
    import pyproj
    from rasterio.io import MemoryFile

    local = pyproj.CRS.from_proj4("+proj=tmerc +lat_0=52.5 +lon_0=13.4 +k=1 +ellps=GRS80 +units=m")
    data = geotiff_bytes(np.zeros((2, 2)), x0=0.0, y0=0.0, cell=1.0, crs=local.to_wkt())
    with MemoryFile(data) as mem, mem.open() as src:
        assert src.crs.to_epsg() is None
        back = pyproj.CRS.from_wkt(src.crs.to_wkt())
        assert back.to_dict()["lon_0"] == 13.4 and back.to_dict()["lat_0"] == 52.5
