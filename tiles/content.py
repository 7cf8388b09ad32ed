"""Tile content: feature meshes (or their coarse prisms) to one GLB with metadata.

Each tile's GLB holds one mesh with one primitive per material, positions in the
tileset's root east-north-up frame relative to the tile centre (float32 offsets of
at most a few kilometres, so no jitter), rotated to glTF's y-up axes, and a node
translation that puts them back. Two feature-id sets per vertex (EXT_mesh_features):

* ``_FEATURE_ID_0`` -> property table ``object`` (a row per Building / BuildingPart /
  city object: id, parent_id, class, lod and the attributes);
* ``_FEATURE_ID_1`` -> property table ``surface`` (surface_type, surface_id, object
  row), absent in coarse tiles.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import AttributeValue
from greentwin.core import TilingError
from greentwin.tiles.geodesy import WGS84_E2
from greentwin.tiles.gltf import ARRAY_BUFFER, Column, GlbBuilder, feature_ids_extension, zup_to_yup
from greentwin.tiles.mesh import SEMANTIC_COLOURS, Coarse, FeatureMesh, MaterialKey
from greentwin.tiles.records import CoarseBatch, LeafBatch, coarse_batch_of, leaf_batch_of

__all__ = ["CoarseItem", "TileContent", "build_tile"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Columns every object table has, in this order.
BASE_COLUMNS = ("id", "parent_id", "class", "lod")

_INT32_NODATA = -(2**31)
_FLOAT_NODATA = -3.4028234663852886e38

_WRAP = {"wrap": 10497, "mirror": 33648}
_CLAMP = 33071


@dataclass(slots=True)
class CoarseItem:
    """What a coarse tile needs of a feature: its origin, prism and attribute row."""

    origin: F64
    coarse: Coarse
    row: dict[str, AttributeValue | None]


@dataclass(slots=True)
class TileContent:
    """A written tile: GLB bytes and the box of its positions in the root frame.

    Attributes
    ----------
    glb : the GLB file.
    lo, hi : (3,) float64 metres, root ENU frame: min and max over all positions.
    objects : rows in the object table.
    """

    glb: bytes
    lo: F64
    hi: F64
    objects: int


def _safe_name(name: str, taken: set[str]) -> str:
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    if safe[0].isdigit():
        safe = "_" + safe
    base, k = safe, 2
    while safe in taken:
        safe = f"{base}_{k}"
        k += 1
    taken.add(safe)
    return safe


def _by_column(rows: Sequence[dict[str, AttributeValue | None]]) -> dict[str, list[Any]]:
    """Column name -> values (None where a row lacks it); the base columns first, then
    the others in the order they are first met."""
    by: dict[str, list[Any]] = {}
    first = tuple(rows[0]) if rows else ()
    if all(tuple(row) == first for row in rows):  # the same keys in every row: transpose
        columns = zip(*(row.values() for row in rows), strict=True)
        by = dict(zip(first, map(list, columns), strict=True))
        for key in BASE_COLUMNS:
            if key not in by:
                by[key] = [None] * len(rows)
        return {**{k: by[k] for k in BASE_COLUMNS}, **by}
    keys: list[str] = list(BASE_COLUMNS)
    seen = set(keys)
    for row in rows:
        for k in row:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    return {key: [row.get(key) for row in rows] for key in keys}


def _columns(rows: Sequence[dict[str, AttributeValue | None]]) -> list[Column]:
    taken: set[str] = set()
    cols: list[Column] = []
    for key, values in _by_column(rows).items():
        name = _safe_name(key, taken)
        desc = None if name == key else key
        types = set(map(type, values))
        complete = _NONE not in types
        types.discard(_NONE)
        if types <= _PLAIN:  # exact built-in types: decide on the set of types
            kind = _column_kind(types, complete, values)
        else:
            kind = _column_kind_slow(values)
        # a name that is no valid id keeps its original as the property's name
        if kind == "BOOLEAN":
            cols.append(Column(name, "BOOLEAN", values, description=desc, label=desc))
        elif kind == "INT32":
            cols.append(Column(name, "INT32", values, _INT32_NODATA, description=desc, label=desc))
        elif kind == "FLOAT64":
            vals = [None if v is None or v != v else v for v in values]  # NaN -> no data
            cols.append(Column(name, "FLOAT64", vals, _FLOAT_NODATA, description=desc, label=desc))
        else:
            strings = (
                values
                if complete and types == _STR
                else ["" if v is None else str(v) for v in values]
            )
            cols.append(Column(name, "STRING", strings, description=desc, label=desc))
    return cols


_NONE = type(None)
_PLAIN = frozenset({bool, int, float, str})
_STR = frozenset({str})


def _column_kind(types: set[type], complete: bool, values: list[AttributeValue | None]) -> str:
    """Column type of values whose (non-None) types are exactly ``types``."""
    if not types:
        return "STRING"
    if types == {bool}:
        return "BOOLEAN" if complete else "STRING"
    if types == {int}:
        ints = [v for v in values if isinstance(v, int)]
        if -(2**31) < min(ints) and max(ints) < 2**31:
            return "INT32"
        return "FLOAT64"
    if types <= {int, float}:
        return "FLOAT64"
    return "STRING"


def _column_kind_slow(values: list[AttributeValue | None]) -> str:
    """Column type by ``isinstance`` (subclasses of the built-in types)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present) and len(present) == len(values):
        return "BOOLEAN"
    if (
        present
        and all(isinstance(v, int) and not isinstance(v, bool) for v in present)
        and all(-(2**31) < int(v) < 2**31 for v in present)
    ):
        return "INT32"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FLOAT64"
    return "STRING"


def _fid_accessor(b: GlbBuilder, ids: npt.NDArray[Any], count: int) -> int:
    # float32 holds ids exactly up to 2**24; custom attributes may not be UNSIGNED_INT
    if count >= 2**24:
        raise TilingError(f"{count} features in one tile: lower max_features_per_tile")
    return b.add_accessor(ids.astype(np.float32), target=ARRAY_BUFFER)


class _Textures:
    """Loads each image once per tile; non-PNG/JPEG images are re-encoded as PNG."""

    def __init__(self, builder: GlbBuilder) -> None:
        self.b = builder
        self.images: dict[str, int | None] = {}
        self.samplers: dict[int, int] = {}

    def texture(self, path: str, wrap: str) -> int | None:
        if path not in self.images:
            self.images[path] = self._load(path)
        image = self.images[path]
        if image is None:
            return None
        mode = _WRAP.get(wrap, _CLAMP)
        if mode not in self.samplers:
            self.samplers[mode] = self.b.add_sampler(mode, mode)
        return self.b.add_texture(image, self.samplers[mode])

    def _load(self, path: str) -> int | None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            log.warning("texture %s unreadable (%s): surfaces keep their colour", path, exc)
            return None
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return self.b.add_image(data, "image/png")
        if data[:3] == b"\xff\xd8\xff":
            return self.b.add_image(data, "image/jpeg")
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                out = io.BytesIO()
                im.convert("RGBA").save(out, format="PNG")
        except Exception as exc:  # Pillow raises many types for bad images
            log.warning("texture %s could not be decoded (%s)", path, exc)
            return None
        return self.b.add_image(out.getvalue(), "image/png")


def _material(b: GlbBuilder, key: MaterialKey, textures: _Textures) -> tuple[int, bool]:
    """glTF material for a key; returns (index, uses TEXCOORD_0)."""
    kind = key[0]
    if kind == "tex":
        tex = textures.texture(str(key[1]), str(key[3]))
        if tex is not None:
            return b.add_material(base_color_texture=tex, double_sided=True, name="texture"), True
        return b.add_material(base_color=(*SEMANTIC_COLOURS[""], 1.0), double_sided=True), False
    if kind == "x3d":
        r, g, bl, er, eg, eb, tr = (float(x) for x in key[1:8])
        alpha = 1.0 - tr
        return (
            b.add_material(
                base_color=(r, g, bl, alpha),
                emissive=(er, eg, eb),
                double_sided=True,
                alpha_mode="BLEND" if alpha < 1.0 else "OPAQUE",
                name="X3DMaterial",
            ),
            False,
        )
    colour = SEMANTIC_COLOURS.get(str(key[1]), SEMANTIC_COLOURS[""])
    return b.add_material(
        base_color=(*colour, 1.0), double_sided=True, name=str(key[1]) or "surface"
    ), False


def build_tile(
    meshes: Sequence[FeatureMesh] | LeafBatch,
    coarse: Sequence[CoarseItem] | CoarseBatch,
    root_inv: F64,
    shift: float,
) -> TileContent:
    """Encode a tile from full feature meshes (leaf) or coarse prisms (parent).

    Parameters
    ----------
    meshes : full features (leaf tiles), as meshes or as a batch decoded from spill
        records; empty for coarse tiles.
    coarse : coarse items (parent tiles), as items or as a batch; empty for leaf tiles.
    root_inv : (4, 4) float64 ECEF -> root ENU matrix.
    shift : metres to move every feature down along its local vertical
        (``--height-mode ground``); 0 otherwise.
    """
    rot = root_inv[:3, :3]
    b = GlbBuilder()
    b.use_extension("EXT_mesh_features")
    textures = _Textures(b)

    def bases(origins: F64) -> F64:
        """(k, 3) root-frame positions of (k, 3) ECEF origins, moved down by ``shift``."""
        o = origins
        if shift:
            o = origins - shift * _up_rows(origins)
        out: F64 = o @ rot.T + root_inv[:3, 3]
        return out

    # per material: positions (root frame), normals, uv, object ids, surface ids,
    # triangles; the transforms and the regrouping run once over all features of the
    # tile, the loops only collect counts
    parts: list[tuple[MaterialKey, F64, F64, Any, Any, Any, Any]] = []
    rows: list[dict[str, AttributeValue | None]] = []
    surf_types: list[str] = []
    surf_ids: list[str] = []
    surf_objs: list[npt.NDArray[np.uint32]] = []
    if isinstance(meshes, LeafBatch) or meshes:
        leaves = meshes if isinstance(meshes, LeafBatch) else leaf_batch_of(meshes)
        parts = _leaf_parts(leaves, bases, rot, rows, surf_types, surf_ids, surf_objs)
    elif isinstance(coarse, CoarseBatch) or coarse:
        blocks = (
            coarse
            if isinstance(coarse, CoarseBatch)
            else coarse_batch_of(
                [c.origin for c in coarse], [c.coarse for c in coarse], [c.row for c in coarse]
            )
        )
        rows.extend(blocks.rows)
        counts = blocks.counts
        starts = np.zeros(len(counts), np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        base = np.repeat(bases(blocks.origins), counts, axis=0)
        pos_all = blocks.positions.astype(np.float64) @ rot.T + base
        nrm_all = blocks.normals @ rot.T
        fid_all = np.repeat(np.arange(len(counts), dtype=np.uint32), counts)
        tris_all = blocks.triangles + np.repeat(starts, blocks.tcounts).astype(np.uint32)[:, None]
        parts = [(("sem", "coarse"), pos_all, nrm_all, None, fid_all, None, tris_all)]
    all_pos = np.concatenate([p[1] for p in parts])
    lo, hi = _bounds(all_pos)
    centre = 0.5 * (lo + hi)
    # the box is taken from the positions as stored (float32 offsets), not as computed
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    n_obj = len(rows)
    n_surf = len(surf_types)
    obj_table = b.add_property_table("object", _columns(rows), n_obj, name="city objects")
    surf_table = -1
    if n_surf:
        surf_table = b.add_property_table(
            "surface",
            [
                Column("surface_type", "STRING", surf_types),
                Column("surface_id", "STRING", surf_ids),
                Column("object", "UINT32", np.concatenate(surf_objs)),
            ],
            n_surf,
            name="surfaces",
        )
    prims = []
    for key, pos, nrm_k, uv, fid0, fid1, tris in parts:
        mat, use_uv = _material(b, key, textures)
        pos32 = (pos - centre).astype(np.float32)
        lo32, hi32 = _bounds(pos32)
        lo = np.minimum(lo, centre + lo32)
        hi = np.maximum(hi, centre + hi32)
        nrm = nrm_k.astype(np.float32)
        attrs = {
            "POSITION": b.add_accessor(zup_to_yup(pos32), target=ARRAY_BUFFER, min_max=True),
            "NORMAL": b.add_accessor(zup_to_yup(nrm), target=ARRAY_BUFFER),
            "_FEATURE_ID_0": _fid_accessor(b, fid0, n_obj),
        }
        sets: list[dict[str, Any]] = [
            {
                "featureCount": _distinct(fid0),
                "attribute": 0,
                "propertyTable": obj_table,
                "label": "object",
            }
        ]
        if surf_table >= 0 and fid1 is not None:
            attrs["_FEATURE_ID_1"] = _fid_accessor(b, fid1, n_surf)
            sets.append(
                {
                    "featureCount": _distinct(fid1),
                    "attribute": 1,
                    "propertyTable": surf_table,
                    "label": "surface",
                }
            )
        if use_uv:
            attrs["TEXCOORD_0"] = b.add_accessor(
                np.zeros((len(pos), 2), np.float32) if uv is None else uv.astype(np.float32),
                target=ARRAY_BUFFER,
            )
        prims.append(
            {
                "attributes": attrs,
                "indices": b.add_indices(tris),
                "material": mat,
                "mode": 4,
                "extensions": feature_ids_extension(sets),
            }
        )
    mesh = b.add_mesh(prims)
    b.add_node(mesh, translation=zup_to_yup(centre.reshape(1, 3))[0].tolist())
    return TileContent(b.to_bytes(), lo, hi, n_obj)


def _leaf_parts(
    leaves: LeafBatch,
    bases: Any,
    rot: F64,
    rows: list[dict[str, AttributeValue | None]],
    surf_types: list[str],
    surf_ids: list[str],
    surf_objs: list[npt.NDArray[np.uint32]],
) -> list[tuple[MaterialKey, F64, F64, Any, Any, Any, Any]]:
    """Full feature meshes regrouped by material, in a few array operations.

    Returns per material (first seen first): positions in the root frame, normals,
    uv (or None), object ids, surface ids and triangles local to the material; within a
    material the features keep their order. Fills the object and surface tables.
    """
    counts, tcounts = leaves.counts, leaves.tcounts
    n = len(counts)
    vstart = np.zeros(n, np.int64)
    np.cumsum(counts[:-1], out=vstart[1:])
    tstart = np.zeros(n, np.int64)
    np.cumsum(tcounts[:-1], out=tstart[1:])
    base = np.repeat(bases(leaves.origins), counts, axis=0)
    pos_all = leaves.positions.astype(np.float64) @ rot.T + base
    nrm_all = leaves.normals @ rot.T
    nobj = np.fromiter(map(len, leaves.objects), np.int64, n)
    obj0s = np.zeros(n, np.int64)
    np.cumsum(nobj[:-1], out=obj0s[1:])
    surf0s = np.zeros(n, np.int64)
    np.cumsum(leaves.scounts[:-1], out=surf0s[1:])
    for objs in leaves.objects:
        rows.extend(objs)
    surf_types.extend(leaves.surface_types)
    surf_ids.extend(leaves.surface_ids)
    surf_objs.append(leaves.surface_objects + np.repeat(obj0s, leaves.scounts).astype(np.uint32))
    key_id: dict[MaterialKey, int] = {}
    g_key: list[int] = []
    g_mesh: list[int] = []
    g_span: list[int] = []  # v0, v1, t0, t1 per group, flat
    for i, groups in enumerate(leaves.groups):
        for key, t0, t1, v0, v1 in groups:
            k = key_id.get(key)
            if k is None:
                k = key_id[key] = len(key_id)
            g_key.append(k)
            g_mesh.append(i)
            g_span += (v0, v1, t0, t1)
    vobj_all = leaves.vertex_object.astype(np.uint32) + np.repeat(obj0s, counts).astype(np.uint32)
    vsurf_all = leaves.vertex_surface + np.repeat(surf0s, counts).astype(np.uint32)
    uv_all = leaves.uv
    if not g_key:
        return []
    tri_all = leaves.triangles.astype(np.int64)
    # groups in material order (stable: features keep their order within a material)
    gk = np.asarray(g_key, np.int64)
    gm = np.asarray(g_mesh, np.int64)
    span = np.asarray(g_span, np.int64).reshape(-1, 4)
    order = np.argsort(gk, kind="stable")
    gk, gm, span = gk[order], gm[order], span[order]
    vlen = span[:, 1] - span[:, 0]
    tlen = span[:, 3] - span[:, 2]
    nk = len(key_id)
    # first vertex of each group within its material's vertex list
    vend = np.cumsum(vlen)
    key_vstart = np.zeros(nk + 1, np.int64)
    key_vstart[1:] = np.bincount(gk, weights=vlen, minlength=nk).astype(np.int64).cumsum()
    gbase = vend - vlen - key_vstart[gk]
    vsel = np.repeat(vstart[gm] + span[:, 0] - (vend - vlen), vlen) + np.arange(int(vend[-1]))
    tend = np.cumsum(tlen)
    tsel = np.repeat(tstart[gm] + span[:, 2] - (tend - tlen), tlen) + np.arange(int(tend[-1]))
    tris = tri_all[tsel] + np.repeat(gbase - span[:, 0], tlen)[:, None]
    key_tstart = np.zeros(nk + 1, np.int64)
    key_tstart[1:] = np.bincount(gk, weights=tlen, minlength=nk).astype(np.int64).cumsum()
    pos_g, nrm_g, vobj_g, vsurf_g = pos_all[vsel], nrm_all[vsel], vobj_all[vsel], vsurf_all[vsel]
    uv_g = uv_all[vsel] if uv_all is not None else None
    out: list[tuple[MaterialKey, F64, F64, Any, Any, Any, Any]] = []
    for key, k in key_id.items():
        a, z = int(key_vstart[k]), int(key_vstart[k + 1])
        ta, tz = int(key_tstart[k]), int(key_tstart[k + 1])
        out.append(
            (
                key,
                pos_g[a:z],
                nrm_g[a:z],
                None if uv_g is None else uv_g[a:z],
                vobj_g[a:z],
                vsurf_g[a:z],
                tris[ta:tz],
            )
        )
    return out


def _bounds(points: npt.NDArray[Any]) -> tuple[F64, F64]:
    """Per-column (min, max) of (n, 3) points as float64 (numpy reduces a narrow axis 0
    several times slower than each column on its own)."""
    lo = np.array([points[:, k].min() for k in range(3)], np.float64)
    hi = np.array([points[:, k].max() for k in range(3)], np.float64)
    return lo, hi


def _distinct(ids: npt.NDArray[Any]) -> int:
    """Number of distinct values of non-negative integer ids (a bincount, not a sort)."""
    return int(np.count_nonzero(np.bincount(ids.astype(np.int64, copy=False))))


def _up_rows(origins: F64) -> F64:
    """Unit ellipsoid normals near (k, 3) ECEF points, (k, 3) float64 (see :func:`_up`)."""
    n = origins.copy()
    n[:, 2] /= 1.0 - WGS84_E2
    out: F64 = n / np.linalg.norm(n, axis=1)[:, None]
    return out


def _up(origin: F64) -> F64:
    """Unit ellipsoid normal near an ECEF point, (3,) float64.

    On the WGS 84 ellipsoid the normal is parallel to ``(x / a^2, y / a^2, z / b^2)``,
    i.e. ``(x, y, z / (1 - e^2))`` (the gradient of the ellipsoid equation); a few hundred
    metres off the surface the direction changes by well under a microradian.
    """
    n = np.array([origin[0], origin[1], origin[2] / (1.0 - WGS84_E2)])
    out: F64 = n / np.linalg.norm(n)
    return out
