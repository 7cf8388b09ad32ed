"""Our hand-written GLB, read back by another library (pygltflib).

The converter writes glTF by hand (for speed); an independent reader must find in it
what was written: the accessors' values through their buffer views, the node
transform, the extensions used, the metadata table's strings through its offsets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from greentwin.tiles.gltf import (
    ARRAY_BUFFER,
    Column,
    GlbBuilder,
    feature_ids_extension,
    zup_to_yup,
)
from pygltflib import GLTF2

#: glTF componentType -> numpy dtype (glTF 2.0, 3.6.2.2 "Accessor Data Types").
DTYPES = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
#: accessor type -> components (glTF 2.0, 3.6.2.2).
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _accessor(gltf: GLTF2, index: int) -> np.ndarray:
    """An accessor's values decoded with pygltflib's own view of the GLB."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    blob = gltf.binary_blob()
    dtype = np.dtype(DTYPES[acc.componentType])
    width = WIDTH[acc.type]
    stride = view.byteStride or dtype.itemsize * width
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    rows = [
        np.frombuffer(blob, dtype=dtype, count=width, offset=start + i * stride)
        for i in range(acc.count)
    ]
    return np.array(rows).reshape(acc.count, width)


def _view_bytes(gltf: GLTF2, index: int) -> bytes:
    view = gltf.bufferViews[index]
    blob = gltf.binary_blob()
    start = view.byteOffset or 0
    return bytes(blob[start : start + view.byteLength])


def test_pygltflib_reads_what_the_builder_wrote() -> None:
    b = GlbBuilder()
    pos = np.array([[0, 0, 0], [4, 0, 0], [4, 3, 0], [0, 3, 0]], dtype=np.float64)
    fid = np.array([0, 0, 1, 1], dtype=np.float32)
    idx = np.array([[0, 1, 2], [0, 2, 3]])
    attrs = {
        "POSITION": b.add_accessor(
            zup_to_yup(pos).astype(np.float32), target=ARRAY_BUFFER, min_max=True
        ),
        "_FEATURE_ID_0": b.add_accessor(fid, target=ARRAY_BUFFER),
    }
    table = b.add_property_table(
        "building",
        [Column("id", "STRING", ["Haus-1", "Straße 2"]), Column("h", "FLOAT64", [9.5, 12.0])],
        2,
    )
    prim: dict[str, Any] = {
        "attributes": attrs,
        "indices": b.add_indices(idx),
        "material": b.add_material(base_color=(0.8, 0.8, 0.8, 1.0)),
        "extensions": feature_ids_extension(
            [{"featureCount": 2, "attribute": 0, "propertyTable": table, "label": "building"}]
        ),
    }
    b.use_extension("EXT_mesh_features")
    b.add_node(b.add_mesh([prim]), translation=(10.0, 20.0, 30.0))

    gltf = GLTF2.load_from_bytes(b.to_bytes())
    assert gltf.asset.version == "2.0"
    assert {"EXT_mesh_features", "EXT_structural_metadata"} <= set(gltf.extensionsUsed)
    assert list(gltf.nodes[0].translation) == [10.0, 20.0, 30.0]
    p = gltf.meshes[0].primitives[0]
    # glTF is Y up: (x, y, z) Z-up -> (x, z, -y)
    want = np.column_stack((pos[:, 0], pos[:, 2], -pos[:, 1]))
    got = _accessor(gltf, p.attributes.POSITION)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    acc = gltf.accessors[p.attributes.POSITION]
    assert acc.min == want.min(axis=0).tolist() and acc.max == want.max(axis=0).tolist()
    assert _accessor(gltf, p.indices).ravel().tolist() == idx.ravel().tolist()
    # the property table's strings through its offsets, as any reader finds them
    ext = gltf.extensions["EXT_structural_metadata"]
    col = ext["propertyTables"][0]["properties"]["id"]
    values = _view_bytes(gltf, col["values"])
    kind = ext["propertyTables"][0]["properties"]["id"].get("stringOffsetType", "UINT32")
    width = {"UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8"}[kind]
    offsets = np.frombuffer(_view_bytes(gltf, col["stringOffsets"]), dtype=width)
    assert offsets[-1] == len(values)
    strings = [values[offsets[i] : offsets[i + 1]].decode() for i in range(2)]
    assert strings == ["Haus-1", "Straße 2"]
