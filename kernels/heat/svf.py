"""Sky view factor of the ground from horizon angles, with and without tree crowns.

For a horizontal surface, the fraction of the diffuse sky it sees is
``SVF = (1 / 2 pi) integral cos^2(gamma(phi)) d phi`` with ``gamma(phi)`` the horizon
elevation in direction ``phi`` (Dozier and Frew 1990, IEEE Trans. Geosci. Remote Sens.
28: 963-969, eq. 7 for a horizontal surface); with ``n`` equal sectors,
``SVF = (1/n) sum 1 / (1 + tan^2 gamma_i)``. The horizon of each sector is found by
marching outwards over the height rasters and keeping the largest
``(h - z0) / distance``: ``h`` the building height (``svf_buildings``) or the larger of
building and crown top (``svf_with_crowns``; a crown is taken as opaque from the
ground to its top, a slight overestimate of what it hides near the horizon).

Distances: every cell out to 10 cells, then steps growing by 10 % of the distance (a
building is several cells wide, so none is jumped over at these steps), up to
``radius_m``. A sector stops early once no obstacle could rise above its horizon.
Beyond the raster's edge the sky is open.

SOLWEIG combines the two as ``psi = svf - (1 - svf_veg)(1 - tau)`` (Lindberg and
Grimmond 2011); :func:`effective_svf` does the same with the sky hidden by crowns only.

Engines: :func:`svf_reference` (NumPy), :func:`svf_numba`, and the CUDA kernel in
:mod:`greentwin.kernels.heat.cuda`, all with the same arguments and results.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.heat.shadow import Window
from numba import njit, prange

__all__ = ["effective_svf", "march_distances", "svf", "svf_numba", "svf_reference"]

F64 = npt.NDArray[np.float64]

_JIT: dict[str, Any] = {"cache": True, "fastmath": False, "error_model": "numpy", "nogil": True}
_LOCK = threading.Lock()


def march_distances(radius_m: float, cell: float) -> F64:
    """Sample distances of a sector, in cells: 1, 2, ... 10, then +10 % per step."""
    if radius_m <= 0 or cell <= 0:
        raise KernelError("sky view factor: radius and cell size must be positive")
    limit = radius_m / cell
    d: list[float] = []
    x = 1.0
    while x <= limit:
        d.append(x)
        x += max(1.0, 0.1 * x)
    return np.asarray(d if d else [1.0], dtype=np.float64)


def _directions(n: int) -> tuple[F64, F64]:
    if n < 4:
        raise KernelError("sky view factor needs at least 4 directions")
    phi = 2.0 * np.pi * (np.arange(n) + 0.5) / n
    return np.cos(phi), np.sin(phi)  # row step (north), column step (east)


def svf_reference(
    buildings: F64,
    top: F64,
    cell: float,
    directions: int = 16,
    radius_m: float = 100.0,
    window: Window | None = None,
) -> tuple[F64, F64]:
    """(svf_buildings, svf_with_crowns) in ``window``, each (r1 - r0, c1 - c0) float64."""
    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    dist = march_distances(radius_m, cell)
    drow, dcol = _directions(directions)
    hb = float(buildings.max(initial=0.0))
    hv = max(hb, float(top.max(initial=0.0)))
    obst = np.maximum(buildings, top)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    rows, cols = rr.ravel(), cc.ravel()
    z0 = buildings[rows, cols]
    acc_b = np.zeros(len(rows))
    acc_v = np.zeros(len(rows))
    for j in range(directions):
        tb = np.zeros(len(rows))
        tv = np.zeros(len(rows))
        active = np.ones(len(rows), dtype=bool)
        for d in dist:
            dm = d * cell
            active &= ~(((hb - z0) / dm <= tb) & ((hv - z0) / dm <= tv))
            ci = np.floor(cols + 0.5 + d * dcol[j]).astype(np.int64)
            ri = np.floor(rows + 0.5 + d * drow[j]).astype(np.int64)
            active &= (ci >= 0) & (ci < nx) & (ri >= 0) & (ri < ny)
            idx = np.flatnonzero(active)
            if len(idx) == 0:
                break
            rs, cs = ri[idx], ci[idx]
            tb[idx] = np.maximum(tb[idx], (buildings[rs, cs] - z0[idx]) / dm)
            tv[idx] = np.maximum(tv[idx], (obst[rs, cs] - z0[idx]) / dm)
        acc_b += 1.0 / (1.0 + tb * tb)
        acc_v += 1.0 / (1.0 + tv * tv)
    shape = (r1 - r0, c1 - c0)
    return (acc_b / directions).reshape(shape), (acc_v / directions).reshape(shape)


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def _svf_nb(
    buildings: F64,
    obst: F64,
    cell: float,
    dist: F64,
    drow: F64,
    dcol: F64,
    hb: float,
    hv: float,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    out_b: F64,
    out_v: F64,
) -> None:  # pragma: no cover - compiled
    ny, nx = buildings.shape
    nd = len(drow)
    for r in prange(r0, r1):
        for c in range(c0, c1):
            z0 = buildings[r, c]
            acc_b = 0.0
            acc_v = 0.0
            for j in range(nd):
                tb = 0.0
                tv = 0.0
                for k in range(len(dist)):
                    d = dist[k]
                    dm = d * cell
                    if (hb - z0) / dm <= tb and (hv - z0) / dm <= tv:
                        break
                    ci = math.floor(c + 0.5 + d * dcol[j])
                    ri = math.floor(r + 0.5 + d * drow[j])
                    if ci < 0 or ci >= nx or ri < 0 or ri >= ny:
                        break
                    t = (buildings[ri, ci] - z0) / dm
                    if t > tb:
                        tb = t
                    t = (obst[ri, ci] - z0) / dm
                    if t > tv:
                        tv = t
                acc_b += 1.0 / (1.0 + tb * tb)
                acc_v += 1.0 / (1.0 + tv * tv)
            out_b[r - r0, c - c0] = acc_b / nd
            out_v[r - r0, c - c0] = acc_v / nd


def svf_numba(
    buildings: F64,
    top: F64,
    cell: float,
    directions: int = 16,
    radius_m: float = 100.0,
    window: Window | None = None,
) -> tuple[F64, F64]:
    """The same as :func:`svf_reference`, compiled (numba, parallel over rows)."""
    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    dist = march_distances(radius_m, cell)
    drow, dcol = _directions(directions)
    b = np.ascontiguousarray(buildings, dtype=np.float64)
    obst = np.maximum(b, top)
    hb = float(b.max(initial=0.0))
    hv = max(hb, float(top.max(initial=0.0)))
    out_b = np.zeros((r1 - r0, c1 - c0))
    out_v = np.zeros((r1 - r0, c1 - c0))
    with _LOCK:
        _svf_nb(b, obst, float(cell), dist, drow, dcol, hb, hv, r0, r1, c0, c1, out_b, out_v)
    return out_b, out_v


def svf(
    engine: str,
    buildings: F64,
    top: F64,
    cell: float,
    directions: int = 16,
    radius_m: float = 100.0,
    window: Window | None = None,
) -> tuple[F64, F64]:
    """Dispatch to the ``"reference"``, ``"numba"`` or ``"cuda"`` engine (same result)."""
    if engine == "reference":
        fn = svf_reference
    elif engine == "numba":
        fn = svf_numba
    elif engine == "cuda":
        from greentwin.kernels.heat.cuda import svf_cuda

        fn = svf_cuda
    else:
        raise KernelError(f"unknown heat engine {engine!r}: use reference, numba or cuda")
    return fn(buildings, top, cell, directions, radius_m, window)


def effective_svf(svf_buildings: F64, svf_crowns: F64, tau: float) -> F64:
    """Sky seen through crowns that let ``tau`` through: svf_b - (svf_b - svf_bv)(1 - tau)."""
    return np.asarray(svf_buildings - (svf_buildings - svf_crowns) * (1.0 - tau))
