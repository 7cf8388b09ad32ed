"""CityGML vegetation import/export mapping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from greentwin.citygml.model import Feature, ImplicitGeometry, Polygon, SourceCRS
from greentwin.citygml.reader import CityGMLReader
from greentwin.green_model import (
    Remove,
    SpeciesLibrary,
    features_from_vegetation,
    read_vegetation,
    vegetation_from_features,
    write_vegetation,
)
from gt_testing import CITYGML

CRS = SourceCRS("EPSG:25833", 25833)
SURVEY = dt.date(2014, 6, 1)


def _features() -> list[Feature]:
    imp = ImplicitGeometry(np.diag([4.0, 4.0, 9.0, 1.0]), np.array([10.0, 20.0, 40.0]), "tree.glb")
    ring = np.array([[0.0, 0.0, 39.0], [30.0, 0.0, 39.0], [30.0, 20.0, 39.0], [0.0, 20.0, 39.0]])
    return [
        Feature(
            "a",
            "SolitaryVegetationObject",
            CRS,
            {
                "species": "Acer platanoides",
                "height": 9.0,
                "crownDiameter": 4.0,
                "trunkDiameter": 0.2,
                "owner": "city",
            },
            implicit={2: imp},
        ),
        Feature(
            "b", "SolitaryVegetationObject", CRS, {"height": 7.0, "X": 1.0, "Y": 2.0, "Z": 3.0}
        ),
        Feature(
            "c",
            "SolitaryVegetationObject",
            CRS,
            {"species": "Metasequoia glyptostroboides", "crownDiameter": 5.0, "X": 5.0, "Y": 5.0},
        ),
        Feature("d", "SolitaryVegetationObject", CRS, {"species": "Tilia"}),
        Feature(
            "m",
            "PlantCover",
            CRS,
            {"class": "Wiese", "averageHeight": 0.4},
            lods={1: [Polygon(ring)]},
        ),
        Feature("x", "Building", CRS, {}),
    ]


def test_import_mapping() -> None:
    data = vegetation_from_features(_features(), SURVEY)
    assert [t.id for t in data.trees] == ["a", "b", "c"]
    a, b, c = data.trees
    assert (a.species, a.x, a.y, a.z) == ("acer_platanoides", 10.0, 20.0, 40.0)
    assert a.dbh_cm == pytest.approx(20.0) and a.height_m == 9.0 and a.crown_diameter_m == 4.0
    assert a.attributes["owner"] == "city"
    assert (b.species, b.x, b.y, b.z) == ("tilia_cordata", 1.0, 2.0, 3.0)
    assert c.species == "tilia_cordata" and c.height_m is None
    assert data.defaulted_species == ["b", "c"]
    assert [s[0] for s in data.skipped] == ["d"]
    assert len(data.covers) == 1 and data.covers[0].cover == "meadow"
    assert data.covers[0].area_m2 == pytest.approx(600.0)
    other = vegetation_from_features(
        _features(), SURVEY, library=SpeciesLibrary.default("acer_platanoides")
    )
    assert other.trees[1].species == "acer_platanoides"


def test_export_features_of_a_date() -> None:
    data = vegetation_from_features(_features(), SURVEY)
    trees = [*data.trees[:2], data.trees[2].with_event(Remove(dt.date(2016, 1, 1)))]
    feats = features_from_vegetation(
        trees, data.covers, dt.date(2024, 7, 1), crs=CRS, version="3.0"
    )
    svo = [f for f in feats if f.cls == "SolitaryVegetationObject"]
    assert [f.id for f in svo] == ["a", "b"]
    fa = svo[0]
    assert fa.attributes["species"] == "Acer platanoides"
    assert float(fa.attributes["height"]) > 9.0
    assert float(fa.attributes["trunkDiameter"]) > 0.2
    assert fa.implicit[2].library_object == "urn:greentwin:plant:acer_platanoides"
    assert fa.implicit[2].transformation[2, 2] == pytest.approx(
        float(fa.attributes["height"]), rel=1e-3
    )
    cover = next(f for f in feats if f.cls == "PlantCover")
    assert cover.lods[1][0].exterior.shape == (4, 3)


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_berlin_round_trip(tmp_path: Path, version: str) -> None:
    data = read_vegetation(CITYGML / "berlin_testarea_trees_veg.gml", SURVEY)
    assert len(data.trees) == 288
    assert data.crs is not None and data.crs.horizontal_epsg == 25833
    assert len(data.defaulted_species) == 288  # no species in the file: default genus
    t0 = data.trees[0]
    assert t0.attributes["h_crown"] == pytest.approx(4.18)
    s0 = t0.state_at(SURVEY)
    assert s0.height_m == pytest.approx(7.07) and s0.crown_diameter_m == pytest.approx(3.57)
    out = tmp_path / f"veg{version}.gml"
    n = write_vegetation(
        out, data.trees, data.covers, dt.date(2030, 7, 1), version=version, crs=data.crs
    )  # type: ignore[arg-type]
    assert n == 288
    back = list(CityGMLReader(out).features())
    assert len(back) == 288
    f0 = back[0]
    assert f0.attributes["species"] == "Tilia cordata"
    h = float(f0.attributes["height"])
    assert h > 7.07
    assert float(f0.attributes["h_trunk"]) + float(f0.attributes["h_crown"]) == pytest.approx(
        h, abs=0.01
    )
    # the imported implicit geometry is kept, rescaled to the new height
    assert f0.implicit and f0.implicit[2].prototype
    assert f0.implicit[2].transformation[2, 2] == pytest.approx(h, rel=1e-3)


@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_cover_round_trip(tmp_path: Path, version: str) -> None:
    data = vegetation_from_features(_features(), SURVEY)
    out = tmp_path / "covers.gml"
    write_vegetation(
        out, data.trees[:1], data.covers, dt.date(2020, 7, 1), version=version, crs=CRS
    )  # type: ignore[arg-type]
    back = read_vegetation(out, dt.date(2020, 7, 1))
    assert [c.id for c in back.covers] == ["m"]
    assert back.covers[0].area_m2 == pytest.approx(600.0)
    assert back.covers[0].cover == "meadow"
    assert len(back.trees) == 1 and back.trees[0].species == "acer_platanoides"
