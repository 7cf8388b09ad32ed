"""Spill records: a feature's leaf mesh and its coarse block as compact byte strings.

Pass 1 writes two records per feature; pass 2 reads the records of one tile and turns
them into one batch (every array of the tile concatenated), so building a tile costs a
few array operations, not a dozen small arrays and objects per feature.

Leaf record (little-endian; the arrays start on 4-byte boundaries)::

    header   8 x uint32   vertices, triangles, surfaces, has uv, meta bytes, 0, 0, 0
    origin   3 x float64  ECEF metres
    positions, normals    n x 3 float32;  uv n x 2 float32 (when "has uv")
    triangles             t x 3 uint32 (feature-local vertex indices)
    vertex_surface        n uint32;  surface_objects  s uint32
    vertex_object         n uint16, zero-padded to 4 bytes
    meta                  pickle of (groups, objects, surface types, surface ids)

Coarse record::

    header   4 x uint32   vertices, triangles, row bytes, 0
    origin   3 x float64
    positions, normals    n x 3 float32;  triangles  t x 3 uint32
    row                   pickle of the feature's attribute row
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import AttributeValue
from greentwin.tiles.mesh import Coarse, FeatureMesh, MaterialKey

__all__ = [
    "CoarseBatch",
    "LeafBatch",
    "coarse_batch",
    "coarse_batch_of",
    "coarse_record",
    "leaf_batch",
    "leaf_batch_of",
    "leaf_record",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
Row = dict[str, AttributeValue | None]
Group = tuple[MaterialKey, int, int, int, int]

_LEAF_HEAD = struct.Struct("<8I")
_COARSE_HEAD = struct.Struct("<4I")
_F4, _U4, _U2 = np.dtype("<f4"), np.dtype("<u4"), np.dtype("<u2")


@dataclass(slots=True)
class LeafBatch:
    """The full meshes of the features of one leaf tile, concatenated.

    Attributes
    ----------
    origins : (k, 3) float64 ECEF origins.
    counts, tcounts, scounts : (k,) vertices, triangles and surfaces per feature.
    positions, normals : (n, 3) float32; uv : (n, 2) float32 (zeros for features
        without texture) or None when no feature has texture coordinates.
    triangles : (t, 3) uint32, indices local to each feature.
    vertex_object : (n,) uint16 and vertex_surface : (n,) uint32, local to each feature.
    surface_objects : (s,) uint32, per surface its object row within its feature.
    groups, objects : per feature its material groups and its attribute rows.
    surface_types, surface_ids : per surface (all features).
    """

    origins: F64
    counts: I64
    tcounts: I64
    scounts: I64
    positions: F32
    normals: F32
    uv: F32 | None
    triangles: U32
    vertex_object: npt.NDArray[np.uint16]
    vertex_surface: U32
    surface_objects: U32
    groups: list[list[Group]]
    objects: list[list[Row]]
    surface_types: list[str]
    surface_ids: list[str]


@dataclass(slots=True)
class CoarseBatch:
    """The coarse blocks of the features of one parent tile, concatenated.

    Attributes
    ----------
    origins : (k, 3) float64 ECEF origins.
    counts, tcounts : (k,) vertices and triangles per block.
    positions, normals : (n, 3) float32; triangles : (t, 3) uint32, local to each block.
    rows : the features' attribute rows.
    """

    origins: F64
    counts: I64
    tcounts: I64
    positions: F32
    normals: F32
    triangles: U32
    rows: list[Row]


def _mesh_views(
    mv: memoryview, at: int, nv: int, origins: list[Any], pos: list[Any], nrm: list[Any]
) -> int:
    """Append a record's origin (3 f8), positions and normals (nv x 3 f4) read from ``at``.

    Returns the offset after them.
    """
    origins.append(mv[at : at + 24])
    at += 24
    pos.append(mv[at : at + 12 * nv])
    at += 12 * nv
    nrm.append(mv[at : at + 12 * nv])
    return at + 12 * nv


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def leaf_record(m: FeatureMesh) -> bytes:
    """The leaf record of a feature mesh."""
    nv, nt, ns = len(m.positions), len(m.triangles), len(m.surface_objects)
    meta = pickle.dumps((m.groups, m.objects, m.surface_types, m.surface_ids), protocol=5)
    parts = [
        _LEAF_HEAD.pack(nv, nt, ns, m.uv is not None, len(meta), 0, 0, 0),
        np.asarray(m.origin, np.float64).tobytes(),
        m.positions.astype(_F4, copy=False).tobytes(),
        m.normals.astype(_F4, copy=False).tobytes(),
    ]
    if m.uv is not None:
        parts.append(m.uv.astype(_F4, copy=False).tobytes())
    parts += [
        m.triangles.astype(_U4, copy=False).tobytes(),
        m.vertex_surface.astype(_U4, copy=False).tobytes(),
        m.surface_objects.astype(_U4, copy=False).tobytes(),
        m.vertex_object.astype(_U2, copy=False).tobytes(),
        _pad4(2 * nv),
        meta,
    ]
    return b"".join(parts)


def coarse_record(origin: F64, coarse: Coarse, row: Row) -> bytes:
    """The coarse record of a feature: its origin, block and attribute row."""
    meta = pickle.dumps(row, protocol=5)
    return b"".join(
        (
            _COARSE_HEAD.pack(len(coarse.positions), len(coarse.triangles), len(meta), 0),
            np.asarray(origin, np.float64).tobytes(),
            coarse.positions.astype(_F4, copy=False).tobytes(),
            coarse.normals.astype(_F4, copy=False).tobytes(),
            coarse.triangles.astype(_U4, copy=False).tobytes(),
            meta,
        )
    )


def _joined(parts: list[Any], dtype: np.dtype[Any], width: int) -> npt.NDArray[Any]:
    data = np.frombuffer(b"".join(parts), dtype)
    return data.reshape(-1, width) if width > 1 else data


def leaf_batch(blobs: Sequence[bytes]) -> LeafBatch:
    """Decode leaf records (in tile order) into one batch."""
    k = len(blobs)
    counts = np.zeros(k, np.int64)
    tcounts = np.zeros(k, np.int64)
    scounts = np.zeros(k, np.int64)
    origins: list[Any] = []
    pos: list[Any] = []
    nrm: list[Any] = []
    uvs: list[Any] = []
    tri: list[Any] = []
    vsurf: list[Any] = []
    sobj: list[Any] = []
    vobj: list[Any] = []
    groups: list[list[Group]] = []
    objects: list[list[Row]] = []
    stypes: list[str] = []
    sids: list[str] = []
    any_uv = False
    for i, blob in enumerate(blobs):
        nv, nt, ns, has_uv, nmeta, _, _, _ = _LEAF_HEAD.unpack_from(blob)
        counts[i], tcounts[i], scounts[i] = nv, nt, ns
        mv = memoryview(blob)
        at = _mesh_views(mv, _LEAF_HEAD.size, nv, origins, pos, nrm)
        if has_uv:
            any_uv = True
            uvs.append(mv[at : at + 8 * nv])
            at += 8 * nv
        else:
            uvs.append(bytes(8 * nv))
        tri.append(mv[at : at + 12 * nt])
        at += 12 * nt
        vsurf.append(mv[at : at + 4 * nv])
        at += 4 * nv
        sobj.append(mv[at : at + 4 * ns])
        at += 4 * ns
        vobj.append(mv[at : at + 2 * nv])
        at += 2 * nv + (-2 * nv) % 4
        g, o, st, si = pickle.loads(mv[at : at + nmeta])
        groups.append(g)
        objects.append(o)
        stypes += st
        sids += si
    return LeafBatch(
        _joined(origins, np.dtype("<f8"), 3),
        counts,
        tcounts,
        scounts,
        _joined(pos, _F4, 3),
        _joined(nrm, _F4, 3),
        _joined(uvs, _F4, 2) if any_uv else None,
        _joined(tri, _U4, 3),
        _joined(vobj, _U2, 1),
        _joined(vsurf, _U4, 1),
        _joined(sobj, _U4, 1),
        groups,
        objects,
        stypes,
        sids,
    )


def leaf_batch_of(meshes: Sequence[FeatureMesh]) -> LeafBatch:
    """The batch of feature meshes held in memory."""
    n = len(meshes)
    any_uv = any(m.uv is not None for m in meshes)
    return LeafBatch(
        np.array([m.origin for m in meshes], np.float64).reshape(n, 3),
        np.fromiter((len(m.positions) for m in meshes), np.int64, n),
        np.fromiter((len(m.triangles) for m in meshes), np.int64, n),
        np.fromiter((len(m.surface_objects) for m in meshes), np.int64, n),
        np.concatenate([m.positions for m in meshes]).astype(np.float32, copy=False),
        np.concatenate([m.normals for m in meshes]).astype(np.float32, copy=False),
        np.concatenate(
            [np.zeros((len(m.positions), 2), np.float32) if m.uv is None else m.uv for m in meshes]
        ).astype(np.float32, copy=False)
        if any_uv
        else None,
        np.concatenate([m.triangles for m in meshes]).astype(np.uint32, copy=False),
        np.concatenate([m.vertex_object for m in meshes]).astype(np.uint16, copy=False),
        np.concatenate([m.vertex_surface for m in meshes]).astype(np.uint32, copy=False),
        np.concatenate([m.surface_objects for m in meshes]).astype(np.uint32, copy=False),
        [m.groups for m in meshes],
        [m.objects for m in meshes],
        [t for m in meshes for t in m.surface_types],
        [s for m in meshes for s in m.surface_ids],
    )


def coarse_batch(blobs: Sequence[bytes]) -> CoarseBatch:
    """Decode coarse records (in tile order) into one batch."""
    k = len(blobs)
    counts = np.zeros(k, np.int64)
    tcounts = np.zeros(k, np.int64)
    origins: list[Any] = []
    pos: list[Any] = []
    nrm: list[Any] = []
    tri: list[Any] = []
    rows: list[Row] = []
    for i, blob in enumerate(blobs):
        nv, nt, nrow, _ = _COARSE_HEAD.unpack_from(blob)
        counts[i], tcounts[i] = nv, nt
        mv = memoryview(blob)
        at = _mesh_views(mv, _COARSE_HEAD.size, nv, origins, pos, nrm)
        tri.append(mv[at : at + 12 * nt])
        at += 12 * nt
        rows.append(pickle.loads(mv[at : at + nrow]))
    return CoarseBatch(
        _joined(origins, np.dtype("<f8"), 3),
        counts,
        tcounts,
        _joined(pos, _F4, 3),
        _joined(nrm, _F4, 3),
        _joined(tri, _U4, 3),
        rows,
    )


def coarse_batch_of(
    origins: Sequence[F64], blocks: Sequence[Coarse], rows: list[Row]
) -> CoarseBatch:
    """The batch of coarse blocks held in memory."""
    n = len(blocks)
    return CoarseBatch(
        np.array(origins, np.float64).reshape(n, 3),
        np.fromiter((len(c.positions) for c in blocks), np.int64, n),
        np.fromiter((len(c.triangles) for c in blocks), np.int64, n),
        np.concatenate([c.positions for c in blocks]).astype(np.float32, copy=False),
        np.concatenate([c.normals for c in blocks]).astype(np.float32, copy=False),
        np.concatenate([c.triangles for c in blocks]).astype(np.uint32, copy=False),
        rows,
    )
