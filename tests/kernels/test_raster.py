"""Rasterisation of building footprints, ground factor and crowns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.raster import (
    BuildingFootprint,
    Crown,
    Grid,
    building_height_grid,
    crown_grid,
    ground_factor_grid,
    point_in_rings,
)
from hypothesis import given
from hypothesis import strategies as st


def test_grid_geometry() -> None:
    g = Grid.covering((3.0, 7.0, 21.0, 18.0), cell=5.0)
    assert (g.x0, g.y0) == (0.0, 5.0)
    assert g.shape == (3, 5)
    assert g.centers()[0].tolist() == [2.5, 7.5]
    assert g.centers().shape == (15, 2)
    r, c = g.index(np.array([2.6]), np.array([17.0]))
    assert (int(r[0]), int(c[0])) == (2, 0)
    with pytest.raises(KernelError):
        Grid(0, 0, 0, 1, 1)


def test_building_square_with_courtyard() -> None:
    g = Grid(0.0, 0.0, 1.0, 20, 20)
    ext = np.array([[2, 2], [12, 2], [12, 12], [2, 12]], float)
    hole = np.array([[5, 5], [9, 5], [9, 9], [5, 9]], float)
    h = building_height_grid(g, [BuildingFootprint("b", ext, 15.0, (hole,))])
    assert h[2:12, 2:12].sum() == pytest.approx(15.0 * (100 - 16))
    assert h[6, 6] == 0.0 and h[3, 3] == 15.0 and h[15, 15] == 0.0


def test_overlapping_buildings_keep_max() -> None:
    g = Grid(0.0, 0.0, 1.0, 10, 10)
    a = BuildingFootprint("a", np.array([[0, 0], [6, 0], [6, 6], [0, 6]], float), 10.0)
    b = BuildingFootprint("b", np.array([[4, 4], [10, 4], [10, 10], [4, 10]], float), 5.0)
    h = building_height_grid(g, [a, b])
    assert h[5, 5] == 10.0 and h[8, 8] == 5.0


@given(x=st.floats(0, 50), y=st.floats(0, 50), w=st.floats(2, 40), d=st.floats(2, 40))
def test_rectangle_area_matches(x: float, y: float, w: float, d: float) -> None:
    g = Grid(0.0, 0.0, 1.0, 100, 100)
    ext = np.array([[x, y], [x + w, y], [x + w, y + d], [x, y + d]])
    h = building_height_grid(g, [BuildingFootprint("r", ext, 1.0)])
    # count of cell centres inside a w x d rectangle differs from its area by < perimeter
    assert abs(h.sum() - w * d) <= 2 * (w + d) + 4


def test_ground_factor_and_crowns() -> None:
    g = Grid(0.0, 0.0, 1.0, 10, 10)
    park = [np.array([[0, 0], [5, 0], [5, 10], [0, 10]], float)]
    gf = ground_factor_grid(g, [(park, 1.0)], default_g=0.0)
    assert gf[:, :5].min() == 1.0 and gf[:, 5:].max() == 0.0
    with pytest.raises(KernelError):
        ground_factor_grid(g, [(park, 1.5)])
    cr = crown_grid(g, [Crown(5.0, 5.0, 2.0, 3.0, 12.0), Crown(6.0, 5.0, 2.0, 2.0, 9.0, 0.5)])
    assert cr.top[5, 5] == 12.0 and cr.base[5, 5] == 2.0 and cr.density[5, 5] == 1.0
    assert cr.top[0, 0] == 0.0 and cr.density[0, 0] == 0.0
    area = int((cr.density > 0).sum())
    assert 12 <= area <= 22


def test_footprints_from_features() -> None:
    from greentwin.citygml.model import Feature, Polygon

    ground = Polygon(
        np.array([[0, 0, 30], [10, 0, 30], [10, 8, 30], [0, 8, 30]], float),
        surface_type="GroundSurface",
    )
    roof = Polygon(
        np.array([[0, 0, 42], [10, 0, 42], [10, 8, 42], [0, 8, 42]], float),
        surface_type="RoofSurface",
    )
    b = Feature("B1", "Building", None, lods={2: [ground, roof]})
    b2 = Feature("B2", "Building", None, attributes={"measuredHeight": 20.5}, lods={1: [ground]})
    tree = Feature("T", "SolitaryVegetationObject", None)
    fps = __import__("greentwin.kernels.raster", fromlist=["x"]).footprints_from_features(
        [b, b2, tree]
    )
    assert [f.id for f in fps] == ["B1", "B2"]
    assert fps[0].height_m == pytest.approx(12.0)
    assert fps[1].height_m == pytest.approx(20.5)
    assert fps[0].exterior.shape == (4, 2)


def test_point_in_rings_is_shapely_containment_with_holes_and_edges() -> None:
    """Inside means inside the interior (shapely's ``contains``): a point on the ring
    counts as outside on every side alike (the hand-written crossing-number test counted
    the left and bottom edges in and the right and top edges out), and a hole's interior
    is outside."""
    import shapely

    outer = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    hole = np.array([[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]])
    px = np.array([0.0, 10.0, 5.0, 5.0, 1.0, 5.0, 4.0, 11.0])
    py = np.array([5.0, 5.0, 0.0, 10.0, 1.0, 5.0, 5.0, 5.0])
    got = point_in_rings(px, py, [outer, hole])
    #            left   right  bottom top   in    hole   hole-edge outside
    assert got.tolist() == [False, False, False, False, True, False, False, False]
    want = shapely.contains_xy(shapely.Polygon(outer, [hole]), px, py)
    assert got.tolist() == want.tolist()


def test_point_in_rings_answers_in_the_points_library(xp: Any) -> None:
    """The kernel asks its points for their namespace (array-api-compat): CuPy points get
    a CuPy answer (the geometry runs on the host), NumPy points a NumPy one."""
    from greentwin.kernels.backend import namespace_of, to_numpy

    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    got = point_in_rings(xp.asarray([1.0, 3.0]), xp.asarray([1.0, 1.0]), [square])
    assert namespace_of(got) is xp
    assert to_numpy(got).tolist() == [True, False]
    with pytest.raises(KernelError, match="arrays of one library"):
        point_in_rings([1.0], [1.0], [square])  # type: ignore[arg-type]
