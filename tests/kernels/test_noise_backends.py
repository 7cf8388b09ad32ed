"""The noise kernel's engines agree: numba (CPU) and CUDA against the vectorised reference."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import cupy_available, get_backend
from greentwin.kernels.noise.compute import (
    NoiseMap,
    NoiseParams,
    NoiseScene,
    Receivers,
    _fast_args,
    _scene_arrays,
    facade_receivers,
    grid_receivers,
    resolve_backend,
    road_sources,
)
from greentwin.kernels.noise.cuda import BLOCK, CUDA_SOURCE, KERNEL_NAME, kmax_for, launch_args
from greentwin.kernels.noise.emission import RoadCoefficients
from greentwin.kernels.raster import BuildingFootprint, CrownRaster, Grid, building_height_grid
from greentwin.kernels.roads import RoadNetwork
from gt_testing import CITYGML, DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

COEFFS = RoadCoefficients.from_dict(
    json.loads((DATA / "noise" / "cnossos_road_coefficients.json").read_text())
)
TOL_DB = 0.1
gpu = pytest.mark.skipif(not cupy_available(), reason="CuPy with an NVIDIA GPU is not available")


def _net(roads: list[tuple[str, list[list[float]], float]]) -> RoadNetwork:
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": c},
            "properties": {
                "id": rid,
                "flows": {"day": {"1": q, "3": q * 0.08}, "night": {"1": q / 8, "2": q / 50}},
                "speed_kmh": 50,
            },
        }
        for rid, c, q in roads
    ]
    return RoadNetwork.from_geojson(
        {
            "type": "FeatureCollection",
            "crs": "EPSG:25833",
            "features": feats,
            "junctions": [{"x": 0.0, "y": 0.0, "type": 1}],
        }
    )


def _box(x0: float, y0: float, w: float, d: float, h: float, bid: str) -> BuildingFootprint:
    ring = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + d], [x0, y0 + d]])
    return BuildingFootprint(bid, ring, h)


def _assert_same_levels(a: NoiseMap, b: NoiseMap, tol: float = TOL_DB) -> None:
    ia, ib = a.indicators(), b.indicators()
    for key in ("L_day", "L_evening", "L_night", "L_den"):
        x, y = ia[key], ib[key]
        np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y))
        fin = np.isfinite(x)
        np.testing.assert_allclose(y[fin], x[fin], atol=tol, err_msg=key)


@st.composite
def scenes(draw: Any) -> tuple[RoadNetwork, NoiseScene, Receivers, NoiseParams]:
    """Small random districts: boxes, roads, ground, crowns, grid and facade receivers."""
    cell = draw(st.sampled_from([2.0, 2.5, 4.0]))
    size = 160.0
    n = round(size / cell)
    grid = Grid(-size / 2, -size / 2, cell, n, n)
    boxes = [
        _box(
            draw(st.floats(-70.0, 40.0)),
            draw(st.floats(-70.0, 40.0)),
            draw(st.floats(cell, 30.0)),
            draw(st.floats(cell, 30.0)),
            draw(st.floats(2.0, 30.0)),
            f"b{k}",
        )
        for k in range(draw(st.integers(0, 4)))
    ]
    heights = building_height_grid(grid, boxes)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    ground_kind = draw(st.sampled_from(["hard", "constant", "raster"]))
    ground = None
    ground_g = 0.0
    if ground_kind == "constant":
        ground_g = draw(st.sampled_from([0.3, 1.0]))
    elif ground_kind == "raster":
        ground = np.where(rng.random(grid.shape) < 0.5, 1.0, 0.0)
    crowns = None
    foliage = draw(st.booleans())
    if foliage:
        yy, xx = np.mgrid[0:n, 0:n]
        blob = (np.hypot(xx - n * 0.6, yy - n * 0.4) < n * 0.2) & (heights <= 0)
        crowns = CrownRaster(
            np.where(blob, 2.0, 0.0), np.where(blob, 14.0, 0.0), np.where(blob, 0.8, 0.0)
        )
    scene = NoiseScene(grid, heights, ground, crowns)
    roads = []
    for k in range(draw(st.integers(1, 2))):
        a = [draw(st.floats(-75.0, 75.0)), draw(st.floats(-75.0, 75.0))]
        b = [draw(st.floats(-75.0, 75.0)), draw(st.floats(-75.0, 75.0))]
        if np.hypot(a[0] - b[0], a[1] - b[1]) < 5.0:
            b = [a[0] + 20.0, a[1]]
        roads.append((f"r{k}", [a, b], draw(st.floats(50.0, 2000.0))))
    rec, _ = grid_receivers(scene)
    take = rng.choice(len(rec), size=min(len(rec), 60), replace=False)
    xyz = rec.xyz[take]
    skip, nrm = rec.skip_m[take], rec.facade_n[take]
    if boxes:
        fr = facade_receivers(boxes, scene, spacing_m=6.0).receivers
        xyz = np.concatenate([xyz, fr.xyz])
        skip = np.concatenate([skip, fr.skip_m])
        nrm = np.concatenate([nrm, fr.facade_n])
    params = NoiseParams(
        max_distance_m=draw(st.sampled_from([60.0, 120.0])),
        source_spacing_m=draw(st.sampled_from([5.0, 8.0])),
        ground_g=ground_g,
        reflections=draw(st.booleans()),
        foliage=foliage,
        profile_step_m=draw(st.sampled_from([None, cell * 0.5, cell * 1.5])),
        # small chunks in the reference: the result must not depend on the chunking
        pair_budget=draw(st.sampled_from([4_000_000, 2_000])),
    )
    return _net(roads), scene, Receivers(xyz, skip, nrm), params


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenes())
def test_numba_matches_reference_on_random_scenes(
    case: tuple[RoadNetwork, NoiseScene, Receivers, NoiseParams],
) -> None:
    net, scene, rec, params = case
    ref = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    fast = NoiseMap.compute(net, COEFFS, scene, rec, params, "numba")
    assert (ref.engine, fast.engine) == ("reference", "numba")
    _assert_same_levels(ref, fast)


def _demo() -> tuple[RoadNetwork, NoiseScene, Receivers]:
    from greentwin.twin.district import District, obstacle_heights

    d = District.load_demo(CITYGML)
    buildings, heights = obstacle_heights(d)
    rec, _ = grid_receivers(NoiseScene(d.grid, buildings))
    sub = slice(0, None, 9)  # every 9th receiver: the reference takes ~1 s for these
    return (
        d.roads,
        NoiseScene(d.grid, heights),
        Receivers(rec.xyz[sub], rec.skip_m[sub], rec.facade_n[sub]),
    )


def test_numba_matches_reference_on_the_demo_scene() -> None:
    net, scene, rec = _demo()
    ref = NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "numpy")
    fast = NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "cpu")
    _assert_same_levels(ref, fast)
    # the same arithmetic up to rounding: not merely within the tolerance
    diff = np.abs(fast.indicators()["L_den"] - ref.indicators()["L_den"])
    assert float(np.median(diff)) < 1e-6
    assert float(np.min(ref.indicators()["L_den"])) > 20.0


def test_numba_incremental_road_change_matches_full_recompute() -> None:
    net, scene, rec = _demo()
    params = NoiseParams()
    m = NoiseMap.compute(net, COEFFS, scene, rec, params, "numba")
    old = net.roads[0]
    moved = type(old)(
        id=old.id, coords=old.coords + np.array([4.0, -3.0]), flows=old.flows, speeds=old.speeds
    )
    louder = net.roads[1].with_flows(net.roads[1].flows * 2.0)
    touched = m.update_roads([old, net.roads[1]], [moved, louder])
    assert len(touched) > 0
    full = NoiseMap.compute(
        net.with_road(moved).with_road(louder), COEFFS, scene, rec, params, "numba"
    )
    for key, val in full.indicators().items():
        np.testing.assert_allclose(m.indicators()[key], val, atol=0.01)


def test_numba_kernel_from_several_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    net, scene, rec = _demo()
    with ThreadPoolExecutor(max_workers=3) as pool:
        maps = list(
            pool.map(
                lambda _: NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "numba"),
                range(3),
            )
        )
    for m in maps[1:]:
        np.testing.assert_array_equal(m.energy, maps[0].energy)


def test_backend_names_resolve_once() -> None:
    assert resolve_backend("numpy")[1] == "reference"
    assert resolve_backend("numba")[1] == "numba"
    assert resolve_backend("cpu") == (get_backend("numpy"), "numba")
    assert resolve_backend(get_backend("numpy"))[1] == "numba"
    with pytest.raises(KernelError):
        resolve_backend("fortran")
    if not cupy_available():
        assert resolve_backend("auto")[1] == "numba"
        with pytest.raises(KernelError):
            resolve_backend("cupy")
    else:
        assert resolve_backend("auto")[1] == "cuda"


# --------------------------------------------------------------------------- CUDA source
# The CUDA C source is also compiled as host C++ with a small shim (thread indices as
# globals, a plain atomicAdd), so its physics is checked on machines without a GPU.
_HOST_SHIM = r"""
#include <cmath>
#define __global__
#define __device__ static
struct GtDim3 { unsigned int x, y, z; };
static GtDim3 blockIdx, blockDim, threadIdx;
static double atomicAdd(double* a, double v) { double o = *a; *a += v; return o; }
extern "C" void gt_set_thread(int bx, int by, int tx, int bdim) {
    blockIdx.x = bx; blockIdx.y = by; threadIdx.x = tx; blockDim.x = bdim;
}
"""


_HOST_LIBS: dict[int, ctypes.CDLL] = {}


def _host_library(tmp: Path, kmax: int) -> ctypes.CDLL:
    """The CUDA source built as a host shared library (one per KMAX, cached)."""
    if kmax in _HOST_LIBS:
        return _HOST_LIBS[kmax]
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    src = tmp / f"noise_host_{kmax}.cpp"
    src.write_text(_HOST_SHIM + CUDA_SOURCE)
    lib = tmp / f"noise_host_{kmax}.so"
    subprocess.run(
        [
            *(cxx, "-O1", "-std=c++14", "-shared", "-fPIC", "-ffp-contract=off"),
            *(f"-DKMAX={kmax}", str(src), "-o", str(lib)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    _HOST_LIBS[kmax] = ctypes.CDLL(str(lib))
    return _HOST_LIBS[kmax]


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cuda_host")


def _compare_host_with_reference(
    tmp: Path, net: RoadNetwork, scene: NoiseScene, rec: Receivers, params: NoiseParams
) -> int:
    """Host build of the CUDA kernel vs the reference, per source set; pairs reached."""
    step = params.profile_step_m or scene.grid.cell
    lib = _host_library(tmp, kmax_for(params.max_distance_m, step))
    sa = _scene_arrays(scene, np, params.foliage)
    be = get_backend("numpy")
    m = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    reached = 0
    for road in net.roads:
        for sources in road_sources(road, net, COEFFS, scene, params, be)[:2]:
            if len(sources) == 0:
                continue
            ref = m._transfer(sources, np.arange(len(rec)), scene).reshape(len(rec), -1)
            got = _host_energy(lib, rec, _fast_args(sources, sa, params))
            pos = ref > 0
            np.testing.assert_array_equal(got > 0, pos)
            db = 10 * np.log10(got[pos] / ref[pos])
            assert float(np.abs(db).max(initial=0.0)) < TOL_DB
            reached += int((ref.sum(axis=1) > 0).sum())
    return reached


def _host_energy(
    lib: ctypes.CDLL, rec: Receivers, args: tuple[Any, ...]
) -> npt.NDArray[np.float64]:
    """Run the CUDA source's kernel on the host, block by block and thread by thread.

    The arguments are those :func:`launch_args` prepares for CuPy, built with NumPy.
    """
    argv, (gx, gy), _kmax = launch_args(np, rec.xyz, rec.skip_m, rec.facade_n, *args)
    conv: list[Any] = []
    for a in argv:
        if isinstance(a, np.ndarray):
            assert a.dtype == np.float64 and a.flags.c_contiguous
            conv.append(a.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))
        elif isinstance(a, np.int32):
            conv.append(ctypes.c_int(int(a)))
        else:
            assert isinstance(a, np.float64)
            conv.append(ctypes.c_double(float(a)))
    kernel = getattr(lib, KERNEL_NAME)
    for bx in range(gx):
        for by in range(gy):
            for tx in range(BLOCK):
                lib.gt_set_thread(bx, by, tx, BLOCK)
                kernel(*conv)
    out: npt.NDArray[np.float64] = argv[-1]
    return out


def test_cuda_source_compiled_for_the_host_matches_reference(host_dir: Path) -> None:
    grid = Grid(-80.0, -80.0, 2.0, 80, 80)
    boxes = [
        _box(10.0, 10.0, 25.0, 15.0, 15.0, "a"),
        _box(-45.0, 12.0, 20.0, 20.0, 22.0, "b"),
        _box(15.0, -40.0, 30.0, 25.0, 9.0, "c"),
    ]
    heights = building_height_grid(grid, boxes)
    ground = np.where(np.arange(80)[None, :] % 7 < 3, 1.0, 0.0) * np.ones((80, 1))
    yy, xx = np.mgrid[0:80, 0:80]
    blob = (np.hypot(xx - 20, yy - 55) < 10) & (heights <= 0)
    crowns = CrownRaster(np.where(blob, 2.0, 0.0), np.where(blob, 15.0, 0.0), blob * 0.7)
    net = _net([("a", [[-70.0, 0.0], [70.0, 2.0]], 900.0), ("b", [[0.0, -70.0], [3.0, 70.0]], 300)])
    for scene, foliage in (
        (NoiseScene(grid, heights), False),
        (NoiseScene(grid, heights, ground, crowns), True),
    ):
        params = NoiseParams(max_distance_m=90.0, source_spacing_m=8.0, foliage=foliage)
        rec_all, _ = grid_receivers(scene)
        sel = np.random.default_rng(3).choice(len(rec_all), 40, replace=False)
        fr = facade_receivers(boxes, scene, spacing_m=8.0).receivers
        rec = Receivers(
            np.concatenate([rec_all.xyz[sel], fr.xyz]),
            np.concatenate([rec_all.skip_m[sel], fr.skip_m]),
            np.concatenate([rec_all.facade_n[sel], fr.facade_n]),
        )
        assert _compare_host_with_reference(host_dir, net, scene, rec, params) > 40


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenes())
def test_cuda_source_compiled_for_the_host_on_random_scenes(
    host_dir: Path, case: tuple[RoadNetwork, NoiseScene, Receivers, NoiseParams]
) -> None:
    _compare_host_with_reference(host_dir, *case)


@pytest.mark.slow
def test_cuda_source_compiles_with_nvcc(tmp_path: Path) -> None:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    cu = tmp_path / "noise.cu"
    cu.write_text(CUDA_SOURCE)
    res = subprocess.run(
        [
            *(nvcc, "-c", "-arch=sm_90", "--fmad=false", f"-DKMAX={kmax_for(250.0, 5.0)}"),
            *(str(cu), "-o", str(tmp_path / "noise.o")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "noise.o").stat().st_size > 0


# --------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
@gpu
def test_cuda_matches_reference_on_the_demo_scene() -> None:
    net, scene, rec = _demo()
    ref = NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "numpy")
    dev = NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "cupy")
    assert dev.engine == "cuda" and dev.backend.name == "cupy"
    assert isinstance(dev.energy, np.ndarray)
    _assert_same_levels(ref, dev)


@pytest.mark.gpu
@gpu
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenes())
def test_cuda_matches_reference_on_random_scenes(
    case: tuple[RoadNetwork, NoiseScene, Receivers, NoiseParams],
) -> None:
    net, scene, rec, params = case
    ref = NoiseMap.compute(net, COEFFS, scene, rec, params, "numpy")
    dev = NoiseMap.compute(net, COEFFS, scene, rec, params, "cupy")
    _assert_same_levels(ref, dev)
    xp_ref = NoiseMap.compute(net, COEFFS, scene, rec, params, "cupy-reference")
    _assert_same_levels(ref, xp_ref)


@pytest.mark.gpu
@gpu
def test_cuda_incremental_road_change_matches_full_recompute() -> None:
    net, scene, rec = _demo()
    m = NoiseMap.compute(net, COEFFS, scene, rec, NoiseParams(), "cupy")
    old = net.roads[0]
    moved = type(old)(
        id=old.id, coords=old.coords + np.array([4.0, -3.0]), flows=old.flows, speeds=old.speeds
    )
    m.update_roads([old], [moved])
    full = NoiseMap.compute(net.with_road(moved), COEFFS, scene, rec, NoiseParams(), "numpy")
    _assert_same_levels(full, m)
