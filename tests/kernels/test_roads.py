"""Road network model: parsing, validation, source points, round trip."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.roads import SOURCE_HEIGHT_M, RoadNetwork, vehicles_per_day


def _feature(rid: str, coords: Any, **props: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": rid,
        "flows": {"day": {"1": 1000, "3": 50}, "evening": {"1": 400}, "night": {"1": 100}},
        "speed_kmh": 50,
    }
    p.update(props)
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": p,
    }


def _fc(*features: dict[str, Any], **top: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "FeatureCollection",
        "crs": "EPSG:25833",
        "features": list(features),
    }
    obj.update(top)
    return obj


def test_parse_basic_road() -> None:
    net = RoadNetwork.from_geojson(_fc(_feature("a", [[0, 0], [100, 0]], name="Main")))
    assert net.crs == "EPSG:25833"
    assert net.temperature_c == 20.0
    (road,) = net.roads
    assert road.name == "Main"
    assert road.coords.shape == (2, 2)
    assert road.flows.shape == (3, 5)
    assert road.flows[0].tolist() == [1000, 0, 50, 0, 0]
    assert road.speeds.tolist() == [50.0] * 5
    assert road.width_m == 7.0
    assert road.length_m() == pytest.approx(100.0)
    # 12 h day, 4 h evening, 8 h night
    assert vehicles_per_day(road)[0] == pytest.approx(1000 * 12 + 400 * 4 + 100 * 8)
    assert net.vehicles_per_day("a")[2] == pytest.approx(50 * 12)


def test_legacy_crs_object_and_junctions() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25833"}}
    net = RoadNetwork.from_geojson(
        _fc(_feature("a", [[0, 0], [10, 0]]), crs=crs, junctions=[{"x": 0, "y": 0, "type": 2}])
    )
    assert net.crs == "EPSG:25833"
    assert net.junctions[0].type == 2


@pytest.mark.parametrize("crs", [None, "EPSG:4326", "WGS84"])
def test_bad_crs_raises(crs: Any) -> None:
    obj = _fc(_feature("a", [[0, 0], [10, 0]]))
    obj["crs"] = crs
    with pytest.raises(KernelError):
        RoadNetwork.from_geojson(obj)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"flows": {"day": {"1": -5}}}, "non-negative"),
        ({"flows": {"day": {"1": float("nan")}}}, "non-negative"),
        ({"flows": {"day": {"9": 5}}}, "unknown category"),
        ({"speed_kmh": 10}, "validity range"),
        ({"speed_kmh": 150}, "validity range"),
        ({"surface": "GOLD"}, "unknown road surface"),
        ({"lanes": 0}, "lanes"),
        ({"tree_factor": 2}, "tree_factor"),
    ],
)
def test_bad_records_are_skipped(change: dict[str, Any], reason: str) -> None:
    good = _feature("good", [[0, 0], [10, 0]])
    bad = _feature("bad", [[0, 0], [10, 0]], **change)
    net = RoadNetwork.from_geojson(_fc(good, bad))
    assert [r.id for r in net.roads] == ["good"]
    assert len(net.skipped) == 1
    assert net.skipped[0].id == "bad" and net.skipped[0].index == 1
    assert reason in net.skipped[0].reason


def test_bad_geometry_and_duplicates_are_skipped() -> None:
    feats = [
        _feature("a", [[0, 0], [10, 0]]),
        _feature("b", [[0, 0]]),
        _feature("c", [[0, 0], [0, 0]]),
        _feature("a", [[0, 0], [10, 0]]),
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"id": "d"},
        },
        _feature("", [[0, 0], [1, 0]]),
    ]
    net = RoadNetwork.from_geojson(_fc(*feats))
    assert [r.id for r in net.roads] == ["a"]
    assert [s.index for s in net.skipped] == [1, 2, 3, 4, 5]


def test_multilinestring_has_no_bridging_segment() -> None:
    f = _feature("m", None)
    f["geometry"] = {
        "type": "MultiLineString",
        "coordinates": [[[0, 0], [10, 0]], [[50, 50], [50, 70]]],
    }
    net = RoadNetwork.from_geojson(_fc(f))
    road = net.roads[0]
    assert road.breaks == (2,)
    assert road.segments().shape == (2, 2, 2)
    assert road.length_m() == pytest.approx(30.0)
    pts = net.source_points(spacing_m=5.0)
    assert pts.length_m.sum() == pytest.approx(30.0)


def test_source_points_cover_the_line() -> None:
    net = RoadNetwork.from_geojson(
        _fc(_feature("a", [[0, 0], [100, 0], [100, 33]]), junctions=[{"x": 100, "y": 0, "type": 1}])
    )
    pts = net.source_points(spacing_m=10.0)
    assert len(pts) == 10 + 4
    assert pts.length_m.sum() == pytest.approx(133.0)
    assert np.all(pts.length_m <= 10.0 + 1e-9)
    assert np.all(pts.z == SOURCE_HEIGHT_M)
    assert pts.xy[0].tolist() == pytest.approx([5.0, 0.0])
    assert pts.junction_distance.min() == pytest.approx(33 / 8)
    assert set(pts.junction_type.tolist()) == {1}


def test_closed_roads_have_no_sources_and_speed_object() -> None:
    net = RoadNetwork.from_geojson(
        _fc(
            _feature("a", [[0, 0], [10, 0]], closed=True),
            _feature("b", [[0, 0], [10, 0]], speed_kmh={"1": 50, "3": 40}),
        )
    )
    pts = net.source_points(spacing_m=5.0)
    assert set(pts.road_index.tolist()) == {1}
    assert net.roads[1].speeds.tolist() == [50, 50, 40, 50, 50]
    assert net.vehicles_per_day("a").sum() == 0


def test_round_trip_and_changes() -> None:
    obj = _fc(
        _feature(
            "a", [[0, 0], [10, 0]], studded={"share": 0.3, "months": 4}, canyon=True, foo="bar"
        ),
        _feature("b", [[0, 5], [10, 5]], speed_kmh={"1": 50, "3": 40}, gradient_pct=3),
        temperature_c=12,
    )
    net = RoadNetwork.from_geojson(copy.deepcopy(obj))
    again = RoadNetwork.from_geojson(net.to_geojson())
    assert again.temperature_c == 12
    for r1, r2 in zip(net.roads, again.roads, strict=True):
        assert r1.id == r2.id
        np.testing.assert_array_equal(r1.coords, r2.coords)
        np.testing.assert_array_equal(r1.flows, r2.flows)
        np.testing.assert_array_equal(r1.speeds, r2.speeds)
        assert (r1.studded_share, r1.canyon, r1.gradient_pct, dict(r1.extra)) == (
            r2.studded_share,
            r2.canyon,
            r2.gradient_pct,
            dict(r2.extra),
        )
    b2 = net.road("b").with_flows(net.road("b").flows * 2)
    changed = net.with_road(b2)
    assert changed.road("b").flows[0, 0] == 2000 and net.road("b").flows[0, 0] == 1000
    assert [r.id for r in net.without_road("a").roads] == ["b"]
    with pytest.raises(KernelError):
        net.without_road("zzz")


def test_not_a_feature_collection() -> None:
    with pytest.raises(KernelError):
        RoadNetwork.from_geojson({"type": "Feature"})


def test_demo_roads_run_between_the_berlin_buildings() -> None:
    import json

    from greentwin.citygml.reader import CityGMLReader
    from greentwin.kernels.raster import Grid, building_height_grid, footprints_from_features
    from gt_testing import CITYGML, DATA

    net = RoadNetwork.from_geojson(json.loads((DATA / "demo" / "roads.geojson").read_text()))
    assert len(net.roads) >= 4 and not net.skipped
    assert net.crs == "EPSG:25833"
    fps = footprints_from_features(
        CityGMLReader(CITYGML / "berlin_testarea_lod2_buildings.gml").features()
    )
    assert len(fps) > 10
    grid = Grid.covering(net.bounds(), 1.0, margin=10.0)
    heights = building_height_grid(grid, fps)
    pts = net.source_points(spacing_m=2.0)
    row, col = grid.index(pts.xy[:, 0], pts.xy[:, 1])
    inside = heights[row, col] > 0
    assert inside.mean() < 0.02, f"{inside.sum()} road points fall inside buildings"
