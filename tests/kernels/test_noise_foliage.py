"""Noise through foliage: ISO 9613-2 Annex A, Table A.1, per band, through the map kernels;
leaf state on a date; the diffracted path; incremental tree changes; the two modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import get_backend
from greentwin.kernels.noise.compute import (
    KERNELS,
    NoiseMap,
    NoiseParams,
    NoiseScene,
    SourceSet,
    _scene_arrays,
    grid_receivers,
)
from greentwin.kernels.noise.emission import RoadCoefficients
from greentwin.kernels.noise.foliage import (
    LEAFLESS_DENSITY,
    crown_raster,
    crowns_from_states,
    foliage_density,
)
from greentwin.kernels.raster import CrownRaster, Grid
from greentwin.kernels.roads import RoadNetwork
from gt_testing import DATA

COEFFS = RoadCoefficients.from_dict(
    json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text())
)
# ISO 9613-2:1996, Annex A, Table A.1 (63 Hz .. 8 kHz)
SHORT_DB = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0])  # 10 m <= d_f < 20 m
PER_M_DB = np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12])  # 20 m <= d_f <= 200 m


def table_a1(df: float) -> np.ndarray:
    if df < 10.0:
        return np.zeros(8)
    if df < 20.0:
        return SHORT_DB.copy()
    return PER_M_DB * min(df, 200.0)


GRID = Grid(-10.0, -10.0, 1.0, 420, 20)


def _band(x0: float, width: float, density: float, base: float = 0.0, top: float = 30.0):
    """Crowns filling x0 <= x < x0 + width across the whole grid."""
    xs = GRID.xs()
    cols = (xs >= x0) & (xs < x0 + width)
    b = np.zeros(GRID.shape)
    t = np.zeros(GRID.shape)
    d = np.zeros(GRID.shape)
    b[:, cols], t[:, cols], d[:, cols] = base, top, density
    return CrownRaster(b, t, d)


def _attenuation(
    engine: str, crowns: CrownRaster, heights: np.ndarray | None = None, rx: float = 300.0
) -> np.ndarray:
    """Foliage attenuation (dB per band) on one path S (0, 0, 0.05) -> R (rx, 0, 4)."""
    h = np.zeros(GRID.shape) if heights is None else heights
    params = NoiseParams(reflections=False, max_distance_m=400.0, foliage=True)
    be = get_backend("numpy")
    src = SourceSet(
        np.array([[0.0, 0.0, 0.05]]), np.ones((1, 1, 8)), np.zeros((1, 3)), np.zeros(1, bool)
    )
    rec = (np.array([[rx, 0.0, 4.0]]), np.zeros(1), np.zeros((1, 2)))
    kernel = KERNELS["reference" if engine == "numpy" else engine]
    e = []
    for cr in (None, crowns):
        sa = _scene_arrays(NoiseScene(GRID, h, None, cr), be.xp, True)
        e.append(np.asarray(kernel(*rec, src, sa, params))[0, 0])
    return np.asarray(10.0 * np.log10(e[0] / e[1]))


@pytest.mark.parametrize("engine", ["numpy", "numba"])
@pytest.mark.parametrize("width", [5.0, 15.0, 50.0, 120.0, 250.0])
def test_table_a1_per_band_through_the_kernel(engine: str, width: float) -> None:
    a = _attenuation(engine, _band(20.0, width, 1.0))
    # the path's samples are ~1 m apart: d_f is known to within one sample
    lo, hi = table_a1(width - 1.0), table_a1(width + 1.0)
    assert np.all(a >= np.minimum(lo, hi) - 1e-9) and np.all(a <= np.maximum(lo, hi) + 1e-9)
    if width in (15.0, 250.0):  # inside a flat stretch of the table: exact per band
        np.testing.assert_allclose(a, table_a1(width), atol=1e-9)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_leafless_crowns_count_as_branches(engine: str) -> None:
    width = 60.0
    leafy = _attenuation(engine, _band(30.0, width, float(foliage_density(1.0))))
    bare = _attenuation(engine, _band(30.0, width, float(foliage_density(0.0))))
    assert foliage_density(0.0) == pytest.approx(LEAFLESS_DENSITY)
    np.testing.assert_allclose(leafy, table_a1(width), atol=PER_M_DB[-1] + 1e-9)
    # branches only: 0.2 x 60 m = 12 m of dense foliage -> the 10-20 m row
    np.testing.assert_allclose(bare, table_a1(LEAFLESS_DENSITY * width), atol=1e-9)
    assert np.all(bare <= leafy)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_diffracted_path_passes_over_low_crowns(engine: str) -> None:
    """A building blocks the line of sight: the sound goes over the roof, above crowns
    that the straight line would cross (0-5 m high, 30-50 m from the source)."""
    h = np.zeros(GRID.shape)
    xs = GRID.xs()
    h[:, (xs >= 50.0) & (xs < 60.0)] = 10.0
    low = _attenuation(engine, _band(30.0, 20.0, 1.0, base=0.0, top=5.0), h, rx=100.0)
    np.testing.assert_allclose(low, 0.0, atol=1e-9)
    # crowns up to 12 m are on the diffracted path (S -> roof edge rises from 6 to 10 m)
    tall = _attenuation(engine, _band(30.0, 20.0, 1.0, base=0.0, top=12.0), h, rx=100.0)
    assert np.all(tall >= table_a1(19.0) - 1e-9) and tall[-1] > 0


def test_crowns_from_states_on_a_date() -> None:
    crowns = crowns_from_states(
        xy=[[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]],
        height_m=[12.0, 12.0, 12.0],
        crown_height_m=[8.0, 8.0, 8.0],
        crown_diameter_m=[6.0, 6.0, 6.0],
        leaf_fraction=[1.0, 0.0, 0.5],
        standing=[True, True, False],
    )
    assert len(crowns) == 2
    assert (crowns[0].base_m, crowns[0].top_m, crowns[0].radius_m) == (4.0, 12.0, 3.0)
    assert crowns[0].density == 1.0
    assert crowns[1].density == pytest.approx(LEAFLESS_DENSITY)
    r = crown_raster(Grid(-5.0, -5.0, 1.0, 30, 10), crowns)
    assert r.top.max() == 12.0 and r.density.max() == 1.0
    with pytest.raises(KernelError):
        crowns_from_states([[0, 0]], [1.0, 2.0], [1.0], [1.0], [1.0], [True])


def _street() -> tuple[RoadNetwork, NoiseScene]:
    feat = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[-150.0, 0.0], [150.0, 0.0]]},
        "properties": {"id": "main", "flows": {"day": {"1": 1200.0, "3": 60.0}}, "speed_kmh": 50},
    }
    net = RoadNetwork.from_geojson(
        {"type": "FeatureCollection", "crs": "EPSG:25833", "features": [feat]}
    )
    grid = Grid(-60.0, -10.0, 2.0, 60, 40)
    return net, NoiseScene(grid, np.zeros(grid.shape))


def _row_of_trees(leaf_fraction: float, n: int = 25) -> list:
    """Mature trees every 5 m, 12 m crowns from 1 m up, 12 m from the road."""
    x = np.linspace(-60.0, 60.0, n)
    return crowns_from_states(
        np.column_stack([x, np.full(n, 12.0)]),
        np.full(n, 14.0),
        np.full(n, 13.0),
        np.full(n, 12.0),
        np.full(n, leaf_fraction),
        np.ones(n, bool),
    )


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_row_of_trees_summer_winter_and_cnossos(engine: str) -> None:
    net, scene = _street()
    rec, _ = grid_receivers(scene)
    behind = rec.xyz[:, 1] > 25.0
    summer = NoiseScene(
        scene.grid, scene.heights, crowns=crown_raster(scene.grid, _row_of_trees(1))
    )
    winter = NoiseScene(
        scene.grid, scene.heights, crowns=crown_raster(scene.grid, _row_of_trees(0))
    )
    kw = {"reflections": False, "max_distance_m": 200.0, "source_spacing_m": 5.0}
    veg = NoiseParams.for_mode("vegetation", **kw)
    end = NoiseParams.for_mode("cnossos", **kw)
    lden = {}
    for name, sc, prm in (
        ("bare", scene, veg),
        ("summer", summer, veg),
        ("winter", winter, veg),
        ("cnossos", summer, end),
    ):
        lden[name] = NoiseMap.compute(net, COEFFS, sc, rec, prm, engine).indicators()["L_den"]
    drop_summer = lden["bare"][behind] - lden["summer"][behind]
    drop_winter = lden["bare"][behind] - lden["winter"][behind]
    assert drop_summer.mean() > 0.2 and drop_summer.max() > 1.0
    assert np.all(drop_winter <= drop_summer + 1e-9) and drop_winter.mean() < drop_summer.mean()
    np.testing.assert_allclose(lden["cnossos"], lden["bare"], atol=1e-9)
    # in front of the row (between road and trees) nothing changes
    front = rec.xyz[:, 1] < 5.0
    assert np.max(np.abs(lden["bare"][front] - lden["summer"][front])) < 0.05
    with pytest.raises(KernelError):
        NoiseParams.for_mode("nordic")


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_planting_updates_only_crossed_paths_and_matches_full(engine: str) -> None:
    net, scene = _street()
    rec, _ = grid_receivers(scene)
    prm = NoiseParams.for_mode("vegetation", max_distance_m=80.0, source_spacing_m=5.0)
    m = NoiseMap.compute(net, COEFFS, scene, rec, prm, engine)
    planted = NoiseScene(
        scene.grid, scene.heights, crowns=crown_raster(scene.grid, _row_of_trees(1.0, 5)[:2])
    )
    before = m.indicators()["L_den"].copy()
    touched = m.update_scene(planted)
    full = NoiseMap.compute(net, COEFFS, planted, rec, prm, engine)
    np.testing.assert_allclose(m.indicators()["L_den"], full.indicators()["L_den"], atol=1e-6)
    # the receivers reported are those whose level changed, behind the two trees only
    changed = np.flatnonzero(np.abs(full.indicators()["L_den"] - before) > 1e-9)
    assert 0 < len(changed) <= len(touched) < len(rec) // 3
    assert set(changed) <= set(touched.tolist())
    # a larger crown (pruning undone, growth) and removal again match a full recompute
    bigger = NoiseScene(
        scene.grid, scene.heights, crowns=crown_raster(scene.grid, _row_of_trees(1.0, 9)[:3])
    )
    m.update_scene(bigger)
    full = NoiseMap.compute(net, COEFFS, bigger, rec, prm, engine)
    np.testing.assert_allclose(m.indicators()["L_den"], full.indicators()["L_den"], atol=1e-6)
    m.update_scene(scene)
    back = NoiseMap.compute(net, COEFFS, scene, rec, prm, engine)
    np.testing.assert_allclose(m.indicators()["L_den"], back.indicators()["L_den"], atol=1e-6)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_pair_selection_by_box(engine: str) -> None:
    """Only the pairs whose path crosses the box are summed (an image source's too)."""
    params = NoiseParams(reflections=False, max_distance_m=400.0)
    be = get_backend("numpy")
    src = SourceSet(
        np.array([[0.0, 0.0, 0.05], [0.0, 10.0, 0.05]]),
        np.ones((2, 1, 8)),
        np.zeros((2, 3)),
        np.zeros(2, bool),
    )
    rec = (np.array([[100.0, 0.0, 4.0]]), np.zeros(1), np.zeros((1, 2)))
    sa = _scene_arrays(NoiseScene(GRID, np.zeros(GRID.shape)), be.xp, False)
    kernel = KERNELS["reference" if engine == "numpy" else engine]
    both = np.asarray(kernel(*rec, src, sa, params))[0, 0]
    first = np.asarray(kernel(*rec, src, sa, params, box=(40.0, -1.0, 60.0, 1.0)))[0, 0]
    none = np.asarray(kernel(*rec, src, sa, params, box=(40.0, 20.0, 60.0, 30.0)))[0, 0]
    one = SourceSet(src.xyz[:1], src.power[:1], src.plane[:1], src.is_image[:1])
    np.testing.assert_allclose(first, np.asarray(kernel(*rec, one, sa, params))[0, 0])
    assert np.all(first < both) and np.all(none == 0.0)
