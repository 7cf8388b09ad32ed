"""Polygon triangulation with holes (earcut on the dominant plane) and flat normals.

Each polygon is projected onto the coordinate plane its Newell normal is most
perpendicular to, triangulated there with mapbox earcut (holes included), and the
triangles are oriented so that their winding agrees with the polygon's normal
(counter-clockwise seen from the side the normal points to, as glTF front faces are).
Earcut adds no vertices, so the output vertices are the input ring points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mapbox_earcut
import numpy as np
import numpy.typing as npt

__all__ = ["Triangulation", "newell_normals", "polygon_area", "triangulate_polygons"]

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
    """

    vertices: F64
    triangles: U32
    vertex_polygon: I64
    triangle_polygon: I64
    normals: F64
    skipped: list[int]
    vertex_source: I64


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
    cross = np.cross(a, b)
    out: F64 = np.add.reduceat(cross, ring_starts, axis=0)
    return out


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
    One earcut call per polygon; the normals, projection and orientation are
    vectorised over all polygons.
    """
    npoly = len(polygons)
    if npoly == 0:
        z3 = np.zeros((0, 3))
        zi = np.zeros(0, np.int64)
        return Triangulation(z3, np.zeros((0, 3), np.uint32), zi, zi, z3, [], zi)
    ring_lengths: list[int] = []
    poly_nrings: list[int] = []
    flat: list[F64] = []
    for rings in polygons:
        poly_nrings.append(len(rings))
        for ring in rings:
            ring_lengths.append(len(ring))
            flat.append(ring)
    points = np.concatenate(flat).astype(np.float64, copy=False)
    lengths = np.asarray(ring_lengths, dtype=np.int64)
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

    tris_out: list[npt.NDArray[np.uint32]] = []
    tri_poly: list[int] = []
    tri_counts: list[int] = []
    vsrc: list[I64] = []
    vpoly_counts: list[int] = []
    skipped: list[int] = []
    base = 0
    ring_index = 0
    for p in range(npoly):
        nr = poly_nrings[p]
        start = int(ring_starts[ring_index])
        end = (
            int(ring_starts[ring_index + nr]) if ring_index + nr < len(ring_starts) else len(points)
        )
        ring_index += nr
        nv = end - start
        if not ok[p] or nv < 3:
            skipped.append(p)
            continue
        pts = points[start:end]
        ax = keep_axes[p]
        xy = pts[:, ax] - pts[0, ax]
        ends = (ring_starts[ring_index - nr + 1 : ring_index] - start).astype(np.uint32)
        ends = np.append(ends, np.uint32(nv))
        idx = mapbox_earcut.triangulate_float64(xy, ends)
        if idx.size == 0:
            skipped.append(p)
            continue
        tris_out.append(idx.astype(np.uint32) + np.uint32(base))
        tri_poly.append(p)
        tri_counts.append(idx.size // 3)
        vsrc.append(np.arange(start, end, dtype=np.int64))
        vpoly_counts.append(nv)
        base += nv
    if not tris_out:
        z3 = np.zeros((0, 3))
        zi = np.zeros(0, np.int64)
        return Triangulation(z3, np.zeros((0, 3), np.uint32), zi, zi, unit, skipped, zi)
    vertex_source = np.concatenate(vsrc)
    vertices = points[vertex_source]
    triangles = np.concatenate(tris_out).reshape(-1, 3)
    triangle_polygon = np.repeat(np.asarray(tri_poly, np.int64), tri_counts)
    vertex_polygon = np.repeat(np.asarray(tri_poly, np.int64), vpoly_counts)
    # orient every triangle with its polygon's normal
    a = vertices[triangles[:, 0]]
    tn = np.cross(vertices[triangles[:, 1]] - a, vertices[triangles[:, 2]] - a)
    flip = np.einsum("ij,ij->i", tn, unit[triangle_polygon]) < 0
    if flip.any():
        triangles[flip] = triangles[flip][:, ::-1]
    return Triangulation(
        vertices, triangles, vertex_polygon, triangle_polygon, unit, skipped, vertex_source
    )
