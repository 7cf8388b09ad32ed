"""The smallest valid project manifest, for tests that break or extend it."""

from __future__ import annotations

import subprocess
import sys
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


def small_project(folder: Path) -> Path:
    """A synthetic 0.4 km x 0.4 km project (``bench/make_project.py``) written into
    ``folder``; returns its manifest."""
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "make_project.py"), "--size-km", "0.4", str(folder)],
        check=True,
        capture_output=True,
    )
    return folder / "project.toml"
