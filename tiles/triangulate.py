"""Polygon triangulation with holes (earcut on the dominant plane) and flat normals.

Each polygon is projected onto the coordinate plane its Newell normal is most
perpendicular to, triangulated there with mapbox earcut (holes included), and the
triangles are oriented so that their winding agrees with the polygon's normal
(counter-clockwise seen from the side the normal points to, as glTF front faces are).
Earcut adds no vertices, so the output vertices are the input ring points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import mapbox_earcut
import numpy as np
import numpy.typing as npt

__all__ = [
    "Triangulation",
    "newell_normals",
    "polygon_area",
    "triangulate_flat",
    "triangulate_polygons",
]

F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

#: Polygons whose area is below this (square metres, or source units squared) are degenerate.
MIN_AREA = 1e-8


@dataclass(slots=True)
class Triangulation:
    """The triangles of several polygons, sharing one vertex array.

    Attributes
    ----------
    vertices : (n, 3) float64, the ring points of the kept polygons, in input order.
    triangles : (t, 3) uint32 indices into ``vertices``, oriented with ``normals``.
    vertex_polygon : (n,) int64, the input polygon index of each vertex.
    triangle_polygon : (t,) int64, the input polygon index of each triangle.
    normals : (p, 3) float64 unit Newell normal per input polygon (zeros if degenerate).
    skipped : input polygon indices left out (degenerate: no area or no triangles).
    vertex_source : (n,) int64, index of each vertex in the concatenated input rings.
    areas : (p,) float64, area of each input polygon's exterior ring (units squared).
    """

    vertices: F64
    triangles: U32
    vertex_polygon: I64
    triangle_polygon: I64
    normals: F64
    skipped: list[int]
    vertex_source: I64
    areas: F64 = field(default_factory=lambda: np.zeros(0))


def newell_normals(points: F64, ring_starts: I64) -> F64:
    """Newell's (unnormalised) normal of each ring; its length is twice the ring area.

    Parameters
    ----------
    points : (n, 3) float64, concatenated open rings.
    ring_starts : (r,) int64, index of each ring's first point (ascending, first 0).

    Returns
    -------
    (r, 3) float64: ``sum_i (p_i - o) x (p_{i+1} - o)`` with ``o`` the ring's first
    point (Newell 1972; Sutherland, Sproull & Schumacker 1974), which equals twice the
    vector area of the ring for planar and non-planar rings alike.
    """
    n = points.shape[0]
    ring_ends = np.append(ring_starts[1:], n)
    lengths = ring_ends - ring_starts
    ring_of = np.repeat(np.arange(len(ring_starts)), lengths)
    nxt = np.arange(1, n + 1)
    nxt[ring_ends - 1] = ring_starts
    origin = points[ring_starts][ring_of]
    a = points - origin
    b = points[nxt] - origin
    cross = _cross(a, b)
    out = np.zeros((len(ring_starts), 3))
    for k in range(3):
        out[:, k] = np.bincount(ring_of, weights=cross[:, k], minlength=len(ring_starts))
    return out


def _cross(a: F64, b: F64) -> F64:
    """Row-wise cross product of (n, 3) arrays (faster than numpy.cross for 3-vectors)."""
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    return np.stack((a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), axis=1)


def polygon_area(exterior: F64, interiors: Sequence[F64] = ()) -> float:
    """Area of a planar polygon with holes (exterior area minus hole areas).

    Parameters
    ----------
    exterior : (n, 3) float64 open ring.
    interiors : (m, 3) float64 open rings.
    """
    rings = [exterior, *interiors]
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]]).astype(np.int64)
    normals = newell_normals(np.concatenate(rings), starts)
    areas = 0.5 * np.linalg.norm(normals, axis=1)
    return float(areas[0] - areas[1:].sum())


def triangulate_polygons(polygons: Sequence[Sequence[F64]]) -> Triangulation:
    """Triangulate polygons with holes.

    Parameters
    ----------
    polygons : per polygon its rings, exterior first: each (k, 3) float64, open.
        Coordinates should be metric and roughly centred (e.g. relative to the
        feature) for best precision.

    Returns
    -------
    Triangulation
        Degenerate polygons (area below :data:`MIN_AREA`, fewer than 3 points, or no
        triangle from earcut) are listed in ``skipped``.

    Notes
    -----
    Single-ring strictly convex polygons (most walls and roof faces) are fanned in one
    vectorised step; every other polygon costs one earcut call. Normals, projection,
    convexity test and orientation are vectorised over all polygons.
    """
    ring_lengths: list[int] = []
    poly_nrings: list[int] = []
    flat: list[F64] = []
    for rings in polygons:
        poly_nrings.append(len(rings))
        for ring in rings:
            ring_lengths.append(len(ring))
            flat.append(ring)
    if not flat:
        z3 = np.zeros((0, 3))
        zi = np.zeros(0, np.int64)
        return Triangulation(z3, np.zeros((0, 3), np.uint32), zi, zi, z3, [], zi)
    return triangulate_flat(
        np.concatenate(flat).astype(np.float64, copy=False),
        np.asarray(ring_lengths, dtype=np.int64),
        poly_nrings,
    )


def triangulate_flat(points: F64, lengths: I64, poly_nrings: list[int]) -> Triangulation:
    """:func:`triangulate_polygons` on rings already concatenated.

    Parameters
    ----------
    points : (n, 3) float64, every ring's points, polygon after polygon, exterior first.
    lengths : (r,) int64 points per ring.
    poly_nrings : rings per polygon (sum = r).
    """
    npoly = len(poly_nrings)
    ring_starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=ring_starts[1:])
    poly_first_ring = np.zeros(npoly, dtype=np.int64)
    np.cumsum(np.asarray(poly_nrings[:-1], dtype=np.int64), out=poly_first_ring[1:])
    nrm = newell_normals(points, ring_starts)[poly_first_ring]
    length = np.linalg.norm(nrm, axis=1)
    ok = 0.5 * length > MIN_AREA
    unit = np.zeros_like(nrm)
    unit[ok] = nrm[ok] / length[ok, None]
    drop = np.argmax(np.abs(nrm), axis=1)
    keep_axes = np.array([[1, 2], [0, 2], [0, 1]])[drop]

    # polygons that are single convex rings get a fan, vectorised; the rest go to earcut
    nrings = np.asarray(poly_nrings, dtype=np.int64)
    ring_end = np.append(ring_starts[1:], len(points))
    poly_start = ring_starts[poly_first_ring]
    poly_end = ring_end[poly_first_ring + nrings - 1]
    nverts = poly_end - poly_start
    usable = ok & (nverts >= 3)
    single = usable & (nrings == 1)
    convex = np.zeros(npoly, dtype=bool)
    if single.any():
        # turn at every vertex of single rings: (p_i - p_{i-1}) x (p_{i+1} - p_i) . n > 0
        ring_of_pt = np.repeat(np.arange(len(lengths)), lengths)
        first = ring_starts[ring_of_pt]
        last = ring_end[ring_of_pt] - 1
        idx = np.arange(len(points))
        prv = np.where(idx == first, last, idx - 1)
        nxt = np.where(idx == last, first, idx + 1)
        poly_of_ring = np.repeat(np.arange(npoly), nrings)
        poly_of_pt = poly_of_ring[ring_of_pt]
        turn = np.einsum(
            "ij,ij->i",
            _cross(points - points[prv], points[nxt] - points),
            nrm[poly_of_pt],
        )
        tol = 1e-9 * length[poly_of_pt]
        bad = np.zeros(npoly, dtype=bool)
        # convex (collinear points allowed): no reflex vertex; the fan's zero-area
        # triangles at collinear points are dropped below
        np.logical_or.at(bad, poly_of_pt, turn < -tol)
        convex = single & ~bad

    kept_parts: list[npt.NDArray[np.uint32]] = []
    kept_poly: list[npt.NDArray[np.int64]] = []
    skipped: list[int] = [int(p) for p in np.flatnonzero(~usable)]
    # vertex base of each usable polygon in the output (kept polygons keep input order)
    earcut_tris: dict[int, npt.NDArray[np.uint32]] = {}
    for p in np.flatnonzero(usable & ~convex).tolist():
        start, end = int(poly_start[p]), int(poly_end[p])
        pts = points[start:end]
        ax = keep_axes[p]
        xy = pts[:, ax] - pts[0, ax]
        r0 = int(poly_first_ring[p])
        ends = (ring_end[r0 : r0 + poly_nrings[p]] - start).astype(np.uint32)
        tri_idx = mapbox_earcut.triangulate_float64(xy, ends)
        if tri_idx.size == 0:
            skipped.append(p)
            continue
        earcut_tris[p] = tri_idx.astype(np.uint32)
    skipped.sort()
    keep = usable.copy()
    keep[skipped] = False
    if not keep.any():
        z3 = np.zeros((0, 3))
        zi = np.zeros(0, np.int64)
        return Triangulation(
            z3, np.zeros((0, 3), np.uint32), zi, zi, unit, skipped, zi, 0.5 * length
        )
    kept = np.flatnonzero(keep)
    kv = nverts[kept]
    base = np.zeros(len(kept), dtype=np.int64)
    np.cumsum(kv[:-1], out=base[1:])
    vertex_source = np.repeat(poly_start[kept] - base, kv) + np.arange(int(kv.sum()))
    vertex_polygon = np.repeat(kept, kv)
    base_of = np.zeros(npoly, dtype=np.int64)
    base_of[kept] = base
    # fans: (b, b + i, b + i + 1) for i = 1 .. n - 2
    fan = kept[convex[kept]]
    if len(fan):
        nt = nverts[fan] - 2
        tri_fan_poly = np.repeat(fan, nt)
        within = np.arange(int(nt.sum())) - np.repeat(np.cumsum(nt) - nt, nt)
        b = base_of[tri_fan_poly]
        kept_parts.append(np.stack((b, b + within + 1, b + within + 2), axis=1).astype(np.uint32))
        kept_poly.append(tri_fan_poly)
    for p, tri_idx in earcut_tris.items():
        kept_parts.append(tri_idx.reshape(-1, 3) + np.uint32(base_of[p]))
        kept_poly.append(np.full(tri_idx.size // 3, p, dtype=np.int64))
    triangles = np.concatenate(kept_parts)
    triangle_polygon = np.concatenate(kept_poly)
    vertices = points[vertex_source]
    # orient every triangle with its polygon's normal
    a = vertices[triangles[:, 0]]
    tn = _cross(vertices[triangles[:, 1]] - a, vertices[triangles[:, 2]] - a)
    facing = np.einsum("ij,ij->i", tn, unit[triangle_polygon])
    flip = facing < 0
    if flip.any():
        triangles[flip] = triangles[flip][:, ::-1]
    solid = np.abs(facing) > 1e-9 * length[triangle_polygon]
    if not solid.all():
        triangles = triangles[solid]
        triangle_polygon = triangle_polygon[solid]
    return Triangulation(
        vertices,
        triangles,
        vertex_polygon,
        triangle_polygon,
        unit,
        skipped,
        vertex_source,
        0.5 * length,
    )
