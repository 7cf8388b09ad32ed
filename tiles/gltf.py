"""A small, fast GLB (binary glTF 2.0) builder with 3D Tiles metadata helpers.

Everything is written with numpy and :mod:`json`; there is no per-vertex Python.

Usage
-----
>>> import numpy as np
>>> b = GlbBuilder()
>>> pos = b.add_accessor(np.zeros((3, 3), np.float32), target=ARRAY_BUFFER, min_max=True)
>>> idx = b.add_indices(np.array([0, 1, 2]))
>>> mat = b.add_material(base_color=(1.0, 0.0, 0.0, 1.0))
>>> mesh = b.add_mesh([{"attributes": {"POSITION": pos}, "indices": idx, "material": mat}])
>>> root = b.add_node(mesh=mesh)
>>> glb = b.to_bytes()  # scene 0 holds every node added without a parent
>>> glb[:4]
b'glTF'

API
---
``GlbBuilder``
    ``add_buffer_view(data, target=None, byte_stride=None) -> int``
        raw bytes (or an array's bytes) as a buffer view; every view starts on an
        8-byte boundary (EXT_structural_metadata requires it, glTF needs 4).
    ``add_accessor(array, target=None, normalized=False, min_max=False) -> int``
        componentType and type come from the array's dtype and shape: ``(n,)`` is
        SCALAR, ``(n, k)`` VEC2/3/4, ``(n, 4, 4)`` MAT4. ``min_max`` stores exact
        per-component bounds (required on POSITION).
    ``add_indices(array) -> int``: uint16 or uint32 element-array accessor.
    ``add_mesh(primitives, name=None) -> int``: primitives are glTF dicts.
    ``add_node(mesh=None, *, matrix=None, translation=None, children=None,
    name=None, extensions=None, root=True) -> int``: ``root=True`` puts it in scene 0.
    ``add_material(...)``, ``add_image(data, mime_type) -> int``,
    ``add_sampler(...)``, ``add_texture(image, sampler=None) -> int``.
    ``use_extension(name, required=False)``; ``root_extensions[name] = {...}``.
    ``add_property_table(class_name, columns, count, ...) -> int``: one
    EXT_structural_metadata class plus its property table (see :class:`Column`).
    ``to_bytes() -> bytes``: the GLB (JSON chunk padded with spaces, BIN with zeros).

``feature_ids_extension(sets)``: the EXT_mesh_features dict of a primitive.

Axes
----
glTF is y-up; 3D Tiles 1.1 content is rotated y-up -> z-up at runtime (3D Tiles 1.1,
"glTF transforms"). :func:`zup_to_yup` maps z-up vectors (e.g. ENU or ECEF offsets)
to glTF axes, ``(x, y, z) -> (x, z, -y)``, so the runtime rotation restores them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core import TilingError

__all__ = [
    "ARRAY_BUFFER",
    "ELEMENT_ARRAY_BUFFER",
    "Y_UP_TO_Z_UP",
    "Column",
    "ColumnType",
    "GlbBuilder",
    "feature_ids_extension",
    "zup_to_yup",
]

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963

#: glTF componentType per numpy dtype.
_COMPONENT: dict[np.dtype[Any], int] = {
    np.dtype(np.int8): 5120,
    np.dtype(np.uint8): 5121,
    np.dtype(np.int16): 5122,
    np.dtype(np.uint16): 5123,
    np.dtype(np.uint32): 5125,
    np.dtype(np.float32): 5126,
}
_VEC = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
_MAT = {2: "MAT2", 3: "MAT3", 4: "MAT4"}

#: Column-major 4x4 matrix that rotates glTF y-up into z-up (+90 degrees about x).
Y_UP_TO_Z_UP: tuple[float, ...] = (1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1)

_GLB_MAGIC = 0x46546C67
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942

ColumnType = Literal[
    "STRING",
    "BOOLEAN",
    "INT8",
    "UINT8",
    "INT16",
    "UINT16",
    "INT32",
    "UINT32",
    "INT64",
    "UINT64",
    "FLOAT32",
    "FLOAT64",
    "STRING[]",
]
_NUMERIC: dict[str, np.dtype[Any]] = {
    "INT8": np.dtype(np.int8),
    "UINT8": np.dtype(np.uint8),
    "INT16": np.dtype(np.int16),
    "UINT16": np.dtype(np.uint16),
    "INT32": np.dtype(np.int32),
    "UINT32": np.dtype(np.uint32),
    "INT64": np.dtype(np.int64),
    "UINT64": np.dtype(np.uint64),
    "FLOAT32": np.dtype(np.float32),
    "FLOAT64": np.dtype(np.float64),
}


def zup_to_yup(v: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Rotate z-up vectors into glTF's y-up axes.

    Parameters
    ----------
    v : (n, 3) array, z-up (e.g. metres east, north, up).

    Returns
    -------
    (n, 3) array of the same dtype: ``(x, z, -y)``.
    """
    return np.stack((v[:, 0], v[:, 2], -v[:, 1]), axis=1)


@dataclass(frozen=True, slots=True)
class Column:
    """One property of an EXT_structural_metadata property table.

    Attributes
    ----------
    name : property id (``[a-zA-Z_][a-zA-Z0-9_]*``).
    type : ``STRING``, ``BOOLEAN``, a numeric component type, or ``STRING[]``
        (variable-length arrays of strings).
    values : one value per feature (a list, or a numpy array for numeric columns);
        ``None`` is stored as ``no_data``.
    no_data : the sentinel written for missing values (numeric: a number; strings: a string).
    description : schema description.
    label : the property's display name (schema ``name``), e.g. the attribute's
        original name when ``name`` had to be made a valid id (``風致地区``).
    """

    name: str
    type: ColumnType
    values: Sequence[Any] | npt.NDArray[Any]
    no_data: Any = None
    description: str | None = None
    label: str | None = None


def _pad(data: bytes, align: int, fill: bytes = b"\x00") -> bytes:
    rem = (-len(data)) % align
    return data + fill * rem if rem else data


def _encode_strings(values: Sequence[str]) -> tuple[bytes, bytes]:
    """UTF-8 string buffer and uint32 offsets (count + 1) of a string column."""
    joined = "".join(values)
    if joined.isascii():  # one encode; byte lengths are character counts
        data = joined.encode("ascii")
        lengths = np.fromiter(map(len, values), dtype=np.uint64, count=len(values))
    else:
        encoded = [s.encode("utf-8") for s in values]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), dtype=np.uint64, count=len(encoded))
    offsets = np.zeros(len(values) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**32:
        raise TilingError("a string column exceeds 4 GiB; split the tile")
    return data, offsets.astype(np.uint32).tobytes()


class GlbBuilder:
    """Accumulates glTF JSON and one binary buffer; :meth:`to_bytes` writes the GLB."""

    def __init__(self, generator: str = "greentwin") -> None:
        self.gltf: dict[str, Any] = {"asset": {"version": "2.0", "generator": generator}}
        self._chunks: list[bytes] = []
        self._length = 0
        self.extensions_used: set[str] = set()
        self.extensions_required: set[str] = set()
        #: root-level ``extensions`` object (add entries freely).
        self.root_extensions: dict[str, Any] = {}
        self._scene_nodes: list[int] = []
        self._classes: dict[str, Any] = {}
        self._tables: list[dict[str, Any]] = []

    # -- low level -------------------------------------------------------------------
    def _list(self, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.gltf.setdefault(key, [])
        return items

    def _append(self, key: str, item: dict[str, Any]) -> int:
        items = self._list(key)
        items.append(item)
        return len(items) - 1

    def use_extension(self, name: str, required: bool = False) -> None:
        """Declare an extension in ``extensionsUsed`` (and ``extensionsRequired``)."""
        self.extensions_used.add(name)
        if required:
            self.extensions_required.add(name)

    def add_buffer_view(
        self,
        data: bytes | npt.NDArray[Any],
        target: int | None = None,
        byte_stride: int | None = None,
    ) -> int:
        """Append bytes to the binary chunk as a new buffer view (8-byte aligned start)."""
        raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self._length, "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        if byte_stride is not None:
            view["byteStride"] = byte_stride
        padded = _pad(raw, 8)
        self._chunks.append(padded)
        self._length += len(padded)
        return self._append("bufferViews", view)

    def add_accessor(
        self,
        array: npt.NDArray[Any],
        *,
        target: int | None = None,
        normalized: bool = False,
        min_max: bool = False,
    ) -> int:
        """Store an array as a tightly packed accessor with its own buffer view.

        Parameters
        ----------
        array : (n,), (n, k) with k in 2..4, or (n, k, k) with k in 2..4; dtype one of
            int8, uint8, int16, uint16, uint32, float32 (float64 is cast to float32).
        target : ARRAY_BUFFER for vertex attributes, ELEMENT_ARRAY_BUFFER for
            indices, None for data read by extensions (e.g. instancing).
        normalized : glTF ``normalized`` flag (integer colours, uv).
        min_max : store exact ``min``/``max`` per component (required on POSITION).
        """
        arr = np.asarray(array)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        comp = _COMPONENT.get(arr.dtype)
        if comp is None:
            raise TilingError(f"glTF has no component type for dtype {arr.dtype}")
        if arr.ndim == 1:
            kind = "SCALAR"
        elif arr.ndim == 2 and arr.shape[1] in _VEC:
            kind = _VEC[arr.shape[1]]
        elif arr.ndim == 3 and arr.shape[1] == arr.shape[2] and arr.shape[1] in _MAT:
            kind = _MAT[arr.shape[1]]
            # glTF matrices are column-major: store each matrix transposed.
            arr = np.ascontiguousarray(arr.transpose(0, 2, 1))
        else:
            raise TilingError(f"cannot store an array of shape {arr.shape} as an accessor")
        if arr.shape[0] == 0:
            raise TilingError("glTF accessors must not be empty")
        data = np.ascontiguousarray(arr)
        stride = None
        elem = arr.dtype.itemsize * (arr.size // arr.shape[0])
        if target == ARRAY_BUFFER and elem % 4:
            # vertex attribute elements must start on 4-byte boundaries: pad each one
            stride = elem + (-elem) % 4
            padded = np.zeros((arr.shape[0], stride), np.uint8)
            padded[:, :elem] = data.view(np.uint8).reshape(arr.shape[0], elem)
            data = padded
        view = self.add_buffer_view(data, target=target, byte_stride=stride)
        acc: dict[str, Any] = {
            "bufferView": view,
            "componentType": comp,
            "count": int(arr.shape[0]),
            "type": kind,
        }
        if normalized:
            acc["normalized"] = True
        if min_max:
            flat = arr.reshape(arr.shape[0], -1)
            # column by column: numpy reduces a narrow axis 0 several times slower
            acc["min"] = [_num(flat[:, k].min()) for k in range(flat.shape[1])]
            acc["max"] = [_num(flat[:, k].max()) for k in range(flat.shape[1])]
        return self._append("accessors", acc)

    def add_indices(self, indices: npt.NDArray[Any]) -> int:
        """Triangle indices as uint16 when they fit, else uint32 (flattened)."""
        flat = np.asarray(indices).reshape(-1)
        dtype = np.uint16 if flat.size and int(flat.max()) < 65535 else np.uint32
        return self.add_accessor(flat.astype(dtype, copy=False), target=ELEMENT_ARRAY_BUFFER)

    # -- scene -----------------------------------------------------------------------
    def add_mesh(self, primitives: Sequence[dict[str, Any]], name: str | None = None) -> int:
        """A mesh from glTF primitive dicts (``attributes``, ``indices``, ``material`` ...)."""
        mesh: dict[str, Any] = {"primitives": list(primitives)}
        if name:
            mesh["name"] = name
        return self._append("meshes", mesh)

    def add_node(
        self,
        mesh: int | None = None,
        *,
        matrix: Sequence[float] | None = None,
        translation: Sequence[float] | None = None,
        children: Sequence[int] | None = None,
        name: str | None = None,
        extensions: dict[str, Any] | None = None,
        root: bool = True,
    ) -> int:
        """A node; ``matrix`` is column-major (16 numbers). ``root`` adds it to scene 0."""
        node: dict[str, Any] = {}
        if mesh is not None:
            node["mesh"] = mesh
        if matrix is not None:
            node["matrix"] = [float(x) for x in matrix]
        if translation is not None:
            node["translation"] = [float(x) for x in translation]
        if children:
            node["children"] = list(children)
        if name:
            node["name"] = name
        if extensions:
            node["extensions"] = extensions
        index = self._append("nodes", node)
        if root:
            self._scene_nodes.append(index)
        return index

    # -- materials and textures ----------------------------------------------------
    def add_material(
        self,
        *,
        base_color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
        metallic: float = 0.0,
        roughness: float = 1.0,
        base_color_texture: int | None = None,
        tex_coord: int = 0,
        emissive: Sequence[float] | None = None,
        double_sided: bool = False,
        alpha_mode: Literal["OPAQUE", "MASK", "BLEND"] = "OPAQUE",
        name: str | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> int:
        """A metallic-roughness material; colours are linear RGB(A) in 0..1."""
        pbr: dict[str, Any] = {
            "baseColorFactor": [float(min(max(c, 0.0), 1.0)) for c in base_color],
            "metallicFactor": float(metallic),
            "roughnessFactor": float(roughness),
        }
        if base_color_texture is not None:
            pbr["baseColorTexture"] = {"index": base_color_texture, "texCoord": tex_coord}
        mat: dict[str, Any] = {"pbrMetallicRoughness": pbr}
        if emissive is not None and any(emissive):
            mat["emissiveFactor"] = [float(min(max(c, 0.0), 1.0)) for c in emissive]
        if double_sided:
            mat["doubleSided"] = True
        if alpha_mode != "OPAQUE":
            mat["alphaMode"] = alpha_mode
        if name:
            mat["name"] = name
        if extensions:
            mat["extensions"] = extensions
        return self._append("materials", mat)

    def add_image(self, data: bytes, mime_type: str) -> int:
        """Embed an image (PNG or JPEG bytes, stored as they are)."""
        if mime_type not in ("image/png", "image/jpeg"):
            raise TilingError(f"glTF core images are PNG or JPEG, not {mime_type}")
        view = self.add_buffer_view(data)
        return self._append("images", {"bufferView": view, "mimeType": mime_type})

    def add_sampler(
        self,
        wrap_s: int = 10497,
        wrap_t: int = 10497,
        mag_filter: int | None = 9729,
        min_filter: int | None = 9987,
    ) -> int:
        """A sampler (defaults: REPEAT, LINEAR, LINEAR_MIPMAP_LINEAR)."""
        sampler: dict[str, Any] = {"wrapS": wrap_s, "wrapT": wrap_t}
        if mag_filter is not None:
            sampler["magFilter"] = mag_filter
        if min_filter is not None:
            sampler["minFilter"] = min_filter
        return self._append("samplers", sampler)

    def add_texture(self, image: int, sampler: int | None = None) -> int:
        """A texture that samples ``image``."""
        tex: dict[str, Any] = {"source": image}
        if sampler is not None:
            tex["sampler"] = sampler
        return self._append("textures", tex)

    # -- EXT_structural_metadata ---------------------------------------------------
    def add_property_table(
        self,
        class_name: str,
        columns: Sequence[Column],
        count: int,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> int:
        """Add a schema class and a property table with one row per feature.

        Parameters
        ----------
        class_name : schema class id (``[a-zA-Z_][a-zA-Z0-9_]*``), unique per GLB.
        columns : the properties; each column holds ``count`` values.
        count : number of rows (features).

        Returns
        -------
        The property table index (for ``featureIds[].propertyTable``).
        """
        if count < 1:
            raise TilingError("a property table needs at least one row")
        if class_name in self._classes:
            raise TilingError(f"schema class {class_name!r} is defined twice")
        props_schema: dict[str, Any] = {}
        props_table: dict[str, Any] = {}
        for col in columns:
            if len(col.values) != count:
                raise TilingError(
                    f"column {col.name!r} has {len(col.values)} values, the table {count} rows"
                )
            schema, table = self._encode_column(col)
            props_schema[col.name] = schema
            if table is not None:
                props_table[col.name] = table
        cls: dict[str, Any] = {"properties": props_schema}
        if name:
            cls["name"] = name
        if description:
            cls["description"] = description
        self._classes[class_name] = cls
        table_json: dict[str, Any] = {"class": class_name, "count": count}
        if name:
            table_json["name"] = name
        if props_table:
            table_json["properties"] = props_table
        self._tables.append(table_json)
        self.use_extension("EXT_structural_metadata")
        return len(self._tables) - 1

    def _encode_column(self, col: Column) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The class property and the table property of a column; the table property is
        None for a column left out of the table (its class property has a default)."""
        schema: dict[str, Any] = {}
        table: dict[str, Any] = {}
        if col.label:
            schema["name"] = col.label
        if col.description:
            schema["description"] = col.description
        if col.type == "STRING":
            miss = "" if col.no_data is None else str(col.no_data)
            strings = [miss if v is None else str(v) for v in col.values]
            data, offsets = _encode_strings(strings)
            schema["type"] = "STRING"
            if col.no_data is not None:
                schema["noData"] = miss
            if not data:
                # every row is "": a buffer view cannot be empty and the offsets must end
                # at the values' length, so the table leaves the column out and the class
                # gives its value as the default (EXT_structural_metadata, "default")
                schema["default"] = ""
                return schema, None
            table["values"] = self.add_buffer_view(data)
            table["stringOffsets"] = self.add_buffer_view(offsets)
            table["stringOffsetType"] = "UINT32"
        elif col.type == "STRING[]":
            lists = [[] if v is None else [str(s) for s in v] for v in col.values]
            flat = [s for sub in lists for s in sub]
            data, offsets = _encode_strings(flat)
            counts = np.fromiter((len(s) for s in lists), dtype=np.uint32, count=len(lists))
            array_offsets = np.zeros(len(lists) + 1, dtype=np.uint32)
            np.cumsum(counts, out=array_offsets[1:])
            schema["type"] = "STRING"
            schema["array"] = True
            if not flat:  # only empty lists: left out as above
                schema["default"] = []
                return schema, None
            if not data:
                raise TilingError(
                    f"column {col.name!r} holds only empty strings, which a property table "
                    "cannot store in lists; leave them out of the lists"
                )
            table["values"] = self.add_buffer_view(data)
            table["stringOffsets"] = self.add_buffer_view(offsets)
            table["stringOffsetType"] = "UINT32"
            table["arrayOffsets"] = self.add_buffer_view(array_offsets)
            table["arrayOffsetType"] = "UINT32"
        elif col.type == "BOOLEAN":
            bits = np.array([bool(v) for v in col.values], dtype=bool)
            packed = np.packbits(bits, bitorder="little")
            schema["type"] = "BOOLEAN"
            table["values"] = self.add_buffer_view(packed.tobytes())
        else:
            dtype = _NUMERIC.get(col.type)
            if dtype is None:
                raise TilingError(f"unknown column type {col.type!r}")
            if isinstance(col.values, np.ndarray):
                arr = col.values.astype(dtype, copy=False)
            else:
                fill = 0 if col.no_data is None else col.no_data
                arr = np.array([fill if v is None else v for v in col.values], dtype=dtype)
            schema["type"] = "SCALAR"
            schema["componentType"] = col.type
            if col.no_data is not None:
                schema["noData"] = _num(np.asarray(col.no_data, dtype=dtype))
            table["values"] = self.add_buffer_view(np.ascontiguousarray(arr))
        return schema, table

    # -- output ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The glTF JSON as it will be written (buffers, scene and extensions filled in)."""
        doc = dict(self.gltf)
        if self._length:
            doc["buffers"] = [{"byteLength": self._length}]
        if self._scene_nodes:
            doc["scenes"] = [{"nodes": list(self._scene_nodes)}]
            doc["scene"] = 0
        ext = dict(self.root_extensions)
        if self._tables:
            meta = dict(ext.get("EXT_structural_metadata", {}))
            meta["schema"] = {"id": "greentwin", "classes": self._classes}
            meta["propertyTables"] = self._tables
            ext["EXT_structural_metadata"] = meta
        if ext:
            doc["extensions"] = ext
        if self.extensions_used:
            doc["extensionsUsed"] = sorted(self.extensions_used)
        if self.extensions_required:
            doc["extensionsRequired"] = sorted(self.extensions_required)
        return doc

    def to_bytes(self) -> bytes:
        """The GLB file: 12-byte header, JSON chunk (space padded), BIN chunk (zero padded)."""
        js = _pad(
            json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False).encode("utf-8"),
            4,
            b" ",
        )
        parts = [b"", struct.pack("<II", len(js), _CHUNK_JSON), js]
        total = 12 + 8 + len(js)
        if self._length:
            parts.append(struct.pack("<II", self._length, _CHUNK_BIN))
            parts.extend(self._chunks)
            total += 8 + self._length
        parts[0] = struct.pack("<III", _GLB_MAGIC, 2, total)
        return b"".join(parts)


def _num(x: Any) -> int | float:
    """A numpy scalar as an exact JSON number (float32 values are exact in float64)."""
    v = np.asarray(x)
    if v.dtype.kind in "iu":
        return int(v)
    return float(v)


def feature_ids_extension(
    sets: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``EXT_mesh_features`` object of a primitive.

    Parameters
    ----------
    sets : one mapping per feature-id set with ``featureCount``, ``attribute``
        (n of ``_FEATURE_ID_n``), optional ``propertyTable`` and ``label``.
    """
    out = []
    for s in sets:
        entry = {k: s[k] for k in ("featureCount", "attribute", "propertyTable", "label") if k in s}
        out.append(entry)
    return {"EXT_mesh_features": {"featureIds": out}}
