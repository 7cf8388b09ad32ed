"""A project's OpenStreetMap roads as traffic records: ramps and unknown classes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from greentwin.traffic import ROAD_CLASSES, RoadRecord, build_network

ROOT = Path(__file__).resolve().parents[2]
HELSINKI = ROOT / "data" / "projects" / "helsinki" / "project.toml"


@pytest.mark.parametrize(
    ("highway", "capacity", "speed"),
    # MATSim's OpenStreetMap reader defaults (veh/h per lane, km/h) for the ramps
    [("motorway_link", 1500.0, 80.0), ("trunk_link", 1500.0, 50.0), ("primary_link", 1500.0, 60.0)],
)
def test_ramps_have_the_reader_defaults(highway: str, capacity: float, speed: float) -> None:
    rec = RoadRecord("r", np.array([[0.0, 0.0], [600.0, 0.0]]), highway=highway, oneway=1, lanes=1)
    net = build_network([rec])
    assert ROAD_CLASSES[highway].capacity_per_lane == capacity
    assert net.capacity[0] == capacity
    assert net.free_time_s[0] == pytest.approx(600.0 / (speed / 3.6))


def test_helsinki_roads_become_traffic_records() -> None:
    """The Helsinki project has primary_link ramps; every road must give a record."""
    from greentwin.server.district import District
    from greentwin.server.district_traffic import traffic_records

    district = District.from_project(HELSINKI)
    classes = {str(r.extra.get("highway")) for r in district.roads.roads}
    assert "primary_link" in classes
    records = traffic_records(district)
    assert len(records) == len(district.roads.roads)
    by_id = {r.id: r for r in records}
    for road in district.roads.roads:
        if road.extra.get("highway") == "primary_link":
            assert by_id[road.id].highway == "primary_link"
    assert build_network(records).n_links > 0


def test_a_class_the_table_lacks_is_inferred() -> None:
    """A road whose class is not in the table (OSM ``road``) is classed from lanes and speed."""
    from greentwin.server.district import District
    from greentwin.server.district_traffic import traffic_records
    from greentwin.traffic import infer_class

    district = District.from_project(HELSINKI)
    first = district.roads.roads[0]
    odd = dataclasses.replace(first, extra={**first.extra, "highway": "road"})
    roads = dataclasses.replace(district.roads, roads=(odd, *district.roads.roads[1:]))
    rec = traffic_records(district.replace(roads=roads))[0]
    speed = float(first.speeds[0]) if len(first.speeds) else None
    assert rec.highway == infer_class(max(1, int(first.lanes)), speed)
