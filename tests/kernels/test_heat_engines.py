"""The heat kernel's engines agree, and windowed updates equal a full recompute."""

from __future__ import annotations

import numpy as np
import pytest
from greentwin.core.errors import KernelError
from greentwin.kernels.heat import HeatMap, HeatParams, HeatScene
from greentwin.kernels.heat.compute import resolve_engine
from greentwin.kernels.heat.design_day import berlin_design_day
from greentwin.kernels.heat.shadow import sunlit
from greentwin.kernels.heat.svf import svf
from hypothesis import given, settings
from hypothesis import strategies as st


def _scene(seed: int, n: int = 48, cell: float = 1.0) -> HeatScene:
    rng = np.random.default_rng(seed)
    b = np.zeros((n, n))
    for _ in range(4):
        r, c = rng.integers(0, n - 8, 2)
        b[r : r + rng.integers(3, 8), c : c + rng.integers(3, 8)] = rng.uniform(5, 25)
    top = np.zeros_like(b)
    base = np.zeros_like(b)
    tau = np.ones_like(b)
    for _ in range(3):
        r, c = rng.integers(2, n - 2, 2)
        yy, xx = np.mgrid[0:n, 0:n]
        disc = ((yy - r) ** 2 + (xx - c) ** 2 <= rng.integers(2, 5) ** 2) & (b == 0)
        top[disc] = rng.uniform(8, 15)
        base[disc] = 3.0
        tau[disc] = rng.choice([0.03, 0.5])
    return HeatScene(cell, b, top, base, tau)


@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    azimuth=st.floats(0.0, 359.9),
    elevation=st.floats(3.0, 80.0),
)
def test_numba_shadows_equal_the_reference(seed: int, azimuth: float, elevation: float) -> None:
    s = _scene(seed)
    args = (s.buildings, s.canopy_top, s.canopy_base, s.transmissivity, s.cell, azimuth, elevation)
    ref = sunlit("reference", *args)
    fast = sunlit("numba", *args)
    assert np.array_equal(ref, fast)
    # a window is the same block of the whole
    w = (5, 30, 7, 40)
    assert np.array_equal(sunlit("numba", *args, w), fast[5:30, 7:40])


def test_sun_below_horizon_is_all_shade() -> None:
    s = _scene(1)
    args = (s.buildings, s.canopy_top, s.canopy_base, s.transmissivity, s.cell, 120.0, -2.0)
    assert not sunlit("numba", *args).any()
    assert not sunlit("reference", *args).any()


@pytest.mark.parametrize("seed", [0, 7])
def test_numba_sky_view_equals_the_reference(seed: int) -> None:
    s = _scene(seed)
    ref = svf("reference", s.buildings, s.canopy_top, s.cell, 16, 40.0)
    fast = svf("numba", s.buildings, s.canopy_top, s.cell, 16, 40.0)
    assert np.array_equal(ref[0], fast[0]) and np.array_equal(ref[1], fast[1])
    assert (ref[1] <= ref[0] + 1e-12).all()  # crowns only hide sky
    assert ((ref[0] > 0) & (ref[0] <= 1)).all()


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(KernelError):
        resolve_engine("fortran")
    s = _scene(0)
    with pytest.raises(KernelError):
        sunlit("fortran", s.buildings, s.canopy_top, s.canopy_base, s.transmissivity, 1.0, 0, 9)


def test_update_equals_full_recompute_and_stays_local() -> None:
    day = berlin_design_day(2023)
    n = 200
    before = _scene(3, n)
    params = HeatParams(svf_radius_m=30.0)
    hm = HeatMap(before, day, params, backend="numba").compute()
    top, base, tau = (
        before.canopy_top.copy(),
        before.canopy_base.copy(),
        before.transmissivity.copy(),
    )
    yy, xx = np.mgrid[0:n, 0:n]
    disc = ((yy - 100) ** 2 + (xx - 20) ** 2 <= 16) & (before.buildings == 0)
    top[disc], base[disc], tau[disc] = 12.0, 4.0, 0.03  # a tree planted
    after = HeatScene(1.0, before.buildings, top, base, tau)
    window = hm.update(after)
    full = HeatMap(after, day, params, backend="numba").compute()
    assert window is not None
    for name in ("sun", "svf_b", "svf_bv", "tmrt_hours", "shade_hours", "tmrt", "utci"):
        np.testing.assert_allclose(getattr(hm, name), getattr(full, name), rtol=0, atol=1e-9)
    r0, r1, c0, c1 = window
    assert (r1 - r0) * (c1 - c0) < n * n  # a bounded block, not the whole raster
    assert hm.shade_hours[100, 20] > 0  # under the new crown (sun near its top at noon)
    assert hm.update(after) is None  # nothing changed: nothing recomputed


@pytest.mark.gpu
def test_cuda_equals_the_reference() -> None:
    s = _scene(11)
    args = (s.buildings, s.canopy_top, s.canopy_base, s.transmissivity, s.cell, 200.0, 35.0)
    assert np.array_equal(sunlit("cuda", *args), sunlit("reference", *args))
    ref = svf("reference", s.buildings, s.canopy_top, s.cell, 16, 40.0)
    dev = svf("cuda", s.buildings, s.canopy_top, s.cell, 16, 40.0)
    assert np.array_equal(ref[0], dev[0]) and np.array_equal(ref[1], dev[1])
