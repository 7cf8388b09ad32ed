"""Synthetic CityGML features for the tiler tests (no reader needed)."""

from __future__ import annotations

import numpy as np
from greentwin.citygml.model import Feature, Polygon, SourceCRS

CRS = SourceCRS("EPSG:25833", 25833)


def box_polygons(
    x: float, y: float, w: float, d: float, h: float, z0: float = 40.0
) -> list[Polygon]:
    """A closed box building with semantic surfaces (exterior rings CCW from outside)."""
    p = np.array([[x, y, z0], [x + w, y, z0], [x + w, y + d, z0], [x, y + d, z0]], dtype=np.float64)
    up = np.array([0.0, 0.0, h])
    top = p + up
    polys = [
        Polygon(p[::-1].copy(), surface_type="GroundSurface"),
        Polygon(top.copy(), surface_type="RoofSurface"),
    ]
    for i in range(4):
        a, b = p[i], p[(i + 1) % 4]
        polys.append(Polygon(np.array([a, b, b + up, a + up]), surface_type="WallSurface"))
    return polys


def city(n: int, spacing: float = 30.0) -> list[Feature]:
    """``n`` box buildings on a grid, every third with two parts."""
    out = []
    side = int(np.ceil(np.sqrt(n)))
    for k in range(n):
        x = 390000.0 + (k % side) * spacing
        y = 5819000.0 + (k // side) * spacing
        fid = f"B{k}"
        attrs = {"measuredHeight": 10.0 + k % 7, "function": "31001_1000", "gen_year": 1900 + k}
        f = Feature(fid, "Building", CRS, attributes=attrs, line=k + 1)
        if k % 3 == 0:
            for j in range(2):
                part = Feature(
                    f"{fid}_p{j}",
                    "BuildingPart",
                    CRS,
                    parent_id=fid,
                    line=k + 1,
                    lods={2: box_polygons(x + j * 8, y, 8, 10, 6 + j)},
                )
                f.children.append(part)
        else:
            f.lods[2] = box_polygons(x, y, 12, 10, 10.0 + k % 7)
            f.lods[1] = box_polygons(x, y, 12, 10, 10.0 + k % 7)
        out.append(f)
    return out
