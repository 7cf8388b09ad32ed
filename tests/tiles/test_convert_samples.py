"""convert() on every bundled CityGML sample: validity, counts, attributes, boxes, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.citygml.model import Feature
from greentwin.citygml.reader import CityGMLReader
from greentwin.tiles.convert import ConversionSummary, convert
from greentwin.tiles.mesh import attribute_column
from greentwin.tiles.reader import TileRecord, read_tileset
from gt_metadata import metadata_problems, tables_of
from gt_testing import CITYGML, assert_valid_gltf

SAMPLES = sorted(p.name for p in CITYGML.glob("*.gml"))


def _count(features: list[Feature]) -> tuple[int, int, set[str]]:
    top = len(features)
    ids: set[str] = set()

    def visit(f: Feature) -> None:
        ids.add(f.id)
        for c in f.children:
            visit(c)

    for f in features:
        visit(f)
    return top, len(ids), ids


@pytest.fixture(scope="module", params=SAMPLES)
def converted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, ConversionSummary, dict[str, Any], list[TileRecord], list[Feature]]:
    name: str = request.param
    out = tmp_path_factory.mktemp("conv") / "tileset"
    # small leaves so every sample with more than a handful of features gets a real tree
    summary = convert([CITYGML / name], out, max_features_per_tile=12, max_coarse_per_tile=30)
    doc, tiles = read_tileset(out / "tileset.json")
    features = list(CityGMLReader(CITYGML / name).features())
    return name, summary, doc, tiles, features


def test_valid_gltf(converted: Any) -> None:
    _, summary, _, _, _ = converted
    glbs = sorted(summary.tileset.parent.glob("tiles/*.glb"))
    assert len(glbs) == summary.tiles
    assert_valid_gltf(glbs)


def test_counts_ids_and_attributes(converted: Any) -> None:
    _, summary, _, tiles, features = converted
    top, nobj, ids = _count(features)
    with_geometry = [f for f in features if f.available_lods() or f.implicit]
    assert summary.features + sum(1 for s in summary.skipped if s.reason.startswith("no ")) == top
    assert summary.features == len(with_geometry)
    leaf_rows = [row for t in tiles if "children" not in t.tile and t.tables for row in t.tables[0]]
    assert len(leaf_rows) == summary.objects == nobj
    assert {r["id"] for r in leaf_rows} == ids
    # every row names its class; parts name their building
    by_id = {r["id"]: r for r in leaf_rows}
    for f in features:
        row = by_id[f.id]
        assert row["class"] == f.cls
        for key, value in f.attributes.items():
            col = attribute_column(key)
            if col not in row:  # renamed to a valid property id
                col = re.sub(r"[^A-Za-z0-9_]", "_", col)
                col = "_" + col if col[0].isdigit() else col
            if isinstance(row[col], str):  # a column of mixed types is a string column
                assert row[col] == str(value)
            elif isinstance(value, float):
                assert row[col] == pytest.approx(value)
            elif isinstance(value, bool | int):
                assert row[col] == value
            else:
                assert row[col] == str(value)
        for c in f.children:
            assert by_id[c.id]["parent_id"] == f.id


def test_boxes_contain_positions(converted: Any) -> None:
    _, _, doc, tiles, _ = converted
    for t in tiles:
        box = np.array(t.tile["boundingVolume"]["box"])
        c, half = box[:3], box[3:].reshape(3, 3)
        if len(t.local_positions) == 0:
            continue
        # positions in the tile frame, projected on the box axes
        rel = t.local_positions - c
        coords = rel @ half.T / (half**2).sum(axis=1)
        assert np.abs(coords).max() <= 1.0 + 1e-6
    # children inside their parent's box (axis-aligned boxes in one frame)
    for t in tiles:
        pb = np.array(t.tile["boundingVolume"]["box"])
        for child in t.tile.get("children", []):
            cb = np.array(child["boundingVolume"]["box"])
            assert np.all(
                cb[:3] - np.diag(cb[3:].reshape(3, 3))
                >= pb[:3] - np.diag(pb[3:].reshape(3, 3)) - 1e-6
            )
            assert np.all(
                cb[:3] + np.diag(cb[3:].reshape(3, 3))
                <= pb[:3] + np.diag(pb[3:].reshape(3, 3)) + 1e-6
            )
    assert doc["asset"]["version"] == "1.1"


def test_geometric_errors_monotone(converted: Any) -> None:
    _, _, doc, tiles, _ = converted
    assert doc["geometricError"] >= tiles[0].tile["geometricError"]
    for t in tiles:
        if t.parent_error is not None:
            assert t.tile["geometricError"] < t.parent_error
        if "children" not in t.tile:
            assert t.tile["geometricError"] == 0


def test_positions_are_on_earth(converted: Any) -> None:
    _, _, _, tiles, _ = converted
    pos = np.concatenate([t.positions for t in tiles if len(t.positions)])
    r = np.linalg.norm(pos, axis=1)
    assert np.all((r > 6.3e6) & (r < 6.4e6))


def test_lod3_sample_is_textured(tmp_path: Path) -> None:
    summary = convert([CITYGML / "citygml4j_lod3_building_v2.gml"], tmp_path / "t")
    _, tiles = read_tileset(summary.tileset)
    glb = tiles[0].glb
    assert glb is not None
    assert len(glb.json["images"]) >= 1 and len(glb.json["textures"]) >= 1
    prims = glb.json["meshes"][0]["primitives"]
    assert any("TEXCOORD_0" in p["attributes"] for p in prims)
    uv = np.concatenate(
        [
            glb.accessor(p["attributes"]["TEXCOORD_0"])
            for p in prims
            if "TEXCOORD_0" in p["attributes"]
        ]
    )
    assert np.isfinite(uv).all()


def test_lod_choice_and_fallback(tmp_path: Path) -> None:
    berlin = CITYGML / "berlin_testarea_lod2_buildings.gml"
    s = convert([berlin], tmp_path / "a", lod=1)
    assert s.fallbacks == s.features and s.lods_used == {2: s.features}
    s = convert([berlin], tmp_path / "b", lod=2)
    assert s.fallbacks == 0
    s = convert([berlin], tmp_path / "c", lod=4)  # nearest lower LoD first
    assert s.fallbacks == s.features and s.lods_used == {2: s.features}
    assert_valid_gltf(sorted(tmp_path.glob("*/tiles/*.glb")))


def test_ground_mode_puts_model_on_ellipsoid(tmp_path: Path) -> None:
    from greentwin.tiles.geodesy import ecef_to_geodetic

    s = convert(
        [CITYGML / "berlin_testarea_lod2_buildings.gml"], tmp_path / "g", height_mode="ground"
    )
    _, tiles = read_tileset(s.tileset)
    h = ecef_to_geodetic(np.concatenate([t.positions for t in tiles if len(t.positions)]))[:, 2]
    assert h.min() == pytest.approx(0.0, abs=0.05)
    assert h.max() > 5.0
    assert_valid_gltf(sorted(s.tileset.parent.glob("tiles/*.glb")))


def test_property_tables_follow_the_spec(converted: Any) -> None:
    """Every property table of every tile: offsets against lengths, counts, types
    (EXT_structural_metadata rules; see metadata_spec)."""
    _, summary, _, _, _ = converted
    glbs = sorted(summary.tileset.parent.glob("tiles/*.glb"))
    assert sum(tables_of(p) for p in glbs) >= len(glbs)
    problems = [msg for p in glbs for msg in metadata_problems(p)]
    assert not problems, problems[:5]
