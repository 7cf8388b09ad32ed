"""Corner cases of real-world CityGML through convert(): absurd coordinates, a CRS
that cannot be right, and a building with a flood of generic attributes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from greentwin.citygml.reader import MAX_ATTRIBUTES, CityGMLReader
from greentwin.cli.main import main
from greentwin.core import ExitCode, TilingError
from greentwin.tiles.convert import convert

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<CityModel xmlns="http://www.opengis.net/citygml/2.0" xmlns:gml="http://www.opengis.net/gml"'
    ' xmlns:bldg="http://www.opengis.net/citygml/building/2.0"'
    ' xmlns:gen="http://www.opengis.net/citygml/generics/2.0">\n'
    '<gml:boundedBy><gml:Envelope srsName="{srs}" srsDimension="3">'
    "<gml:lowerCorner>{lo}</gml:lowerCorner><gml:upperCorner>{hi}</gml:upperCorner>"
    "</gml:Envelope></gml:boundedBy>\n"
)


def _square(x: float, y: float, z: float, d: float = 10.0) -> str:
    pts = [(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]
    return " ".join(f"{a!r} {b!r} {z!r}" for a, b in pts)


def _building(bid: str, rings: list[str], extra: str = "") -> str:
    polys = "".join(
        "<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing>"
        f"<gml:posList>{r}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
        "</gml:surfaceMember>"
        for r in rings
    )
    return (
        f'<cityObjectMember><bldg:Building gml:id="{bid}">{extra}'
        f"<bldg:lod1MultiSurface><gml:MultiSurface>{polys}</gml:MultiSurface>"
        "</bldg:lod1MultiSurface></bldg:Building></cityObjectMember>\n"
    )


def _doc(
    path: Path, members: list[str], srs: str = "EPSG:25833", lo: str = "", hi: str = ""
) -> Path:
    lo = lo or "389000 5819000 30"
    hi = hi or "389200 5819200 60"
    path.write_text(HEAD.format(srs=srs, lo=lo, hi=hi) + "".join(members) + "</CityModel>\n")
    return path


def test_polygon_with_1e308_coordinates_is_skipped_and_reported(tmp_path: Path) -> None:
    """One such polygon aborted the whole file with a CRS message; NaN polygons were
    already skipped. PROJ does not refuse every absurd point (a northing of 1e308
    gives a finite latitude), so points far outside the CRS's area count too."""
    x, y = 389000.0, 5819000.0

    def triangle(first: str) -> str:  # three distinct points, the first one absurd
        return f"{first} {x!r} {y!r} 30.0 {x + 9!r} {y!r} 30.0 {first}"

    members = [
        _building("ok", [_square(x, y, 30.0), _square(x, y, 40.0)]),
        _building("mixed", [_square(x + 50, y, 30.0), triangle("1e308 1e308 1e308")]),
        _building("north", [_square(x + 80, y, 30.0), triangle(f"{x!r} 1e308 40.0")]),
        _building("lost", [triangle("1e308 5819000.0 30.0")]),
    ]
    path = _doc(tmp_path / "big.gml", members)
    summary = convert([path], tmp_path / "out")
    assert summary.features == 3
    reasons = {(s.id, s.reason.split(" (")[0]) for s in summary.skipped}
    assert ("mixed", "polygon with coordinates outside the area of EPSG:25833") in reasons
    assert ("north", "polygon with coordinates outside the area of EPSG:25833") in reasons
    assert ("lost", "no polygon with coordinates inside the area of EPSG:25833") in reasons
    assert len(summary.skipped) == 3
    # NaN polygons are skipped by the reader, reported alike
    nan = _doc(tmp_path / "nan.gml", [_building("n", [triangle("NaN 5819000.0 30.0")])])
    reader = CityGMLReader(nan)
    assert list(reader.features()) == []
    assert "non-finite" in reader.skipped[0].reason


def test_projected_coordinates_declared_as_degrees(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """EPSG:4326 with UTM metres was placed in the Pacific without a word."""
    x, y = 389000.0, 5819000.0
    # latitude first, as EPSG:4326 is written: "northing easting"
    ring = " ".join(f"{b!r} {a!r} 30.0" for a, b in [(x, y), (x + 9, y), (x + 9, y + 9), (x, y)])
    path = _doc(
        tmp_path / "deg.gml",
        [_building("b", [ring])],
        srs="EPSG:4326",
        lo=f"{y} {x} 30",
        hi=f"{y + 9} {x + 9} 30",
    )
    with caplog.at_level(logging.WARNING, logger="greentwin.citygml.reader"):
        with pytest.raises(TilingError):
            convert([path], tmp_path / "out")
    said = [r.getMessage() for r in caplog.records]
    assert any("wrong CRS or axis order?" in m and "EPSG:4326" in m for m in said), said
    assert main(["convert", str(path), str(tmp_path / "o2"), "--no-progress"]) == ExitCode.OUTPUT


def test_generic_attributes_are_bounded_per_feature(tmp_path: Path) -> None:
    """400,000 generic attributes on one building took 744-928 MB; now the first
    MAX_ATTRIBUTES are kept and the cut is reported."""
    n = MAX_ATTRIBUTES + 1500
    extra = "".join(
        f'<gen:stringAttribute name="a{k}"><gen:value>{k}</gen:value></gen:stringAttribute>'
        for k in range(n)
    )
    path = _doc(
        tmp_path / "attrs.gml",
        [
            _building("flood", [_square(389000.0, 5819000.0, 30.0)], extra),
            _building("calm", [_square(389050.0, 5819000.0, 30.0)]),
        ],
    )
    reader = CityGMLReader(path)
    feats = list(reader.features())
    assert len(feats[0].attributes) == MAX_ATTRIBUTES
    assert feats[0].attributes["a0"] == "0"
    assert [(s.id, s.reason) for s in reader.skipped] == [
        ("flood", f"1500 attributes beyond the first {MAX_ATTRIBUTES} of Building left out")
    ]
    summary = convert([path], tmp_path / "out")
    assert summary.features == 2
    assert [s.reason for s in summary.skipped] == [reader.skipped[0].reason]
