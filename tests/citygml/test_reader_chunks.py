"""Byte ranges of one file: boundaries, line numbers, fallbacks, same features as one stream."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from greentwin.citygml.model import Feature, SkippedFeature
from greentwin.citygml.reader import ChunkFallback, ChunkSpec, CityGMLReader
from gt_testing import CITYGML

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = CITYGML / "berlin_testarea_lod2_buildings.gml"


def _by_ranges(path: Path, target: int) -> tuple[list[Feature], list[SkippedFeature], int]:
    """Features and skips of every range, lines made file-relative; and the range count."""
    reader = CityGMLReader(path)
    specs = reader.chunks(target)
    assert not isinstance(specs, str), specs
    lines = reader.newlines_before(specs[0].start)
    features: list[Feature] = []
    skipped: list[SkippedFeature] = []
    for spec in specs:
        part = CityGMLReader.from_chunk(spec)
        for f in part.features():
            _shift_lines(f, lines)
            features.append(f)
        skipped += [
            SkippedFeature(s.id, s.line + lines if s.line else 0, s.reason) for s in part.skipped
        ]
        lines += part.newlines
    return features, skipped, len(specs)


def _shift_lines(feature: Feature, lines: int) -> None:
    feature.line += lines
    for child in feature.children:
        _shift_lines(child, lines)


def _summary(features: list[Feature]) -> list[tuple[object, ...]]:
    def one(f: Feature) -> tuple[object, ...]:
        return (
            f.id,
            f.cls,
            f.line,
            f.parent_id,
            sorted(f.attributes.items()),
            {lod: len(p) for lod, p in f.lods.items()},
            [one(c) for c in f.children],
        )

    return [one(f) for f in features]


@pytest.mark.parametrize(
    "name",
    [
        "3dcitydb_Potsdam_LoD1.gml",
        "berlin_testarea_lod2_buildings.gml",
        "citygml4j_lod2_buildings_v3.gml",
        "citygml4j_lod3_building_v2.gml",
        "libcitygml_FZK-Haus-LoD0.gml",
    ],
)
def test_ranges_read_like_one_stream(name: str) -> None:
    path = CITYGML / name
    reader = CityGMLReader(path)
    whole = list(reader.features())
    features, skipped, n = _by_ranges(path, 8_000)
    assert _summary(features) == _summary(whole)
    assert skipped == reader.skipped
    if path.stat().st_size > 100_000 and len(whole) > 1:
        assert n > 1


@pytest.mark.parametrize(
    ("name", "member", "close"),
    [
        ("berlin_testarea_lod2_buildings.gml", b"<cityObjectMember", b"</CityModel>"),
        ("berlin_testarea_trees_veg.gml", b"<core:cityObjectMember", b"</core:CityModel>"),
    ],
)
def test_boundaries_are_member_start_tags(name: str, member: bytes, close: bytes) -> None:
    path = CITYGML / name
    specs = CityGMLReader(path).chunks(1)  # every member its own range
    assert not isinstance(specs, str)
    data = path.read_bytes()
    assert len(specs) == data.count(member) > 1
    for a, b in itertools.pairwise(specs):
        assert a.end == b.start
    for spec in specs:
        assert data[spec.start :].startswith(member)
        assert b"\n" not in spec.head and spec.head.startswith(b"<?xml")
        assert spec.tail == close
    assert data[specs[-1].end :].startswith(close)


def test_default_namespace_members_and_skip_lines() -> None:
    path = FIXTURES / "broken_features.gml"
    reader = CityGMLReader(path)
    whole = list(reader.features())
    assert reader.skipped and all(s.line > 0 for s in reader.skipped if s.line)
    features, skipped, n = _by_ranges(path, 1)
    assert n == path.read_bytes().count(b"<cityObjectMember")
    assert _summary(features) == _summary(whole)
    assert skipped == reader.skipped  # same lines as the single stream


def _write(tmp_path: Path, text: str) -> Path:
    out = tmp_path / "doc.gml"
    out.write_text(text, encoding="utf-8")
    return out


def test_fallback_reasons(tmp_path: Path) -> None:
    text = BERLIN.read_text(encoding="utf-8")
    member = '<app:appearanceMember xmlns:app="http://www.opengis.net/citygml/appearance/2.0"/>'
    first = text.index("<cityObjectMember>")
    before = text[:first] + member + text[first:]
    assert "appearanceMember" in str(CityGMLReader(_write(tmp_path, before)).chunks(1000))
    after = text.replace("</CityModel>", member + "</CityModel>")
    specs = CityGMLReader(_write(tmp_path, after)).chunks(1000)
    assert not isinstance(specs, str)
    list(CityGMLReader.from_chunk(specs[0]).features())  # ranges without it read fine
    with pytest.raises(ChunkFallback, match="appearanceMember"):
        list(CityGMLReader.from_chunk(specs[-1]).features())
    cut = text[: text.rindex("</CityModel>")]
    assert "root end tag" in str(CityGMLReader(_write(tmp_path, cut)).chunks(1000))
    no_crs = FIXTURES / "no_crs.gml"
    assert "CRS" in str(CityGMLReader(no_crs).chunks(1000))


def test_shared_prototype_falls_back() -> None:
    trees = CityGMLReader(CITYGML / "berlin_testarea_trees_veg.gml")
    specs = trees.chunks(10**9)
    assert not isinstance(specs, str)
    with pytest.raises(ChunkFallback, match="prototype"):
        list(CityGMLReader.from_chunk(specs[0]).features())


def test_false_boundary_in_comment_falls_back(tmp_path: Path) -> None:
    text = BERLIN.read_text(encoding="utf-8")
    first = text.index("<cityObjectMember>")
    second = text.index("<cityObjectMember>", first + 10)
    # a comment inside the first member that contains a member start tag
    at = text.index("<bldg:", first)
    doc = text[:at] + "<!-- <cityObjectMember> -->" + text[at:]
    path = _write(tmp_path, doc)
    reader = CityGMLReader(path)
    assert len(list(reader.features())) == 17
    specs = reader.chunks(1)
    assert not isinstance(specs, str)
    bad = [s for s in specs if s.start < second]
    assert len(bad) == 2  # the comment made a false cut
    with pytest.raises(ChunkFallback, match="not well-formed"):
        list(CityGMLReader.from_chunk(bad[0]).features())


def test_spec_is_picklable() -> None:
    import pickle

    specs = CityGMLReader(BERLIN).chunks(100_000)
    assert not isinstance(specs, str)
    again = pickle.loads(pickle.dumps(specs[0]))
    assert isinstance(again, ChunkSpec) and again == specs[0]


def test_declared_latin1_encoding(tmp_path: Path) -> None:
    text = BERLIN.read_text(encoding="utf-8")
    assert "ß" in text
    head, rest = text.split("?>", 1)
    doc = tmp_path / "latin1.gml"
    doc.write_bytes((head.replace("UTF-8", "ISO-8859-1") + "?>" + rest).encode("iso-8859-1"))
    reader = CityGMLReader(doc)
    whole = list(reader.features())
    features, skipped, n = _by_ranges(doc, 1)
    assert n == 17 and skipped == reader.skipped
    assert _summary(features) == _summary(whole)
    assert any("ß" in str(f.attributes.get("address", "")) for f in features)


def test_utf16_is_read_as_one_stream(tmp_path: Path) -> None:
    text = BERLIN.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    doc = tmp_path / "utf16.gml"
    doc.write_bytes(text.encode("utf-16"))
    assert "UTF-16" in str(CityGMLReader(doc).chunks(1000))
