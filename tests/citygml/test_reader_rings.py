"""Ring coordinates parsed per city object in one batch: results and rejections as per ring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from greentwin.citygml.reader import CityGMLReader

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<CityModel xmlns="http://www.opengis.net/citygml/2.0" xmlns:gml="http://www.opengis.net/gml"
    xmlns:bldg="http://www.opengis.net/citygml/building/2.0"
    xmlns:xlink="http://www.w3.org/1999/xlink">
  <gml:boundedBy><gml:Envelope srsName="{srs}" srsDimension="3">
    <gml:lowerCorner>0 0 0</gml:lowerCorner><gml:upperCorner>20 20 10</gml:upperCorner>
  </gml:Envelope></gml:boundedBy>
"""


def _poly(pid: str, pos: str, hole: str | None = None) -> str:
    inner = (
        f"<gml:interior><gml:LinearRing><gml:posList>{hole}</gml:posList></gml:LinearRing>"
        "</gml:interior>"
        if hole
        else ""
    )
    return (
        f'<gml:Polygon gml:id="{pid}"><gml:exterior><gml:LinearRing gml:id="{pid}_r">'
        f"<gml:posList>{pos}</gml:posList></gml:LinearRing></gml:exterior>{inner}</gml:Polygon>"
    )


def _wall(pid: str, pos: str) -> str:
    return (
        "<bldg:boundedBy><bldg:WallSurface><bldg:lod2MultiSurface><gml:MultiSurface>"
        f"<gml:surfaceMember>{_poly(pid, pos)}</gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:WallSurface></bldg:boundedBy>"
    )


def _doc(tmp_path: Path, body: str, srs: str = "EPSG:25833") -> Path:
    path = tmp_path / "rings.gml"
    path.write_text(HEAD.format(srs=srs) + body + "</CityModel>\n", encoding="utf-8")
    return path


SQUARE = "0 0 0 10 0 0 10 10 0 0 10 0 0 0 0"
HOLE = "2 2 0 2 4 0 4 4 0 4 2 0 2 2 0"


def test_bad_number_takes_the_polygon_out_everywhere(tmp_path: Path) -> None:
    body = (
        '<cityObjectMember><bldg:Building gml:id="b">'
        + _wall("ok", SQUARE)
        + _wall("bad", "0 0 0 10 0 x 10 10 0 0 10 0 0 0 0")
        + _wall("inf", "0 0 0 10 0 1e999 10 10 0 0 10 0 0 0 0")
        + "<bldg:lod2Solid><gml:Solid><gml:exterior><gml:CompositeSurface>"
        '<gml:surfaceMember xlink:href="#ok"/><gml:surfaceMember xlink:href="#bad"/>'
        "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod2Solid>"
        "</bldg:Building></cityObjectMember>"
    )
    reader = CityGMLReader(_doc(tmp_path, body))
    (feature,) = reader.features()
    assert [p.id for p in feature.lods[2]] == ["ok"]
    np.testing.assert_array_equal(
        feature.lods[2][0].exterior, [[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]]
    )
    reasons = [s.reason for s in reader.skipped]
    assert any(r.startswith("polygon bad: non-numeric") for r in reasons)
    assert any(r.startswith("polygon inf: non-finite") for r in reasons)
    assert any("#bad" in r and "unknown reference" in r for r in reasons)
    assert all(s.id == "b" and s.line > 0 for s in reader.skipped)


def test_holes_swap_and_orientation(tmp_path: Path) -> None:
    body = (
        '<cityObjectMember><bldg:Building gml:id="b"><bldg:lod2MultiSurface><gml:MultiSurface>'
        f"<gml:surfaceMember>{_poly('holed', SQUARE, HOLE)}</gml:surfaceMember>"
        '<gml:surfaceMember><gml:OrientableSurface orientation="-"><gml:baseSurface>'
        f"{_poly('flipped', '0 0 1 5 0 1 5 5 1 0 0 1')}"
        "</gml:baseSurface></gml:OrientableSurface></gml:surfaceMember>"
        "</gml:MultiSurface></bldg:lod2MultiSurface></bldg:Building></cityObjectMember>"
    )
    (feature,) = CityGMLReader(_doc(tmp_path, body)).features()
    holed, flipped = feature.lods[2]
    assert holed.exterior.shape == (4, 3) and holed.interiors[0].shape == (4, 3)
    np.testing.assert_array_equal(holed.interiors[0][1], [2, 4, 0])
    np.testing.assert_array_equal(flipped.exterior, [[5, 5, 1], [5, 0, 1], [0, 0, 1]])
    # a latitude-first CRS: the first two axes are swapped
    (geo,) = CityGMLReader(_doc(tmp_path, body, srs="EPSG:4979")).features()
    np.testing.assert_array_equal(geo.lods[2][0].interiors[0][1], [4, 2, 0])
