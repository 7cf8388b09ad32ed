"""Property tests for polygon triangulation: area preserved, holes respected, winding."""

from __future__ import annotations

import numpy as np
from greentwin.tiles.triangulate import polygon_area, triangulate_polygons
from hypothesis import given
from hypothesis import strategies as st


def _rotation(a: float, b: float) -> np.ndarray:
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    rx = np.array([[1, 0, 0], [0, ca, -sa], [0, sa, ca]])
    rz = np.array([[cb, -sb, 0], [sb, cb, 0], [0, 0, 1]])
    out: np.ndarray = rz @ rx
    return out


def _star(n: int, r_in: float, r_out: float, cx: float, cy: float, phase: float) -> np.ndarray:
    """A star-shaped (non-convex) ring, counter-clockwise in the xy plane."""
    t = phase + np.arange(2 * n) * np.pi / n
    r = np.where(np.arange(2 * n) % 2 == 0, r_out, r_in)
    return np.stack((cx + r * np.cos(t), cy + r * np.sin(t), np.zeros(2 * n)), axis=1)


polygons = st.builds(
    lambda n, rin, phase, holes, a, b, scale: (n, rin, phase, holes, a, b, scale),
    st.integers(3, 12),
    st.floats(0.3, 0.9),
    st.floats(0, 6.28),
    st.integers(0, 3),
    st.floats(0, 3.14),
    st.floats(0, 6.28),
    st.sampled_from([1.0, 10.0, 300.0]),
)


@given(polygons)
def test_area_and_holes(params: tuple[int, float, float, int, float, float, float]) -> None:
    n, rin, phase, nholes, a, b, scale = params
    outer = _star(n, rin * 10, 10, 0, 0, phase)
    holes = []
    # small square holes inside the inner radius, none overlapping
    for k in range(nholes):
        ang = 2 * np.pi * k / max(nholes, 1)
        c = 0.5 * rin * 10 * np.array([np.cos(ang), np.sin(ang)]) if nholes > 1 else np.zeros(2)
        s = 0.12 * rin * 10 / max(nholes, 1)
        sq = np.array([[-s, -s], [-s, s], [s, s], [s, -s]]) + c  # clockwise
        holes.append(np.c_[sq, np.zeros(4)])
    rot = _rotation(a, b) * scale / 10
    rings = [r @ rot.T + [1000.0, 2000.0, 30.0] for r in [outer, *holes]]
    tri = triangulate_polygons([rings])
    assert tri.skipped == []
    v = tri.vertices
    t = tri.triangles.astype(np.int64)
    cross = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    expected = polygon_area(rings[0], rings[1:])
    assert np.isclose(areas.sum(), expected, rtol=1e-6)
    # every triangle faces the polygon's normal
    assert np.all(cross @ tri.normals[0] > -1e-9 * scale**2)
    # no triangle centroid inside a hole (test in the polygon's own plane)
    cent = (v[t[:, 0]] + v[t[:, 1]] + v[t[:, 2]]) / 3
    local = (
        cent - [1000.0, 2000.0, 30.0]
    ) @ rot  # back to the xy plane (rot orthogonal up to scale)
    local /= (scale / 10) ** 2
    for h in holes:
        lo, hi = h[:, :2].min(axis=0), h[:, :2].max(axis=0)
        inside = np.all((local[:, :2] > lo + 1e-9) & (local[:, :2] < hi - 1e-9), axis=1)
        assert not inside.any()


def test_degenerate_polygons_are_reported() -> None:
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    tiny = np.array([[0.0, 0, 0], [1e-6, 0, 0], [0, 1e-6, 0]])
    ok = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    tri = triangulate_polygons([[line], [tiny], [ok]])
    assert tri.skipped == [0, 1]
    assert tri.triangles.shape == (1, 3)
    assert np.allclose(tri.normals[2], [0, 0, 1])


@given(st.integers(3, 40), st.floats(0, 3.14), st.floats(0, 6.28), st.floats(0.01, 500))
def test_convex_fan(n: int, a: float, b: float, r: float) -> None:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack((r * np.cos(t), r * np.sin(t), np.zeros(n)), axis=1) @ _rotation(a, b).T
    tri = triangulate_polygons([[ring]])
    assert tri.triangles.shape == (n - 2, 3)
    v, t3 = tri.vertices, tri.triangles.astype(np.int64)
    cross = np.cross(v[t3[:, 1]] - v[t3[:, 0]], v[t3[:, 2]] - v[t3[:, 0]])
    assert np.isclose(0.5 * np.linalg.norm(cross, axis=1).sum(), polygon_area(ring), rtol=1e-9)
    assert np.all(cross @ tri.normals[0] > 0)


def test_collinear_points_give_no_degenerate_triangles() -> None:
    # a rectangle wall with extra points on its edges (shared vertices of neighbours)
    ring = np.array(
        [[0, 0, 0], [2, 0, 0], [5, 0, 0], [5, 0, 3], [2.5, 0, 3], [0, 0, 3], [0, 0, 1.5]], float
    )
    tri = triangulate_polygons([[ring]])
    v, t = tri.vertices, tri.triangles.astype(np.int64)
    cross = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    assert np.all(areas > 1e-9)
    assert np.isclose(areas.sum(), 15.0)
    assert np.allclose(tri.normals[0], [0, -1, 0])
