"""An independent reader of EXT_structural_metadata / EXT_mesh_features that lists
every rule a GLB breaks.

The Khronos glTF validator does not check these extensions and the CesiumGS
3d-tiles-validator is not available to the test suite, so the rules are checked
here, as written in the extension specifications (CesiumGS/glTF,
extensions/2.0/Vendor/EXT_structural_metadata/README.md, "Property Tables",
"Binary Table Format", and EXT_mesh_features/README.md):

* every buffer view a property table uses lies inside its buffer, is not empty and
  starts at a multiple of 8 bytes;
* a numeric or enum column has exactly ``count`` x component size bytes, a boolean
  column ``ceil(count / 8)``;
* ``stringOffsets`` and ``arrayOffsets`` hold one more entry than strings or arrays,
  start at 0, never decrease, and end at the byte length of ``values`` (strings) or
  the number of elements (arrays): the 3d-tiles-validator's METADATA_INVALID_LENGTH;
* strings decode as UTF-8; enum values are values of their enum; a property the
  table leaves out is not ``required``; types and component types are the spec's;
  ``normalized`` only on integer types; noData and default values fit their type;
* feature ids of mesh primitives and instances address rows of their table.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

COMPONENT_BYTES = {
    "INT8": 1, "UINT8": 1, "INT16": 2, "UINT16": 2, "INT32": 4, "UINT32": 4,
    "INT64": 8, "UINT64": 8, "FLOAT32": 4, "FLOAT64": 8,
}  # fmt: skip
COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
TYPES = {*COMPONENTS, "STRING", "BOOLEAN", "ENUM"}
OFFSET_TYPES = {"UINT8", "UINT16", "UINT32", "UINT64"}
GLTF_COMPONENT = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}


def read_glb(path: Path) -> tuple[dict[str, Any], list[bytes]]:
    """The JSON and the bytes of every buffer (0: the BIN chunk; others: their files)."""
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67 and version == 2 and total == len(data), path
    jlen, _ = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20 : 20 + jlen])
    buffers: list[bytes] = []
    rest = 20 + jlen
    for k, buf in enumerate(doc.get("buffers", [])):
        if "uri" in buf:
            buffers.append((path.parent / buf["uri"]).read_bytes())
        else:
            assert k == 0, "only buffer 0 may be the GLB BIN chunk"
            blen, _ = struct.unpack_from("<II", data, rest)
            buffers.append(data[rest + 8 : rest + 8 + blen])
    return doc, buffers


class _Glb:
    def __init__(self, doc: dict[str, Any], buffers: list[bytes]) -> None:
        self.doc = doc
        self.buffers = buffers
        self.problems: list[str] = []

    def bad(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def view(self, index: Any, where: str) -> bytes | None:
        """A property-table buffer view's bytes after checking its bounds and alignment."""
        views = self.doc.get("bufferViews", [])
        if not isinstance(index, int) or not 0 <= index < len(views):
            self.bad(where, f"bufferView {index!r} does not exist")
            return None
        v = views[index]
        buf, off, n = v.get("buffer", -1), v.get("byteOffset", 0), v.get("byteLength", 0)
        declared = self.doc.get("buffers", [])
        if not 0 <= buf < len(self.buffers):
            self.bad(where, f"bufferView {index} names buffer {buf}, which does not exist")
            return None
        if n < 1:
            self.bad(where, f"bufferView {index} is empty (byteLength {n})")
        if off % 8:
            self.bad(where, f"bufferView {index} starts at {off}, not a multiple of 8")
        end = off + n
        if end > declared[buf]["byteLength"] or end > len(self.buffers[buf]):
            self.bad(where, f"bufferView {index} ends at {end}, beyond buffer {buf}")
            return None
        return self.buffers[buf][off:end]

    def accessor(self, index: int) -> np.ndarray[Any, Any]:
        acc = self.doc["accessors"][index]
        v = self.doc["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(GLTF_COMPONENT[acc["componentType"]])
        ncomp = COMPONENTS[acc["type"]]
        elem = dtype.itemsize * ncomp
        stride = v.get("byteStride", elem)
        raw = self.buffers[v.get("buffer", 0)]
        start = v.get("byteOffset", 0) + acc.get("byteOffset", 0)
        rows = [
            np.frombuffer(raw, dtype, count=ncomp, offset=start + i * stride)
            for i in range(acc["count"])
        ]
        return np.array(rows).reshape(acc["count"], ncomp)


def _offsets(g: _Glb, prop: dict[str, Any], key: str, n: int, where: str) -> np.ndarray[Any, Any]:
    """Offsets ``key`` ("stringOffsets"/"arrayOffsets") of ``n`` items, checked."""
    otype = prop.get(key.replace("Offsets", "OffsetType"), "UINT32")
    if otype not in OFFSET_TYPES:
        g.bad(where, f"{key} type {otype!r} is not an offset type")
        return np.zeros(0, np.uint64)
    raw = g.view(prop.get(key), f"{where}.{key}")
    if raw is None:
        return np.zeros(0, np.uint64)
    size = COMPONENT_BYTES[otype]
    if len(raw) != (n + 1) * size:
        g.bad(where, f"{key} has {len(raw)} bytes, {n + 1} offsets of {size} bytes expected")
        return np.zeros(0, np.uint64)
    offs = np.frombuffer(raw, np.dtype(f"<u{size}")).astype(np.uint64)
    if offs[0] != 0:
        g.bad(where, f"{key} starts at {offs[0]}, not 0")
    if (np.diff(offs.astype(np.int64)) < 0).any():
        g.bad(where, f"{key} decrease")
    return offs


def _check_value(g: _Glb, where: str, what: str, value: Any, p: dict[str, Any]) -> None:
    """A noData or default value fits the property's type."""
    t = p.get("type")
    values = value if p.get("array") and isinstance(value, list) else [value]
    for v in values:
        if t == "STRING" and not isinstance(v, str):
            g.bad(where, f"{what} {v!r} is not a string")
        elif t == "BOOLEAN" and not isinstance(v, bool):
            g.bad(where, f"{what} {v!r} is not a boolean")
        elif t == "SCALAR" and (isinstance(v, bool) or not isinstance(v, int | float)):
            g.bad(where, f"{what} {v!r} is not a number")


def _check_class(g: _Glb, name: str, cls: dict[str, Any], enums: dict[str, Any]) -> None:
    for pid, p in cls.get("properties", {}).items():
        where = f"class {name}.{pid}"
        t = p.get("type")
        if t not in TYPES:
            g.bad(where, f"type {t!r} is not a metadata type")
            continue
        if t in COMPONENTS and p.get("componentType") not in COMPONENT_BYTES:
            g.bad(where, f"componentType {p.get('componentType')!r} is not valid for {t}")
        if t in ("STRING", "BOOLEAN", "ENUM") and "componentType" in p:
            g.bad(where, f"{t} has a componentType")
        if t == "ENUM" and p.get("enumType") not in enums:
            g.bad(where, f"enumType {p.get('enumType')!r} is not in the schema's enums")
        if p.get("normalized") and not str(p.get("componentType", "")).startswith(("INT", "UINT")):
            g.bad(where, "normalized is only for integer component types")
        if p.get("required") and "default" in p:
            g.bad(where, "a required property has a default")
        for key in ("noData", "default"):
            if key in p and t in ("STRING", "BOOLEAN", "SCALAR"):
                _check_value(g, where, key, p[key], p)


def _check_table(
    g: _Glb, k: int, table: dict[str, Any], classes: dict[str, Any], enums: dict[str, Any]
) -> None:
    where = f"propertyTables[{k}]"
    cls = classes.get(table.get("class"))
    if cls is None:
        g.bad(where, f"class {table.get('class')!r} is not in the schema")
        return
    count = table.get("count")
    if not isinstance(count, int) or count < 1:
        g.bad(where, f"count {count!r} is not a positive integer")
        return
    props = cls.get("properties", {})
    present = table.get("properties", {})
    for pid in present:
        if pid not in props:
            g.bad(where, f"property {pid!r} is not in class {table['class']!r}")
    for pid, p in props.items():
        if pid not in present:
            if p.get("required"):
                g.bad(where, f"required property {pid!r} is missing")
            continue
        _check_column(g, f"{where}.{pid}", present[pid], p, count, enums)


def _check_column(
    g: _Glb, where: str, prop: dict[str, Any], p: dict[str, Any], count: int, enums: dict[str, Any]
) -> None:
    t = p.get("type")
    fixed = p.get("count") if p.get("array") else 1
    variable = bool(p.get("array")) and fixed is None
    n_items = count
    if variable:
        aoff = _offsets(g, prop, "arrayOffsets", count, where)
        if not len(aoff):
            return
        n_items = int(aoff[-1])
    elif p.get("array"):
        n_items = count * int(fixed)
    values = g.view(prop.get("values"), f"{where}.values")
    if values is None:
        return
    if t == "STRING":
        soff = _offsets(g, prop, "stringOffsets", n_items, where)
        if len(soff) and int(soff[-1]) != len(values):
            g.bad(
                where,
                f"stringOffsets end at {int(soff[-1])} but values has {len(values)} bytes "
                "(METADATA_INVALID_LENGTH)",
            )
        elif len(soff):
            for a, b in zip(soff[:-1].tolist(), soff[1:].tolist(), strict=True):
                try:
                    values[a:b].decode("utf-8")
                except UnicodeDecodeError:
                    g.bad(where, f"bytes {a}..{b} are not UTF-8")
                    break
        return
    if t == "BOOLEAN":
        if len(values) != (n_items + 7) // 8:
            g.bad(where, f"{len(values)} bytes for {n_items} booleans")
        return
    if t == "ENUM":
        enum = enums.get(p.get("enumType"), {})
        ctype = enum.get("valueType", "UINT16")
        size = COMPONENT_BYTES.get(ctype, 0)
        if len(values) != n_items * size:
            g.bad(where, f"{len(values)} bytes for {n_items} enum values of {ctype}")
            return
        allowed = {v["value"] for v in enum.get("values", [])}
        got = set(np.frombuffer(values, np.dtype(f"<{ctype[0].lower()}{size}")).tolist())
        if not got <= allowed:
            g.bad(where, f"enum values {sorted(got - allowed)} are not in {p.get('enumType')}")
        return
    size = COMPONENT_BYTES.get(p.get("componentType", ""), 0) * COMPONENTS.get(t, 0)
    if len(values) != n_items * size:
        g.bad(where, f"{len(values)} bytes for {n_items} values of {size} bytes")


def _check_feature_ids(g: _Glb, tables: list[dict[str, Any]]) -> None:
    def check(where: str, sets: list[dict[str, Any]], attributes: dict[str, int]) -> None:
        for s in sets:
            t = s.get("propertyTable")
            if t is None:
                continue
            if not 0 <= t < len(tables):
                g.bad(where, f"propertyTable {t} does not exist")
                continue
            acc = attributes.get(f"_FEATURE_ID_{s.get('attribute')}")
            if acc is None:
                g.bad(where, f"feature id attribute {s.get('attribute')} is missing")
                continue
            ids = g.accessor(acc)
            if ids.size and int(ids.max()) >= tables[t]["count"]:
                g.bad(where, f"feature id {int(ids.max())} >= table count {tables[t]['count']}")

    for m, mesh in enumerate(g.doc.get("meshes", [])):
        for k, prim in enumerate(mesh.get("primitives", [])):
            ext = prim.get("extensions", {}).get("EXT_mesh_features")
            if ext:
                check(f"meshes[{m}].primitives[{k}]", ext["featureIds"], prim["attributes"])
    for n, node in enumerate(g.doc.get("nodes", [])):
        exts = node.get("extensions", {})
        inst = exts.get("EXT_instance_features")
        if inst:
            attrs = exts.get("EXT_mesh_gpu_instancing", {}).get("attributes", {})
            check(f"nodes[{n}]", inst["featureIds"], attrs)


def metadata_problems(path: Path) -> list[str]:
    """Every EXT_structural_metadata / EXT_mesh_features rule the GLB at ``path`` breaks."""
    doc, buffers = read_glb(path)
    g = _Glb(doc, buffers)
    meta = doc.get("extensions", {}).get("EXT_structural_metadata")
    if meta is None:
        return []
    schema = meta.get("schema", {})
    classes = schema.get("classes", {})
    enums = schema.get("enums", {})
    for name, enum in enums.items():
        vt = enum.get("valueType", "UINT16")
        if vt not in COMPONENT_BYTES or vt.startswith("FLOAT"):
            g.bad(f"enum {name}", f"valueType {vt!r} is not an integer type")
    for name, cls in classes.items():
        _check_class(g, name, cls, enums)
    tables = meta.get("propertyTables", [])
    for k, table in enumerate(tables):
        _check_table(g, k, table, classes, enums)
    _check_feature_ids(g, tables)
    return [f"{path.name}: {p}" for p in g.problems]


def tables_of(path: Path) -> int:
    """Number of property tables in the GLB (to make sure a check saw some)."""
    doc, _ = read_glb(path)
    return len(
        doc.get("extensions", {}).get("EXT_structural_metadata", {}).get("propertyTables", [])
    )
