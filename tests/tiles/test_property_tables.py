"""EXT_structural_metadata property tables as the specification wants them.

The converter's tables are checked on every bundled sample in test_convert_samples;
here: the writer's edge cases (columns that hold nothing), the vegetation tiler's
tables (instanced and baked), and the checker itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from greentwin.green_model import PlantCover, SpeciesLibrary, TreeTable
from greentwin.tiles.gltf import ARRAY_BUFFER, Column, GlbBuilder, feature_ids_extension
from greentwin.tiles.reader import read_glb
from greentwin.tiles.vegetation import build_vegetation_tileset
from gt_metadata import metadata_problems, tables_of
from gt_testing import assert_valid_gltf


def _glb_with(columns: list[Column], count: int, path: Path) -> Path:
    """A one-triangle GLB whose vertices address rows 0..count-1 of one table."""
    b = GlbBuilder()
    table = b.add_property_table("thing", columns, count)
    pos = b.add_accessor(
        np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32), target=ARRAY_BUFFER, min_max=True
    )
    fid = b.add_accessor(
        np.minimum(np.arange(3), count - 1).astype(np.float32), target=ARRAY_BUFFER
    )
    prim = {
        "attributes": {"POSITION": pos, "_FEATURE_ID_0": fid},
        "extensions": feature_ids_extension(
            [{"featureCount": count, "attribute": 0, "propertyTable": table}]
        ),
    }
    b.use_extension("EXT_mesh_features")
    b.add_node(b.add_mesh([prim]))
    path.write_bytes(b.to_bytes())
    return path


def test_columns_that_hold_nothing_are_legal(tmp_path: Path) -> None:
    """A STRING column empty in every row (parent_id without parts, surface_type
    without semantic surfaces) had a 1-byte values view and offsets ending at 0:
    the 3d-tiles-validator's METADATA_INVALID_LENGTH."""
    cols = [
        Column("id", "STRING", ["a", "b", "c"]),
        Column("parent_id", "STRING", ["", "", ""]),
        Column("missing", "STRING", [None, None, None]),
        Column("tags", "STRING[]", [[], [], []]),
        Column("names", "STRING[]", [["x", "y"], [], ["z"]]),
    ]
    path = _glb_with(cols, 3, tmp_path / "t.glb")
    assert metadata_problems(path) == []
    assert_valid_gltf([path])
    doc = read_glb(path.read_bytes())
    table = doc.json["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    # the empty columns are left out of the table; the class gives their value
    assert set(table["properties"]) == {"id", "names"}
    rows = doc.property_tables()[0]
    assert [r["parent_id"] for r in rows] == ["", "", ""]
    assert [r["missing"] for r in rows] == ["", "", ""]
    assert [r["tags"] for r in rows] == [[], [], []]
    assert [r["names"] for r in rows] == [["x", "y"], [], ["z"]]


def test_original_names_are_the_properties_names(tmp_path: Path) -> None:
    from greentwin.tiles.content import _columns

    cols = _columns([{"id": "a", "風致地区": "第1種", "uro:city": "22102", "ok": 1}])
    by_id = {c.name: c for c in cols}
    assert by_id["uro_city"].label == "uro:city"
    assert by_id["ok"].label is None
    path = _glb_with(cols, 1, tmp_path / "n.glb")
    assert metadata_problems(path) == []
    props = read_glb(path.read_bytes()).json["extensions"]["EXT_structural_metadata"]["schema"]
    names = {p.get("name") for p in props["classes"]["thing"]["properties"].values()}
    assert {"風致地区", "uro:city"} <= names


def test_checker_finds_broken_tables(tmp_path: Path) -> None:
    """The checker is not blind: it reports offsets that miss the values' length, an
    enum value outside its enum and a feature id past the table's rows."""
    b = GlbBuilder()
    b.add_property_table("thing", [Column("s", "STRING", ["ab", "c"])], 2)
    doc_json = b.to_json()
    views = doc_json["bufferViews"]
    props = doc_json["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["properties"]
    # offsets 0, 2, 3 over 3 bytes; declare the values one byte longer than the offsets
    views[props["s"]["values"]]["byteLength"] += 1
    path = tmp_path / "bad.glb"
    _write_raw(b, doc_json, path)
    problems = metadata_problems(path)
    assert any("METADATA_INVALID_LENGTH" in p for p in problems), problems

    b = GlbBuilder()
    b.add_property_table("thing", [Column("species", "UINT8", np.array([0, 7], np.uint8))], 2)
    doc_json = b.to_json()
    meta = doc_json["extensions"]["EXT_structural_metadata"]
    meta["schema"]["enums"] = {"E": {"valueType": "UINT8", "values": [{"name": "a", "value": 0}]}}
    prop = meta["schema"]["classes"]["thing"]["properties"]["species"]
    prop.pop("componentType")
    prop.update(type="ENUM", enumType="E")
    path = tmp_path / "enum.glb"
    _write_raw(b, doc_json, path)
    assert any("enum values [7]" in p for p in metadata_problems(path))

    path = _glb_with([Column("id", "STRING", ["a", "b"])], 2, tmp_path / "ids.glb")
    doc = read_glb(path.read_bytes())
    doc.json["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"] = 1
    _write_doc(doc.json, doc.bin, path)
    assert any("feature id 1 >= table count 1" in p for p in metadata_problems(path))


def _write_raw(b: GlbBuilder, doc_json: dict[str, object], path: Path) -> None:
    _write_doc(doc_json, b"".join(b._chunks), path)


def _write_doc(doc_json: dict[str, object], binary: bytes, path: Path) -> None:
    import json
    import struct

    js = json.dumps(doc_json).encode()
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    path.write_bytes(
        struct.pack("<III", 0x46546C67, 2, total)
        + struct.pack("<II", len(js), 0x4E4F534A)
        + js
        + struct.pack("<II", len(binary), 0x004E4942)
        + binary
    )


@pytest.mark.parametrize("instanced", [True, False], ids=["instanced", "baked"])
def test_vegetation_tables_follow_the_spec(tmp_path: Path, instanced: bool) -> None:
    lib = SpeciesLibrary.default()
    rng = np.random.default_rng(5)
    n = 90
    xyz = np.column_stack(
        (396800 + rng.uniform(0, 200, n), 5819400 + rng.uniform(0, 200, n), np.full(n, 40.0))
    )
    h = rng.uniform(4, 20, n)
    trees = TreeTable.from_survey(
        [f"t{i}" for i in range(n)], rng.choice(list(lib.keys), n), xyz, h, h / 2,
        dt.date(2015, 6, 1),
    )  # fmt: skip
    cover = PlantCover(
        "lawn", "lawn", np.array([[396810.0, 5819410.0], [396850.0, 5819410.0], [396850.0, 5819450.0]]),
        z=40.0,
    )  # fmt: skip
    out = tmp_path / "veg"
    build_vegetation_tileset(
        trees, [cover], dt.date(2025, 6, 1), out, crs="EPSG:25833", instanced=instanced,
        capacity={1: 20, 2: 60, 3: 200}, height_mode="ground",
    )  # fmt: skip
    glbs = sorted(out.glob("tiles/*.glb"))
    assert sum(tables_of(p) for p in glbs) >= len(glbs) > 3
    problems = [m for p in glbs for m in metadata_problems(p)]
    assert not problems, problems[:5]
