"""Quadtree tiling on a synthetic city: leaf limits, coarse parents, errors, boxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from greentwin.citygml.model import AttributeValue, Feature, Polygon, SkippedFeature, SourceCRS
from greentwin.tiles.convert import convert
from greentwin.tiles.reader import read_tileset
from gt_testing import assert_valid_gltf

CRS = SourceCRS("EPSG:25833", 25833)


def box_polygons(
    x: float, y: float, w: float, d: float, h: float, z0: float = 40.0
) -> list[Polygon]:
    """A closed box building with semantic surfaces (exterior rings CCW from outside)."""
    p = np.array([[x, y, z0], [x + w, y, z0], [x + w, y + d, z0], [x, y + d, z0]], dtype=np.float64)
    up = np.array([0.0, 0.0, h])
    top = p + up
    polys = [
        Polygon(p[::-1].copy(), surface_type="GroundSurface"),
        Polygon(top.copy(), surface_type="RoofSurface"),
    ]
    for i in range(4):
        a, b = p[i], p[(i + 1) % 4]
        polys.append(Polygon(np.array([a, b, b + up, a + up]), surface_type="WallSurface"))
    return polys


def city(n: int, spacing: float = 30.0) -> list[Feature]:
    """``n`` box buildings on a grid, every third with two parts."""
    out = []
    side = int(np.ceil(np.sqrt(n)))
    for k in range(n):
        x = 390000.0 + (k % side) * spacing
        y = 5819000.0 + (k // side) * spacing
        fid = f"B{k}"
        attrs: dict[str, AttributeValue] = {
            "measuredHeight": 10.0 + k % 7,
            "function": "31001_1000",
            "gen_year": 1900 + k,
        }
        f = Feature(fid, "Building", CRS, attributes=attrs, line=k + 1)
        if k % 3 == 0:
            for j in range(2):
                part = Feature(
                    f"{fid}_p{j}",
                    "BuildingPart",
                    CRS,
                    parent_id=fid,
                    line=k + 1,
                    lods={2: box_polygons(x + j * 8, y, 8, 10, 6 + j)},
                )
                f.children.append(part)
        else:
            f.lods[2] = box_polygons(x, y, 12, 10, 10.0 + k % 7)
            f.lods[1] = box_polygons(x, y, 12, 10, 10.0 + k % 7)
        out.append(f)
    return out


class _FakeReader:
    """Stands in for the CityGML reader: yields prepared features."""

    features_to_yield: ClassVar[list[Feature]] = []

    def __init__(
        self,
        path: Path,
        *,
        crs: str | None = None,
        appearance_theme: str | None = None,
        vertical_crs: str | None = None,
    ) -> None:
        self.skipped: list[SkippedFeature] = []

    def features(self) -> Iterator[Feature]:
        yield from self.features_to_yield

    def chunks(self, target_bytes: int) -> str:
        return "prepared features (no file to split)"


@pytest.fixture()
def fake_reader(monkeypatch: pytest.MonkeyPatch) -> type[_FakeReader]:
    monkeypatch.setattr("greentwin.tiles.convert.CityGMLReader", _FakeReader)
    return _FakeReader


def test_quadtree_limits_and_coarse_levels(tmp_path: Path, fake_reader: type[_FakeReader]) -> None:
    town = city(300)
    town.append(Feature("empty", "Building", CRS, line=999))
    fake_reader.features_to_yield = town
    s = convert(
        [Path("synthetic.gml")], tmp_path / "t", max_features_per_tile=20, max_coarse_per_tile=40
    )
    assert s.features == 300
    assert [x.reason for x in s.skipped] == ["no geometry"]
    doc, tiles = read_tileset(s.tileset)
    assert max(t.depth for t in tiles) >= 2
    leaves = [t for t in tiles if "children" not in t.tile]
    parents = [t for t in tiles if "children" in t.tile]
    tops: set[str] = set()
    for t in leaves:
        rows = t.tables[0]
        top = [r for r in rows if r["parent_id"] == ""]
        assert len(top) <= 20
        tops.update(r["id"] for r in top)
        assert t.tile["geometricError"] == 0
        assert len(t.tables) == 2  # objects and surfaces
    assert tops == {f"B{k}" for k in range(300)}
    for t in parents:
        assert 0 < len(t.tables[0]) <= 40  # coarse blocks of the largest buildings
        assert len(t.tables) == 1
        assert all(r["class"] == "Building" for r in t.tables[0])
    # strictly decreasing errors, boxes holding every vertex
    for t in tiles:
        if t.parent_error is not None:
            assert t.tile["geometricError"] < t.parent_error
        box = np.array(t.tile["boundingVolume"]["box"])
        lo = box[:3] - np.diag(box[3:].reshape(3, 3))
        hi = box[:3] + np.diag(box[3:].reshape(3, 3))
        assert np.all(t.local_positions >= lo - 1e-6) and np.all(t.local_positions <= hi + 1e-6)
    assert doc["geometricError"] > tiles[0].tile["geometricError"]
    assert_valid_gltf(sorted(s.tileset.parent.glob("tiles/*.glb")))


def test_parts_point_to_their_building(tmp_path: Path, fake_reader: type[_FakeReader]) -> None:
    fake_reader.features_to_yield = city(6)
    s = convert([Path("synthetic.gml")], tmp_path / "t")
    _, tiles = read_tileset(s.tileset)
    rows = tiles[0].tables[0]
    parts = [r for r in rows if r["class"] == "BuildingPart"]
    assert len(parts) == 4 and {r["parent_id"] for r in parts} == {"B0", "B3"}
    glb = tiles[0].glb
    assert glb is not None
    # every vertex of a part carries the part's row; its parent_id names the building
    for prim in glb.json["meshes"][0]["primitives"]:
        ids = glb.accessor(prim["attributes"]["_FEATURE_ID_0"]).astype(int)
        assert ids.max() < len(rows)
        surf = glb.accessor(prim["attributes"]["_FEATURE_ID_1"]).astype(int)
        srows = tiles[0].tables[1]
        assert all(srows[s]["object"] == o for s, o in zip(surf[::7], ids[::7], strict=True))
    assert s.objects == 6 + 4


def test_lod_choice_per_feature(tmp_path: Path, fake_reader: type[_FakeReader]) -> None:
    town = city(6)  # B1, B2, B4, B5 have LoD1 and LoD2; B0, B3 only LoD2 parts
    fake_reader.features_to_yield = town
    s = convert([Path("synthetic.gml")], tmp_path / "a", lod=1)
    assert s.lods_used == {1: 4, 2: 2} and s.fallbacks == 2
    s = convert([Path("synthetic.gml")], tmp_path / "b")
    assert s.lods_used == {2: 6} and s.fallbacks == 0
    _, tiles = read_tileset(s.tileset)
    assert {r["lod"] for r in tiles[0].tables[0] if r["parent_id"] == ""} == {2}
