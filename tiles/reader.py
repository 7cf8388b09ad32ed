"""Read a 3D Tiles 1.1 tileset back: tiles, ECEF positions and property-table rows.

Used to check written tilesets (round trip): it follows tile transforms, the
runtime glTF y-up -> z-up rotation, node transforms, and decodes
EXT_structural_metadata property tables and EXT_mesh_features ids.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core import TilingError

__all__ = ["Glb", "TileRecord", "read_glb", "read_tileset"]

F64 = npt.NDArray[np.float64]

_DTYPES = {
    5120: np.int8,
    5121: np.uint8,
    5122: np.int16,
    5123: np.uint16,
    5125: np.uint32,
    5126: np.float32,
}
_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_Y_UP_TO_Z_UP = np.array(
    [[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64
)


@dataclass(slots=True)
class Glb:
    """A parsed GLB: its JSON and binary chunk."""

    json: dict[str, Any]
    bin: bytes

    def view(self, index: int) -> bytes:
        """The bytes of a buffer view."""
        v = self.json["bufferViews"][index]
        start = v.get("byteOffset", 0)
        return self.bin[start : start + v["byteLength"]]

    def accessor(self, index: int) -> npt.NDArray[Any]:
        """An accessor's data: (count,) or (count, components)."""
        acc = self.json["accessors"][index]
        dtype = np.dtype(_DTYPES[acc["componentType"]])
        ncomp = _NCOMP[acc["type"]]
        view = self.json["bufferViews"][acc["bufferView"]]
        raw = self.view(acc["bufferView"])
        offset = acc.get("byteOffset", 0)
        elem = dtype.itemsize * ncomp
        stride = view.get("byteStride", elem)
        count = acc["count"]
        buf = np.frombuffer(raw, np.uint8, count=(count - 1) * stride + elem, offset=offset)
        rows = np.lib.stride_tricks.as_strided(buf, (count, elem), (stride, 1))
        out = np.ascontiguousarray(rows).view(dtype).reshape(count, ncomp)
        return out[:, 0] if ncomp == 1 else out

    def property_tables(self) -> list[list[dict[str, Any]]]:
        """Rows of every EXT_structural_metadata property table (values decoded)."""
        meta = self.json.get("extensions", {}).get("EXT_structural_metadata")
        if not meta:
            return []
        classes = meta["schema"]["classes"]
        out = []
        for table in meta.get("propertyTables", []):
            count = table["count"]
            props = classes[table["class"]]["properties"]
            cols: dict[str, list[Any]] = {}
            present = table.get("properties", {})
            for name, schema in props.items():
                prop = present.get(name)
                if prop is None:  # left out of the table: every row has the default
                    cols[name] = [schema.get("default")] * count
                else:
                    cols[name] = self._column(schema, prop, count)
            out.append([{k: v[i] for k, v in cols.items()} for i in range(count)])
        return out

    def _column(self, schema: dict[str, Any], prop: dict[str, Any], count: int) -> list[Any]:
        kind = schema["type"]
        values = self.view(prop["values"])
        if kind == "STRING":
            offs = np.frombuffer(self.view(prop["stringOffsets"]), np.uint32)
            strings = [values[offs[i] : offs[i + 1]].decode("utf-8") for i in range(len(offs) - 1)]
            if schema.get("array"):
                aoff = np.frombuffer(self.view(prop["arrayOffsets"]), np.uint32)
                return [strings[aoff[i] : aoff[i + 1]] for i in range(count)]
            return strings
        if kind == "BOOLEAN":
            bits = np.unpackbits(np.frombuffer(values, np.uint8), bitorder="little")
            return [bool(b) for b in bits[:count]]
        arr = np.frombuffer(values, np.dtype(schema["componentType"].lower()), count=count)
        nodata = schema.get("noData")
        return [None if nodata is not None and v == nodata else v.item() for v in arr]


def read_glb(data: bytes) -> Glb:
    """Parse a GLB (version 2) into JSON and binary chunk."""
    if len(data) < 20 or data[:4] != b"glTF":
        raise TilingError("not a GLB file")
    _, version, total = struct.unpack_from("<III", data, 0)
    if version != 2 or total != len(data):
        raise TilingError("GLB header is inconsistent")
    jlen, _ = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20 : 20 + jlen])
    rest = 20 + jlen
    binary = b""
    if rest < len(data):
        blen, _ = struct.unpack_from("<II", data, rest)
        binary = data[rest + 8 : rest + 8 + blen]
    return Glb(doc, binary)


def _node_matrix(node: dict[str, Any]) -> F64:
    if "matrix" in node:
        return np.array(node["matrix"], np.float64).reshape(4, 4).T
    m = np.eye(4)
    if "scale" in node:
        m = m @ np.diag([*node["scale"], 1.0])
    if "rotation" in node:
        x, y, z, w = node["rotation"]
        r = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        rm = np.eye(4)
        rm[:3, :3] = r
        m = rm @ m
    if "translation" in node:
        t = np.eye(4)
        t[:3, 3] = node["translation"]
        m = t @ m
    return m


@dataclass(slots=True)
class TileRecord:
    """One tile of a tileset, with its content decoded.

    Attributes
    ----------
    tile : the tile's JSON.
    depth : 0 for the root.
    transform : (4, 4) float64, the tile's accumulated transform (row-major).
    parent_error : the parent's geometric error (None at the root).
    glb : the parsed content, if any.
    positions : (n, 3) float64 ECEF metres of every vertex of the content.
    local_positions : (n, 3) float64, the same in the tile's frame (for boxes).
    tables : property-table rows.
    """

    tile: dict[str, Any]
    depth: int
    transform: F64
    parent_error: float | None
    glb: Glb | None = None
    positions: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    local_positions: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    tables: list[list[dict[str, Any]]] = field(default_factory=list)


def read_tileset(path: Path) -> tuple[dict[str, Any], list[TileRecord]]:
    """Load tileset.json and every tile's content.

    Returns
    -------
    (tileset JSON, tiles in depth-first order)
    """
    path = Path(path)
    doc = json.loads(path.read_text("utf-8"))
    out = list(_walk(doc["root"], path.parent, np.eye(4), 0, None))
    return doc, out


def _walk(
    tile: dict[str, Any], base: Path, parent: F64, depth: int, parent_error: float | None
) -> Iterator[TileRecord]:
    transform = parent
    if "transform" in tile:
        transform = parent @ np.array(tile["transform"], np.float64).reshape(4, 4).T
    rec = TileRecord(tile, depth, transform, parent_error)
    content = tile.get("content")
    if content:
        glb = read_glb((base / content["uri"]).read_bytes())
        rec.glb = glb
        rec.tables = glb.property_tables()
        locs = []
        for node_index in glb.json.get("scenes", [{}])[glb.json.get("scene", 0)].get("nodes", []):
            locs.extend(_node_positions(glb, node_index, _Y_UP_TO_Z_UP))
        if locs:
            local = np.concatenate(locs)
            rec.local_positions = local
            rec.positions = local @ transform[:3, :3].T + transform[:3, 3]
    yield rec
    for child in tile.get("children", []):
        yield from _walk(child, base, transform, depth + 1, tile["geometricError"])


def _node_positions(glb: Glb, index: int, parent: F64) -> list[F64]:
    node = glb.json["nodes"][index]
    m = parent @ _node_matrix(node)
    out = []
    if "mesh" in node:
        for prim in glb.json["meshes"][node["mesh"]]["primitives"]:
            p = glb.accessor(prim["attributes"]["POSITION"]).astype(np.float64)
            out.append(p @ m[:3, :3].T + m[:3, 3])
    for child in node.get("children", []):
        out.extend(_node_positions(glb, child, m))
    return out
