"""write_citygml -> CityGMLReader gives back the same ids, attributes and coordinates."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from greentwin.citygml.model import Feature, ImplicitGeometry, Polygon, SourceCRS
from greentwin.citygml.reader import CityGMLReader
from greentwin.citygml.writer import write_citygml
from greentwin.core.errors import CityGMLError

CRS = SourceCRS("EPSG:25833", 25833)
SKIP_ATTRS = {
    "address",
    "yearOfConstruction",
    "dateOfConstruction",
    "yearOfDemolition",
    "dateOfDemolition",
}


def _square(x: float, y: float, z: float, size: float = 1.0) -> np.ndarray:
    return np.array(
        [[x, y, z], [x + size, y, z], [x + size, y + size, z + 0.1], [x, y + size, z]],
        dtype=np.float64,
    )


def _synthetic(version: str) -> list[Feature]:
    tree = Feature(
        "tree_1",
        "SolitaryVegetationObject",
        CRS,
        attributes={
            "species": "Tilia cordata",
            "class": "1070",
            "function": "1000",
            "height": 12.5,
            "trunkDiameter": 0.42,
            "crownDiameter": 7.25,
            "plantedYear": 1998,
            "note": "street tree",
        },
        implicit={
            2: ImplicitGeometry(
                np.diag([7.25, 7.25, 12.5, 1.0]),
                np.array([396900.125, 5819500.5, 41.0]),
                library_object="trees/tilia.glb",
                mime_type="model/gltf-binary",
            )
        },
    )
    if version == "3.0":
        tree.attributes["rootBallDiameter"] = 2.5
        tree.attributes["maxRootBallDepth"] = 1.25
    explicit = Feature(
        "tree_2",
        "SolitaryVegetationObject",
        CRS,
        attributes={"species": "Acer platanoides", "height": 9.0},
        lods={1: [Polygon(_square(396910.0, 5819510.0, 40.0), id="tree_2_p")]},
    )
    hole = _square(396920.2, 5819520.2, 40.0, 0.3)
    cover = Feature(
        "cover_1",
        "PlantCover",
        CRS,
        attributes={"averageHeight": 0.75, "class": "1010"},
        lods={2: [Polygon(_square(396920.0, 5819520.0, 40.0), [hole], id="cover_p")]},
    )
    if version == "3.0":
        cover.attributes.update({"minHeight": 0.25, "maxHeight": 1.5})
    return [tree, explicit, cover]


def _coords(f: Feature) -> list[np.ndarray]:
    out = []
    for lod in sorted(f.lods):
        for p in f.lods[lod]:
            out += [p.exterior, *p.interiors]
    for lod in sorted(f.implicit):
        g = f.implicit[lod]
        out += [g.transformation, g.reference_point]
        out += [r for p in g.prototype for r in (p.exterior, *p.interiors)]
    for c in f.children:
        out += _coords(c)
    return out


def _compare(a: Feature, b: Feature) -> None:
    assert a.id == b.id and a.cls == b.cls
    want = {k: v for k, v in a.attributes.items() if k not in SKIP_ATTRS}
    got = {k: v for k, v in b.attributes.items() if k not in SKIP_ATTRS}
    assert got == want
    for x, y in zip(_coords(a), _coords(b), strict=True):
        np.testing.assert_array_equal(x, y)
    types_a = sorted(p.surface_type for ps in a.lods.values() for p in ps)
    types_b = sorted(p.surface_type for ps in b.lods.values() for p in ps)
    assert types_a == types_b
    for lod, g in a.implicit.items():
        assert b.implicit[lod].library_object == g.library_object
        assert b.implicit[lod].mime_type == g.mime_type
    assert len(a.children) == len(b.children)
    for ca, cb in zip(a.children, b.children, strict=True):
        _compare(ca, cb)


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_roundtrip(tmp_path: Path, citygml_dir: Path, version: str) -> None:
    trees = list(
        itertools.islice(
            CityGMLReader(citygml_dir / "berlin_testarea_trees_veg.gml").features(), 12
        )
    )
    for i, t in enumerate(trees):
        t.id = f"tree_b{i}"  # invented ids contain '#', not a valid gml:id
    buildings = list(
        itertools.islice(
            CityGMLReader(citygml_dir / "berlin_testarea_lod2_buildings.gml").features(), 4
        )
    )
    lod3 = list(CityGMLReader(citygml_dir / "citygml4j_lod3_building_v2.gml").features())
    features = [*_synthetic(version), *trees, *buildings, *lod3]
    out = tmp_path / f"out{version}.gml"
    n = write_citygml(
        iter(features),
        out,
        version=version,  # type: ignore[arg-type]
        crs=CRS,
        envelope=((396000.0, 5819000.0, 0.0), (398000.0, 5820000.0, 100.0)),
    )
    assert n == len(features)
    reader = CityGMLReader(out)
    assert reader.version == version
    assert reader.crs == CRS
    back = list(reader.features())
    assert reader.skipped == []
    assert len(back) == len(features)
    for a, b in zip(features, back, strict=True):
        _compare(a, b)


def test_unsupported_class(tmp_path: Path) -> None:
    f = Feature("r1", "Road", CRS, lods={1: [Polygon(_square(0, 0, 0))]})
    with pytest.raises(CityGMLError, match="Road"):
        write_citygml([f], tmp_path / "x.gml", version="2.0", crs=CRS)
    assert not (tmp_path / "x.gml").exists() and not (tmp_path / "x.gml.part").exists()
