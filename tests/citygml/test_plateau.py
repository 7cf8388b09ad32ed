"""Japan's PLATEAU models: compound CRS EPSG:6697 in latitude-first order, ADE
attributes (uro:) and Japanese attribute names, read and converted (a real tile)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from greentwin.citygml.crs import (
    axis_swap,
    envelope_problem,
    parse_srs_name,
    parse_vertical_crs,
    with_vertical,
)
from greentwin.citygml.model import SourceCRS
from greentwin.citygml.reader import CityGMLReader
from greentwin.core.errors import CRSError
from greentwin.tiles.convert import convert
from greentwin.tiles.reader import read_tileset
from gt_testing import CITYGML

PLATEAU = CITYGML / "plateau_shizuoka_52382287_bldg_6697.gml"


@pytest.mark.parametrize(
    "text",
    [
        "http://www.opengis.net/def/crs/EPSG/0/6697",
        "EPSG:6697",
        "urn:ogc:def:crs:EPSG::6697",
    ],
)
def test_compound_epsg_code_is_split_into_its_parts(text: str) -> None:
    # EPSG:6697 = JGD2011 (EPSG:6668) + JGD2011 (vertical) height (EPSG:6695)
    crs = parse_srs_name(text)
    assert crs == SourceCRS(text, 6668, 6695)
    assert axis_swap(crs)  # JGD2011 is latitude first
    with pytest.raises(CRSError, match="already compound"):
        parse_srs_name("EPSG:6697+6695")


def test_vertical_crs_option_values() -> None:
    assert parse_vertical_crs("EPSG:3900") == 3900
    assert parse_vertical_crs("urn:ogc:def:crs:EPSG::3900") == 3900
    for bad in ("EPSG:3879", "EPSG:6697", "N2000"):
        with pytest.raises(CRSError):
            parse_vertical_crs(bad)
    base = parse_srs_name("urn:ogc:def:crs:EPSG::3879")
    assert with_vertical(base, 3900).pyproj_definition == "EPSG:3879+3900"
    assert with_vertical(parse_srs_name("EPSG:3879+5717"), 3900).vertical_epsg == 3900
    with pytest.raises(CRSError, match="3D CRS"):
        with_vertical(parse_srs_name("EPSG:4979"), 3900)


def test_envelope_outside_the_area_of_use() -> None:
    wgs84 = parse_srs_name("EPSG:4326")
    # projected metres declared as degrees (after the lat/lon swap)
    why = envelope_problem(wgs84, (5819000.0, 389000.0), (5819500.0, 389500.0))
    assert why is not None and "wrong CRS or axis order?" in why
    utm33 = parse_srs_name("EPSG:25833")
    assert envelope_problem(utm33, (389000.0, 5819000.0), (390000.0, 5820000.0)) is None
    # easting and northing swapped: far outside zone 33N's area of use
    assert envelope_problem(utm33, (5819000.0, 389000.0), (5820000.0, 390000.0)) is not None


def test_plateau_tile_reads_with_lat_lon_axes_ade_and_japanese_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="greentwin.citygml.reader"):
        reader = CityGMLReader(PLATEAU)
        features = list(reader.features())
    assert not [r for r in caplog.records if "area of use" in r.getMessage()]
    assert reader.crs == SourceCRS("http://www.opengis.net/def/crs/EPSG/0/6697", 6668, 6695)
    assert len(features) == 4 and not reader.skipped
    first = features[0]
    ring = first.lods[1][0].exterior
    # posList says "34.9027... 138.3493...": longitude first after the swap
    assert np.allclose(ring[0, :2], [138.34934122825845, 34.90273381467034])
    attrs = first.attributes
    assert attrs["風致地区"] == "第1種風致地区（大崩）"  # the original name, not "____"
    assert attrs["uro:buildingID"] == "22102-bldg-354359"
    assert attrs["uro:city"] == "22102"  # codes stay as written (leading zeros)
    assert attrs["uro:surveyYear"] == "2021"
    assert attrs["uro:areaType"] == "2"
    assert attrs["measuredHeight"] == 14.3


def test_plateau_tile_converts_with_its_attributes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        summary = convert([PLATEAU], tmp_path / "out")
    assert summary.features == 4 and not summary.skipped
    _, tiles = read_tileset(summary.tileset)
    rows = {r["id"]: r for t in tiles if "children" not in t.tile for r in t.tables[0]}
    row = rows["bldg_53e2a9a9-d512-408f-8250-eae30b7523d6"]
    assert row["uro_buildingID"] == "22102-bldg-354359"
    leaf = next(t for t in tiles if "children" not in t.tile)
    assert leaf.positions.size
    # placed in Shizuoka: ECEF back to longitude/latitude
    from greentwin.tiles.geodesy import ecef_to_geodetic

    lon, lat, _ = ecef_to_geodetic(leaf.positions[:1])[0]
    assert 138.34 < lon < 138.36 and 34.89 < lat < 34.91
    glb = (summary.tileset.parent / leaf.tile["content"]["uri"]).read_bytes()
    assert "風致地区".encode() in glb  # the property's name in the schema
    # no geoid grid for JGD2011 heights here: said once, not silently
    heights = [r.getMessage() for r in caplog.records if "EPSG:6668+6695" in r.getMessage()]
    if heights:
        assert "geoid grid" in heights[0] and len(heights) == 1
