"""Air maps over a grid: invariants, canyons, incremental updates, backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.air.compute import AirConfig, AirMap, Backgrounds
from greentwin.kernels.air.dispersion import WindRose
from greentwin.kernels.raster import Grid
from greentwin.kernels.roads import Road, RoadNetwork
from hypothesis import given
from hypothesis import strategies as st

GRID = Grid(0.0, 0.0, 10.0, 30, 20)
FAST = AirConfig(reach_m=300.0, spacing_m=10.0)


def feature(
    rid: str, coords: list[list[float]], light: float = 800.0, heavy: float = 40.0, **props: Any
) -> dict[str, Any]:
    flows = {
        p: {"1": light * s, "3": heavy * s}
        for p, s in (("day", 1.0), ("evening", 0.5), ("night", 0.2))
    }
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {"id": rid, "flows": flows, "speed_kmh": 50, **props},
    }


def network(*feats: dict[str, Any]) -> RoadNetwork:
    return RoadNetwork.from_geojson(
        {"type": "FeatureCollection", "crs": "EPSG:25833", "features": list(feats)}
    )


def base_network() -> RoadNetwork:
    return network(
        feature("a", [[-50.0, 100.0], [350.0, 100.0]]),
        feature("b", [[150.0, -50.0], [150.0, 250.0]], light=400.0, heavy=10.0),
        feature(
            "c",
            [[20.0, 180.0], [120.0, 160.0]],
            canyon=True,
            street_type=3,
            width_m=12.0,
            tree_factor=1.25,
        ),
    )


def test_zero_traffic_gives_background() -> None:
    net = network(feature("a", [[0.0, 100.0], [300.0, 100.0]], light=0.0, heavy=0.0))
    bg = Backgrounds()
    maps = AirMap(GRID, net, FAST, backend="numpy").maps()
    np.testing.assert_allclose(maps["no2"], bg.no2)
    np.testing.assert_allclose(maps["pm10"], bg.pm10)
    np.testing.assert_allclose(maps["nox"], bg.nox)


def test_closed_road_gives_background() -> None:
    net = network(feature("a", [[0.0, 100.0], [300.0, 100.0]], closed=True))
    maps = AirMap(GRID, net, FAST, backend="numpy").maps()
    np.testing.assert_allclose(maps["pm10"], Backgrounds().pm10)


@given(st.floats(1.0, 3000.0), st.floats(1.01, 5.0), st.floats(0.0, 0.5))
def test_more_traffic_never_lowers(light: float, factor: float, heavy_share: float) -> None:
    grid = Grid(0.0, 0.0, 20.0, 12, 8)
    cfg = AirConfig(reach_m=200.0, spacing_m=20.0)

    def run(scale: float) -> dict[str, np.ndarray]:
        net = network(
            feature(
                "a",
                [[0.0, 80.0], [240.0, 80.0]],
                light=light * scale,
                heavy=light * heavy_share * scale,
            ),
            feature(
                "c", [[60.0, 0.0], [60.0, 160.0]], light=light * scale, canyon=True, street_type=2
            ),
        )
        return AirMap(grid, net, cfg, backend="numpy").maps()

    low, high = run(1.0), run(factor)
    for key in ("no2", "pm10", "nox", "pm25"):
        assert np.all(high[key] >= low[key] - 1e-12), key


def test_concentration_falls_with_distance_on_open_ground() -> None:
    net = network(feature("a", [[-400.0, 5.0], [700.0, 5.0]]))
    grid = Grid(0.0, 0.0, 5.0, 60, 60)
    m = AirMap(grid, net, AirConfig(reach_m=500.0), backend="numpy").maps()
    col = m["no2"][:, 30]  # north of the road, going away from it
    assert np.all(np.diff(col[2:]) < 0)
    assert col[2] > col[-1] > Backgrounds().no2


def test_canyon_zone_uses_srm1_and_trees_raise_it() -> None:
    def pm_at(tree: float) -> float:
        net = network(
            feature(
                "c",
                [[0.0, 100.0], [300.0, 100.0]],
                canyon=True,
                street_type=3,
                width_m=10.0,
                tree_factor=tree,
            )
        )
        m = AirMap(GRID, net, FAST, backend="numpy")
        return float(m.increments()[11, 15, 2])  # 15 m north of the axis

    assert pm_at(1.5) == pytest.approx(1.5 * pm_at(1.0), rel=1e-9)


def test_deposition_lowers_pm_under_canopy_only() -> None:
    net = base_network()
    lai = np.zeros(GRID.shape)
    lai[5:10, 5:10] = 4.0
    plain = AirMap(GRID, net, FAST, backend="numpy").maps()
    green = AirMap(GRID, net, FAST, lai=lai, backend="numpy").maps()
    ratio = green["pm10"] / plain["pm10"]
    assert np.all(ratio[5:10, 5:10] < 1.0) and np.all(ratio[5:10, 5:10] > 0.9)
    np.testing.assert_array_equal(green["pm10"][lai == 0], plain["pm10"][lai == 0])
    np.testing.assert_array_equal(green["no2"], plain["no2"])


@pytest.mark.parametrize("method", ["empirical", "photostationary"])
def test_incremental_update_equals_full_recompute(method: str) -> None:
    cfg = AirConfig(reach_m=150.0, spacing_m=10.0, no2_method=method)  # type: ignore[arg-type]
    net = base_network()
    m = AirMap(GRID, net, cfg, backend="numpy")
    m.compute()
    old_a, old_c = net.road("a"), net.road("c")
    new_a = old_a.with_flows(np.asarray(old_a.flows) * 2.5)
    new_c = network(
        feature(
            "c",
            [[20.0, 180.0], [140.0, 150.0]],
            light=50.0,
            canyon=True,
            street_type=1,
            width_m=8.0,
        )
    ).roads[0]
    window = m.update_roads([old_a, old_c], [new_a, new_c])
    assert window is not None
    # the change touches only the receivers within reach: the far corner stays put
    full = AirMap(GRID, net.with_road(new_a).with_road(new_c), cfg, backend="numpy")
    got, want = m.maps(), full.maps()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=0)
    # removing and re-adding a road round-trips
    m.update_roads([new_a], [])
    m.update_roads([], [new_a])
    np.testing.assert_allclose(m.maps()["nox"], want["nox"], rtol=1e-6)


def test_update_touches_only_window_within_reach() -> None:
    grid = Grid(0.0, 0.0, 10.0, 100, 10)
    cfg = AirConfig(reach_m=100.0, spacing_m=10.0)
    net = network(
        feature("a", [[20.0, 50.0], [80.0, 50.0]]), feature("z", [[900.0, 50.0], [980.0, 50.0]])
    )
    m = AirMap(grid, net, cfg, backend="numpy")
    before = m.increments()
    window = m.update_roads([net.road("a")], [net.road("a").with_flows(np.zeros((3, 5)))])
    assert window is not None
    _rows, cols = window
    assert cols.stop <= 20  # 80 m + 100 m reach -> column 18
    after = m.increments()
    np.testing.assert_array_equal(after[:, 30:], before[:, 30:])
    assert np.all(after[:, : cols.start] == before[:, : cols.start])


def test_update_errors() -> None:
    net = base_network()
    m = AirMap(GRID, net, FAST, backend="numpy")
    ghost = Road(
        id="ghost",
        coords=np.array([[0.0, 0.0], [1.0, 1.0]]),
        flows=np.zeros((3, 5)),
        speeds=np.full(5, 50.0),
    )
    with pytest.raises(KernelError):
        m.update_roads([ghost], [])
    with pytest.raises(KernelError):
        m.update_roads([], [net.road("a")])
    with pytest.raises(KernelError):
        AirMap(GRID, net, FAST, lai=np.zeros((2, 2)), backend="numpy")


def test_wind_rose_shifts_the_plume() -> None:
    f = [0.0] * 12
    f[9] = 1.0  # always from the west
    cfg = AirConfig(reach_m=300.0, spacing_m=10.0, wind_rose=WindRose(tuple(f), (3.0,) * 12))
    net = network(feature("b", [[150.0, -50.0], [150.0, 250.0]]))
    inc = AirMap(GRID, net, cfg, backend="numpy").increments()[..., 0]
    assert inc[10, 20] > 0 and inc[10, 10] == 0  # east of the road only


def test_backends_agree(xp: Any) -> None:
    """NumPy reference vs the same kernel on the array module ``xp`` (CuPy: gpu)."""
    net = base_network()
    lai = np.zeros(GRID.shape)
    lai[3:8, 12:18] = 3.0
    ref = AirMap(GRID, net, FAST, lai=lai, backend="numpy").maps()
    name = "cupy" if xp.__name__ == "cupy" else "numpy"
    got = AirMap(GRID, net, FAST, lai=lai, backend=name)  # type: ignore[arg-type]
    assert got.backend == name
    for key, val in got.maps().items():
        assert isinstance(val, np.ndarray)
        np.testing.assert_allclose(val, ref[key], rtol=1e-9)
