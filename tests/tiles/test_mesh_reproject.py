"""Distinct corners are reprojected once: the result equals transforming every point."""

from __future__ import annotations

import numpy as np
import pytest
from greentwin.tiles import mesh
from greentwin.tiles.geodesy import geodetic_to_ecef, to_geodetic


def _points() -> np.ndarray:
    rng = np.random.default_rng(7)
    corners = rng.uniform((390_000, 5_818_000, 30), (391_000, 5_819_000, 60), (50, 3))
    pts = corners[rng.integers(0, 50, 400)]
    pts[::7, 2] = 0.0  # zeros of both signs: distinct bits, equal values
    pts[1::7, 2] = -0.0
    return pts


def test_distinct_rows_rebuild_the_input() -> None:
    pts = _points()
    uniq, inverse = mesh._distinct_rows(pts)
    assert len(uniq) == len({r.tobytes() for r in pts})
    np.testing.assert_array_equal(uniq[inverse], pts)


def test_hash_collisions_fall_back_to_an_exact_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mesh, "_mix", lambda x: x * np.uint64(0))  # every hash collides
    pts = _points()
    uniq, inverse = mesh._distinct_rows(pts)
    assert len(uniq) == len({r.tobytes() for r in pts})
    np.testing.assert_array_equal(uniq[inverse], pts)


def test_reproject_equals_transforming_every_point() -> None:
    pts = _points()
    geo, ecef = mesh._reproject("EPSG:25833", pts)
    want = to_geodetic("EPSG:25833", pts)
    np.testing.assert_array_equal(geo, want)
    np.testing.assert_array_equal(ecef, geodetic_to_ecef(want))
