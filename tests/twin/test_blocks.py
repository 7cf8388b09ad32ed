"""Maps computed per block (twin/blocks.py): the split, exactness against the whole grid,
edits that recompute only the blocks within reach, and blocks run through executors."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from greentwin.kernels.raster import Grid
from greentwin.twin.blocks import (
    AIR_REACH_M,
    OBSTACLE_MARGIN_M,
    block_district,
    plan_blocks,
    sub_grid,
    window_bounds,
)
from greentwin.twin.district import District, OverlayState, overlay_layers, write_overlays
from gt_projects import small_project
from gt_testing import CITYGML

#: Float tolerance of a block's core against the whole grid (the sums' order differs).
ATOL = 1e-9


def _compare(a: OverlayState, b: OverlayState) -> None:
    assert a.values.keys() == b.values.keys()
    for name, x in a.values.items():
        y = b.values[name]
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        np.testing.assert_allclose(y, x, rtol=0, atol=ATOL, equal_nan=True, err_msg=name)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo() -> District:
    return District.load_demo(CITYGML)


@pytest.fixture(scope="module")
def demo_whole(demo: District) -> OverlayState:
    return overlay_layers(demo, None)


def test_plan_tiles_the_grid_with_clipped_windows() -> None:
    grid = Grid(1000.0, 2000.0, 5.0, 441, 439)
    plan = plan_blocks(grid, 1000.0, OBSTACLE_MARGIN_M, 120.0)
    assert len(plan) == 9  # 2.2 km: three blocks of about 735 m per axis
    seen = np.zeros(grid.shape, dtype=int)
    for b in plan:
        r0, r1, c0, c1 = b.core
        seen[r0:r1, c0:c1] += 1
        assert (r1 - r0) * grid.cell <= 1000.0 and (c1 - c0) * grid.cell <= 1000.0
        w, h = b.window, b.heat_window
        assert w[0] <= h[0] <= r0 and w[2] <= h[2] <= c0 and r1 <= h[1] <= w[1]
        assert w[0] >= 0 and w[2] >= 0 and w[1] <= grid.ny and w[3] <= grid.nx
        # the window reaches the obstacle margin beyond the core, or the grid's edge
        assert w[0] == 0 or (r0 - w[0]) * grid.cell >= OBSTACLE_MARGIN_M
        assert w[3] == grid.nx or (w[3] - c1) * grid.cell >= OBSTACLE_MARGIN_M
    assert (seen == 1).all()
    sub = sub_grid(grid, plan[4].core)
    assert sub.cell == grid.cell and sub.crs == grid.crs
    assert window_bounds(grid, plan[4].core) == sub.bounds
    assert plan_blocks(grid, 5000.0)[0].whole


def test_block_inputs_are_what_reaches_the_block(demo: District) -> None:
    plan = plan_blocks(demo.grid, 300.0)
    assert len(plan) == 4
    for b in plan:
        sub = block_district(demo, b)
        assert sub.grid == sub_grid(demo.grid, b.window)
        assert 0 < len(sub.footprints) <= len(demo.footprints)
        assert len(sub.roads.roads) <= len(demo.roads.roads)
        assert sub.roads.junctions == demo.roads.junctions
        clone = pickle.loads(pickle.dumps(sub))  # a job's input
        assert clone.grid == sub.grid and len(clone.trees) == len(sub.trees)


def test_one_block_project_is_the_whole_grid_computation(
    demo: District, demo_whole: OverlayState
) -> None:
    assert len(demo_whole.plan) == 1 and demo_whole.plan[0].whole
    assert demo_whole.blocks[0].district is demo


def test_demo_split_in_2x2_blocks_equals_the_whole_grid(
    demo: District, demo_whole: OverlayState
) -> None:
    split = overlay_layers(demo.replace(block_m=300.0), None)
    assert len(split.plan) == 4
    _compare(demo_whole, split)


def test_synthetic_project_split_in_2x2_blocks_equals_one_block(tmp_path: Path) -> None:
    small_project(tmp_path)
    d = District.from_project(tmp_path / "project.toml")
    one = overlay_layers(d.replace(block_m=5000.0), None)
    split = overlay_layers(d.replace(block_m=d.grid.nx * d.grid.cell / 2.0), None)
    assert len(one.plan) == 1 and len(split.plan) == 4
    _compare(one, split)


@pytest.fixture(scope="module")
def long_district(demo: District) -> District:
    """The demo's inputs on a grid stretched 1.6 km east (10 m cells): 4 blocks along x,
    the eastern ones beyond every kernel's reach of the demo's roads and buildings."""
    g = demo.grid
    grid = Grid(
        g.x0, g.y0, 10.0, (int(g.nx * g.cell) + 1600) // 10, int(g.ny * g.cell) // 10, g.crs
    )
    return demo.replace(grid=grid, block_m=560.0)


def test_edit_recomputes_only_the_blocks_within_reach(long_district: District) -> None:
    d = long_district
    state = overlay_layers(d, None)
    assert len(state.plan) == 4
    road = max(d.roads.roads, key=lambda r: r.bounds()[2])
    edited = d.replace(roads=d.roads.with_road(road.with_flows(np.asarray(road.flows) * 0.5)))
    kept = {b.block.index: b for b in state.blocks}
    values = {k: v.copy() for k, v in state.values.items()}
    energy = [b.noise.energy.copy() for b in state.blocks]
    new = overlay_layers(edited, None, previous=state.borrow())
    xmax = road.bounds()[2]
    reached = [b.index for b in new.plan if window_bounds(d.grid, b.core)[0] <= xmax + AIR_REACH_M]
    assert 0 < len(reached) < len(new.plan)
    assert new.timings["blocks"] == len(reached)
    for bm in new.blocks:  # the blocks out of reach keep their objects and values
        assert (bm is kept[bm.block.index]) == (bm.block.index not in reached)
    assert new.borrowed == frozenset(b.index for b in new.plan) - set(reached)
    _compare(overlay_layers(edited, None), new)
    # the borrowed state is as it was: the reached blocks were copied before the update
    for bm, e in zip(state.blocks, energy, strict=True):
        assert np.array_equal(bm.noise.energy, e)
    for name, v in values.items():
        np.testing.assert_array_equal(state.values[name], v)
    # and the edit undone from the new state gives the first maps back
    back = overlay_layers(d, None, previous=new)
    _compare(state, back)


def test_blocks_through_a_process_pool_give_the_same_files(
    long_district: District, tmp_path: Path
) -> None:
    local = overlay_layers(long_district, tmp_path / "inline")
    pooled = overlay_layers(long_district, tmp_path / "pool", jobs=2)
    assert not pooled.blocks  # values came back, kernel objects stayed in the workers
    assert _digest(tmp_path / "inline") == _digest(tmp_path / "pool")
    assert local.timings["blocks"] == 4


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A Dask LocalCluster of 2 worker processes on loopback; its scheduler address."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def test_blocks_on_dask_are_byte_identical(demo: District, scheduler: str, tmp_path: Path) -> None:
    d = demo.replace(block_m=300.0)
    local = overlay_layers(d, None)
    write_overlays(local, tmp_path / "local")
    overlay_layers(d, tmp_path / "dask", scheduler=scheduler)
    files = _digest(tmp_path / "dask")
    assert any(n.endswith("values.npy") for n in files) and any(n.endswith(".png") for n in files)
    assert files == _digest(tmp_path / "local")


def test_manifest_block_and_compute_settings(tmp_path: Path) -> None:
    from greentwin.twin import ManifestError, load_manifest

    small_project(tmp_path)
    path = tmp_path / "project.toml"
    text = path.read_text(encoding="utf-8")
    assert load_manifest(path).block_m == 1000.0 and load_manifest(path).scheduler is None
    settings = 'block_m = 400.0\n\n[compute]\njobs = 2\nscheduler = "tcp://127.0.0.1:8786"\n'
    path.write_text(text.replace("margin_m = 100.0\n", f"margin_m = 100.0\n{settings}"))
    project = load_manifest(path)
    assert (project.block_m, project.jobs, project.scheduler) == (400.0, 2, "tcp://127.0.0.1:8786")
    assert District.from_project(path).block_m == 400.0
    path.write_text(text.replace("margin_m = 100.0\n", "margin_m = 100.0\nblock_m = 10.0\n"))
    with pytest.raises(ManifestError, match="block_m"):
        load_manifest(path)
