"""GlbBuilder: valid GLB layout, accessors, metadata tables, Khronos validator."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.core import TilingError
from greentwin.tiles.gltf import (
    ARRAY_BUFFER,
    Column,
    GlbBuilder,
    feature_ids_extension,
    zup_to_yup,
)
from gt_testing import assert_valid_gltf

# a 1x1 PNG (red), built by hand: signature, IHDR, IDAT, IEND
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def _split(glb: bytes) -> tuple[dict[str, Any], bytes]:
    magic, version, total = struct.unpack_from("<III", glb, 0)
    assert magic == 0x46546C67 and version == 2 and total == len(glb)
    jlen, jtype = struct.unpack_from("<II", glb, 12)
    assert jtype == 0x4E4F534A and jlen % 4 == 0
    doc = json.loads(glb[20 : 20 + jlen])
    rest = glb[20 + jlen :]
    if not rest:
        return doc, b""
    blen, btype = struct.unpack_from("<II", rest, 0)
    assert btype == 0x004E4942 and blen % 4 == 0
    return doc, rest[8 : 8 + blen]


def _box_glb(textured: bool) -> bytes:
    b = GlbBuilder()
    # two quads (4 triangles), two features
    pos = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 0, 2], [0, 0, 2]],
        dtype=np.float64,
    )
    normals = np.array([[0, 0, 1]] * 4 + [[0, -1, 0]] * 4, dtype=np.float32)
    idx = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    fid = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.uint16)
    attrs = {
        "POSITION": b.add_accessor(
            zup_to_yup(pos).astype(np.float32), target=ARRAY_BUFFER, min_max=True
        ),
        "NORMAL": b.add_accessor(zup_to_yup(normals), target=ARRAY_BUFFER),
        "_FEATURE_ID_0": b.add_accessor(fid.astype(np.float32), target=ARRAY_BUFFER),
        # 2-byte elements: padded to a 4-byte stride
        "_PADDED": b.add_accessor(fid, target=ARRAY_BUFFER),
    }
    mat_args: dict[str, Any] = {"base_color": (0.8, 0.3, 0.2, 1.0)}
    if textured:
        attrs["TEXCOORD_0"] = b.add_accessor(
            np.array([[0, 1], [1, 1], [1, 0], [0, 0]] * 2, dtype=np.float32), target=ARRAY_BUFFER
        )
        tex = b.add_texture(b.add_image(_PNG, "image/png"), b.add_sampler())
        mat_args["base_color_texture"] = tex
    table = b.add_property_table(
        "building",
        [
            Column("id", "STRING", ["a", "bé"]),
            Column("height", "FLOAT64", [12.5, None], no_data=-9999.0),
            Column("storeys", "INT32", np.array([3, 4])),
            Column("flag", "BOOLEAN", [True, False]),
            Column("names", "STRING[]", [["x", "y"], []]),
        ],
        2,
    )
    prim = {
        "attributes": attrs,
        "indices": b.add_indices(idx),
        "material": b.add_material(**mat_args),
        "extensions": feature_ids_extension(
            [{"featureCount": 2, "attribute": 0, "propertyTable": table, "label": "building"}]
        ),
    }
    b.use_extension("EXT_mesh_features")
    b.add_node(b.add_mesh([prim]), translation=(10.0, 20.0, 30.0))
    return b.to_bytes()


@pytest.mark.parametrize("textured", [False, True])
def test_glb_is_valid(tmp_path: Path, textured: bool) -> None:
    glb = _box_glb(textured)
    doc, binary = _split(glb)
    assert doc["buffers"][0]["byteLength"] == len(binary)
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 8 == 0
    pos_acc = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert pos_acc["min"] == [0.0, 0.0, -1.0] and pos_acc["max"] == [1.0, 2.0, 0.0]
    assert doc["accessors"][doc["meshes"][0]["primitives"][0]["indices"]]["componentType"] == 5123
    path = tmp_path / "box.glb"
    path.write_bytes(glb)
    assert_valid_gltf([path])


def test_string_column_layout() -> None:
    doc, binary = _split(_box_glb(False))
    table = doc["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    views = doc["bufferViews"]

    def view(i: int) -> bytes:
        v = views[i]
        return binary[v["byteOffset"] : v["byteOffset"] + v["byteLength"]]

    offsets = np.frombuffer(view(table["properties"]["id"]["stringOffsets"]), np.uint32)
    data = view(table["properties"]["id"]["values"])
    assert [data[offsets[i] : offsets[i + 1]].decode() for i in range(2)] == ["a", "bé"]
    heights = np.frombuffer(view(table["properties"]["height"]["values"]), np.float64)
    assert heights.tolist() == [12.5, -9999.0]
    bits = view(table["properties"]["flag"]["values"])
    assert bits[0] & 1 == 1 and bits[0] & 2 == 0


def test_errors() -> None:
    b = GlbBuilder()
    with pytest.raises(TilingError):
        b.add_accessor(np.zeros((0, 3), np.float32))
    with pytest.raises(TilingError):
        b.add_accessor(np.zeros((3, 3), np.int64))
    with pytest.raises(TilingError):
        b.add_property_table("t", [Column("a", "INT32", [1, 2])], 3)
    with pytest.raises(TilingError):
        b.add_image(b"GIF89a", "image/gif")


def test_uint32_indices() -> None:
    b = GlbBuilder()
    acc = b.add_indices(np.array([0, 1, 70000]))
    assert b.gltf["accessors"][acc]["componentType"] == 5125
