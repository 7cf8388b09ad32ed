"""Receiver height and background concentrations are a project's own settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from greentwin.kernels.air.compute import AirMap
from greentwin.kernels.raster import Grid
from greentwin.kernels.roads import RoadNetwork
from greentwin.twin import ManifestError, load_manifest
from greentwin.twin.district import RECEIVER_HEIGHT_M, District, air_config
from gt_projects import BASE, ROAD_INSIDE

REPO = Path(__file__).resolve().parents[2]


ROADS = json.dumps({"type": "FeatureCollection", "features": [ROAD_INSIDE]})


def _manifest(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "roads.geojson").write_text(ROADS, encoding="utf-8")
    path = tmp_path / "project.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


def test_defaults_are_the_directives_and_the_models(tmp_path: Path) -> None:
    project = load_manifest(_manifest(tmp_path, ""))
    assert project.receiver_height_m == RECEIVER_HEIGHT_M == 4.0
    assert project.backgrounds == ()


def test_settings_reach_the_district_and_the_air_model(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        "\n[grid]\nreceiver_height_m = 1.5\n\n[air.background]\nno2 = 31.5\npm10 = 25\n"
        '\n[roads]\ngeojson = "roads.geojson"\n',
    )
    project = load_manifest(path)
    assert project.receiver_height_m == 1.5
    assert dict(project.backgrounds) == {"no2": 31.5, "pm10": 25.0}
    district = District.from_project(path)
    assert district.receiver_height_m == 1.5
    bg = air_config(district).backgrounds
    assert (bg.no2, bg.pm10) == (31.5, 25.0)
    assert bg.pm25 == 12.0  # not named: the model's default


def test_background_shifts_pm10_by_the_difference() -> None:
    """PM10 adds its background (docs/air.md); the road increments do not change."""
    grid = Grid(x0=0.0, y0=0.0, cell=10.0, nx=12, ny=10, crs="EPSG:25833")
    roads = RoadNetwork.from_geojson(
        {
            "type": "FeatureCollection",
            "crs": "EPSG:25833",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [[0, 50], [120, 50]]},
                    "properties": {
                        "id": "r",
                        "flows": {"day": {"1": 800, "3": 40}},
                        "speed_kmh": 50,
                    },
                }
            ],
        }
    )
    base = District.__new__(District)
    object.__setattr__(base, "backgrounds", ())
    other = District.__new__(District)
    object.__setattr__(other, "backgrounds", (("pm10", 30.0),))
    a = AirMap(grid, roads, air_config(base), backend="numpy")
    b = AirMap(grid, roads, air_config(other), backend="numpy")
    a.compute()
    b.compute()
    np.testing.assert_allclose(b.maps()["pm10"] - a.maps()["pm10"], 12.0, atol=1e-9)


@pytest.mark.parametrize(
    "extra",
    ["\n[grid]\nreceiver_height_m = 0.5\n", "\n[air.background]\nso2 = 3\n", "\n[air]\nwind = 2\n"],
)
def test_bad_settings_are_named(tmp_path: Path, extra: str) -> None:
    with pytest.raises(ManifestError, match=r"project\.toml: (grid|air)"):
        load_manifest(_manifest(tmp_path, extra))
