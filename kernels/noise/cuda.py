"""CUDA path of the noise kernel: a ``cupy.RawKernel`` with the physics of the reference.

The CUDA C source (:data:`CUDA_SOURCE`) is the per-pair code of the compiled CPU path
(:mod:`greentwin.kernels.noise.fast`), line for line: profile sampling at
``t_k = (k + 1/2) / K`` in cell units, line-of-sight test, upper convex hull (monotone
chain), Delta_dif with C'' (eqs. 2.5.21-2.5.22), ground in H and F conditions
(eqs. 2.5.14-2.5.20), Delta_ground over diffraction (eqs. 2.5.31-2.5.32), foliage
(ISO 9613-2 Annex A), divergence and absorption (eqs. 2.5.11-2.5.12), all as
transmission factors 10^(-A/10), in float64.

Threads: one per receiver and chunk of ``SOURCES_PER_THREAD`` sources (a 2D launch,
x over receivers, y over source chunks); each thread sums its pairs in registers and
adds them to the receiver's row with one ``atomicAdd`` per weight. NVRTC compiles with
``--fmad=false`` so products and sums round as on the CPU (the same cells are picked).
The profile buffers are sized at compile time (``KMAX``, from the cutoff and the step);
one module is compiled and cached per ``KMAX``.

CuPy is imported lazily: importing this module works without it.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from greentwin.core.errors import KernelError

__all__ = [
    "BLOCK",
    "CUDA_SOURCE",
    "KERNEL_NAME",
    "SOURCES_PER_THREAD",
    "energy_kernel",
    "kmax_for",
    "launch_args",
]

log = logging.getLogger(__name__)

#: Name of the ``extern "C"`` kernel in :data:`CUDA_SOURCE`.
KERNEL_NAME = "noise_energy"
#: Sources handled by one thread (the y extent of the launch is S / this).
SOURCES_PER_THREAD = 32
#: Threads per block (x: receivers).
BLOCK = 128

CUDA_SOURCE = r"""
#ifndef KMAX
#define KMAX 64
#endif
#define T_HARD 1.9952623149688795   /* 10^0.3: A_ground = -3 dB */
#define S_CAP 316.22776601683796    /* 10^2.5: Delta_dif capped at 25 dB */
#define MAXW 24                     /* at most 3 periods x 8 bands per source */

/* out[b] *= 10^(-A_ground/10), H (fav = 0) or F (fav = 1) conditions, eqs. 2.5.14-2.5.20 */
__device__ void ground_t(double dp, double zs, double zr, double g_path, double g_s,
                         int fav, const double* fb, double* out) {
    double zsum = zs + zr;
    double lim = 30.0 * zsum;
    double frac = fmin(dp / lim, 1.0);
    double gp = g_path * frac + g_s * (1.0 - frac);
    double amin = -3.0 * (1.0 - gp);
    double z1 = zs, z2 = zr, gw = gp;
    if (fav) {
        if (dp > lim) amin = amin * (1.0 + 2.0 * (1.0 - lim / dp));
        double dzt = 6e-3 * dp / zsum;
        double a = zs / zsum, c = zr / zsum;
        z1 = zs + 2e-4 * (a * a) * (dp * dp) / 2.0 + dzt;
        z2 = zr + 2e-4 * (c * c) * (dp * dp) / 2.0 + dzt;
        gw = g_path;
    }
    if (g_path == 0.0 && !fav) {
        for (int b = 0; b < 8; ++b) out[b] *= T_HARD;
        return;
    }
    double tmin = pow(10.0, -amin / 10.0);
    if (g_path == 0.0) {
        for (int b = 0; b < 8; ++b) out[b] *= tmin;
        return;
    }
    double gw26 = pow(gw, 2.6), gw13 = pow(gw, 1.3);
    for (int b = 0; b < 8; ++b) {
        double f = fb[b];
        double w = 0.0185 * pow(f, 2.5) * gw26
                   / (pow(f, 1.5) * gw26 + 1.3e3 * pow(f, 0.75) * gw13 + 1.16e6);
        double wd = w * dp;
        double cf = dp * (1.0 + 3.0 * wd * exp(-sqrt(wd))) / (1.0 + wd);
        double k = 2.0 * 3.141592653589793 * f / 340.0;
        double q = cf / k;
        double r = sqrt(2.0 * q);
        double term = 4.0 * (k * k) / (dp * dp) * (z1 * z1 - r * z1 + q) * (z2 * z2 - r * z2 + q);
        out[b] *= fmin(fmax(term, 1e-30), tmin);
    }
}

/* 10^(Delta_dif/10) = 3 + x if x >= -2 else 1 (eq. 2.5.21, uncapped), x = 40/lambda C'' delta,
   for delta_H, delta_F, delta'; C'' of eq. 2.5.22 */
__device__ void dif_t(double dlt_h, double dlt_f, double dlt_i, double e, const double* lam,
                      double out[3][8]) {
    for (int b = 0; b < 8; ++b) {
        double c2 = 1.0;
        if (e > 0.0) {
            double q = 5.0 * lam[b] / fmax(e, 1e-9);
            double r = q * q;
            c2 = (1.0 + r) / (1.0 / 3.0 + r);
        }
        double a = 40.0 / lam[b] * c2;
        double x = a * dlt_h;
        out[0][b] = x >= -2.0 ? fmax(3.0 + x, 1e-12) : 1.0;
        x = a * dlt_f;
        out[1][b] = x >= -2.0 ? fmax(3.0 + x, 1e-12) : 1.0;
        x = a * dlt_i;
        out[2][b] = x >= -2.0 ? fmax(3.0 + x, 1e-12) : 1.0;
    }
}

/* out[b] *= 10^(-A_fol/10), ISO 9613-2 Table A.1 */
__device__ void foliage_t(double df, double* out) {
    const double shrt[8] = {0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0};
    const double perm[8] = {0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12};
    if (df < 10.0) return;
    for (int b = 0; b < 8; ++b) {
        double a = df < 20.0 ? shrt[b] : perm[b] * fmin(df, 200.0);
        out[b] *= pow(10.0, -a / 10.0);
    }
}

__device__ int cell_of(double cx, double cy, int nx, int ny) {
    long long col = (long long)floor(cx);
    long long row = (long long)floor(cy);
    if (col < 0 || col >= nx || row < 0 || row >= ny) return -1;
    return (int)(row * nx + col);
}

extern "C" __global__ void noise_energy(
    const double* rec, const double* skip, const double* rn,
    const double* src, const double* power, const double* plane, const double* is_img,
    const double* heights, const double* ground,
    const double* crown_base, const double* crown_top, const double* crown_dens,
    const int has_ground, const int has_fol,
    const double x0, const double y0, const double cell, const int nx, const int ny,
    const double* alpha, const double* fb,
    const double step, const double cut, const double pfav, const double ground_g,
    const int n_r, const int n_s, const int nw, const int per_thread, double* out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_r) return;
    int s0 = blockIdx.y * per_thread;
    int s1 = s0 + per_thread < n_s ? s0 + per_thread : n_s;
    double hb[KMAX], ub[KMAX], gb[KMAX];
    double su[KMAX + 2], sh[KMAX + 2];
    int sk[KMAX + 2], kb[KMAX], cidx[KMAX];
    double th[8], tf[8], t1[8], t2[8], gg[8], td[3][8], lam[8], acc[MAXW];
    for (int b = 0; b < 8; ++b) lam[b] = 340.0 / fb[b];
    for (int w = 0; w < MAXW; ++w) acc[w] = 0.0;
    const double rx = rec[3 * i], ry = rec[3 * i + 1], rz = rec[3 * i + 2];
    const double cut2 = cut * cut;
    const double ln10_10 = log(10.0) / 10.0;
    int any = 0;
    for (int s = s0; s < s1; ++s) {
        const double sx = src[3 * s], sy = src[3 * s + 1], sz = src[3 * s + 2];
        double ex = rx - sx, ey = ry - sy;
        double d2 = ex * ex + ey * ey;
        if (!(d2 <= cut2)) continue;
        double dpair = sqrt(d2);
        double t_start = 0.0;
        if (is_img[s] != 0.0) {
            double p0 = plane[3 * s], p1 = plane[3 * s + 1], p2 = plane[3 * s + 2];
            double s_r = p0 * rx + p1 * ry - p2;
            double s_i = p0 * sx + p1 * sy - p2;
            int own = (p0 * rn[2 * i] + p1 * rn[2 * i + 1] > 0.7) && (s_r < cell);
            if (!(s_r > 0.5) || own) continue;
            double t_ref = -s_i / fmax(s_r - s_i, 1e-9);
            double qx = sx + t_ref * (rx - sx) - p0 * 0.5 * cell;
            double qy = sy + t_ref * (ry - sy) - p1 * 0.5 * cell;
            double qz = sz + t_ref * (rz - sz);
            int c = cell_of((qx - x0) / cell, (qy - y0) / cell, nx, ny);
            double wall = c >= 0 ? heights[c] : 0.0;
            if (!(wall >= qz)) continue;
            if (t_ref > 0) t_start = t_ref + cell / fmax(dpair, 1e-6);
        }
        int nk = (int)ceil(dpair / step) + 1;
        if (nk < 2) nk = 2;
        if (nk > KMAX) nk = KMAX; /* cannot happen: KMAX >= ceil(cut / step) + 2 */
        double dx = rx - sx, dy = ry - sy;
        double dh = sqrt(dx * dx + dy * dy);
        double dz = rz - sz;
        double d = sqrt(dh * dh + dz * dz);
        double dd = fmax(d, 0.1);
        double tb = pow(10.0, -1.1) / (dd * dd);
        for (int b = 0; b < 8; ++b) {
            th[b] = tb * exp(-alpha[b] * d * ln10_10);
            tf[b] = th[b];
        }
        int nb = 0;
        double h_first = 0.0;
        double gsum = 0.0, df = 0.0;
        int seen = 0;
        double dt = 1.0 / nk;
        double cx0 = (sx - x0) / cell, cy0 = (sy - y0) / cell;
        double cdx = dx / cell, cdy = dy / cell;
        double sk_i = skip[i];
        for (int k = 0; k < nk; ++k) {
            double t = (k + 0.5) * dt;
            int c = cell_of(cx0 + cdx * t, cy0 + cdy * t, nx, ny);
            double h = c >= 0 ? heights[c] : 0.0;
            if (dh * (1.0 - t) < sk_i || t < t_start) h = 0.0;
            if (k == 0) h_first = h;
            /* only samples above the line of sight can be vertices of the upper hull */
            if (h > sz + dz * t) { ub[nb] = dh * t; hb[nb] = h; kb[nb] = k; ++nb; }
            if (has_ground) {
                double g = c >= 0 ? ground[c] : 0.0;
                gb[k] = g;
                gsum += g;
            }
            if (has_fol) {
                /* the leg of an image source before its reflection is not counted */
                cidx[k] = (t >= t_start && c >= 0 && crown_top[c] > 0.0) ? c : -1;
                if (cidx[k] >= 0) {
                    ++seen;
                    double zc = sz + dz * t + t * (1.0 - t) * (dh * dh / (2.0 * 5000.0));
                    double top = crown_top[c];
                    if (zc >= crown_base[c] && zc <= top && top > 0.0) df += crown_dens[c];
                }
            }
        }
        double g_path = has_ground ? gsum / nk : ground_g;
        if (nb == 0) {
            ground_t(dh, sz, rz, g_path, 0.0, 0, fb, th);
            ground_t(dh, sz, rz, g_path, 0.0, 1, fb, tf);
        } else {
            /* upper convex hull of S, the samples above the line of sight and R */
            su[0] = 0.0; sh[0] = sz; sk[0] = -1;
            int m = 1;
            for (int j = 0; j <= nb; ++j) {
                double pu = j < nb ? ub[j] : dh;
                double ph = j < nb ? hb[j] : rz;
                int k = j < nb ? kb[j] : nk;
                while (m >= 2) {
                    double ou = su[m - 2], oh = sh[m - 2];
                    if ((ph - oh) * (su[m - 1] - ou) >= (sh[m - 1] - oh) * (pu - ou)) --m;
                    else break;
                }
                su[m] = pu; sh[m] = ph; sk[m] = k; ++m;
            }
            double gamma = fmax(1000.0, 8.0 * d);
            double length = 0.0, arcs = 0.0;
            for (int j = 1; j < m; ++j) {
                double a = su[j] - su[j - 1], c = sh[j] - sh[j - 1];
                double seg = sqrt(a * a + c * c);
                length += seg;
                arcs += 2.0 * gamma * asin(fmin(seg / (2.0 * gamma), 1.0));
            }
            int fk, lk;
            double u_o1, h_o1, u_on, h_on, first_len;
            if (m >= 3) {
                fk = sk[1]; lk = sk[m - 2];
                u_o1 = su[1]; h_o1 = sh[1]; u_on = su[m - 2]; h_on = sh[m - 2];
                first_len = sqrt(u_o1 * u_o1 + (h_o1 - sz) * (h_o1 - sz));
            } else {
                fk = 0; lk = 0;
                u_o1 = dh * (0.5 * dt); h_o1 = h_first; u_on = u_o1; h_on = h_o1;
                first_len = 0.0;
            }
            double last_len = sqrt((dh - u_on) * (dh - u_on) + (rz - h_on) * (rz - h_on));
            double e = lk != fk ? fmax(length - first_len - last_len, 0.0) : 0.0;
            double delta_h = length - d;
            double delta_f = arcs - 2.0 * gamma * asin(fmin(d / (2.0 * gamma), 1.0));
            double last_img = sqrt((dh - u_on) * (dh - u_on) + (rz + h_on) * (rz + h_on));
            double d_img = sqrt(dh * dh + (rz + sz) * (rz + sz));
            double delta_img = length - last_len + last_img - d_img;
            double g_so = ground_g, g_or = ground_g;
            if (has_ground) {
                g_so = 0.0;
                for (int k = 0; k <= fk; ++k) g_so += gb[k];
                g_so /= fk + 1;
                g_or = 0.0;
                for (int k = lk; k < nk; ++k) g_or += gb[k];
                g_or /= nk - lk;
            }
            double dp_so = fmax(u_o1, 0.1), dp_or = fmax(dh - u_on, 0.1);
            double z_o1 = fmax(h_o1, 0.01), z_on = fmax(h_on, 0.01);
            dif_t(delta_h, delta_f, delta_img, e, lam, td);
            for (int cond = 0; cond < 2; ++cond) {
                double* tt = cond ? tf : th;
                for (int b = 0; b < 8; ++b) { gg[b] = 1.0; t2[b] = 1.0; }
                /* Delta_ground(S,O) = A_ground(S,O) for a source at 0.05 m (eq. 2.5.31) */
                ground_t(dp_so, sz, z_o1, g_so, 0.0, cond, fb, gg);
                ground_t(dp_or, z_on, rz, g_or, g_or, cond, fb, t2);
                for (int b = 0; b < 8; ++b) {
                    /* Delta_ground(O,R), eq. 2.5.32: 10^(-(D' - D)/20) = sqrt(T'/T) */
                    double s_d = td[cond][b];
                    double v = 1.0 + (sqrt(t2[b]) - 1.0) * sqrt(s_d / td[2][b]);
                    v = fmax(v, 1e-12);
                    /* min(Delta_dif, 25 dB): 10^(-D/10) = 1 / (3 + x), at least 10^-2.5 */
                    tt[b] *= gg[b] * v * v / fmin(s_d, S_CAP);
                }
            }
            if (has_fol && seen > 0) {
                /* foliage along the diffracted path: the hull S -> edges -> R */
                df = 0.0;
                int j = 1;
                for (int k = 0; k < nk; ++k) {
                    int c = cidx[k];
                    if (c < 0) continue;
                    double t = (k + 0.5) * dt;
                    double u = dh * t;
                    while (j < m - 1 && su[j] < u) ++j;
                    double w = (u - su[j - 1]) / fmax(su[j] - su[j - 1], 1e-9);
                    double zc = sh[j - 1] + (sh[j] - sh[j - 1]) * w;
                    zc += t * (1.0 - t) * (dh * dh / (2.0 * 5000.0));
                    double top = crown_top[c];
                    if (zc >= crown_base[c] && zc <= top && top > 0.0) df += crown_dens[c];
                }
            }
        }
        if (has_fol && df > 0.0) {
            for (int b = 0; b < 8; ++b) t1[b] = 1.0;
            foliage_t(df * dh / nk, t1);
            for (int b = 0; b < 8; ++b) { th[b] *= t1[b]; tf[b] *= t1[b]; }
        }
        for (int b = 0; b < 8; ++b) {
            double fac = pfav * tf[b] + (1.0 - pfav) * th[b];
            for (int w = b; w < nw; w += 8) acc[w] += power[(long long)s * nw + w] * fac;
        }
        any = 1;
    }
    if (any) {
        for (int w = 0; w < nw; ++w) atomicAdd(&out[(long long)i * nw + w], acc[w]);
    }
}
"""


def kmax_for(max_distance_m: float, step_m: float) -> int:
    """Profile buffer length for a cutoff and step: ceil(cut / step) + 2 samples."""
    return max(2, math.ceil(max_distance_m / step_m) + 2)


@functools.cache
def _kernel(kmax: int) -> Any:
    import cupy

    return cupy.RawKernel(
        CUDA_SOURCE, KERNEL_NAME, options=(f"-DKMAX={kmax}", "--fmad=false", "-std=c++14")
    )


def launch_args(
    xp: Any,
    rec_xyz: Any,
    rec_skip: Any,
    rec_n: Any,
    src_xyz: Any,
    src_power: Any,
    src_plane: Any,
    src_is_image: Any,
    heights: Any,
    ground: Any | None,
    crowns: tuple[Any, Any, Any] | None,
    grid: tuple[float, float, float, int, int],
    alpha: Any,
    bands_hz: Any,
    step_m: float,
    max_distance_m: float,
    p_favourable: float,
    ground_g: float,
) -> tuple[tuple[Any, ...], tuple[int, int], int]:
    """The kernel's arguments in the order and types of :data:`CUDA_SOURCE`.

    Parameters
    ----------
    xp : the array module (``cupy``; ``numpy`` for the host build in the tests).
    others : as :func:`energy_kernel`.

    Returns
    -------
    args : arrays (float64, contiguous) and scalars (int32, float64); the last one is
        the (R, W) float64 output, zeroed.
    grid : launch grid (receiver blocks, source chunks).
    kmax : profile buffer length to compile with.

    Raises
    ------
    KernelError
        More than 24 weights per source.
    """
    f64 = xp.float64
    i32 = xp.int32
    n_r = int(rec_xyz.shape[0])
    n_s = int(src_xyz.shape[0])
    nw = int(src_power.shape[1])
    if nw > 24:
        raise KernelError(f"CUDA noise kernel: at most 24 weights per source (got {nw})")
    empty = xp.zeros(1, dtype=f64)
    cb, ct, cd = crowns if crowns is not None else (empty, empty, empty)
    x0, y0, cell, nx, ny = grid

    def arr(a: Any) -> Any:
        return xp.ascontiguousarray(xp.asarray(a), dtype=f64)

    args = (
        arr(rec_xyz),
        arr(rec_skip),
        arr(rec_n),
        arr(src_xyz),
        arr(src_power),
        arr(src_plane),
        arr(src_is_image),
        arr(heights),
        empty if ground is None else arr(ground),
        arr(cb),
        arr(ct),
        arr(cd),
        i32(ground is not None),
        i32(crowns is not None),
        f64(x0),
        f64(y0),
        f64(cell),
        i32(nx),
        i32(ny),
        arr(alpha),
        arr(bands_hz),
        f64(step_m),
        f64(max_distance_m),
        f64(p_favourable),
        f64(ground_g),
        i32(n_r),
        i32(n_s),
        i32(nw),
        i32(SOURCES_PER_THREAD),
        xp.zeros((n_r, nw), dtype=f64),
    )
    grid_dim = ((n_r + BLOCK - 1) // BLOCK, (n_s + SOURCES_PER_THREAD - 1) // SOURCES_PER_THREAD)
    return args, grid_dim, kmax_for(max_distance_m, step_m)


def energy_kernel(
    rec_xyz: Any,
    rec_skip: Any,
    rec_n: Any,
    src_xyz: Any,
    src_power: Any,
    src_plane: Any,
    src_is_image: Any,
    heights: Any,
    ground: Any | None,
    crowns: tuple[Any, Any, Any] | None,
    grid: tuple[float, float, float, int, int],
    alpha: Any,
    bands_hz: Any,
    step_m: float,
    max_distance_m: float,
    p_favourable: float,
    ground_g: float,
) -> Any:
    """Energy at receivers from point sources on the GPU (CuPy arrays in and out).

    Same parameters as :func:`greentwin.kernels.noise.fast.energy_kernel` (CuPy arrays
    in place of NumPy arrays).

    Returns
    -------
    (R, W) float64 CuPy array.

    Notes
    -----
    Each thread keeps about 6 x ``KMAX`` doubles of profile in local memory
    (52 samples at a 250 m cutoff and a 5 m step: 2.5 kB).
    """
    import cupy as cp

    args, grid_dim, kmax = launch_args(
        cp,
        rec_xyz,
        rec_skip,
        rec_n,
        src_xyz,
        src_power,
        src_plane,
        src_is_image,
        heights,
        ground,
        crowns,
        grid,
        alpha,
        bands_hz,
        step_m,
        max_distance_m,
        p_favourable,
        ground_g,
    )
    if grid_dim[0] and grid_dim[1]:
        _kernel(kmax)(grid_dim, (BLOCK,), args)
    return args[-1]
