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
    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import traffic_records

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
    from greentwin.traffic import infer_class
    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import traffic_records

    district = District.from_project(HELSINKI)
    first = district.roads.roads[0]
    odd = dataclasses.replace(first, extra={**first.extra, "highway": "road"})
    roads = dataclasses.replace(district.roads, roads=(odd, *district.roads.roads[1:]))
    rec = traffic_records(district.replace(roads=roads))[0]
    speed = float(first.speeds[0]) if len(first.speeds) else None
    assert rec.highway == infer_class(max(1, int(first.lanes)), speed)


def test_roads_the_base_model_leaves_empty_keep_their_flows_on_an_unrelated_edit() -> None:
    """Pivot point: a road with base flows but (almost) no modelled base flow keeps them.

    On Helsinki a carriageway of Kaivokatu carries the street's count (795 veh/h by day)
    while the fitted model routes nothing along it; slowing Mannerheimintie, far from it,
    must not report that traffic as gone.
    """
    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import CHANGE_FLOOR_VPH, apply_traffic, traffic_model

    district = District.from_project(HELSINKI)
    model = traffic_model(district)
    empty = {
        r.id: np.asarray(r.flows).sum(axis=1)
        for r in district.roads.roads
        if np.asarray(r.flows).sum() > 0 and float(model.base.roads[r.id].flow.min()) < 1.0
    }
    assert empty  # the case exists in this data
    busiest = max(model.base.roads, key=lambda k: float(model.base.roads[k].flow[0]))
    roads = tuple(
        dataclasses.replace(r, speeds=np.asarray(r.speeds) * 0.6) if r.id == busiest else r
        for r in district.roads.roads
    )
    edited = district.replace(roads=dataclasses.replace(district.roads, roads=roads))
    out, changes, result = apply_traffic(district, edited, model=model)
    after = {r.id: np.asarray(r.flows).sum(axis=1) for r in out.roads.roads}
    for rid, before in empty.items():
        modelled = result.roads[rid].flow - model.base.roads[rid].flow
        want = np.maximum(before + modelled, 0.0)
        assert np.all(np.abs(after[rid] - want) <= CHANGE_FLOOR_VPH), rid
    assert not any(c["id"] in empty and c["after"] == 0.0 for c in changes)


def test_closing_a_helsinki_main_road_sends_its_traffic_elsewhere() -> None:
    """The project's network re-assigns: the closed road's modelled flow appears on others.

    The road is the busiest two-way road (closing a one-way carriageway can cut a block
    zone off: docs/traffic.md, limits).
    """
    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import apply_traffic, traffic_model, traffic_records

    district = District.from_project(HELSINKI)
    model = traffic_model(district)
    two_way = {r.id for r in traffic_records(district) if r.oneway == 0}
    busiest = max(two_way, key=lambda k: float(model.base.roads[k].flow[0]))
    roads = tuple(
        dataclasses.replace(r, closed=True) if r.id == busiest else r for r in district.roads.roads
    )
    edited = district.replace(roads=dataclasses.replace(district.roads, roads=roads))
    _, changes, result = apply_traffic(district, edited, model=model)
    base = model.base.roads
    assert float(base[busiest].flow[0]) > 100.0
    assert float(result.roads[busiest].flow[0]) < 1.0
    assert any(c["id"] != busiest and c["after"] > c["before"] for c in changes)
    # the vehicle-metres added on other roads at least match what the closed road carried
    added = sum(
        max(0.0, float(result.roads[k].flow[0] - base[k].flow[0]) * base[k].length_m)
        for k in base
        if k != busiest
    )
    assert added > float(base[busiest].flow[0]) * base[busiest].length_m
