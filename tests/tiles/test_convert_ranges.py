"""Parallel parsing of one file in byte ranges: the same tileset and report as one stream."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from greentwin.tiles import convert as convert_mod
from greentwin.tiles.convert import convert
from gt_testing import CITYGML

SAMPLES = sorted(p.name for p in CITYGML.glob("*.gml"))
FIXTURES = Path(__file__).parent.parent / "citygml" / "fixtures"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def tiny_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of ~16 KB, so every sample is cut into many."""
    monkeypatch.setattr(convert_mod, "MIN_RANGE_BYTES", 1)
    monkeypatch.setattr(convert_mod, "MAX_RANGE_BYTES", 16_000)


@pytest.mark.parametrize("name", SAMPLES)
def test_ranges_give_the_single_stream_tileset(
    name: str, tmp_path: Path, tiny_ranges: None
) -> None:
    path = CITYGML / name
    a = convert([path], tmp_path / "a", split=False, max_features_per_tile=12)
    b = convert([path], tmp_path / "b", split=True, max_features_per_tile=12)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        del d["seconds"], d["tileset"]
    assert da == db


def test_ranges_in_parallel_give_the_same_bytes(tmp_path: Path, tiny_ranges: None) -> None:
    inputs = [CITYGML / "3dcitydb_Potsdam_LoD1.gml", CITYGML / "berlin_testarea_lod2_buildings.gml"]
    a = convert(inputs, tmp_path / "a", split=False, jobs=1, max_features_per_tile=20)
    b = convert(inputs, tmp_path / "b", split=True, jobs=2, max_features_per_tile=20)
    assert a.features == b.features == 97 + 17
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert a.skipped == b.skipped


def test_skip_report_lines_match(tmp_path: Path, tiny_ranges: None) -> None:
    path = FIXTURES / "broken_features.gml"
    a = convert([path], tmp_path / "a", split=False, crs="EPSG:25833")
    b = convert([path], tmp_path / "b", split=True, jobs=2, crs="EPSG:25833")
    assert a.skipped and a.skipped == b.skipped
    lines = path.read_text().splitlines()
    for s in b.skipped:
        if s.line:
            assert 0 < s.line <= len(lines)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_fallback_is_logged_and_exact(
    tmp_path: Path, tiny_ranges: None, caplog: pytest.LogCaptureFixture
) -> None:
    trees = CITYGML / "berlin_testarea_trees_veg.gml"
    with caplog.at_level(logging.INFO, logger="greentwin.tiles.convert"):
        b = convert([trees], tmp_path / "b", split=True, jobs=2)
    assert "read as one stream" in caplog.text and "prototype" in caplog.text
    assert not list(tmp_path.glob(".*spill*"))
    a = convert([trees], tmp_path / "a", split=False)
    assert a.features == b.features > 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_global_appearances_fall_back(tmp_path: Path, tiny_ranges: None) -> None:
    text = (CITYGML / "berlin_testarea_lod2_buildings.gml").read_text(encoding="utf-8")
    member = (
        '<app:appearanceMember xmlns:app="http://www.opengis.net/citygml/appearance/2.0">'
        "<app:Appearance><app:theme>t</app:theme><app:surfaceDataMember><app:X3DMaterial>"
        "<app:diffuseColor>0 0 1</app:diffuseColor><app:target>#nowhere</app:target>"
        "</app:X3DMaterial></app:surfaceDataMember></app:Appearance></app:appearanceMember>"
    )
    doc = tmp_path / "app.gml"
    doc.write_text(text.replace("</CityModel>", member + "</CityModel>"), encoding="utf-8")
    a = convert([doc], tmp_path / "a", split=False)
    b = convert([doc], tmp_path / "b", split=True, jobs=2)
    assert a.features == b.features == 17
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert not list(tmp_path.glob(".*spill*"))


def test_broken_range_reports_like_one_stream(tmp_path: Path, tiny_ranges: None) -> None:
    text = (CITYGML / "berlin_testarea_lod2_buildings.gml").read_text(encoding="utf-8")
    at = text.index("<cityObjectMember>", len(text) // 2)
    bad = tmp_path / "bad.gml"
    bad.write_text(text[:at] + "<cityObjectMember><oops></cityObjectMember>" + text[at:])
    from greentwin.core import InputFileError

    with pytest.raises(InputFileError) as one:
        convert([bad], tmp_path / "a", split=False)
    with pytest.raises(InputFileError) as split:
        convert([bad], tmp_path / "b", split=True, jobs=2)
    assert str(one.value) == str(split.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.gml"]


def test_spilled_records_round_trip() -> None:
    import numpy as np
    from greentwin.citygml.reader import CityGMLReader
    from greentwin.tiles.mesh import FeatureMesh, build_records
    from greentwin.tiles.records import (
        coarse_batch,
        coarse_batch_of,
        coarse_record,
        leaf_batch,
        leaf_batch_of,
        leaf_record,
    )

    features = list(CityGMLReader(CITYGML / "citygml4j_lod3_building_v2.gml").features())
    features += list(CityGMLReader(CITYGML / "berlin_testarea_lod2_buildings.gml").features())[:4]
    recs = [r for r in build_records(features, lod=None, crs=None) if isinstance(r, FeatureMesh)]
    assert len(recs) == 5 and recs[0].uv is not None and recs[1].uv is None
    back = leaf_batch([leaf_record(r) for r in recs])
    want = leaf_batch_of(recs)
    for name in want.__slots__:
        a, b = getattr(back, name), getattr(want, name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b, name
    rows = [r.objects[0] for r in recs]
    cback = coarse_batch([coarse_record(r.origin, r.coarse, r.objects[0]) for r in recs])
    cwant = coarse_batch_of([r.origin for r in recs], [r.coarse for r in recs], rows)
    for name in cwant.__slots__:
        a, b = getattr(cback, name), getattr(cwant, name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b, name


@pytest.mark.parametrize("drop", [1, 3])
def test_objects_without_id(
    drop: int, tmp_path: Path, tiny_ranges: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Invented ids count through the file: one range may have them, several may not."""
    import re

    text = (CITYGML / "berlin_testarea_lod2_buildings.gml").read_text(encoding="utf-8")
    # drop the gml:id of the first `drop` Buildings (the first is alone in its range)
    doc = re.sub(r'(<bldg:Building) gml:id="[^"]*"', r"\1", text, count=drop)
    path = tmp_path / "anon.gml"
    path.write_text(doc, encoding="utf-8")
    a = convert([path], tmp_path / "a", split=False)
    with caplog.at_level(logging.INFO, logger="greentwin.tiles.convert"):
        b = convert([path], tmp_path / "b", split=True, jobs=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert a.skipped == b.skipped
    assert ("without gml:id in several ranges" in caplog.text) == (drop > 1)


def test_missing_texture_reported_once(tmp_path: Path, tiny_ranges: None) -> None:
    import re

    # three copies of the building (ids renamed), apart from the sample's images: every
    # texture is missing
    text = (CITYGML / "citygml4j_lod3_building_v2.gml").read_text(encoding="utf-8")
    start, end = text.index("<cityObjectMember"), text.rindex("</CityModel>")
    ids = re.compile(r'((?:gml:id|xlink:href|uri|ring)=")(#?)([^"]+)(")')

    def rename(k: int) -> str:
        def one(m: re.Match[str]) -> str:
            if m[1] != 'gml:id="' and not m[2]:
                return m[0]  # not a reference inside the document
            return f"{m[1]}{m[2]}{m[3]}_r{k}{m[4]}"

        return ids.sub(one, text[start:end])

    copies = [rename(k) for k in range(3)]
    doc = tmp_path / "lod3x3.gml"
    doc.write_text(text[:start] + "".join(copies) + text[end:], encoding="utf-8")
    a = convert([doc], tmp_path / "a", split=False)
    b = convert([doc], tmp_path / "b", split=True, jobs=2)
    assert any("not found" in s.reason for s in a.skipped)
    assert [(s.id, s.reason) for s in a.skipped] == [(s.id, s.reason) for s in b.skipped]
    # libxml2 keeps exact line numbers only up to 65535 (beyond, the single stream's are
    # approximate); each range is a small document, so its lines stay exact
    lines = doc.read_text(encoding="utf-8").splitlines()
    for sa, sb in zip(a.skipped, b.skipped, strict=True):
        if sa.line and sa.line < 65535:
            assert sa.line == sb.line
        if sb.reason.startswith("degenerate polygon in "):
            owner = sb.reason.removeprefix("degenerate polygon in ")
            assert f'gml:id="{owner}"' in lines[sb.line - 1]
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
