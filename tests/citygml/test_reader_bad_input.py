"""Hostile and broken inputs: refused with the right error, or skipped and reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from greentwin.citygml.reader import CityGMLReader
from greentwin.core.errors import (
    CityGMLError,
    CRSError,
    ExitCode,
    InputFileError,
    UnsafeInputError,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("xxe.gml", "entities"),
        ("billion_laughs.gml", "entities"),
        ("external_dtd.gml", "external DTD"),
    ],
)
def test_unsafe_documents_are_refused(name: str, needle: str) -> None:
    with pytest.raises(UnsafeInputError, match=needle) as info:
        list(CityGMLReader(FIXTURES / name).features())
    assert info.value.exit_code == ExitCode.UNSAFE_INPUT
    assert "passwd" not in str(info.value).split("DOCTYPE", 1)[0]


def test_undefined_entity_is_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / "entity.gml"
    path.write_text(
        '<CityModel xmlns="http://www.opengis.net/citygml/2.0" '
        'xmlns:gml="http://www.opengis.net/gml"><gml:name>&xxe;</gml:name></CityModel>'
    )
    with pytest.raises(InputFileError):
        list(CityGMLReader(path).features())


def test_not_xml() -> None:
    with pytest.raises(InputFileError) as info:
        CityGMLReader(FIXTURES / "not_xml.gml")
    assert info.value.exit_code == ExitCode.INPUT


def test_missing_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        CityGMLReader(tmp_path / "nope.gml")
    (tmp_path / "empty.gml").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        CityGMLReader(tmp_path / "empty.gml")


def test_not_citygml() -> None:
    with pytest.raises(CityGMLError, match="not a CityGML document"):
        CityGMLReader(FIXTURES / "not_citygml.xml")


def test_truncated_file_yields_what_came_before_then_stops() -> None:
    reader = CityGMLReader(FIXTURES / "truncated.gml")
    got: list[str] = []
    with pytest.raises(InputFileError, match="truncated") as info:
        for feature in reader.features():
            got.append(feature.id)
    assert got == ["good"]
    assert info.value.exit_code == ExitCode.INPUT


def test_missing_crs_asks_for_override() -> None:
    reader = CityGMLReader(FIXTURES / "no_crs.gml")
    assert reader.crs is None
    with pytest.raises(CRSError, match="--crs") as info:
        list(reader.features())
    assert info.value.exit_code == ExitCode.CRS
    reader = CityGMLReader(FIXTURES / "no_crs.gml", crs="EPSG:25833")
    assert [f.id for f in reader.features()] == ["good", "after"]


def test_unknown_crs_override() -> None:
    with pytest.raises(CRSError, match=r"--crs EPSG"):
        CityGMLReader(FIXTURES / "broken_features.gml", crs="EPSG:999999")


def test_broken_features_are_skipped_and_reported() -> None:
    reader = CityGMLReader(FIXTURES / "broken_features.gml")
    features = list(reader.features())
    assert [f.id for f in features] == ["good", "after"]
    good = features[0]
    polys = good.lods[1]
    assert [p.id for p in polys] == ["good_p1", "flat2d"]
    assert good.attributes["measuredHeight"] == 5.5
    # the hole is kept, the closing point dropped
    assert polys[0].exterior.shape == (4, 3) and len(polys[0].interiors) == 1
    assert polys[0].interiors[0].shape == (4, 3)
    # 2D coordinates get z = 0
    np.testing.assert_array_equal(polys[1].exterior, [[0, 0, 0], [10, 0, 0], [10, 10, 0]])
    reasons = {(s.id, s.reason.split(":")[0]): s for s in reader.skipped}
    assert "not closed" in reasons[("good", "polygon unclosed")].reason
    assert "points" in reasons[("good", "polygon fewpoints")].reason
    assert "non-finite" in reasons[("good", "polygon nan")].reason
    unknown = [s for s in reader.skipped if "#nowhere" in s.reason]
    assert len(unknown) == 1 and unknown[0].id == "good" and unknown[0].line > 0
    assert any(s.id == "all_broken" and "distinct" in s.reason for s in reader.skipped)
    assert any(s.id == "all_broken" and "no usable geometry" in s.reason for s in reader.skipped)
    for s in reader.skipped:
        assert s.line > 0
    assert reader.stats == {"Building": 2}


def test_bare_doctype_is_allowed(tmp_path: Path) -> None:
    text = (FIXTURES / "broken_features.gml").read_text()
    path = tmp_path / "doctype.gml"
    path.write_text(text.replace("<CityModel", "<!DOCTYPE CityModel>\n<CityModel", 1))
    assert [f.id for f in CityGMLReader(path).features()] == ["good", "after"]


_DOC = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "{doctype}"
    '<CityModel xmlns="http://www.opengis.net/citygml/2.0" '
    'xmlns:gml="http://www.opengis.net/gml">\n'
    "<gml:name>x</gml:name>\n</CityModel>\n"
)


@pytest.mark.parametrize("space", ["\n", "\t", "\r\n", " \n\t "])
@pytest.mark.parametrize(
    "ident", ['SYSTEM "http://example.com/city.dtd"', 'PUBLIC "-//x//EN" "c.dtd"']
)
def test_doctype_with_any_whitespace_before_its_id_is_refused(
    tmp_path: Path, space: str, ident: str
) -> None:
    """``<!DOCTYPE CityModel\\nSYSTEM ...>`` passed the check that looked for " SYSTEM"."""
    path = tmp_path / "dtd.gml"
    path.write_text(_DOC.format(doctype=f"<!DOCTYPE CityModel{space}{ident}>\n"))
    with pytest.raises(UnsafeInputError, match="external DTD") as info:
        CityGMLReader(path)
    assert info.value.exit_code == ExitCode.UNSAFE_INPUT


@pytest.mark.parametrize("doctype", ["<!DOCTYPE CityModel>", "<!DOCTYPE\nCityModel\t>"])
def test_bare_doctype_is_still_read(tmp_path: Path, doctype: str) -> None:
    path = tmp_path / "bare.gml"
    path.write_text(_DOC.format(doctype=doctype + "\n"))
    assert list(CityGMLReader(path).features()) == []


def test_undefined_entity_is_reported_with_its_line(tmp_path: Path) -> None:
    """Was "not well-formed XML at line 0: no element found"."""
    path = tmp_path / "entity.gml"
    lines = _DOC.format(doctype="").splitlines()
    lines.insert(3, "<cityObjectMember><gml:name>&nbsp;</gml:name></cityObjectMember>")
    path.write_text("\n".join(lines))
    with pytest.raises(InputFileError) as info:
        list(CityGMLReader(path).features())
    msg = str(info.value)
    assert "line 4" in msg and "nbsp" in msg and "not defined" in msg, msg
