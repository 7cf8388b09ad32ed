"""Vegetation tilesets: validity, structure, metadata parity, sizes, caching."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.green_model import PlantCover, SpeciesLibrary, TreeTable
from greentwin.tiles.vegetation import build_vegetation_tileset, cached_vegetation_tileset
from gt_testing import assert_valid_gltf

LIB = SpeciesLibrary.default()
CAP = {1: 40, 2: 160, 3: 640}


def _table(n: int, seed: int = 3) -> TreeTable:
    rng = np.random.default_rng(seed)
    xyz = np.column_stack(
        (
            396800 + rng.uniform(0, 300, n),
            5819400 + rng.uniform(0, 300, n),
            40 + rng.uniform(0, 4, n),
        )
    )
    # a district's trees come from a dozen species: the curated ones (not the 110
    # generated from the Urban Tree Database, which would give tiny instancing groups)
    curated = [k for k in LIB.keys if not LIB[k].raw.get("source", {}).get("generated")]
    species = rng.choice(curated, n)
    h = rng.uniform(4, 22, n)
    return TreeTable.from_survey(
        [f"t{i}" for i in range(n)], species, xyz, h, h * 0.5, dt.date(2015, 6, 1)
    )


COVER = PlantCover(
    "lawn1",
    "lawn",
    np.array(
        [[396810.0, 5819410.0], [396870.0, 5819410.0], [396870.0, 5819450.0], [396810.0, 5819450.0]]
    ),
    z=41.0,
)


def _glb(path: Path) -> tuple[dict[str, Any], bytes]:
    data = path.read_bytes()
    jl = struct.unpack_from("<I", data, 12)[0]
    doc = json.loads(data[20 : 20 + jl])
    rest = data[20 + jl :]
    binary = rest[8:] if rest else b""
    return doc, binary


def _table_rows(path: Path) -> dict[str, list[float]]:
    doc, binary = _glb(path)
    meta = doc["extensions"]["EXT_structural_metadata"]
    table = meta["propertyTables"][0]
    props = meta["schema"]["classes"][table["class"]]["properties"]
    out = {}
    for name, col in table["properties"].items():
        view = doc["bufferViews"][col["values"]]
        raw = binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
        ctype = props[name].get("componentType", "UINT8")
        dtype = {
            "UINT8": np.uint8,
            "UINT16": np.uint16,
            "UINT32": np.uint32,
            "FLOAT32": np.float32,
        }[ctype]
        out[name] = np.frombuffer(raw, dtype=dtype).tolist()
    return out


def _tiles(tile: dict[str, Any]) -> list[dict[str, Any]]:
    out = [tile]
    for c in tile.get("children", []):
        out.extend(_tiles(c))
    return out


@pytest.fixture(scope="module")
def tilesets(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict[str, Any], dict[str, Any]]:
    table = _table(500)
    base = tmp_path_factory.mktemp("veg")
    date = dt.date(2025, 10, 8)
    inst = build_vegetation_tileset(
        table, [COVER], date, base / "inst", crs="EPSG:25833", capacity=CAP, height_mode="ground"
    )
    flat = build_vegetation_tileset(
        table,
        [COVER],
        date,
        base / "flat",
        crs="EPSG:25833",
        capacity=CAP,
        height_mode="ground",
        instanced=False,
    )
    return base / "inst", base / "flat", dict(inst), dict(flat)


def test_every_glb_is_valid(tilesets: tuple[Path, Path, dict[str, Any], dict[str, Any]]) -> None:
    inst, flat, _, _ = tilesets
    files = sorted(inst.glob("tiles/*.glb")) + sorted(flat.glob("tiles/*.glb"))
    assert len(files) > 6
    assert_valid_gltf(files)


def test_instanced_and_baked_carry_identical_metadata(
    tilesets: tuple[Path, Path, dict[str, Any], dict[str, Any]],
) -> None:
    inst, flat, si, sf = tilesets
    assert si["trees"] == sf["trees"] == 500
    names = sorted(p.name for p in inst.glob("tiles/*.glb"))
    assert names == sorted(p.name for p in flat.glob("tiles/*.glb"))
    for name in names:
        a = _table_rows(inst / "tiles" / name)
        b = _table_rows(flat / "tiles" / name)
        assert a == b, name
    doc, _ = _glb(inst / "tiles" / names[0])
    assert "EXT_mesh_gpu_instancing" in doc["extensionsRequired"]
    schema = doc["extensions"]["EXT_structural_metadata"]["schema"]
    assert schema["classes"]["tree"]["properties"]["species"]["type"] == "ENUM"
    assert {"species", "age_years", "height_m", "crown_m", "carbon_kg"} <= set(
        schema["classes"]["tree"]["properties"]
    )


def test_structure_levels_and_errors(
    tilesets: tuple[Path, Path, dict[str, Any], dict[str, Any]],
) -> None:
    inst, _, _, _ = tilesets
    ts = json.loads((inst / "tileset.json").read_text())
    assert ts["asset"]["version"] == "1.1"
    assert len(ts["root"]["transform"]) == 16
    per_level: dict[str, list[int]] = {}
    for tile in _tiles(ts["root"]):
        for child in tile.get("children", []):
            assert child["geometricError"] <= tile["geometricError"]
        if not tile.get("children"):
            assert tile["geometricError"] == 0.0
        uri = tile.get("content", {}).get("uri", "")
        if uri.startswith("tiles/0"):
            rows = _table_rows(inst / uri)["tree"]
            level = uri[-5]  # tiles/<address>l<lod>.glb
            per_level.setdefault(level, []).extend(rows)
            assert len(rows) <= CAP[int(level)]
            # instances drawn == rows of the table, every row once
            doc, _ = _glb(inst / uri)
            drawn = sum(
                doc["accessors"][
                    n["extensions"]["EXT_mesh_gpu_instancing"]["attributes"]["TRANSLATION"]
                ]["count"]
                for n in doc["nodes"]
                if "extensions" in n
            )
            assert drawn == len(rows)
    # each tree exactly once per level of detail
    assert set(per_level) == {"1", "2", "3"}
    for rows in per_level.values():
        assert sorted(rows) == list(range(500))


def test_sizes_and_heights(tilesets: tuple[Path, Path, dict[str, Any], dict[str, Any]]) -> None:
    inst, _, si, _ = tilesets
    assert si["bytes"] == sum(p.stat().st_size for p in inst.rglob("*") if p.is_file())
    assert si["height_offset"] < -40.0  # ground mode: lowest stem base moved to the ellipsoid
    doc, _ = _glb(inst / "tiles" / "covers.glb")
    assert doc["extensions"]["EXT_structural_metadata"]["propertyTables"][0]["count"] == 1


def test_bytes_per_tree_instanced(tmp_path: Path) -> None:
    table = _table(6000, seed=5)
    s = build_vegetation_tileset(
        table, [], dt.date(2025, 7, 1), tmp_path, crs="EPSG:25833", height_offset=-40.0
    )
    # shared meshes amortise over many trees; the per-tree part is what matters here
    per_tree = (
        s["bytes"] - sum(p.stat().st_size for p in (tmp_path / "meshes").glob("*.bin"))
    ) / s["trees"]
    assert per_tree < 200.0, per_tree
    assert s["height_offset"] == -40.0


def test_winter_tileset_is_bare_and_cached(tmp_path: Path) -> None:
    table = _table(200)
    a = cached_vegetation_tileset(tmp_path, table, [], dt.date(2025, 1, 15), crs="EPSG:25833")
    b = cached_vegetation_tileset(tmp_path, table, [], dt.date(2025, 1, 15), crs="EPSG:25833")
    assert a == b and Path(a["tileset"]).is_file()
    c = cached_vegetation_tileset(tmp_path, table, [], dt.date(2025, 7, 15), crs="EPSG:25833")
    assert c["tileset"] != a["tileset"]
    # winter: deciduous species have no foliage primitive in their shared mesh
    winter = next(Path(a["tileset"]).parent.glob("tiles/*l1.glb"))
    doc, _ = _glb(winter)
    prims = [len(m["primitives"]) for m in doc["meshes"]]
    assert 1 in prims  # bare deciduous (bark only)
    summer = next(Path(c["tileset"]).parent.glob("tiles/*l1.glb"))
    doc_s, _ = _glb(summer)
    assert all(len(m["primitives"]) == 2 for m in doc_s["meshes"])
    assert_valid_gltf([winter, summer])
