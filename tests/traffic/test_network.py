"""Network building: junctions where lines meet, capacities from the class table, one-way."""

from __future__ import annotations

import numpy as np
import pytest
from greentwin.traffic import ROAD_CLASSES, RoadRecord, TrafficError, build_network


def _rec(rid: str, coords: list[list[float]], **kw: object) -> RoadRecord:
    return RoadRecord(rid, np.asarray(coords, dtype=np.float64), **kw)  # type: ignore[arg-type]


def test_crossing_and_t_junctions_become_nodes() -> None:
    roads = [
        _rec("ew", [[0, 0], [200, 0]]),
        _rec("ns", [[100, -100], [100, 100]]),  # crosses ew at (100, 0)
        _rec("t", [[150, 0.6], [150, 80]]),  # ends 0.6 m from ew: a T-junction
    ]
    net = build_network(roads)
    # nodes: ew ends, ns ends, t's far end, and the junctions (100, 0) and (150, 0)
    assert net.n_nodes == 7
    deg = net.degree()
    junction = int(np.argmin(np.hypot(net.xy[:, 0] - 100, net.xy[:, 1])))
    assert deg[junction] == 4
    tee = int(np.argmin(np.hypot(net.xy[:, 0] - 150, net.xy[:, 1])))
    assert deg[tee] == 3
    # ew is cut into 3 pieces, ns into 2, t stays whole: 6 pieces, two-way: 12 links
    assert net.n_links == 12
    ew = [k for k, r in enumerate(net.road) if r == "ew" and net.forward[k]]
    assert sorted(net.length_m[ew].round(6).tolist()) == pytest.approx([50.0, 50.0, 100.0])


def test_capacity_and_free_flow_time_follow_the_class_table() -> None:
    cls = ROAD_CLASSES["secondary"]
    net = build_network(
        [
            _rec("a", [[0, 0], [1000, 0]], highway="secondary", lanes=4),
            _rec("b", [[0, 50], [1000, 50]], highway="secondary", lanes=2, speed_kmh=40.0),
            _rec("c", [[0, 100], [1000, 100]], highway="residential", capacity_vph=450.0),
        ]
    )
    by = {r: k for k, r in enumerate(net.road)}
    assert net.capacity[by["a"]] == 2 * cls.capacity_per_lane  # 4 lanes, 2 per direction
    assert net.free_time_s[by["a"]] == pytest.approx(1000.0 / (cls.speed_kmh / 3.6))
    assert net.capacity[by["b"]] == cls.capacity_per_lane
    assert net.free_time_s[by["b"]] == pytest.approx(1000.0 / (40.0 / 3.6))
    assert net.capacity[by["c"]] == 450.0


def test_one_way_streets_have_one_direction() -> None:
    net = build_network(
        [
            _rec("fwd", [[0, 0], [100, 0]], oneway=1, lanes=2),
            _rec("back", [[0, 10], [100, 10]], oneway=-1),
        ]
    )
    assert net.n_links == 2
    k = net.road.index("fwd")
    assert net.xy[net.a[k], 0] == 0 and net.xy[net.b[k], 0] == 100
    assert net.capacity[k] == 2 * ROAD_CLASSES["residential"].capacity_per_lane
    k = net.road.index("back")
    assert net.xy[net.a[k], 0] == 100 and net.xy[net.b[k], 0] == 0


def test_bad_records_are_refused() -> None:
    with pytest.raises(TrafficError, match="class"):
        _rec("x", [[0, 0], [1, 0]], highway="autobahn")
    with pytest.raises(TrafficError, match="2 finite"):
        _rec("x", [[0, 0]])
    with pytest.raises(TrafficError, match="unique"):
        build_network([_rec("x", [[0, 0], [1, 0]]), _rec("x", [[0, 1], [1, 1]])])
