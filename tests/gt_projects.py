"""The smallest valid project manifest, for tests that break or extend it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BERLIN_GML = REPO / "data" / "citygml" / "berlin_testarea_lod2_buildings.gml"

#: One manifest: the Berlin test area's buildings, nothing else.
BASE = f"""
[project]
name = "t"
crs = "EPSG:25833"
city = "Berlin"

[buildings]
citygml = "{BERLIN_GML}"
"""

#: A road through the Berlin test area (GeoJSON Feature, WGS 84), with its own AADT.
ROAD_INSIDE = {
    "type": "Feature",
    "properties": {"highway": "secondary", "aadt": 9000},
    "geometry": {"type": "LineString", "coordinates": [[13.4785, 52.5155], [13.4830, 52.5170]]},
}
