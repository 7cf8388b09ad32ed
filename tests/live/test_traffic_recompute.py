"""Road network edits re-assign traffic; noise and air follow the moved traffic."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from greentwin.server.sqlite_scenarios import ScenarioStore
from greentwin.server.store import TileStore
from greentwin.twin.district import values_at
from greentwin.twin.ops import ScenarioState, op_from_dict, op_to_dict, parse_op
from greentwin.twin.recompute_district import DistrictRecompute, district_for
from gt_testing import CITYGML, published_values

pytestmark = [pytest.mark.timeout(300)]

#: 12 m north of the main street, and 12 m north of the south street (EPSG:25833).
NEAR_MAIN = (396900.0, 5819543.0)
NEAR_SOUTH = (396900.0, 5819457.0)


@pytest.mark.asyncio
async def test_closing_the_main_street_relieves_it_and_loads_the_parallel_streets(
    recompute: tuple[ScenarioStore, TileStore, DistrictRecompute],
) -> None:
    store, tiles, rc = recompute
    sid = (await store.create("Close the main street", author="test")).id
    appended = await store.append(
        sid, parse_op({"op": "close_road", "id": "main-ew"}), author="test"
    )
    res = await rc.apply(sid, appended.seq, appended.ops, appended.state)
    change = res["changes"][0]
    traffic = {c["id"]: c for c in change.get("traffic", [])}
    assert traffic["main-ew"]["after"] == 0.0
    assert traffic["south-ew"]["after"] > traffic["south-ew"]["before"]
    layers = res["layers"]
    base = await asyncio.to_thread(rc.base)
    grid = base.overlays.grid
    diff = {
        name: published_values(tiles, sid, layers[f"diff_{name}"], f"diff_{name}")[1]
        for name in ("noise_lden", "no2")
    }
    main = values_at(diff, grid, *NEAR_MAIN)
    south_ = values_at(diff, grid, *NEAR_SOUTH)
    for name in ("noise_lden", "no2"):
        assert main[name] is not None and main[name] < 0.0, name  # relief by the main street
        assert south_[name] is not None and south_[name] > 0.0, name  # new load by the south one
    # the road layer carries the flows and their change for the viewer
    found = await store.get_layer(sid, "road_network", layers["road_network"]["version"])
    assert found is not None
    feats = {f["id"]: f["properties"] for f in json.loads(found[0])["features"]}
    assert feats["main-ew"]["flow_day"] == 0.0 and feats["main-ew"]["change_pct"] == -100.0
    assert feats["south-ew"]["change_pct"] > 0
    south = feats["south-ew"]
    assert south["time_after_s"] >= south["time_before_s"] > 0  # more traffic, no faster
    assert south["speed_after_kmh"] <= south["speed_before_kmh"]
    assert feats["main-ew"]["time_after_s"] is not None


def test_new_road_ops_parse_and_map_onto_the_district() -> None:
    from greentwin.twin.district import District

    base = District.load_demo(CITYGML)
    lon, lat = base.to_lonlat(np.array([396750.0, 397053.0]), np.array([5819491.0, 5819491.0]))
    line = [[float(lon[0]), float(lat[0])], [float(lon[1]), float(lat[1])]]
    ops = [
        parse_op({"op": "add_road", "id": "bypass", "line": line, "lanes": 2, "speed_kmh": 30}),
        parse_op({"op": "set_oneway", "id": "north-ew", "oneway": "forward"}),
        parse_op({"op": "set_road_traffic", "id": "west-ns", "lanes": 4, "capacity_vph": 1800}),
    ]
    state = ScenarioState()
    for op in ops:
        assert op_from_dict(op_to_dict(op)) == op
        state.check(op)
        state.apply(op)
    district, problems = district_for(base, state)
    assert problems == []
    bypass = district.roads.road("bypass")
    assert bypass.coords[:, 1] == pytest.approx([5819491.0, 5819491.0], abs=0.01)
    assert bypass.lanes == 2 and float(bypass.speeds[0]) == 30.0
    assert district.roads.road("north-ew").direction == "forward"
    west = district.roads.road("west-ns")
    assert west.lanes == 4 and west.extra["capacity_vph"] == 1800
    with pytest.raises(Exception, match="oneway"):
        parse_op({"op": "set_oneway", "id": "north-ew", "oneway": "sideways"})
