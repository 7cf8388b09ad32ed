"""The server's baseline blocks: computed in worker processes with their kernel objects
coming back, kept on disk between starts (twin/blocks.py ``BlockCache``), and stopped
with their workers."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from greentwin.kernels.raster import Grid
from greentwin.twin.blocks import BlockCache, BlocksStopped, PoolStop
from greentwin.twin.district import District, OverlayState, overlay_layers
from gt_projects import small_project
from gt_testing import CITYGML, district_recompute

pytestmark = [pytest.mark.timeout(300)]

ATOL = 1e-9


def _compare(a: OverlayState, b: OverlayState) -> None:
    assert a.values.keys() == b.values.keys()
    for name, x in a.values.items():
        np.testing.assert_allclose(
            b.values[name], x, rtol=0, atol=ATOL, equal_nan=True, err_msg=name
        )


@pytest.fixture(scope="module")
def long_district() -> District:
    """The demo's inputs on a grid stretched 1.6 km east (10 m cells): 4 blocks along x."""
    demo = District.load_demo(CITYGML)
    g = demo.grid
    grid = Grid(
        g.x0, g.y0, 10.0, (int(g.nx * g.cell) + 1600) // 10, int(g.ny * g.cell) // 10, g.crs
    )
    return demo.replace(grid=grid, block_m=560.0)


@pytest.fixture(scope="module")
def inline(long_district: District) -> OverlayState:
    return overlay_layers(long_district, None)


def _edited(d: District) -> District:
    road = min(d.roads.roads, key=lambda r: r.bounds()[0])
    return d.replace(roads=d.roads.with_road(road.with_flows(np.asarray(road.flows) * 0.5)))


def test_kernel_objects_pickle_and_update_as_before(long_district: District) -> None:
    state = overlay_layers(long_district, None)
    for bm in state.blocks:
        back = pickle.loads(pickle.dumps((bm.noise, bm.noise_cnossos, bm.air, bm.heat), 5))
        assert back[0].backend.name == bm.noise.backend.name
        np.testing.assert_array_equal(back[0].energy, bm.noise.energy)
        np.testing.assert_array_equal(back[2].maps()["no2"], bm.air.maps()["no2"])
        np.testing.assert_array_equal(back[3].utci, bm.heat.utci)
        assert "_xs" not in bm.air.__getstate__()  # derived: rebuilt on loading


def test_pool_brings_the_kernel_objects_back(long_district: District, inline: OverlayState) -> None:
    pooled = overlay_layers(long_district, None, jobs=2, keep=True)
    assert len(pooled.blocks) == 4 and all(b.noise is not None for b in pooled.blocks)
    # the blocks refer to this process's inputs (the updates compare them by identity)
    for a, b in zip(inline.blocks, pooled.blocks, strict=True):
        assert a.district.footprints == b.district.footprints
    _compare(inline, pooled)
    edited = _edited(long_district)
    _compare(overlay_layers(edited, None), overlay_layers(edited, None, previous=pooled.borrow()))


def test_cache_round_trip_prune_and_corrupt_files(
    long_district: District, inline: OverlayState, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = BlockCache(tmp_path / "blocks", "code-1")
    first = overlay_layers(long_district, None, cache=cache)
    files = sorted((tmp_path / "blocks").glob("*.pkl"))
    assert len(files) == 4 and first.timings["blocks_cached"] == 0
    second = overlay_layers(long_district, None, cache=cache, jobs=2, keep=True)
    assert second.timings["blocks_cached"] == 4 and "noise" not in second.timings
    _compare(inline, second)
    edited = _edited(long_district)
    _compare(overlay_layers(edited, None), overlay_layers(edited, None, previous=second.borrow()))

    files[0].write_bytes(b"not a pickle")  # recomputed, never fatal
    files[1].write_bytes(files[1].read_bytes()[:1000])  # truncated
    third = overlay_layers(long_district, None, cache=cache)
    assert third.timings["blocks_cached"] == 2
    assert "cannot be read" in caplog.text
    _compare(inline, third)
    assert sorted((tmp_path / "blocks").glob("*.pkl")) == files

    # other code: other keys; the stale files of the folder are deleted
    overlay_layers(long_district, None, cache=BlockCache(tmp_path / "blocks", "code-2"))
    now = sorted((tmp_path / "blocks").glob("*.pkl"))
    assert len(now) == 4 and not set(now) & set(files)
    assert not list((tmp_path / "blocks").glob(".tmp-*"))


def _workers() -> list[psutil.Process]:
    """This process's descendants."""
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if p.is_running()]


def _pool_workers() -> list[psutil.Process]:
    """The block workers: the fork server's children (the fork server itself and the
    resource tracker stay until this process ends)."""
    out = []
    for p in _workers():
        try:
            parent = p.parent()
            if parent is not None and "forkserver" in " ".join(parent.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


def test_stop_terminates_the_workers(long_district: District) -> None:
    stop = PoolStop()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            overlay_layers(long_district.replace(block_m=300.0), None, jobs=2, keep=True, stop=stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while len(_pool_workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers started (and are computing)
    time.sleep(1.0)
    t0 = time.monotonic()
    stop.stop()
    thread.join(30)
    assert not thread.is_alive() and time.monotonic() - t0 < 5.0
    assert errors and isinstance(errors[0], BlocksStopped), errors
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = _pool_workers()
        if not left:
            break
        time.sleep(0.1)
    assert not left, left
    with pytest.raises(BlocksStopped):
        overlay_layers(long_district, None, jobs=2, keep=True, stop=stop)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    manifest = small_project(folder)
    text = manifest.read_text()
    manifest.write_text(text.replace("margin_m = 100.0\n", "margin_m = 100.0\nblock_m = 320.0\n"))
    return manifest


@pytest.mark.asyncio
async def test_second_start_of_a_project_loads_the_baseline_blocks(
    project: Path, tmp_path: Path
) -> None:
    async with district_recompute(tmp_path, project) as (_, _, rc):
        await asyncio.wait_for(rc.wait_ready(), 240)
        first = rc.base().overlays
    n = len(first.plan)
    assert n > 1 and first.timings["blocks_cached"] == 0
    folders = list((tmp_path / "var" / "cache" / "blocks").iterdir())
    assert len(folders) == 1 and len(list(folders[0].glob("*.pkl"))) == n
    async with district_recompute(tmp_path, project) as (_, _, rc):
        t0 = time.monotonic()
        await asyncio.wait_for(rc.wait_ready(), 240)
        took = time.monotonic() - t0
        second = rc.base().overlays
    assert second.timings["blocks_cached"] == n, second.timings
    _compare(first, second)
    assert took < 30.0


@pytest.mark.asyncio
async def test_close_during_the_baseline_stops_its_workers(project: Path, tmp_path: Path) -> None:
    async with district_recompute(tmp_path, project) as (_, _, rc):
        deadline = time.monotonic() + 120
        while len(_pool_workers()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # both workers started
        assert not rc.ready()
        t0 = time.monotonic()
    # closed (what a server's shutdown does): the workers are terminated, not awaited
    with pytest.raises(BlocksStopped):
        await asyncio.wait_for(rc.wait_ready(), 30)
    assert time.monotonic() - t0 < 10.0
    deadline = time.monotonic() + 10
    left: list[psutil.Process] = []
    while time.monotonic() < deadline:
        left = _pool_workers()
        if not left:
            break
        await asyncio.sleep(0.1)
    assert not left, left


def test_code_digest_is_stable() -> None:
    from greentwin.twin.blocks import code_digest

    assert code_digest() == code_digest() and len(code_digest()) == 64
