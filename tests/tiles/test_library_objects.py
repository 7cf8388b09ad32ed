"""Trees exported by greentwin (implicit geometry naming ``urn:greentwin:plant:*``)
convert back to trees instead of "no geometry"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from greentwin.citygml.model import Feature, ImplicitGeometry, SourceCRS
from greentwin.citygml.writer import write_citygml
from greentwin.green_model import SpeciesLibrary, features_from_vegetation, vegetation_from_features
from greentwin.tiles.convert import convert
from greentwin.tiles.geodesy import ecef_to_geodetic
from greentwin.tiles.library import PLANT_PREFIX, library_prototype
from greentwin.tiles.reader import read_tileset
from gt_metadata import metadata_problems
from gt_testing import assert_valid_gltf

CRS = SourceCRS("EPSG:25833", 25833)
SPECIES = ["Tilia cordata", "Acer platanoides", "Pinus sylvestris"]


def _survey() -> list[Feature]:
    return [
        Feature(
            f"tree{i}",
            "SolitaryVegetationObject",
            CRS,
            {
                "species": SPECIES[i % 3],
                "height": 8.0 + i,
                "crownDiameter": 5.0,
                "X": 396900.0 + 15.0 * i,
                "Y": 5819500.0,
                "Z": 40.0,
            },
        )
        for i in range(6)
    ]


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_exported_trees_convert_back(tmp_path: Path, version: Literal["2.0", "3.0"]) -> None:
    data = vegetation_from_features(_survey(), dt.date(2020, 6, 1))
    feats = features_from_vegetation(data.trees, [], dt.date(2020, 6, 1), crs=CRS, version=version)
    assert all(
        imp.library_object and imp.library_object.startswith(PLANT_PREFIX) and not imp.prototype
        for f in feats
        for imp in f.implicit.values()
    )
    gml = tmp_path / "export.gml"
    write_citygml(feats, gml, version=version, crs=CRS)
    summary = convert([gml], tmp_path / "out")
    assert summary.features == 6
    assert not [s for s in summary.skipped if "geometry" in s.reason], summary.skipped
    _, tiles = read_tileset(summary.tileset)
    leaves = [t for t in tiles if "children" not in t.tile]
    rows = {r["id"]: r for t in leaves for r in t.tables[0]}
    assert set(rows) == {f.id for f in feats}
    assert {rows[f.id]["class"] for f in feats} == {"SolitaryVegetationObject"}
    glbs = sorted(summary.tileset.parent.glob("tiles/*.glb"))
    assert_valid_gltf(glbs)
    assert not [m for p in glbs for m in metadata_problems(p)]
    # each tree stands at its place, as tall as exported (the mesh is unit height)
    tallest = max(float(f.attributes["height"]) for f in feats)
    geo = ecef_to_geodetic(np.concatenate([t.positions for t in leaves]))
    assert geo[:, 2].max() - geo[:, 2].min() == pytest.approx(tallest, rel=0.05)


def test_unknown_library_object_is_reported() -> None:
    from greentwin.tiles.mesh import build_records

    assert library_prototype("urn:greentwin:plant:no_such_species") == ()
    lib = SpeciesLibrary.default()
    assert len(library_prototype(PLANT_PREFIX + lib.keys[0])) > 10
    imp = ImplicitGeometry(np.eye(4), np.array([396900.0, 5819500.0, 40.0]), "urn:x:bench")
    f = Feature("b1", "CityFurniture", CRS, implicit={1: imp})
    (got,) = build_records([f], lod=None, crs=None)
    assert "urn:x:bench" in getattr(got, "reason", "")
