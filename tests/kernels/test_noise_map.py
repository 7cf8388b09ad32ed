"""The noise map kernel: hand-checked levels, physical invariants, incremental updates, backends."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import cupy_available, get_backend
from greentwin.kernels.noise.compute import (
    NoiseMap,
    NoiseParams,
    NoiseScene,
    Receivers,
    facade_receivers,
    grid_receivers,
)
from greentwin.kernels.noise.emission import A_WEIGHTING, RoadCoefficients, line_emission
from greentwin.kernels.noise.propagation import (
    atmospheric_absorption,
    diffraction,
    ground_over_diffraction,
)
from greentwin.kernels.raster import BuildingFootprint, Grid, building_height_grid
from greentwin.kernels.roads import RoadNetwork
from gt_testing import DATA
from hypothesis import given, settings
from hypothesis import strategies as st

COEFFS = RoadCoefficients.from_dict(
    json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text())
)
FLAT = NoiseParams(reflections=False, max_distance_m=400.0)


def _net(
    *roads: tuple[str, list[list[float]], float], junctions: list[dict[str, Any]] | None = None
) -> RoadNetwork:
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": c},
            "properties": {
                "id": rid,
                "flows": {
                    "day": {"1": q, "3": q * 0.06},
                    "evening": {"1": q / 3},
                    "night": {"1": q / 8},
                },
                "speed_kmh": 50,
            },
        }
        for rid, c, q in roads
    ]
    obj: dict[str, Any] = {"type": "FeatureCollection", "crs": "EPSG:25833", "features": feats}
    if junctions:
        obj["junctions"] = junctions
    return RoadNetwork.from_geojson(obj)


def _receivers(xyz: list[list[float]]) -> Receivers:
    a = np.asarray(xyz, dtype=np.float64)
    return Receivers(a, np.zeros(len(a)), np.zeros((len(a), 2)))


def _box(x0: float, y0: float, x1: float, y1: float, h: float, bid: str = "b") -> BuildingFootprint:
    return BuildingFootprint(bid, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), h)


def _scene(
    buildings: list[BuildingFootprint],
    cell: float = 1.0,
    size: float = 200.0,
    ground: float | None = None,
) -> NoiseScene:
    g = Grid(-size / 2, -size / 2, cell, int(size / cell), int(size / cell))
    gr = None if ground is None else np.full(g.shape, ground)
    return NoiseScene(g, building_height_grid(g, buildings), gr)


def _lday(m: NoiseMap) -> np.ndarray:
    return m.indicators()["L_day"]


def test_full_receiver_level_flat_ground() -> None:
    # one point source: a 10 m road cut once, at (0, 0, 0.05), receiver 50 m away at 4 m
    net = _net(("r", [[0.0, -5.0], [0.0, 5.0]], 1000.0))
    m = NoiseMap.compute(net, COEFFS, _scene([]), _receivers([[50.0, 0.0, 4.0]]), FLAT, "numpy")
    lw = line_emission(COEFFS, net.roads[0])[0] + 10 * math.log10(10.0)  # (8,) point power
    d = math.hypot(50.0, 3.95)
    alpha = atmospheric_absorption(15.0, 70.0)
    # hard ground, d_p = 50 < 30 (z_s + z_r): A_ground,H = A_ground,F = -3 dB
    band = lw - (20 * math.log10(d) + 11.0) - alpha * d + 3.0
    want = 10 * math.log10(np.sum(10 ** ((band + A_WEIGHTING) / 10)))
    assert _lday(m)[0] == pytest.approx(want, abs=1e-6)


def test_double_diffraction_over_a_building() -> None:
    net = _net(("r", [[0.0, -5.0], [0.0, 5.0]], 1000.0))
    scene = _scene([_box(45.0, -40.0, 55.0, 40.0, 10.0)])
    m = NoiseMap.compute(net, COEFFS, scene, _receivers([[99.5, 0.5, 4.0]]), FLAT, "numpy")
    # the profile: K = ceil(d_h / 1 m) + 1 samples at u_k = (k + 1/2) / K d_h
    dh = math.hypot(99.5, 0.5)
    k = math.ceil(dh) + 1
    u = (np.arange(k) + 0.5) / k * dh
    xs = u * 99.5 / dh
    roof = u[(xs >= 45.0) & (xs < 55.0)]
    u1, u2 = roof[0], roof[-1]
    zs, zr, hb = 0.05, 4.0, 10.0
    d = math.hypot(dh, zr - zs)
    l1, e, l3 = math.hypot(u1, hb - zs), u2 - u1, math.hypot(dh - u2, hb - zr)
    delta = l1 + e + l3 - d
    delta_img = l1 + e + math.hypot(dh - u2, hb + zr) - math.hypot(dh, zr + zs)
    gam = max(1000.0, 8 * d)

    def arc(c: float) -> float:
        return 2 * gam * math.asin(c / (2 * gam))

    delta_f = arc(l1) + arc(e) + arc(l3) - arc(d)
    ee = np.array([e])
    dif_h = diffraction(np.array([delta]), ee)[0]
    dif_f = diffraction(np.array([delta_f]), ee)[0]
    dif_i = diffraction(np.array([delta_img]), ee)[0]
    hard = np.full((1, 8), -3.0)
    a_h = np.minimum(dif_h, 25) - 3.0 + ground_over_diffraction(hard, dif_i[None], dif_h[None])[0]
    a_f = np.minimum(dif_f, 25) - 3.0 + ground_over_diffraction(hard, dif_i[None], dif_f[None])[0]
    alpha = atmospheric_absorption(15.0, 70.0)
    base = 20 * math.log10(d) + 11.0 + alpha * d
    lw = line_emission(COEFFS, net.roads[0])[0] + 10.0
    e_band = 0.5 * 10 ** ((lw - base - a_f) / 10) + 0.5 * 10 ** ((lw - base - a_h) / 10)
    want = 10 * math.log10(np.sum(e_band * 10 ** (A_WEIGHTING / 10)))
    assert _lday(m)[0] == pytest.approx(want, abs=1e-6)
    assert e > 5.0 and delta > 1.0


def test_single_edge_thin_wall_is_weaker_than_thick_block() -> None:
    net = _net(("r", [[0.0, -5.0], [0.0, 5.0]], 1000.0))
    rec = _receivers([[99.5, 0.5, 4.0]])
    thin = NoiseMap.compute(
        net, COEFFS, _scene([_box(50.0, -40.0, 51.0, 40.0, 10.0)]), rec, FLAT, "numpy"
    )
    thick = NoiseMap.compute(
        net, COEFFS, _scene([_box(45.0, -40.0, 55.0, 40.0, 10.0)]), rec, FLAT, "numpy"
    )
    free = NoiseMap.compute(net, COEFFS, _scene([]), rec, FLAT, "numpy")
    assert _lday(thick)[0] < _lday(thin)[0] < _lday(free)[0] - 5.0


@settings(max_examples=12)
@given(q=st.floats(10.0, 3000.0), x=st.floats(5.0, 150.0), y=st.floats(-60.0, 60.0))
def test_doubling_the_flow_adds_3_db(q: float, x: float, y: float) -> None:
    scene = _scene([_box(30.0, -20.0, 40.0, 20.0, 12.0)], cell=2.0)
    rec = _receivers([[x, y, 4.0], [-x, y, 4.0]])
    params = NoiseParams(max_distance_m=400.0)
    one = NoiseMap.compute(
        _net(("r", [[0.0, -80.0], [0.0, 80.0]], q)), COEFFS, scene, rec, params, "numpy"
    )
    two = NoiseMap.compute(
        _net(("r", [[0.0, -80.0], [0.0, 80.0]], 2 * q)), COEFFS, scene, rec, params, "numpy"
    )
    for key in ("L_day", "L_evening", "L_night", "L_den"):
        np.testing.assert_allclose(
            two.indicators()[key] - one.indicators()[key], 10 * math.log10(2), atol=1e-9
        )


@settings(max_examples=12)
@given(
    h=st.floats(1.0, 30.0),
    wall_x=st.floats(10.0, 60.0),
    rx=st.floats(70.0, 95.0),
    g=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_a_barrier_never_raises_the_level_behind_it(
    h: float, wall_x: float, rx: float, g: float
) -> None:
    net = _net(("r", [[0.0, -60.0], [0.0, 60.0]], 800.0))
    rec = _receivers([[rx, y, 4.0] for y in (-30.0, 0.0, 17.0)])
    open_ = NoiseMap.compute(net, COEFFS, _scene([], 2.0, ground=g), rec, FLAT, "numpy")
    wall = _scene([_box(wall_x, -100.0, wall_x + 2.0, 100.0, h)], 2.0, ground=g)
    shielded = NoiseMap.compute(net, COEFFS, wall, rec, FLAT, "numpy")
    assert np.all(_lday(shielded) <= _lday(open_) + 1e-9)


@settings(max_examples=12)
@given(d1=st.floats(2.0, 300.0), extra=st.floats(0.5, 90.0), g=st.sampled_from([0.0, 0.5, 1.0]))
def test_more_distance_never_raises_the_level_on_open_ground(
    d1: float, extra: float, g: float
) -> None:
    net = _net(("r", [[0.0, -5.0], [0.0, 5.0]], 1000.0))
    rec = _receivers([[d1, 0.0, 4.0], [d1 + extra, 0.0, 4.0]])
    m = NoiseMap.compute(net, COEFFS, _scene([], 4.0, size=800.0, ground=g), rec, FLAT, "numpy")
    lden = m.indicators()["L_den"]
    assert lden[1] <= lden[0] + 1e-9


def _district() -> tuple[RoadNetwork, NoiseScene, list[BuildingFootprint]]:
    net = _net(
        ("a", [[-90.0, 0.0], [90.0, 0.0]], 1000.0),
        ("b", [[0.0, -90.0], [0.0, 90.0]], 200.0),
        ("c", [[-90.0, 50.0], [90.0, 55.0]], 300.0),
        junctions=[{"x": 0.0, "y": 0.0, "type": 1}],
    )
    bld = [
        _box(10.0, 10.0, 40.0, 30.0, 15.0, "b1"),
        _box(-45.0, 12.0, -12.0, 35.0, 20.0, "b2"),
        _box(15.0, -40.0, 50.0, -12.0, 12.0, "b3"),
        _box(-60.0, -35.0, -15.0, -10.0, 18.0, "b4"),
    ]
    return net, _scene(bld, cell=4.0), bld


def test_incremental_road_change_matches_full_recompute() -> None:
    net, scene, _ = _district()
    rec, _ = grid_receivers(scene)
    params = NoiseParams(max_distance_m=60.0, source_spacing_m=8.0)
    m = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    old_b, old_c = net.road("b"), net.road("c")
    new_b = old_b.with_flows(old_b.flows * np.array([[3.0, 1, 0.5, 1, 1]] * 3))
    moved_c = type(old_c)(
        id="c", coords=old_c.coords + np.array([0.0, 8.0]), flows=old_c.flows, speeds=old_c.speeds
    )
    touched = m.update_roads([old_b, old_c], [new_b, moved_c])
    assert 0 < len(touched) < len(rec)  # receivers beyond the cutoff are left alone
    full = NoiseMap.compute(
        net.with_road(new_b).with_road(moved_c), COEFFS, scene, rec, params, "numpy"
    )
    for key, val in full.indicators().items():
        np.testing.assert_allclose(m.indicators()[key], val, atol=0.01)
    # remove a road, then add it back
    m.update_roads([m.network.road("a")], [])
    m.update_roads([], [net.road("a")])
    for key, val in full.indicators().items():
        np.testing.assert_allclose(m.indicators()[key], val, atol=0.01)


def test_incremental_barrier_matches_full_recompute() -> None:
    net, scene, bld = _district()
    rec, _ = grid_receivers(scene)
    params = NoiseParams(max_distance_m=60.0, source_spacing_m=8.0)
    m = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    barrier = _box(60.0, 1.0, 90.0, 5.0, 4.0, "wall")  # covers the cell centres at y = 2 m
    new_scene = NoiseScene(scene.grid, building_height_grid(scene.grid, [*bld, barrier]))
    touched = m.update_scene(new_scene)
    assert 0 < len(touched) < len(rec)
    full = NoiseMap.compute(net, COEFFS, new_scene, rec, params, "numpy")
    np.testing.assert_allclose(m.indicators()["L_den"], full.indicators()["L_den"], atol=0.01)


def test_facade_receivers_most_exposed() -> None:
    net, scene, bld = _district()
    fr = facade_receivers(bld, scene, spacing_m=5.0)
    assert len(fr.receivers) > 40
    _row, _col = scene.grid.index(fr.receivers.xyz[:, 0], fr.receivers.xyz[:, 1])
    m = NoiseMap.compute(
        net, COEFFS, scene, fr.receivers, NoiseParams(max_distance_m=150.0), "numpy"
    )
    lden = m.indicators()["L_den"]
    most = {bid: float(lden[fr.building == i].max()) for i, bid in enumerate(fr.building_ids)}
    assert set(most) == {"b1", "b2", "b3", "b4"}
    assert all(50.0 < v < 85.0 for v in most.values())
    # the facade facing road a is the most exposed one of b1 (its south wall, y = 10)
    b1 = fr.building == 0
    assert fr.receivers.xyz[b1][np.argmax(lden[b1]), 1] == pytest.approx(9.9)


def test_backend_selection() -> None:
    assert get_backend("numpy").name == "numpy"
    with pytest.raises(KernelError):
        get_backend("tpu")
    if not cupy_available():
        with pytest.raises(KernelError):
            get_backend("cupy")
        assert get_backend("auto").name == "numpy"


@pytest.mark.gpu
def test_numpy_and_cupy_agree() -> None:
    net, scene, _bld = _district()
    rec, _ = grid_receivers(scene)
    params = NoiseParams(max_distance_m=120.0, source_spacing_m=8.0)
    a = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    b = NoiseMap.compute(net, COEFFS, scene, rec, params, "cupy")
    assert b.backend.name == "cupy"
    assert isinstance(b.energy, np.ndarray)
    for key, val in a.indicators().items():
        np.testing.assert_allclose(b.indicators()[key], val, atol=0.1)
    new_b = net.road("b").with_flows(net.road("b").flows * 2)
    a.update_roads([net.road("b")], [new_b])
    b.update_roads([net.road("b")], [new_b])
    np.testing.assert_allclose(b.indicators()["L_den"], a.indicators()["L_den"], atol=0.1)
