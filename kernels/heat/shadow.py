"""Shadows of buildings and tree crowns on a raster, for one sun position.

Method: the sun ray from each cell is marched towards the sun over the height rasters,
as SOLWEIG's shadow casting does (Ratti and Richens 2004; Lindberg et al. 2008, section
"Shadow patterns"; vegetation after Lindberg and Grimmond 2011): at step ``k`` the ray
is ``k`` cells away along the sun's azimuth (one cell along the dominant axis per step)
and ``z0 + k * ds * tan(elevation)`` high, ``ds`` the horizontal length of a step. The
cell is in a building's shadow when a building cell is taller than the ray; a crown cell
whose crown spans the ray's height (``base <= z < top``) lets ``tau`` of the direct beam
through (the smallest ``tau`` on the path counts: one crown's transmissivity, as
SOLWEIG's ``sh - (1 - vegsh)(1 - psi)``). The march stops once the ray is above the
highest obstacle or leaves the raster (open sky beyond the edge).

Three engines compute the same per cell: :func:`sunlit_reference` (vectorised NumPy,
steps in lockstep), :func:`sunlit_numba` (compiled, one thread per row) and
:func:`sunlit_cuda` (``cupy.RawKernel``, one GPU thread per cell, in
:mod:`greentwin.kernels.heat.cuda`); :func:`sunlit` picks one by name.

Rasters are (ny, nx) float64, row 0 south, column 0 west; heights in metres above
ground; ``tau`` is 1 where there is no crown. The result is the sunlit fraction of the
direct beam: 1 in the sun, 0 in a building's shadow, ``tau`` under a crown.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from numba import njit, prange

__all__ = ["Window", "march_steps", "sunlit", "sunlit_numba", "sunlit_reference"]

F64 = npt.NDArray[np.float64]
#: (row0, row1, col0, col1): a half-open block of the raster.
Window = tuple[int, int, int, int]

_JIT: dict[str, Any] = {"cache": True, "fastmath": False, "error_model": "numpy", "nogil": True}
_LOCK = threading.Lock()


def march_steps(
    azimuth_deg: float, elevation_deg: float, cell: float
) -> tuple[float, float, float]:
    """(drow, dcol, dz) of one marching step towards the sun: cells, cells, metres."""
    az = math.radians(azimuth_deg)
    s, c = math.sin(az), math.cos(az)
    m = max(abs(s), abs(c))
    dz = cell / m * math.tan(math.radians(elevation_deg))
    return c / m, s / m, dz


def _check(buildings: F64, top: F64, base: F64, tau: F64, window: Window) -> None:
    shape = buildings.shape
    if buildings.ndim != 2 or top.shape != shape or base.shape != shape or tau.shape != shape:
        raise KernelError("heat rasters must share one (ny, nx) shape")
    r0, r1, c0, c1 = window
    if not (0 <= r0 <= r1 <= shape[0] and 0 <= c0 <= c1 <= shape[1]):
        raise KernelError(f"window {window} outside the raster {shape}")


def sunlit_reference(
    buildings: F64,
    top: F64,
    base: F64,
    tau: F64,
    cell: float,
    azimuth_deg: float,
    elevation_deg: float,
    window: Window | None = None,
) -> F64:
    """Sunlit fraction of the direct beam in ``window`` (vectorised reference).

    Returns
    -------
    (r1 - r0, c1 - c0) float64: 1 sunlit, 0 building shadow, crown ``tau`` under crowns;
    0 everywhere when the sun is at or below the horizon.
    """
    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    _check(buildings, top, base, tau, (r0, r1, c0, c1))
    out = np.ones((r1 - r0, c1 - c0))
    if elevation_deg <= 0.0:
        return np.zeros_like(out)
    drow, dcol, dz = march_steps(azimuth_deg, elevation_deg, cell)
    hmax = max(float(buildings.max(initial=0.0)), float(top.max(initial=0.0)))
    rr, cc = np.mgrid[r0:r1, c0:c1]
    rows, cols = rr.ravel(), cc.ravel()
    z0 = buildings[rows, cols]
    trans = np.ones(len(rows))
    active = np.ones(len(rows), dtype=bool)
    k = 0
    while active.any():
        k += 1
        z = z0 + k * dz
        ci = np.floor(cols + 0.5 + k * dcol).astype(np.int64)
        ri = np.floor(rows + 0.5 + k * drow).astype(np.int64)
        active &= (z <= hmax) & (ci >= 0) & (ci < nx) & (ri >= 0) & (ri < ny)
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        rs, cs, zs = ri[idx], ci[idx], z[idx]
        hit = buildings[rs, cs] > zs
        trans[idx[hit]] = 0.0
        active[idx[hit]] = False
        crown = ~hit & (top[rs, cs] > zs) & (base[rs, cs] <= zs)
        sel = idx[crown]
        trans[sel] = np.minimum(trans[sel], tau[rs[crown], cs[crown]])
    out[:] = trans.reshape(out.shape)
    return out


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def _sunlit_nb(
    buildings: F64,
    top: F64,
    base: F64,
    tau: F64,
    drow: float,
    dcol: float,
    dz: float,
    hmax: float,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    out: F64,
) -> None:  # pragma: no cover - compiled
    ny, nx = buildings.shape
    for r in prange(r0, r1):
        for c in range(c0, c1):
            z0 = buildings[r, c]
            trans = 1.0
            k = 0
            while True:
                k += 1
                z = z0 + k * dz
                if z > hmax:
                    break
                ci = math.floor(c + 0.5 + k * dcol)
                ri = math.floor(r + 0.5 + k * drow)
                if ci < 0 or ci >= nx or ri < 0 or ri >= ny:
                    break
                if buildings[ri, ci] > z:
                    trans = 0.0
                    break
                if top[ri, ci] > z and base[ri, ci] <= z and tau[ri, ci] < trans:
                    trans = tau[ri, ci]
            out[r - r0, c - c0] = trans


def sunlit_numba(
    buildings: F64,
    top: F64,
    base: F64,
    tau: F64,
    cell: float,
    azimuth_deg: float,
    elevation_deg: float,
    window: Window | None = None,
) -> F64:
    """The same as :func:`sunlit_reference`, compiled (numba, parallel over rows)."""
    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    _check(buildings, top, base, tau, (r0, r1, c0, c1))
    if elevation_deg <= 0.0:
        return np.zeros((r1 - r0, c1 - c0))
    out = np.ones((r1 - r0, c1 - c0))
    drow, dcol, dz = march_steps(azimuth_deg, elevation_deg, cell)
    hmax = max(float(buildings.max(initial=0.0)), float(top.max(initial=0.0)))
    args = [np.ascontiguousarray(a, dtype=np.float64) for a in (buildings, top, base, tau)]
    with _LOCK:
        _sunlit_nb(*args, drow, dcol, dz, hmax, r0, r1, c0, c1, out)
    return out


def sunlit(
    engine: str,
    buildings: F64,
    top: F64,
    base: F64,
    tau: F64,
    cell: float,
    azimuth_deg: float,
    elevation_deg: float,
    window: Window | None = None,
) -> F64:
    """Dispatch to the ``"reference"``, ``"numba"`` or ``"cuda"`` engine (same result)."""
    if engine == "reference":
        fn = sunlit_reference
    elif engine == "numba":
        fn = sunlit_numba
    elif engine == "cuda":
        from greentwin.kernels.heat.cuda import sunlit_cuda

        fn = sunlit_cuda
    else:
        raise KernelError(f"unknown heat engine {engine!r}: use reference, numba or cuda")
    return fn(buildings, top, base, tau, cell, azimuth_deg, elevation_deg, window)
