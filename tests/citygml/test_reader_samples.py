"""The reader on every bundled CityGML sample: counts, versions, CRS, attributes, geometry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from greentwin.citygml.model import Feature, Polygon
from greentwin.citygml.reader import CityGMLReader
from PIL import Image

SAMPLES = {
    # file: (version, counts per class, horizontal EPSG, vertical EPSG)
    "berlin_testarea_lod2_buildings.gml": (
        "2.0",
        {"Building": 17, "BuildingPart": 35},
        25833,
        None,
    ),
    "berlin_testarea_trees_veg.gml": ("2.0", {"SolitaryVegetationObject": 288}, 25833, None),
    "citygml4j_lod2_buildings_v3.gml": ("3.0", {"Building": 100}, 3068, 5783),
    "citygml4j_lod3_building_v2.gml": ("2.0", {"Building": 1}, 3068, 5783),
    "3dcitydb_Potsdam_LoD1.gml": ("1.0", {"Building": 97}, 25833, 5783),
    "libcitygml_FZK-Haus-LoD0.gml": ("2.0", {"Building": 1}, 25832, 5783),
}


def _read(path: Path, **kw: str) -> tuple[CityGMLReader, list[Feature]]:
    reader = CityGMLReader(path, **kw)
    return reader, list(reader.features())


def _all(features: list[Feature]) -> Iterator[Feature]:
    for f in features:
        yield f
        yield from _all(f.children)


def _polys(features: list[Feature]) -> Iterator[tuple[int, Polygon]]:
    for f in _all(features):
        for lod, polys in f.lods.items():
            for p in polys:
                yield lod, p


def _envelope(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Union of every gml:Envelope in the file (root or per feature)."""
    from lxml import etree

    lows, highs = [], []
    for _ev, el in etree.iterparse(str(path), events=("end",)):
        if isinstance(el.tag, str) and el.tag.endswith("}Envelope"):
            lows.append(np.array(el[0].text.split(), dtype=float))
            highs.append(np.array(el[1].text.split(), dtype=float))
    if not lows:
        return None
    return np.min(lows, axis=0), np.max(highs, axis=0)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_reads(citygml_dir: Path, name: str) -> None:
    version, counts, h_epsg, v_epsg = SAMPLES[name]
    reader, features = _read(citygml_dir / name)
    assert reader.version == version
    assert reader.crs is not None
    assert reader.crs.horizontal_epsg == h_epsg
    assert reader.crs.vertical_epsg == v_epsg
    assert reader.stats == counts
    assert reader.skipped == []
    ids = [f.id for f in _all(features)]
    assert len(ids) == len(set(ids)), "feature ids must be unique"
    for f in _all(features):
        assert f.version == version
        assert f.crs == reader.crs
    for _lod, poly in _polys(features):
        rings = [poly.exterior, *poly.interiors]
        for ring in rings:
            assert ring.dtype == np.float64 and ring.ndim == 2 and ring.shape[1] == 3
            assert ring.shape[0] >= 3
            assert np.isfinite(ring).all()
            assert not np.array_equal(ring[0], ring[-1]), "rings are stored open"


@pytest.mark.parametrize(
    "name",
    [
        "berlin_testarea_lod2_buildings.gml",
        "3dcitydb_Potsdam_LoD1.gml",
        "libcitygml_FZK-Haus-LoD0.gml",
        "berlin_testarea_trees_veg.gml",
    ],
)
def test_coordinates_within_envelope(citygml_dir: Path, name: str) -> None:
    _reader, features = _read(citygml_dir / name)
    pts = [p.exterior for _lod, p in _polys(features)]
    pts += [g.reference_point[None, :] for f in _all(features) for g in f.implicit.values()]
    allpts = np.concatenate(pts)
    env = _envelope(citygml_dir / name)
    assert env is not None
    lo, hi = env
    tol = 1.0
    assert (allpts[:, :2] >= lo[:2] - tol).all() and (allpts[:, :2] <= hi[:2] + tol).all()


def test_berlin_buildings_semantics(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "berlin_testarea_lod2_buildings.gml")
    types = Counter(p.surface_type for _lod, p in _polys(features))
    assert {"RoofSurface", "WallSurface", "GroundSurface", "ClosureSurface"} <= set(types)
    assert types[""] == 0, "solid references must not duplicate boundary polygons"
    assert sum(types.values()) == 783
    assert all(p.surface_id for _lod, p in _polys(features))
    parts = [c for f in features for c in f.children]
    assert len(parts) == 35
    assert all(c.cls == "BuildingPart" and c.parent_id for c in parts)
    with_height = [f for f in _all(features) if "measuredHeight" in f.attributes]
    assert with_height and all(
        isinstance(f.attributes["measuredHeight"], float) for f in with_height
    )
    assert all("function" in f.attributes for f in features)
    first = features[0]
    assert first.id == "DEBE11YYI00006s3"
    assert "Normannenstraße" in str(first.attributes["address"])
    assert first.attributes["Gemeindeschluessel"] == "11000011"
    storeys = [
        f.attributes["storeysAboveGround"]
        for f in _all(features)
        if "storeysAboveGround" in f.attributes
    ]
    assert storeys and all(isinstance(s, int) for s in storeys)


def test_trees_implicit_geometry(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "berlin_testarea_trees_veg.gml")
    assert len(features) == 288
    ids = [f.id for f in features]
    assert ids[0] == "berlin_testarea_trees_veg_1" and ids[-1] == "berlin_testarea_trees_veg_288"
    again = [f.id for f in CityGMLReader(citygml_dir / "berlin_testarea_trees_veg.gml").features()]
    assert ids == again, "invented ids are stable"
    first = features[0]
    assert first.cls == "SolitaryVegetationObject"
    assert first.attributes["height"] == pytest.approx(7.07)
    assert first.attributes["crownDiameter"] == pytest.approx(3.57)
    assert first.attributes["h_crown"] == pytest.approx(4.18)
    imp = first.implicit[2]
    assert imp.transformation.shape == (4, 4)
    assert imp.transformation[0, 0] == pytest.approx(3.393715534911038)
    assert imp.transformation[2, 2] == pytest.approx(7.07)
    assert imp.transformation[3, 3] == 1.0
    np.testing.assert_allclose(imp.reference_point, [396801.75, 5819590.41, 43.36])
    for f in features:
        g = f.implicit[2]
        assert g.prototype, f"{f.id} has its prototype (inline or by xlink:href)"
        # the reference point matches the generic X/Y/Z attributes the exporter wrote
        xyz = [float(f.attributes[k]) for k in ("X", "Y", "Z")]
        assert g.reference_point.tolist() == pytest.approx(xyz)
        assert g.transformation[2, 2] == pytest.approx(f.attributes["height"])


def test_lod3_textures_and_materials(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "citygml4j_lod3_building_v2.gml")
    polys = [p for _lod, p in _polys(features)]
    assert len(polys) == 3092
    textured = [p for p in polys if p.texture is not None]
    assert len(textured) == 3092
    images = {p.texture.image for p in textured if p.texture}
    assert len(images) == 8
    for image in images:
        assert Path(image).is_absolute() and Path(image).is_file()
        with Image.open(image) as im:
            assert im.size[0] > 0
    for p in textured:
        assert p.uv is not None and len(p.uv) == 1 + len(p.interiors)
        for uv, ring in zip(p.uv, [p.exterior, *p.interiors], strict=True):
            assert uv.shape == (ring.shape[0], 2)
            assert np.isfinite(uv).all()
    assert all(p.material is not None for p in polys)
    diffuse = {p.material.diffuse for p in polys if p.material}
    assert (0.587999999523, 0.587999999523, 0.587999999523) in diffuse
    types = Counter(p.surface_type for p in polys)
    assert types["Window"] == 199 and types["Door"] == 134 and types["RoofSurface"] == 171
    assert features[0].attributes["address"] == "Teststreet 3, 12345 Testtown"


def test_lod3_theme_not_present_gives_no_appearance(citygml_dir: Path) -> None:
    _reader, features = _read(
        citygml_dir / "citygml4j_lod3_building_v2.gml", appearance_theme="winter"
    )
    assert all(p.texture is None and p.material is None for _lod, p in _polys(features))


def test_citygml3_buildings(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "citygml4j_lod2_buildings_v3.gml")
    assert len(features) == 100
    types = Counter(p.surface_type for _lod, p in _polys(features))
    assert types == {"GroundSurface": 100, "WallSurface": 400, "RoofSurface": 200}
    a = features[0].attributes
    assert a["measuredHeight"] == 11.0
    assert a["class"] == "1100" and a["roofType"] == "1030"
    assert a["storeysAboveGround"] == 5 and a["yearOfConstruction"] == 1929


def test_potsdam_citygml1(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "3dcitydb_Potsdam_LoD1.gml")
    f = features[0]
    assert f.available_lods() == [1]
    assert f.attributes["function"] == "Gruppenhaus"
    assert f.attributes["OBJECTID"] == 18358
    assert f.attributes["DFORM"] == 2000.0
    assert f.attributes["address"] == "Tieckstraße, 53115 Potsdam"


def test_fzk_lod0(citygml_dir: Path) -> None:
    _reader, features = _read(citygml_dir / "libcitygml_FZK-Haus-LoD0.gml")
    (f,) = features
    assert f.available_lods() == [0]
    assert sorted(p.surface_type for p in f.lods[0]) == ["GroundSurface", "RoofSurface"]
    assert f.attributes["measuredHeight"] == 6.52
    assert f.attributes["GrossPlannedArea"] == 120.0
    assert f.attributes["yearOfConstruction"] == 2020
    assert f.attributes["address"] == "Spöcker Straße 4711, 76344 Eggenstein-Leopoldshafen"


def test_crs_override_wins(citygml_dir: Path) -> None:
    reader, features = _read(citygml_dir / "libcitygml_FZK-Haus-LoD0.gml", crs="EPSG:25832")
    assert reader.crs is not None and reader.crs.srs_name == "EPSG:25832"
    assert features[0].crs == reader.crs
