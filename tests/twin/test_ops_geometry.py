"""Edit ops' geometry checks: shapely's predicates (validity, containment)."""

from __future__ import annotations

import pytest
from greentwin.twin.ops import Extent, OpError, parse_op

L_SHAPE = Extent(((0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (1.0, 1.0), (1.0, 2.0), (0.0, 2.0)))


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [
        (0.5, 0.5, True),
        (1.5, 1.5, False),  # the notch of the L
        (0.0, 1.0, True),  # on the boundary
        (1.0, 1.5, True),  # on the notch's edge
        (2.0, 2.0, False),
        (-0.1, 0.5, False),
    ],
)
def test_extent_contains_points_inside_and_on_the_boundary(
    lon: float, lat: float, inside: bool
) -> None:
    assert L_SHAPE.contains(lon, lat) is inside


def test_a_self_intersecting_outline_is_refused_with_where() -> None:
    """A bow-tie green area or building outline has no inside to plant or extrude: it is
    refused at the boundary, naming the crossing, instead of failing later (earcut,
    rasterisation, area)."""
    # lopsided, so its signed (shoelace) area is not zero: only a validity test sees it
    bow = [[0.0, 0.0], [1.8, 1.8], [1.8, 0.0], [0.0, 0.9]]
    for op in (
        {"op": "set_green_area", "polygon": bow, "cover": "meadow"},
        {"op": "add_building", "footprint": bow, "height_m": 10.0},
    ):
        with pytest.raises(OpError, match=r"not a simple polygon \(Self-intersection\[0\.6"):
            parse_op(op, L_SHAPE)
    ok = parse_op(
        {
            "op": "set_green_area",
            "polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]],
            "cover": "meadow",
        },
        L_SHAPE,
    )
    assert ok.op == "set_green_area"
