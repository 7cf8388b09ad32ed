"""Vegetation tilesets (3D Tiles 1.1, glb content) of the green layer on a date.

Layout
------
``tileset.json``, ``tiles/<address>.glb`` and, for instanced tilesets, the shared
plant meshes ``meshes/<species>-l<lod>-<look>.bin`` that every tile's glb references
as an external glTF buffer (so a tile pays for its instances only).

Tiling
------
A quadtree over the trees in a local east-north-up frame at the dataset centre
(``root.transform`` = ENU -> ECEF). Each level of detail ``L`` in ``lods`` has a
capacity (trees per tile); a tree appears in exactly one tile per level: the first
node on its path from the root holding at most ``capacity[L]`` trees. Coarser levels
sit higher in the tree (refine REPLACE); when one node is the first for several
levels, the finer ones follow as children with the same bounding box. The finest
level's tiles are the leaves (geometricError 0); a tile of level ``L`` has
geometricError :data:`LOD_ERROR_M[L]` (about the size of the detail it leaves out).

Instanced content (``instanced=True``): per species one node with the shared mesh
of that species, level and seasonal look and ``EXT_mesh_gpu_instancing`` attributes
TRANSLATION (float32, metres from the tile centre, glTF y-up), ROTATION (int16
normalised quaternion: a yaw about the up axis, deterministic from the tree id),
SCALE (float32: crown diameter / mesh width, height, crown diameter / mesh width) and
``_FEATURE_ID_0`` (uint16 row of the property table, via ``EXT_instance_features``).
Non-instanced content bakes every tree's mesh into the tile (LoD2 at most on the
finest level, impostors on the coarser ones) with a per-vertex ``_FEATURE_ID_0`` (``EXT_mesh_features``), for
clients without instancing (Cesium for Unity). Both variants write the same tiles,
the same rows in the same order and the same property table.

Property table ``tree`` (``EXT_structural_metadata``): ``species`` (enum, uint8),
``age_years`` (uint8), ``height_m``, ``crown_m``, ``dbh_cm`` (uint16 normalised,
0.01 m / 0.01 cm resolution), ``carbon_kg`` (float32), ``tree`` (uint32 row of the input
table, to find the tree's id).

Heights: ``height_mode="crs"`` uses the CRS heights; ``"ground"`` shifts all trees
so that the lowest stem base lies on the ellipsoid. An explicit ``height_offset``
(metres, added to every ellipsoidal height) overrides both: to line trees up with a
building tileset converted with ``--height-mode ground`` that moved the city down by
``S`` metres, pass ``height_offset=-S``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import mapbox_earcut
import numpy as np
import numpy.typing as npt
from greentwin.core import TilingError
from greentwin.green_model.climate import Climate
from greentwin.green_model.growth import StateArrays, TreeTable
from greentwin.green_model.plant_mesh import IMPOSTOR, Look, MeshPart, PlantMesh, plant_mesh
from greentwin.green_model.services import carbon_kg
from greentwin.green_model.species import SpeciesLibrary
from greentwin.green_model.state import PlantCover, Tree, trees_to_table
from greentwin.tiles.geodesy import enu_to_ecef_matrix, geodetic_to_ecef, to_geodetic
from greentwin.tiles.gltf import (
    ARRAY_BUFFER,
    ELEMENT_ARRAY_BUFFER,
    Column,
    GlbBuilder,
    feature_ids_extension,
)
from greentwin.tiles.tileset import Tile, split_quadtree, tileset_json

__all__ = [
    "DEFAULT_CAPACITY",
    "LOD_ERROR_M",
    "VegetationSummary",
    "build_vegetation_tileset",
    "cached_vegetation_tileset",
    "vegetation_cache_key",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
HeightMode = Literal["crs", "ground"]

#: Trees per tile for each level of detail (finest levels hold the fewest).
DEFAULT_CAPACITY: dict[int, int] = {0: 512, 1: 2048, 2: 16384, IMPOSTOR: 65536}
#: Geometric error (m) of a tile whose content is at that level of detail.
LOD_ERROR_M: dict[int, float] = {0: 0.5, 1: 2.0, 2: 6.0, IMPOSTOR: 16.0}
#: Largest level of detail baked into non-instanced tiles.
NON_INSTANCED_MIN_LOD = 2
_HEIGHT_SCALE = 655.35  # uint16 normalised -> 0.01 m steps
_MAX_DEPTH = 24


class VegetationSummary(TypedDict):
    """What :func:`build_vegetation_tileset` wrote."""

    tileset: str
    date: str
    trees: int
    covers: int
    tiles: int
    glb_files: int
    bytes: int
    bytes_per_tree: float
    instanced: bool
    lods: list[int]
    height_offset: float


class _ExtGlb(GlbBuilder):
    """GlbBuilder plus external buffers and enum / normalised metadata properties."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[tuple[str, int]] = []
        self.enums: dict[str, Any] = {}
        self.enum_props: dict[tuple[str, str], str] = {}
        self.norm_props: dict[tuple[str, str], float] = {}

    def add_external(self, uri: str, length: int) -> int:
        """Declare an external buffer; returns its index (1, 2, ...)."""
        self.external.append((uri, length))
        return len(self.external)

    def external_view(
        self, buffer: int, offset: int, length: int, target: int, stride: int | None = None
    ) -> int:
        """A buffer view into an external buffer."""
        views = self.gltf.setdefault("bufferViews", [])
        view: dict[str, Any] = {
            "buffer": buffer, "byteOffset": offset, "byteLength": length, "target": target
        }  # fmt: skip
        if stride:
            view["byteStride"] = stride
        views.append(view)
        return len(views) - 1

    def to_json(self) -> dict[str, Any]:
        doc = super().to_json()
        if self.external:
            buffers = doc.setdefault("buffers", [])
            if not buffers:
                # buffer 0 must be the GLB BIN chunk; keep a minimal one
                raise TilingError("a tile with external meshes needs its own binary data")
            buffers.extend({"uri": u, "byteLength": n} for u, n in self.external)
        meta = doc.get("extensions", {}).get("EXT_structural_metadata")
        if meta is not None:
            schema = meta["schema"]
            if self.enums:
                schema["enums"] = self.enums
            for (cls, prop), enum in self.enum_props.items():
                p = schema["classes"][cls]["properties"][prop]
                p.pop("componentType", None)
                p["type"] = "ENUM"
                p["enumType"] = enum
            for (cls, prop), scale in self.norm_props.items():
                p = schema["classes"][cls]["properties"][prop]
                p["normalized"] = True
                p["scale"] = scale
        return doc


def _lod_tiles(cell: Tile, parent_n: float, lods: Sequence[int], cap: dict[int, int]) -> Tile:
    """The tiles of one quadtree cell and its subtree: levels of detail drawn here.

    A level ``L`` is drawn by the first cell on a tree's path holding at most
    ``cap[L]`` trees; several levels first reached in one cell form a chain of tiles
    with the same trees, coarsest on top, the cell's children under the finest.
    """
    n = cell.items.size
    here = [lod for lod in sorted(lods, reverse=True) if n <= cap[lod] < parent_n]
    kids = [_lod_tiles(c, n, lods, cap) for c in cell.children]
    cell.address = f"0{cell.address}"
    cell.refine = "REPLACE"
    cell.children = kids
    if not here:
        return cell
    chain = [
        Tile(
            f"{cell.address}l{lod}",
            cell.items,
            refine="REPLACE",
            level=lod,
            centre=cell.centre,
            half=cell.half,
        )
        for lod in here
    ]
    for a, b in itertools.pairwise(chain):
        a.children = [b]
    chain[-1].children = kids
    return chain[0]


def _tree_tiles(en: F64, keep: I64, lods: Sequence[int], cap: dict[int, int]) -> Tile:
    """The tile tree of the trees ``keep`` ((n, 2) east, north ``en``), errors set."""
    lo = en[keep].min(axis=0)
    hi = en[keep].max(axis=0)
    side = float(max(hi - lo)) + 1e-3
    finest = cap[min(lods)]
    cells = split_quadtree(
        en,
        lambda rows: rows.size > finest,
        max_depth=_MAX_DEPTH,
        items=keep,
        centre=lo + side / 2.0,
        half=side / 2.0,
    )
    root = _lod_tiles(cells, float("inf"), lods, cap)
    _finish_errors(root)
    return root


def _finish_errors(t: Tile) -> float:
    """Set geometric errors bottom-up; returns the tile's error."""
    child = max((_finish_errors(c) for c in t.children), default=0.0)
    if t.level is not None:
        own = 0.0 if not t.children else LOD_ERROR_M[t.level]
    else:
        own = max(t.half * np.sqrt(2.0) / 2.0, 2.0 * child)  # a quarter of the diagonal
    t.error = max(own, child * 1.0001 if t.children else 0.0)
    return t.error


def _yaw_quaternions(ids: Sequence[str]) -> npt.NDArray[np.int8]:
    """(n, 4) int8 normalised quaternions of a yaw about glTF +Y, from crc32(id).

    The yaw is quantised to 64 steps so that the int8 quaternion stays unit length
    to within 1/127 (``(0, sin, 0, cos)`` rounded).
    """
    h = np.fromiter((zlib.crc32(i.encode("utf-8")) for i in ids), dtype=np.uint32, count=len(ids))
    yaw = (h % 64).astype(np.float64) / 64.0 * 2.0 * np.pi
    q = np.zeros((len(ids), 4))
    q[:, 1] = np.sin(yaw / 2.0)
    q[:, 3] = np.cos(yaw / 2.0)
    return np.round(q * 127.0).astype(np.int8)


def _srgb_to_linear(c: Sequence[float]) -> tuple[float, float, float]:
    out = []
    for v in c[:3]:
        v = min(max(float(v), 0.0), 1.0)
        out.append(v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4)
    return (out[0], out[1], out[2])


def _yup(p: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.stack((p[:, 0], p[:, 2], -p[:, 1]), axis=1)


@dataclass(slots=True)
class _MeshFile:
    """One external buffer holding the meshes of every species at one level of detail.

    ``parts[species]`` lists per mesh part: (position offset, normal offset, index
    offset, index count, vertex count, min, max, 0 bark / 1 foliage); offsets are
    relative to the vertex view (positions, normals) and the index view.
    """

    uri: str
    vertex_bytes: int
    index_bytes: int
    parts: dict[int, list[tuple[int, int, int, int, int, list[float], list[float], int]]]
    meshes: dict[int, PlantMesh]

    @property
    def length(self) -> int:
        return self.vertex_bytes + self.index_bytes


def _write_mesh_bin(meshes: dict[int, PlantMesh], path: Path) -> _MeshFile:
    """Write plant meshes as one glTF buffer: float32 vertex data, then uint16 indices."""
    vchunks: list[bytes] = []
    ichunks: list[bytes] = []
    voff = 0
    ioff = 0
    parts: dict[int, list[tuple[int, int, int, int, int, list[float], list[float], int]]] = {}
    for s, mesh in meshes.items():
        entry = []
        for which, part in ((0, mesh.bark), (1, mesh.foliage)):
            if part is None or part.triangles == 0:
                continue
            pos = np.ascontiguousarray(_yup(part.positions), dtype=np.float32)
            nrm = np.ascontiguousarray(_yup(part.normals), dtype=np.float32)
            idx = part.indices.reshape(-1).astype(np.uint16)
            ib = idx.tobytes()
            ib += b"\x00" * ((-len(ib)) % 4)
            entry.append(
                (
                    voff,
                    voff + pos.nbytes,
                    ioff,
                    int(idx.size),
                    int(pos.shape[0]),
                    [float(v) for v in pos.min(axis=0)],
                    [float(v) for v in pos.max(axis=0)],
                    which,
                )
            )
            vchunks.append(pos.tobytes() + nrm.tobytes())
            voff += pos.nbytes + nrm.nbytes
            ichunks.append(ib)
            ioff += len(ib)
        parts[s] = entry
    path.write_bytes(b"".join(vchunks) + b"".join(ichunks))
    return _MeshFile(f"../meshes/{path.name}", voff, ioff, parts, meshes)


@dataclass(slots=True)
class _Ctx:
    table: TreeTable
    states: StateArrays
    carbon: F64
    enu: F64  # (n, 3) east, north, up of the stem base
    yaw: npt.NDArray[np.int8]
    looks: dict[int, Look]
    out: Path
    instanced: bool
    finest: int = 1
    mesh_files: dict[int, _MeshFile] = field(default_factory=dict)


def _materials(b: GlbBuilder, mesh: PlantMesh, cache: dict[Any, int]) -> tuple[int, int]:
    kb = ("bark", mesh.bark_colour)
    if kb not in cache:
        cache[kb] = b.add_material(
            base_color=(*_srgb_to_linear(mesh.bark_colour), 1.0), roughness=0.9
        )
    kf = ("fol", mesh.foliage_colour, mesh.double_sided_foliage)
    if kf not in cache:
        cache[kf] = b.add_material(
            base_color=(*_srgb_to_linear(mesh.foliage_colour), 1.0),
            roughness=0.8,
            double_sided=mesh.double_sided_foliage,
        )
    return cache[kb], cache[kf]


def _property_columns(ctx: _Ctx, rows: I64) -> list[Column]:
    st = ctx.states
    return [
        Column("species", "UINT8", st.species[rows].astype(np.uint8), description="species enum"),
        Column(
            "age_years",
            "UINT8",
            np.clip(np.round(st.age_years[rows]), 0, 255).astype(np.uint8),
            description="estimated calendar age, years",
        ),
        Column(
            "height_m",
            "UINT16",
            np.clip(np.round(st.height_m[rows] * 100.0), 0, 65535).astype(np.uint16),
            description="tree height, m",
        ),
        Column(
            "crown_m",
            "UINT16",
            np.clip(np.round(st.crown_diameter_m[rows] * 100.0), 0, 65535).astype(np.uint16),
            description="crown diameter, m",
        ),
        Column(
            "dbh_cm",
            "UINT16",
            np.clip(np.round(st.dbh_cm[rows] * 100.0), 0, 65535).astype(np.uint16),
            description="stem diameter at breast height, cm",
        ),
        Column(
            "carbon_kg",
            "FLOAT32",
            ctx.carbon[rows].astype(np.float32),
            description="carbon stored above ground, kg C",
        ),
        Column("tree", "UINT32", rows.astype(np.uint32), description="row of the input tree table"),
    ]


def _declare_schema(b: _ExtGlb, lib: SpeciesLibrary) -> None:
    b.enums["Species"] = {
        "valueType": "UINT8",
        "values": [{"name": k, "value": i} for i, k in enumerate(lib.keys)],
    }
    b.enum_props[("tree", "species")] = "Species"
    for prop in ("height_m", "crown_m", "dbh_cm"):
        b.norm_props[("tree", prop)] = _HEIGHT_SCALE


def _tile_glb(ctx: _Ctx, tile: Tile) -> bytes:
    assert tile.level is not None and tile.centre is not None
    rows = tile.items
    st = ctx.states
    lib = ctx.table.library
    centre = np.array([tile.centre[0], tile.centre[1], ctx.enu[rows, 2].min()])
    b = _ExtGlb()
    _declare_schema(b, lib)
    table = b.add_property_table("tree", _property_columns(ctx, rows), rows.size, name="trees")
    mats: dict[Any, int] = {}
    translation = [float(v) for v in _yup(centre[None, :])[0]]
    species = st.species[rows]
    nodes: list[int] = []
    if ctx.instanced:
        b.use_extension("EXT_mesh_gpu_instancing", required=True)
        b.use_extension("EXT_instance_features")
        mf = ctx.mesh_files[tile.level]
        buf = b.add_external(mf.uri, mf.length)
        vview = b.external_view(buf, 0, mf.vertex_bytes, ARRAY_BUFFER, stride=12)
        iview = b.external_view(buf, mf.vertex_bytes, mf.index_bytes, ELEMENT_ARRAY_BUFFER)
        accs = b.gltf.setdefault("accessors", [])
        for s in np.unique(species):
            local = np.nonzero(species == s)[0]
            r = rows[local]
            sp = lib.species[lib.keys[int(s)]]
            mesh = mf.meshes[int(s)]
            mb, mfol = _materials(b, mesh, mats)
            prims = []
            for po, no, io, ic, vc, vmin, vmax, which in mf.parts[int(s)]:
                accs.append(
                    {"bufferView": vview, "byteOffset": po, "componentType": 5126,
                     "count": vc, "type": "VEC3", "min": vmin, "max": vmax}
                )  # fmt: skip
                accs.append(
                    {"bufferView": vview, "byteOffset": no, "componentType": 5126,
                     "count": vc, "type": "VEC3"}
                )  # fmt: skip
                accs.append(
                    {"bufferView": iview, "byteOffset": io, "componentType": 5123,
                     "count": ic, "type": "SCALAR"}
                )  # fmt: skip
                n_acc = len(accs)
                prims.append(
                    {
                        "attributes": {"POSITION": n_acc - 3, "NORMAL": n_acc - 2},
                        "indices": n_acc - 1,
                        "material": mb if which == 0 else mfol,
                    }
                )
            m_idx = b.add_mesh(prims)
            pos = _yup(ctx.enu[r] - centre).astype(np.float32)
            w = sp.shape["width"]
            scale = np.stack(
                (st.crown_diameter_m[r] / w, st.height_m[r], st.crown_diameter_m[r] / w), axis=1
            ).astype(np.float32)
            attrs = {
                "TRANSLATION": b.add_accessor(pos),
                "ROTATION": b.add_accessor(ctx.yaw[r], normalized=True),  # int8 VEC4
                "SCALE": b.add_accessor(scale),
                "_FEATURE_ID_0": b.add_accessor(
                    local.astype(np.uint16 if rows.size < 65535 else np.uint32)
                ),
            }
            ext = {
                "EXT_mesh_gpu_instancing": {"attributes": attrs},
                "EXT_instance_features": {
                    "featureIds": [
                        {"featureCount": int(rows.size), "attribute": 0, "propertyTable": table}
                    ]
                },
            }
            nodes.append(b.add_node(m_idx, extensions=ext, root=False))
    else:
        b.use_extension("EXT_mesh_features")
        # the finest level gets LoD2 meshes, every coarser level impostors
        lod = max(tile.level, NON_INSTANCED_MIN_LOD) if tile.level == ctx.finest else IMPOSTOR
        prims = []
        for s in np.unique(species):
            local = np.nonzero(species == s)[0]
            r = rows[local]
            sp = lib.species[lib.keys[int(s)]]
            mesh = plant_mesh(sp, lod, ctx.looks[int(s)])
            mb, mfol = _materials(b, mesh, mats)
            w = sp.shape["width"]
            sxy = st.crown_diameter_m[r] / w
            sz = st.height_m[r]
            q = ctx.yaw[r].astype(np.float64) / 127.0
            yaw = 2.0 * np.arctan2(q[:, 1], q[:, 3])  # about glTF +Y, i.e. about up
            for part, mat in ((mesh.bark, mb), (mesh.foliage, mfol)):
                if part is None or part.triangles == 0:
                    continue
                prims.append(
                    _baked_primitive(
                        b, part, mat, ctx.enu[r] - centre, sxy, sz, yaw, local, rows.size, table
                    )
                )
        m_idx = b.add_mesh(prims, name="trees")
        nodes.append(b.add_node(m_idx, root=False))
    b.add_node(translation=translation, children=nodes, name=f"tile {tile.address}")
    return b.to_bytes()


def _baked_primitive(
    b: GlbBuilder,
    part: MeshPart,
    material: int,
    offsets: F64,
    sxy: F64,
    sz: F64,
    yaw: F64,
    feature: I64,
    count: int,
    table: int,
) -> dict[str, Any]:
    """One primitive with ``part`` placed at every offset (z-up ENU, then y-up)."""
    p = part.positions.astype(np.float64)
    nrm = part.normals.astype(np.float64)
    n_t = offsets.shape[0]
    # a rotation about glTF +Y by yaw is the same rotation about up in (east, north, up)
    c = np.cos(yaw)[:, None]
    s = np.sin(yaw)[:, None]
    px = p[None, :, 0] * sxy[:, None]
    py = p[None, :, 1] * sxy[:, None]
    pz = p[None, :, 2] * sz[:, None]
    x = c * px - s * py + offsets[:, 0:1]
    y = s * px + c * py + offsets[:, 1:2]
    z = pz + offsets[:, 2:3]
    pos = np.stack((x, z, -y), axis=2).reshape(-1, 3).astype(np.float32)
    nx = nrm[None, :, 0] / sxy[:, None]
    ny = nrm[None, :, 1] / sxy[:, None]
    nz = np.broadcast_to(nrm[None, :, 2] / sz[:, None], nx.shape)
    rx = c * nx - s * ny
    ry = s * nx + c * ny
    normals = np.stack((rx, nz, -ry), axis=2).reshape(-1, 3)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    nv = p.shape[0]
    idx = (
        part.indices.astype(np.int64)[None, :, :] + (np.arange(n_t) * nv)[:, None, None]
    ).reshape(-1)
    fid = np.repeat(feature.astype(np.float32), nv)
    return {
        "attributes": {
            "POSITION": b.add_accessor(pos, target=ARRAY_BUFFER, min_max=True),
            "NORMAL": b.add_accessor(normals.astype(np.float32), target=ARRAY_BUFFER),
            "_FEATURE_ID_0": b.add_accessor(fid, target=ARRAY_BUFFER),
        },
        "indices": b.add_indices(idx),
        "material": material,
        "extensions": feature_ids_extension(
            [{"featureCount": count, "attribute": 0, "propertyTable": table}]
        ),
    }


def _covers_glb(
    covers: Sequence[PlantCover],
    enu_rings: list[F64],
    date: dt.date,
    climate: Climate,
    lib: SpeciesLibrary,
    centre: F64,
) -> bytes:
    """Plant covers as flat polygons at ground + average height, one feature each."""
    b = _ExtGlb()
    pos_all: list[F64] = []
    idx_all: list[npt.NDArray[np.int64]] = []
    fid_all: list[F64] = []
    colours: list[F64] = []
    offset = 0
    heights = []
    lais = []
    for k, (cov, ring) in enumerate(zip(covers, enu_rings, strict=True)):
        state = cov.state_at(date, climate, lib)
        tri = np.asarray(
            mapbox_earcut.triangulate_float64(
                ring[:, :2], np.array([ring.shape[0]], dtype=np.uint32)
            )
        ).reshape(-1, 3)
        if tri.size == 0:
            continue
        pts = ring.copy()
        pts[:, 2] += max(state.height_m, 0.02)
        pos_all.append(pts - centre)
        idx_all.append(tri.astype(np.int64) + offset)
        fid_all.append(np.full(ring.shape[0], float(k)))
        colours.append(np.tile(np.array(_srgb_to_linear(state.colour)), (ring.shape[0], 1)))
        offset += ring.shape[0]
        heights.append(state.height_m)
        lais.append(state.lai)
    if not pos_all:
        raise TilingError("no plant cover could be triangulated")
    table = b.add_property_table(
        "cover",
        [
            Column("cover", "STRING", [c.cover for c in covers]),
            Column("area_m2", "FLOAT32", np.array([c.area_m2 for c in covers], np.float32)),
            Column(
                "height_m",
                "FLOAT32",
                np.array(heights + [0.0] * (len(covers) - len(heights)), np.float32),
            ),
            Column(
                "lai", "FLOAT32", np.array(lais + [0.0] * (len(covers) - len(lais)), np.float32)
            ),
        ],
        len(covers),
        name="plant covers",
    )
    pos = _yup(np.concatenate(pos_all)).astype(np.float32)
    normals = np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (pos.shape[0], 1))
    col = np.concatenate(colours).astype(np.float32)
    mat = b.add_material(base_color=(1.0, 1.0, 1.0, 1.0), roughness=1.0, double_sided=True)
    b.use_extension("EXT_mesh_features")
    prim = {
        "attributes": {
            "POSITION": b.add_accessor(pos, target=ARRAY_BUFFER, min_max=True),
            "NORMAL": b.add_accessor(normals, target=ARRAY_BUFFER),
            "COLOR_0": b.add_accessor(col, target=ARRAY_BUFFER),
            "_FEATURE_ID_0": b.add_accessor(
                np.concatenate(fid_all).astype(np.float32), target=ARRAY_BUFFER
            ),
        },
        "indices": b.add_indices(np.concatenate(idx_all)),
        "material": mat,
        "extensions": feature_ids_extension(
            [{"featureCount": len(covers), "attribute": 0, "propertyTable": table}]
        ),
    }
    mesh = b.add_mesh([prim], name="plant covers")
    b.add_node(mesh, translation=[float(v) for v in _yup(centre[None, :])[0]])
    return b.to_bytes()


def _tile_bounds(ctx: _Ctx, rows: I64) -> tuple[F64, F64]:
    st = ctx.states
    r = st.crown_diameter_m[rows] / 2.0
    p = ctx.enu[rows]
    lo = np.array([(p[:, 0] - r).min(), (p[:, 1] - r).min(), p[:, 2].min()])
    hi = np.array([(p[:, 0] + r).max(), (p[:, 1] + r).max(), (p[:, 2] + st.height_m[rows]).max()])
    return lo, hi


def build_vegetation_tileset(
    trees: TreeTable | Sequence[Tree],
    covers: Sequence[PlantCover],
    date: dt.date,
    out_dir: str | Path,
    *,
    crs: str,
    climate: Climate | None = None,
    instanced: bool = True,
    height_mode: HeightMode = "crs",
    height_offset: float | None = None,
    lods: Sequence[int] = (1, 2, IMPOSTOR),
    capacity: dict[int, int] | None = None,
    library: SpeciesLibrary | None = None,
) -> VegetationSummary:
    """Write the vegetation of ``date`` as a 3D Tiles 1.1 tileset (see the module notes).

    Parameters
    ----------
    trees : a :class:`TreeTable` or :class:`Tree` objects (source CRS coordinates).
    covers : plant covers (outlines in the same CRS); may be empty.
    date : the date whose plant states and seasonal look are drawn.
    out_dir : output folder (created; existing files of the same names are replaced).
    crs : pyproj definition of the source CRS (e.g. ``"EPSG:25833"``).
    climate : growth and phenology climate (default Berlin).
    instanced : EXT_mesh_gpu_instancing content (True) or baked meshes (False).
    height_mode, height_offset : vertical placement (see the module notes).
    lods : levels of detail drawn, any subset of 0, 1, 2, 3 (3 = impostor).
    capacity : trees per tile per level (default :data:`DEFAULT_CAPACITY`).
    library : species library (default: the table's or the bundled one).

    Returns
    -------
    VegetationSummary with file counts and sizes.

    Raises
    ------
    TilingError
        When there is nothing to draw or the levels are invalid.
    """
    out = Path(out_dir)
    if not lods or any(lod not in LOD_ERROR_M for lod in lods):
        raise TilingError(f"lods must be a non-empty subset of {sorted(LOD_ERROR_M)}")
    cap = {**DEFAULT_CAPACITY, **(capacity or {})}
    table = trees if isinstance(trees, TreeTable) else trees_to_table(trees, library)
    clim = climate or Climate.for_city("Berlin")
    states = table.states(date, clim)
    keep = np.nonzero(states.present)[0]
    if keep.size == 0 and not covers:
        raise TilingError(f"no plants exist on {date.isoformat()}: nothing to tile")
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    if instanced:
        (out / "meshes").mkdir(exist_ok=True)
    cover_rings = [np.asarray(c.polygon, dtype=np.float64) for c in covers]
    cover_xyz = [
        np.column_stack((r[:, :2], r[:, 2] if r.shape[1] > 2 else np.full(r.shape[0], c.z)))
        for r, c in zip(cover_rings, covers, strict=True)
    ]
    all_src = np.concatenate([table.xyz[keep], *cover_xyz]) if cover_xyz else table.xyz[keep]
    geo = to_geodetic(crs, all_src, check_heights=height_mode == "crs")
    if height_offset is None:
        height_offset = -float(geo[:, 2].min()) if height_mode == "ground" else 0.0
    geo[:, 2] += height_offset
    ecef = geodetic_to_ecef(geo)
    origin = 0.5 * (ecef.min(axis=0) + ecef.max(axis=0))
    to_ecef = enu_to_ecef_matrix(origin)
    rot = to_ecef[:3, :3]
    enu_all = (ecef - origin) @ rot
    n = len(table)
    enu = np.zeros((n, 3))
    enu[keep] = enu_all[: keep.size]
    ctx = _Ctx(
        table,
        states,
        carbon_kg(table, states),
        enu,
        _yaw_quaternions(table.ids),
        {},
        out,
        instanced,
        min(lods),
    )
    lib = table.library
    for s in np.unique(states.species[keep]) if keep.size else []:
        ctx.looks[int(s)] = _look(states, int(s), lib)
    if instanced and keep.size:
        for lod in lods:
            meshes = {
                s: plant_mesh(lib.species[lib.keys[s]], lod, look) for s, look in ctx.looks.items()
            }
            digest = hashlib.sha1(
                repr(sorted((lib.keys[s], lk) for s, lk in ctx.looks.items())).encode()
            )
            name = f"lod{lod}-{digest.hexdigest()[:12]}.bin"
            ctx.mesh_files[lod] = _write_mesh_bin(meshes, out / "meshes" / name)
    parts: list[Tile] = []
    n_glb = 0
    total = 0
    if keep.size:
        trees_root = _tree_tiles(enu[:, :2], keep, lods, cap)
        for t in trees_root.walk():
            if not t.children:  # inner tiles: the union of their children's boxes
                t.lo, t.hi = _tile_bounds(ctx, t.items)
            if t.level is None or t.items.size == 0:
                continue
            data = _tile_glb(ctx, t)
            t.content = f"tiles/{t.address}.glb"
            _atomic_write(out / t.content, data)
            n_glb += 1
            total += len(data)
        parts.append(trees_root)
    if covers:
        rings = []
        start = keep.size
        for r in cover_xyz:
            rings.append(enu_all[start : start + r.shape[0]])
            start += r.shape[0]
        centre = np.concatenate(rings).mean(axis=0)
        data = _covers_glb(covers, rings, date, clim, lib, centre)
        _atomic_write(out / "tiles" / "covers.glb", data)
        n_glb += 1
        total += len(data)
        allr = np.concatenate(rings)
        lo, hi = allr.min(axis=0), allr.max(axis=0)
        hi = hi + np.array([0.0, 0.0, 2.0])
        parts.append(Tile("covers", lo=lo, hi=hi, content="tiles/covers.glb"))
    if instanced:
        total += sum(mf.length for mf in ctx.mesh_files.values())
    root_error = max([t.error for t in parts] + [1.0]) * 2.0
    root = Tile(children=parts, error=root_error, refine="ADD", transform=to_ecef)
    doc = tileset_json(
        root,
        generator="greentwin vegetation",
        geometric_error=root_error * 2.0,
        tileset_version=date.isoformat(),
        extras={"date": date.isoformat(), "height_offset": height_offset, "instanced": instanced},
        margin=0.0,
        min_half=0.05,
    )
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    _atomic_write(out / "tileset.json", js)
    total += len(js)
    n_trees = int(keep.size)
    return VegetationSummary(
        tileset=str(out / "tileset.json"),
        date=date.isoformat(),
        trees=n_trees,
        covers=len(covers),
        tiles=len(root.walk()) - 1,
        glb_files=n_glb,
        bytes=total,
        bytes_per_tree=total / n_trees if n_trees else 0.0,
        instanced=instanced,
        lods=sorted(lods),
        height_offset=float(height_offset),
    )


def _look(states: StateArrays, s: int, lib: SpeciesLibrary) -> Look:
    m = (states.species == s) & states.alive
    if not m.any():
        return Look(0.0, lib.species[lib.keys[s]].colours["bark"])
    i = int(np.nonzero(m)[0][0])
    col = states.colour[i]
    return Look.of(float(states.leaf_fraction[i]), (float(col[0]), float(col[1]), float(col[2])))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def vegetation_cache_key(
    table: TreeTable,
    covers: Sequence[PlantCover],
    date: dt.date,
    **params: Any,
) -> str:
    """Content key of a vegetation tileset: trees, covers, date and parameters."""
    h = hashlib.sha256()
    for arr in (
        table.species, table.xyz, table.ref_ord, table.ref_growth_age, table.ref_calendar_age,
        table.h_scale, table.c_scale, table.planted_ord, table.removed_ord, table.died_ord,
    ):  # fmt: skip
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\x00".join(table.ids).encode("utf-8"))
    h.update(repr(sorted((k, repr(v)) for k, v in table.prunes.items())).encode())
    for c in covers:
        h.update(repr((c.id, c.cover, c.z, c.planted, c.removed)).encode())
        h.update(np.ascontiguousarray(c.polygon, dtype=np.float64).tobytes())
    h.update(date.isoformat().encode())
    h.update(repr(sorted((k, repr(v)) for k, v in params.items())).encode())
    return h.hexdigest()[:32]


def cached_vegetation_tileset(
    cache_dir: str | Path,
    trees: TreeTable | Sequence[Tree],
    covers: Sequence[PlantCover],
    date: dt.date,
    *,
    crs: str,
    climate: Climate | None = None,
    instanced: bool = True,
    height_mode: HeightMode = "crs",
    height_offset: float | None = None,
    lods: Sequence[int] = (1, 2, IMPOSTOR),
) -> VegetationSummary:
    """The tileset of ``date`` from ``cache_dir/<key>/``, built on first request.

    The folder name is a content key (:func:`vegetation_cache_key`); a new build goes
    to a temporary folder renamed into place, so readers never see a partial tileset.
    """
    table = trees if isinstance(trees, TreeTable) else trees_to_table(trees)
    clim = climate or Climate.for_city("Berlin")
    key = vegetation_cache_key(
        table, covers, date, crs=crs, climate=(clim.city, clim.monthly, clim.anomaly_c, clim.growth_factor),
        instanced=instanced, height_mode=height_mode, height_offset=height_offset, lods=tuple(lods),
    )  # fmt: skip
    base = Path(cache_dir)
    final = base / key
    summary_path = final / "summary.json"
    if summary_path.is_file():
        cached: VegetationSummary = json.loads(summary_path.read_text(encoding="utf-8"))
        return cached
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=".build-"))
    try:
        summary = build_vegetation_tileset(
            table, covers, date, tmp, crs=crs, climate=clim, instanced=instanced,
            height_mode=height_mode, height_offset=height_offset, lods=lods,
        )  # fmt: skip
        summary["tileset"] = str(final / "tileset.json")
        (tmp / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
        try:
            os.replace(tmp, final)
        except OSError:
            if not summary_path.is_file():  # a concurrent build won; otherwise re-raise
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
