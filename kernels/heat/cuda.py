"""CUDA path of the heat kernels: ``cupy.RawKernel`` twins of the numba loops.

:data:`CUDA_SOURCE` holds two kernels, one GPU thread per cell of the window:

- ``heat_sunlit``: the march of :func:`greentwin.kernels.heat.shadow.sunlit_numba`
  (same steps, same tests, float64);
- ``heat_svf``: the sectors of :func:`greentwin.kernels.heat.svf.svf_numba`.

NVRTC compiles with ``--fmad=false`` so products and sums round as on the CPU and the
same cells are sampled. The Python wrappers take and return NumPy arrays (the host/device
moves happen here, at the edge), so they sit behind the engines' common signature.
CuPy is imported lazily: importing this module works without it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.kernels.heat.shadow import Window, march_steps
from greentwin.kernels.heat.svf import _directions, march_distances

__all__ = ["BLOCK", "CUDA_SOURCE", "sunlit_cuda", "svf_cuda"]

F64 = npt.NDArray[np.float64]

#: Threads per block.
BLOCK = 256

CUDA_SOURCE = r"""
extern "C" __global__ void heat_sunlit(
    const double* bld, const double* top, const double* base, const double* tau,
    int ny, int nx, double drow, double dcol, double dz, double hmax,
    int r0, int r1, int c0, int c1, double* out)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int w = c1 - c0;
    long long n = (long long)(r1 - r0) * w;
    if (i >= n) return;
    int r = r0 + (int)(i / w);
    int c = c0 + (int)(i % w);
    double z0 = bld[(long long)r * nx + c];
    double trans = 1.0;
    for (long long k = 1; ; ++k) {
        double z = z0 + k * dz;
        if (z > hmax) break;
        int ci = (int)floor(c + 0.5 + k * dcol);
        int ri = (int)floor(r + 0.5 + k * drow);
        if (ci < 0 || ci >= nx || ri < 0 || ri >= ny) break;
        long long j = (long long)ri * nx + ci;
        if (bld[j] > z) { trans = 0.0; break; }
        if (top[j] > z && base[j] <= z && tau[j] < trans) trans = tau[j];
    }
    out[i] = trans;
}

extern "C" __global__ void heat_svf(
    const double* bld, const double* obst, int ny, int nx, double cell,
    const double* dist, int nk, const double* drow, const double* dcol, int nd,
    double hb, double hv, int r0, int r1, int c0, int c1, double* out_b, double* out_v)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int w = c1 - c0;
    long long n = (long long)(r1 - r0) * w;
    if (i >= n) return;
    int r = r0 + (int)(i / w);
    int c = c0 + (int)(i % w);
    double z0 = bld[(long long)r * nx + c];
    double acc_b = 0.0, acc_v = 0.0;
    for (int j = 0; j < nd; ++j) {
        double tb = 0.0, tv = 0.0;
        for (int k = 0; k < nk; ++k) {
            double d = dist[k];
            double dm = d * cell;
            if ((hb - z0) / dm <= tb && (hv - z0) / dm <= tv) break;
            int ci = (int)floor(c + 0.5 + d * dcol[j]);
            int ri = (int)floor(r + 0.5 + d * drow[j]);
            if (ci < 0 || ci >= nx || ri < 0 || ri >= ny) break;
            long long q = (long long)ri * nx + ci;
            double t = (bld[q] - z0) / dm;
            if (t > tb) tb = t;
            t = (obst[q] - z0) / dm;
            if (t > tv) tv = t;
        }
        acc_b += 1.0 / (1.0 + tb * tb);
        acc_v += 1.0 / (1.0 + tv * tv);
    }
    out_b[i] = acc_b / nd;
    out_v[i] = acc_v / nd;
}
"""


@functools.cache
def _module() -> Any:
    import cupy

    return cupy.RawModule(code=CUDA_SOURCE, options=("--fmad=false",))


def _grid(n: int) -> tuple[int]:
    return (max(1, (n + BLOCK - 1) // BLOCK),)


def sunlit_cuda(
    buildings: F64,
    top: F64,
    base: F64,
    tau: F64,
    cell: float,
    azimuth_deg: float,
    elevation_deg: float,
    window: Window | None = None,
) -> F64:
    """:func:`~greentwin.kernels.heat.shadow.sunlit_numba` on the GPU (NumPy in and out)."""
    import cupy

    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    if elevation_deg <= 0.0:
        return np.zeros((r1 - r0, c1 - c0))
    drow, dcol, dz = march_steps(azimuth_deg, elevation_deg, cell)
    hmax = max(float(buildings.max(initial=0.0)), float(top.max(initial=0.0)))
    dev = [
        cupy.asarray(np.ascontiguousarray(a, dtype=np.float64)) for a in (buildings, top, base, tau)
    ]
    n = (r1 - r0) * (c1 - c0)
    out = cupy.ones(n, dtype=cupy.float64)
    if n:
        kern = _module().get_function("heat_sunlit")
        args = (
            *dev,
            np.int32(ny),
            np.int32(nx),
            np.float64(drow),
            np.float64(dcol),
            np.float64(dz),
            np.float64(hmax),
            np.int32(r0),
            np.int32(r1),
            np.int32(c0),
            np.int32(c1),
            out,
        )
        kern(_grid(n), (BLOCK,), args)
    return np.asarray(cupy.asnumpy(out)).reshape(r1 - r0, c1 - c0)


def svf_cuda(
    buildings: F64,
    top: F64,
    cell: float,
    directions: int = 16,
    radius_m: float = 100.0,
    window: Window | None = None,
) -> tuple[F64, F64]:
    """:func:`~greentwin.kernels.heat.svf.svf_numba` on the GPU (NumPy in and out)."""
    import cupy

    ny, nx = buildings.shape
    r0, r1, c0, c1 = window if window is not None else (0, ny, 0, nx)
    dist = march_distances(radius_m, cell)
    drow, dcol = _directions(directions)
    b = np.ascontiguousarray(buildings, dtype=np.float64)
    obst = np.maximum(b, top)
    hb = float(b.max(initial=0.0))
    hv = max(hb, float(top.max(initial=0.0)))
    n = (r1 - r0) * (c1 - c0)
    out_b = cupy.zeros(n, dtype=cupy.float64)
    out_v = cupy.zeros(n, dtype=cupy.float64)
    if n:
        kern = _module().get_function("heat_svf")
        args = (
            cupy.asarray(b),
            cupy.asarray(obst),
            np.int32(ny),
            np.int32(nx),
            np.float64(cell),
            cupy.asarray(dist),
            np.int32(len(dist)),
            cupy.asarray(drow),
            cupy.asarray(dcol),
            np.int32(directions),
            np.float64(hb),
            np.float64(hv),
            np.int32(r0),
            np.int32(r1),
            np.int32(c0),
            np.int32(c1),
            out_b,
            out_v,
        )
        kern(_grid(n), (BLOCK,), args)
    shape = (r1 - r0, c1 - c0)
    return (
        np.asarray(cupy.asnumpy(out_b)).reshape(shape),
        np.asarray(cupy.asnumpy(out_v)).reshape(shape),
    )
