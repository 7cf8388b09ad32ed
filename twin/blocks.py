"""Blocks of the analysis grid: the unit in which the noise, air and heat maps are computed.

A city's analysis grid is split into square blocks of about ``block_m`` (a project's
``[grid] block_m``, default 1000 m) aligned on the grid's cells. Each block has

- its *core*: the cells whose values it computes (the blocks' cores tile the grid);
- its *window*: the core grown by :data:`OBSTACLE_MARGIN_M` (the noise kernel's reach
  plus the facade search of its image sources) and clipped to the grid: the raster of
  buildings, barriers and crowns the block's noise paths are sampled on;
- its *heat window*: the core grown by the heat kernel's reach on the day (sky view
  factor radius, longest shadow; :func:`heat_reach_m`), at most the block's margin.

A block's inputs (:func:`block_district`) are the district's with the grid set to the
window and only what can reach the core: footprints, barriers and trees that touch the
window, roads whose bounding box lies within the noise kernel's reach of the core (the
air roads within the air kernel's ``reach_m``: :func:`roads_near`). Receivers are the core's
cells only. Because every kernel cuts its interactions at its reach, the core's values
equal those of the whole-grid computation (up to the order of floating-point sums) when
the margins cover the reaches; see ``docs/projects.md`` (blocks) for the limits.

A grid that fits in one block is computed as one block whose window is the whole grid
with the district's own inputs: exactly the whole-grid computation.

Windows are ``(row0, row1, col0, col1)``, half-open, in cells of the grid they refer to
(row 0 south).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.kernels.raster import Grid
from greentwin.kernels.roads import Road, RoadNetwork

__all__ = [
    "AIR_REACH_M",
    "CODE_MODULES",
    "CODE_PACKAGES",
    "NOISE_REACH_M",
    "OBSTACLE_MARGIN_M",
    "TREE_REACH_M",
    "Block",
    "BlockCache",
    "BlockPool",
    "BlocksStopped",
    "PoolStop",
    "Window",
    "block_district",
    "changed_blocks",
    "code_digest",
    "heat_reach_m",
    "open_block_executor",
    "plan_blocks",
    "roads_near",
    "sub_grid",
    "window_bounds",
]

F64 = npt.NDArray[np.float64]
Window = tuple[int, int, int, int]


def _noise_reach() -> tuple[float, float]:
    from greentwin.kernels.noise.compute import NoiseParams

    p = NoiseParams()
    return p.max_distance_m, p.reflection_search_m


def _air_reach() -> float:
    from greentwin.kernels.air.compute import AirConfig

    return AirConfig().reach_m


#: The noise kernel's cutoff (``NoiseParams.max_distance_m``), m.
NOISE_REACH_M, _FACADE_SEARCH_M = _noise_reach()
#: Obstacles and crowns within this distance of a block's core are rasterised for it: the
#: noise cutoff plus the facade search of the image sources (a reflection point lies
#: within that of its source), m.
OBSTACLE_MARGIN_M = NOISE_REACH_M + _FACADE_SEARCH_M
#: The air kernel's cutoff (``AirConfig.reach_m``), m.
AIR_REACH_M = _air_reach()
#: Half the widest crown a tree can have, m: a tree whose stem lies farther than this
#: from a window cannot touch it.
TREE_REACH_M = 30.0


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the analysis grid (windows in cells of the whole grid).

    Attributes
    ----------
    index : position in the plan (row-major from the south-west).
    core : the cells this block computes.
    window : the core grown by the obstacle margin, clipped to the grid.
    heat_window : the core grown by the heat reach, clipped to the grid (within ``window``).
    """

    index: int
    core: Window
    window: Window
    heat_window: Window

    def core_in(self, outer: Window) -> Window:
        """The core relative to ``outer`` (a window that holds it)."""
        r0, r1, c0, c1 = self.core
        return (r0 - outer[0], r1 - outer[0], c0 - outer[2], c1 - outer[2])

    @property
    def whole(self) -> bool:
        """The block is the whole grid (core = window)."""
        return self.core == self.window


def _splits(n: int, cells: int) -> list[tuple[int, int]]:
    """``n`` cells cut into ceil(n / cells) nearly equal runs."""
    k = max(1, math.ceil(n / max(1, cells)))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]


def _grow(core: Window, cells: int, grid: Grid) -> Window:
    r0, r1, c0, c1 = core
    return (
        max(0, r0 - cells),
        min(grid.ny, r1 + cells),
        max(0, c0 - cells),
        min(grid.nx, c1 + cells),
    )


def plan_blocks(
    grid: Grid,
    block_m: float,
    margin_m: float = OBSTACLE_MARGIN_M,
    heat_margin_m: float | None = None,
) -> tuple[Block, ...]:
    """The blocks of ``grid``: cores of at most ``block_m`` (nearly equal sizes, aligned
    on cells), windows grown by ``margin_m`` and heat windows by ``heat_margin_m``
    (default and at most ``margin_m``), both clipped to the grid."""
    cells = max(1, int(block_m // grid.cell))
    grow = math.ceil(margin_m / grid.cell) + 1
    heat_m = margin_m if heat_margin_m is None else min(heat_margin_m, margin_m)
    heat_grow = min(grow, math.ceil(heat_m / grid.cell) + 1)
    out: list[Block] = []
    for r0, r1 in _splits(grid.ny, cells):
        for c0, c1 in _splits(grid.nx, cells):
            core = (r0, r1, c0, c1)
            out.append(Block(len(out), core, _grow(core, grow, grid), _grow(core, heat_grow, grid)))
    return tuple(out)


def sub_grid(grid: Grid, w: Window) -> Grid:
    """The cells of window ``w`` as a grid of their own (same cells, same CRS)."""
    r0, r1, c0, c1 = w
    if r0 == 0 and c0 == 0 and r1 == grid.ny and c1 == grid.nx:
        return grid
    return Grid(
        grid.x0 + c0 * grid.cell, grid.y0 + r0 * grid.cell, grid.cell, c1 - c0, r1 - r0, grid.crs
    )


def window_bounds(grid: Grid, w: Window) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a window's outer edges, m."""
    return sub_grid(grid, w).bounds


def _boxes_near(boxes: F64, bounds: tuple[float, float, float, float], reach: float) -> Any:
    """Which (n, 4) boxes (xmin, ymin, xmax, ymax) come within ``reach`` of ``bounds``
    (box to box, per axis: a conservative test)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=bool)
    xmin, ymin, xmax, ymax = bounds
    return (
        (boxes[:, 0] <= xmax + reach)
        & (boxes[:, 2] >= xmin - reach)
        & (boxes[:, 1] <= ymax + reach)
        & (boxes[:, 3] >= ymin - reach)
    )


def _road_boxes(roads: Sequence[Road]) -> F64:
    if not roads:
        return np.zeros((0, 4))
    return np.array([r.bounds() for r in roads], dtype=np.float64)


def roads_near(
    network: RoadNetwork, bounds: tuple[float, float, float, float], reach: float
) -> RoadNetwork:
    """The network with only the roads whose bounding box comes within ``reach`` of
    ``bounds`` (order, junctions and settings kept)."""
    import dataclasses

    keep = _boxes_near(_road_boxes(network.roads), bounds, reach)
    if keep.all():
        return network
    roads = tuple(r for r, k in zip(network.roads, keep, strict=True) if k)
    return dataclasses.replace(network, roads=roads, skipped=[])


def footprint_boxes(footprints: Sequence[Any]) -> F64:
    """(n, 4) bounding boxes of building footprints."""
    if not footprints:
        return np.zeros((0, 4))
    out = np.zeros((len(footprints), 4))
    for i, f in enumerate(footprints):
        xy = np.asarray(f.exterior)[:, :2]
        out[i, :2] = xy.min(axis=0)
        out[i, 2:] = xy.max(axis=0)
    return out


def tree_boxes(trees: Sequence[Any]) -> F64:
    """(n, 4) boxes of the trees' stems grown by :data:`TREE_REACH_M`."""
    if not trees:
        return np.zeros((0, 4))
    xy = np.array([(float(t.x), float(t.y)) for t in trees], dtype=np.float64)
    return np.column_stack([xy - TREE_REACH_M, xy + TREE_REACH_M])


def barrier_boxes(barriers: Sequence[Any]) -> F64:
    """(n, 4) bounding boxes of noise barriers."""
    if not barriers:
        return np.zeros((0, 4))
    return np.array(
        [(*b.coords.min(axis=0), *b.coords.max(axis=0)) for b in barriers], dtype=np.float64
    )


def block_district(district: Any, block: Block, boxes: dict[str, F64] | None = None) -> Any:
    """The block's inputs: the district with ``grid`` = the block's window and only the
    footprints, barriers and trees touching the window and the roads within the noise
    reach of the core. Plant covers are left out (no map reads them). A whole-grid
    block is the district itself.

    ``boxes`` (from :func:`input_boxes`) saves recomputing the inputs' boxes per block.
    """
    if block.whole:
        return district
    grid = district.grid
    b = boxes if boxes is not None else input_boxes(district)
    win = window_bounds(grid, block.window)
    core = window_bounds(grid, block.core)
    fp = _boxes_near(b["footprints"], win, 0.0)
    tr = _boxes_near(b["trees"], win, 0.0)
    ba = _boxes_near(b["barriers"], win, 0.0)
    footprints = tuple(f for f, k in zip(district.footprints, fp, strict=True) if k)
    trees = tuple(t for t, k in zip(district.trees, tr, strict=True) if k)
    barriers = tuple(x for x, k in zip(district.barriers, ba, strict=True) if k)
    ids = {f.id for f in footprints}
    return district.replace(
        grid=sub_grid(grid, block.window),
        footprints=footprints,
        trees=_shared_trees(trees),
        covers=(),
        barriers=barriers,
        roads=roads_near(district.roads, core, OBSTACLE_MARGIN_M),
        buildings={k: v for k, v in district.buildings.items() if k in ids},
    )


#: The last tree subsets handed out, so that a block's District after an edit elsewhere
#: gets the very same tuple (and so its cached tree table and LAI course).
_TREE_SUBSETS: list[tuple[Any, ...]] = []


def _shared_trees(trees: tuple[Any, ...]) -> tuple[Any, ...]:
    for known in _TREE_SUBSETS:
        if len(known) == len(trees) and all(a is b for a, b in zip(known, trees, strict=True)):
            return known
    _TREE_SUBSETS.insert(0, trees)
    del _TREE_SUBSETS[64:]
    return trees


def input_boxes(district: Any) -> dict[str, F64]:
    """Bounding boxes of the district's footprints, trees (stem +- :data:`TREE_REACH_M`)
    and barriers."""
    return {
        "footprints": footprint_boxes(district.footprints),
        "trees": tree_boxes(district.trees),
        "barriers": barrier_boxes(district.barriers),
    }


def changed_blocks(
    blocks: Sequence[Block], grid: Grid, boxes: Sequence[tuple[float, float, float, float]]
) -> list[int]:
    """Indices of the blocks whose window meets one of ``boxes`` (changed inputs' boxes,
    already grown by the reach of whatever they change)."""
    if not boxes:
        return []
    arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = []
    for b in blocks:
        if _boxes_near(arr, window_bounds(grid, b.window), 0.0).any():
            out.append(b.index)
    return out


def heat_reach_m(district: Any, day: Any, svf_radius_m: float = 100.0) -> float:
    """How far an obstacle can change a heat cell on ``day``: the sky view factor's
    search radius, or the longest shadow (tallest building or tree over the tangent of
    the lowest sun above the horizon), whichever is longer, plus two grid cells."""
    hmax = max((float(f.height_m) for f in district.footprints), default=0.0)
    if district.trees:
        st = district.tree_table().states(day.date, district.climate)
        alive = np.asarray(st.alive, dtype=bool)
        if alive.any():
            hmax = max(hmax, float(np.asarray(st.height_m)[alive].max()))
    el = np.asarray(day.elevation_deg, dtype=np.float64)
    el = el[el > 0]
    shadow = hmax / math.tan(math.radians(float(el.min()))) if len(el) and hmax > 0 else 0.0
    return float(max(svf_radius_m, shadow) + 2.0 * district.grid.cell)


def _worker_threads(n: int) -> None:
    """Give each block worker its share of the cores for the compiled kernels, and stop
    it when its parent (the fork server, which ends with the process that started it)
    is gone: a block is minutes of work nobody would read."""
    import os
    import threading

    try:
        import numba

        limit = int(getattr(numba.config, "NUMBA_NUM_THREADS", n))
        numba.set_num_threads(max(1, min(n, limit)))
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    parent = os.getppid()

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class BlockPool:
    """Local worker processes for blocks (a :class:`~greentwin.core.executor.JobExecutor`).

    The workers come from a fork server, not forked from this process: a process that has
    run the compiled kernels holds OpenMP threads, and forking it is unsafe. Each worker
    runs the kernels on ``cores // jobs`` threads.
    """

    shares_process = False

    def __init__(self, jobs: int) -> None:
        import functools
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        self.workers = jobs
        threads = max(1, (os.cpu_count() or 1) // jobs)
        self._pool = ProcessPoolExecutor(
            jobs,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=functools.partial(_worker_threads, threads),
        )

    def submit(self, fn: Any, /, *args: Any) -> Any:
        """Queue ``fn(*args)`` for the workers."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Cancel queued jobs, wait for running ones, stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop the workers now (running jobs are lost; their futures fail) without
        waiting."""
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()


class BlocksStopped(RuntimeError):
    """The computation of the blocks was stopped (:meth:`PoolStop.stop`)."""


class PoolStop:
    """Lets another thread stop the block computation running with this token: the
    worker processes are terminated at once (a server shutting down)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._pools: list[Any] = []
        self.stopped = False

    def attach(self, executor: Any) -> None:
        """Register ``executor`` (terminated and :class:`BlocksStopped` if already
        stopped)."""
        with self._lock:
            if not self.stopped:
                self._pools.append(executor)
                return
        _terminate(executor)
        raise BlocksStopped("the block computation was stopped")

    def detach(self, executor: Any) -> None:
        """Forget ``executor`` (closed by its owner)."""
        with self._lock:
            if executor in self._pools:
                self._pools.remove(executor)

    def stop(self) -> None:
        """Terminate the registered executors' workers; later ones are refused."""
        with self._lock:
            self.stopped = True
            pools, self._pools = self._pools, []
        for executor in pools:
            _terminate(executor)

    def check(self) -> None:
        """Raise :class:`BlocksStopped` once stopped."""
        if self.stopped:
            raise BlocksStopped("the block computation was stopped")


def _terminate(executor: Any) -> None:
    stop = getattr(executor, "terminate", None)
    if stop is not None:
        stop()


#: What computes a block's kernel state from its inputs: these packages, and these
#: modules of ``twin`` (the loaders are not in it: the inputs are hashed by content).
CODE_PACKAGES = ("core", "green_model", "kernels")
CODE_MODULES = ("twin/blocks.py", "twin/district.py", "twin/district_heat.py")


def code_digest() -> str:
    """SHA-256 of the package version and the code that computes the blocks' maps
    (:data:`CODE_PACKAGES`, :data:`CODE_MODULES`)."""
    import hashlib
    import importlib.util

    from greentwin.core import __version__

    digest = hashlib.sha256(f"greentwin {__version__}\n".encode())
    files: list[tuple[str, Path]] = []
    for pkg in CODE_PACKAGES:
        spec = importlib.util.find_spec(f"greentwin.{pkg}")
        for location in list(spec.submodule_search_locations or []) if spec else []:
            for src in sorted(Path(location).rglob("*.py")):
                files.append((f"{pkg}/{src.relative_to(location).as_posix()}", src))
    twin = Path(__file__).resolve().parent
    files += [(name, twin / name.removeprefix("twin/")) for name in CODE_MODULES]
    for name, src in files:
        digest.update(f"{name}\n".encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()


class BlockCache:
    """Blocks' kernel state kept on disk between server starts.

    One file per block, ``<folder>/<key>.pkl`` (pickle protocol 5), the key a SHA-256 of
    the code of the packages that compute the maps and of the block's inputs (its
    District, air roads, window, date, design day and backend). A file is written to a
    temporary name and renamed, so a reader never sees half of one; a file that cannot be
    read is deleted and its block recomputed. :meth:`prune` deletes the folder's files
    of other keys (``folder`` is one project's: the stale states of that project go).

    Disk use: about the size of the blocks' kernel objects in memory (for 5 m cells,
    mostly the heat map's hourly sun and Tmrt rasters on the quarter-size cells).
    """

    def __init__(self, folder: Path, code: str) -> None:
        self.folder = Path(folder)
        self.code = code

    def key(self, *inputs: Any) -> str:
        """The key of a block's inputs (picklable values)."""
        import hashlib
        import pickle

        digest = hashlib.sha256(f"greentwin-block 1\n{self.code}\n".encode())
        digest.update(pickle.dumps(inputs, protocol=5))
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pkl"

    def load(self, key: str) -> Any:
        """The value stored under ``key``, or None (missing, unreadable or corrupt: the
        file is deleted)."""
        import logging
        import pickle

        path = self.path(key)
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except FileNotFoundError:
            return None
        except Exception as exc:
            logging.getLogger(__name__).warning(
                "block cache: %s cannot be read (%s: %s); the block is recomputed",
                path.name,
                type(exc).__name__,
                exc,
            )
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    def save(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (atomically; a failure is logged, not raised)."""
        import logging
        import os
        import pickle
        import tempfile

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pkl", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(value, fh, protocol=5)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except Exception as exc:
            logging.getLogger(__name__).warning(
                "block cache: %s cannot be written (%s: %s)", key[:12], type(exc).__name__, exc
            )

    def prune(self, keep: Iterable[str]) -> int:
        """Delete the folder's files of other keys (and left-over temporary files);
        returns how many."""
        names = {f"{k}.pkl" for k in keep}
        n = 0
        if not self.folder.is_dir():
            return 0
        for path in self.folder.iterdir():
            if path.suffix == ".pkl" and path.name not in names:
                with contextlib.suppress(OSError):
                    path.unlink()
                    n += 1
        return n


def open_block_executor(jobs: int | None, scheduler: str | None, blocks: int) -> Any:
    """Where the blocks run: the Dask ``scheduler`` when given; else ``jobs`` local
    workers (None: one per core, at most 8), never more than there are blocks; one job
    runs in this process (:class:`~greentwin.core.executor.Inline`)."""
    import os

    from greentwin.core.executor import Inline, open_executor

    if scheduler:
        return open_executor(1, scheduler)
    n = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    n = max(1, min(n, blocks))
    return BlockPool(n) if n > 1 else Inline()
