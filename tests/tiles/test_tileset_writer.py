"""The shared tile tree, quadtree splitter and tileset.json writer (city and vegetation)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from greentwin.green_model import PlantCover, TreeTable
from greentwin.tiles.convert import convert
from greentwin.tiles.tileset import Tile, split_quadtree, tileset_json
from greentwin.tiles.vegetation import build_vegetation_tileset
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

TOL = 1e-6


def _extent(tile: dict[str, Any]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    b = tile["boundingVolume"]["box"]
    assert b[4:7] == [0.0, 0.0, 0.0] and b[8:11] == [0.0, 0.0, 0.0]  # axis-aligned
    c = np.array(b[0:3])
    h = np.array([b[3], b[7], b[11]])
    assert np.all(h > 0)
    return c - h, c + h


def check_tileset(doc: dict[str, Any]) -> int:
    """Assert the tree rules every greentwin tileset keeps; returns the tile count.

    Every child's box lies inside its parent's, geometric errors never grow towards
    the leaves (leaves 0), refine is ADD or REPLACE, only the root has a transform.
    """
    assert doc["asset"]["version"] == "1.1"
    root = doc["root"]
    assert len(root["transform"]) == 16
    assert root["refine"] in ("ADD", "REPLACE")
    assert doc["geometricError"] >= root["geometricError"]
    count = 0
    todo = [root]
    while todo:
        tile = todo.pop()
        count += 1
        lo, hi = _extent(tile)
        assert tile.get("refine", "ADD") in ("ADD", "REPLACE")
        kids = tile.get("children", [])
        if not kids:
            assert tile["geometricError"] == 0.0
        for child in kids:
            assert "transform" not in child
            clo, chi = _extent(child)
            assert np.all(clo >= lo - TOL) and np.all(chi <= hi + TOL)
            assert child["geometricError"] <= tile["geometricError"]
            todo.append(child)
    return count


# -- the splitter -------------------------------------------------------------------


points_2d = arrays(
    np.float64,
    st.tuples(st.integers(1, 300), st.just(2)),
    elements=st.floats(-500.0, 500.0, allow_nan=False, width=32),
)


@given(points_2d, st.integers(1, 40))
def test_quadtree_leaves_partition_points_within_limits(
    pts: npt.NDArray[np.float64], cap: int
) -> None:
    root = split_quadtree(pts, lambda idx: len(idx) > cap, max_depth=12)
    leaves = [t for t in root.walk() if t.is_leaf]
    got = np.sort(np.concatenate([t.items for t in leaves]))
    assert got.tolist() == list(range(len(pts)))  # every point in exactly one leaf
    for t in root.walk():
        assert t.centre is not None
        # a cell holds its points (a point on a dividing line goes east / north)
        p = pts[t.items]
        assert np.all(np.abs(p - t.centre) <= t.half * (1 + 1e-9))
        if t.children:
            assert sorted(np.concatenate([c.items for c in t.children]).tolist()) == sorted(
                t.items.tolist()
            )
            for c in t.children:
                assert c.address[:-1] == t.address and c.address[-1] in "0123"
                assert c.half == t.half / 2
        else:
            # a leaf is small enough, single, identical points or at the depth limit
            assert len(t.items) <= cap or len(t.address) == 12 or np.ptp(p, axis=0).max() < 2e-3


def test_quadtree_identical_points_stop_and_items_subset() -> None:
    pts = np.zeros((50, 2))
    root = split_quadtree(pts, lambda idx: True, max_depth=30)
    leaves = [t for t in root.walk() if t.is_leaf]
    # splitting stops once the cell is under 2 mm, well before the depth limit
    assert len(leaves) == 1 and len(leaves[0].items) == 50 and leaves[0].half < 1e-3
    assert len(leaves[0].address) < 15
    pts = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [99.0, 99.0]])
    root = split_quadtree(
        pts,
        lambda idx: len(idx) > 1,
        max_depth=5,
        items=np.array([0, 1, 2, 3]),
        centre=np.array([5.0, 5.0]),
        half=5.0,
    )
    assert [c.address for c in root.children] == ["0", "1", "2", "3"]
    assert [c.items.tolist() for c in root.children] == [[0], [1], [2], [3]]


# -- the writer -----------------------------------------------------------------------


def _leaf(address: str, lo: list[float], hi: list[float], **kw: Any) -> Tile:
    return Tile(address, lo=np.array(lo), hi=np.array(hi), content=f"{address}.glb", **kw)


def test_writer_boxes_errors_refine_and_root_transform() -> None:
    a = _leaf("a", [0, 0, 0], [10, 10, 5])
    b = _leaf("b", [20, 0, 0], [30, 5, 0])  # flat: gets the least height
    mid = Tile("m", children=[a, b], error=4.0, refine="REPLACE", content="m.glb")
    mid.lo, mid.hi = np.array([5.0, 0, 0]), np.array([6.0, 1, 1])
    root = Tile(children=[mid], error=8.0, refine="ADD", transform=np.eye(4))
    doc = tileset_json(root, generator="test")
    assert doc["asset"] == {"version": "1.1", "generator": "test"}
    assert "extras" not in doc
    assert check_tileset(doc) == 4
    r = doc["root"]
    assert r["refine"] == "ADD" and r["transform"] == np.eye(4).reshape(-1).tolist()
    m = r["children"][0]
    assert m["refine"] == "REPLACE" and m["content"] == {"uri": "m.glb"}
    assert "refine" not in m["children"][0]  # inherited
    # the parent box is the union of its content and its children, 1 mm to spare
    lo, hi = _extent(m)
    assert np.allclose(lo, [-0.001, -0.001, -0.01]) and np.allclose(hi, [30.001, 10.001, 5.001])
    # default tileset error: the larger of twice the root's and the root box diagonal
    assert doc["geometricError"] == pytest.approx(max(16.0, float(np.linalg.norm([30, 10, 5]))))


def test_writer_widens_a_parent_around_a_child_least_size_box() -> None:
    # a point-like child at the corner of a small parent: its 5 cm box sticks out
    a = _leaf("a", [0, 0, 0], [0, 0, 0])
    b = _leaf("b", [0.01, 0.01, 0.01], [0.01, 0.01, 0.01])
    root = Tile(children=[a, b], error=1.0, refine="ADD", transform=np.eye(4))
    doc = tileset_json(root, margin=0.0, min_half=0.05)
    check_tileset(doc)


def test_writer_options_and_key_order() -> None:
    root = _leaf("", [0, 0, 0], [1, 1, 1], refine="REPLACE", transform=np.eye(4))
    doc = tileset_json(
        root, generator="g", geometric_error=3.0, tileset_version="2030-01-01", extras={"k": 1}
    )
    assert list(doc) == ["asset", "geometricError", "extras", "root"]
    assert doc["asset"]["tilesetVersion"] == "2030-01-01" and doc["geometricError"] == 3.0
    assert list(doc["root"]) == [
        "boundingVolume", "geometricError", "content", "refine", "transform"
    ]  # fmt: skip
    json.dumps(doc)  # plain JSON types only


def test_writer_rejects_bad_trees() -> None:
    child = _leaf("c", [0, 0, 0], [1, 1, 1], transform=np.eye(4))
    with pytest.raises(ValueError, match="only the root"):
        tileset_json(Tile(children=[child], error=1.0, transform=np.eye(4)))
    child = _leaf("c", [0, 0, 0], [1, 1, 1])
    child.error = 2.0
    with pytest.raises(ValueError, match="geometric error"):
        tileset_json(Tile(children=[child], error=1.0, transform=np.eye(4)))
    with pytest.raises(ValueError, match="neither"):
        tileset_json(Tile(transform=np.eye(4)))


# -- both tilesets keep the rules ---------------------------------------------------------


def test_city_tileset_keeps_the_tree_rules(citygml_dir: Path, tmp_path: Path) -> None:
    src = citygml_dir / "berlin_testarea_lod2_buildings.gml"
    convert([src], tmp_path / "out", max_features_per_tile=2)
    doc = json.loads((tmp_path / "out" / "tileset.json").read_text())
    assert doc["asset"]["generator"] == "greentwin"
    assert doc["root"]["refine"] == "REPLACE"
    assert check_tileset(doc) > 5


def test_vegetation_tileset_keeps_the_tree_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 300
    xyz = np.column_stack(
        (396800 + rng.uniform(0, 200, n), 5819400 + rng.uniform(0, 200, n), np.full(n, 40.0))
    )
    h = rng.uniform(4, 20, n)
    table = TreeTable.from_survey(
        [f"t{i}" for i in range(n)], ["tilia_cordata"] * n, xyz, h, h * 0.5, dt.date(2015, 6, 1)
    )
    cover = PlantCover(
        "lawn",
        "lawn",
        np.array([[396810.0, 5819410.0], [396850.0, 5819410.0], [396850.0, 5819450.0]]),
        z=40.0,
    )
    s = build_vegetation_tileset(
        table, [cover], dt.date(2025, 7, 1), tmp_path, crs="EPSG:25833",
        capacity={1: 30, 2: 120, 3: 480}, height_offset=-40.0,
    )  # fmt: skip
    doc = json.loads((tmp_path / "tileset.json").read_text())
    assert doc["asset"]["generator"] == "greentwin vegetation"
    assert doc["asset"]["tilesetVersion"] == "2025-07-01" and doc["extras"]["instanced"]
    assert doc["root"]["refine"] == "ADD"
    assert check_tileset(doc) == s["tiles"] + 1
    for child in doc["root"]["children"]:
        if child.get("content", {}).get("uri") != "tiles/covers.glb":
            assert child["refine"] == "REPLACE"
