"""Compiled CPU path of the noise kernel (numba), one thread per block of receivers.

The same per-pair physics as the vectorised reference (:func:`.compute.receiver_energy`,
Directive (EU) 2015/996, Annex II, 2.5), written as scalar loops:

- the pairs within ``max_distance_m`` of each receiver, the image-source validity
  test, the profile of ``K = max(2, ceil(d_h / step) + 1)`` samples at
  ``t_k = (k + 1/2) / K`` and the line-of-sight test are those of the reference, with
  the same floating-point operations;
- the rubber-band path is the upper convex hull of S, the samples and R, built by a
  monotone chain (O(K)) instead of gift wrapping (O(K x vertices)) over the samples
  above the line of sight only (the others cannot be vertices); both give the same
  vertices (ties go to the farthest point in both);
- the attenuations are combined as transmission factors T = 10^(-A/10) rather than in
  decibels. With D_dif = 10 lg(3 + x) (eq. 2.5.21), 10^(-D_dif/10) = 1 / (3 + x), and
  A_ground = max(-10 lg(term), A_min) (eq. 2.5.15) becomes min(term, 10^(-A_min/10)),
  so a pair needs only eight exponentials (the atmospheric absorption) on hard
  ground. The results are equal to the reference's to rounding;
- a path that lies wholly inside the grid, with nothing masked and no ground or crown
  raster, is sampled by a lean loop (no bounds tests; truncation for floor).

Cost on a 2.5 GHz Xeon core: about 0.5 us per pair at a 250 m cutoff and 5 m cells
(31 samples on average), i.e. 10-12 CPU seconds for 19 million pairs.

Every compiled function has a single signature (float64/int64 arrays, empty arrays for
missing rasters) and is cached on disk (``cache=True``), so a process compiles it at
most once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = ["energy_kernel", "warm_up", "within_reach"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

_JIT: dict[str, Any] = {"cache": True, "fastmath": False, "error_model": "numpy", "nogil": True}

#: Numba's default threading layer (workqueue) must not be entered from two threads at
#: once; the kernel already uses every core, so concurrent callers take turns.
_LOCK = threading.Lock()

#: 10^(-A/10) for A = -3 dB (hard ground, eq. 2.5.15 note).
_T_HARD = 10.0**0.3
#: 10^(25/10): the 25 dB cap of Delta_dif (eq. 2.5.21 ff.).
_S_CAP = 10.0**2.5


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _cell(
    x: float, y: float, x0: float, y0: float, cell: float, nx: int, ny: int
) -> int:  # pragma: no cover - compiled
    """Flat index of the raster cell holding (x, y), or -1 outside the grid."""
    col = int(np.floor((x - x0) / cell))
    row = int(np.floor((y - y0) / cell))
    if col < 0 or col >= nx or row < 0 or row >= ny:
        return -1
    return row * nx + col


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _ground_t(
    dp: float,
    zs: float,
    zr: float,
    g_path: float,
    g_s: float,
    favourable: bool,
    fb: F64,
    out: F64,
) -> None:  # pragma: no cover - compiled
    """out[b] *= 10^(-A_ground/10) in H or F conditions (eqs. 2.5.14-2.5.20).

    A_ground,H = max(-10 lg(term), -3 (1 - G'_path)) with G_w = G'_path; A_ground,F the
    same with z + dz(z) + dz_T (a_0 = 2e-4 1/m, dz_T = 6e-3 d_p / (z_s + z_r)), G_w =
    G_path and the favourable lower bound; term = 4 k^2 / d_p^2 (z_s^2 - sqrt(2 C_f/k)
    z_s + C_f/k)(z_r^2 - sqrt(2 C_f/k) z_r + C_f/k), w and C_f of eqs. 2.5.16-2.5.17.
    """
    zsum = zs + zr
    lim = 30.0 * zsum
    frac = min(dp / lim, 1.0)
    gp = g_path * frac + g_s * (1.0 - frac)
    if favourable:
        amin = -3.0 * (1.0 - gp)
        if dp > lim:
            amin = amin * (1.0 + 2.0 * (1.0 - lim / dp))
        dzt = 6e-3 * dp / zsum
        z1 = zs + 2e-4 * (zs / zsum) ** 2 * dp**2 / 2.0 + dzt
        z2 = zr + 2e-4 * (zr / zsum) ** 2 * dp**2 / 2.0 + dzt
        gw = g_path
    else:
        amin = -3.0 * (1.0 - gp)
        z1 = zs
        z2 = zr
        gw = gp
    if g_path == 0.0 and not favourable:
        for b in range(8):
            out[b] *= _T_HARD
        return
    tmin = 10.0 ** (-amin / 10.0)
    if g_path == 0.0:
        for b in range(8):
            out[b] *= tmin
        return
    gw26 = gw**2.6
    gw13 = gw**1.3
    for b in range(8):
        f = fb[b]
        w = 0.0185 * f**2.5 * gw26 / (f**1.5 * gw26 + 1.3e3 * f**0.75 * gw13 + 1.16e6)
        wd = w * dp
        cf = dp * (1.0 + 3.0 * wd * math.exp(-math.sqrt(wd))) / (1.0 + wd)
        k = 2.0 * math.pi * f / 340.0
        q = cf / k
        r = math.sqrt(2.0 * q)
        term = 4.0 * k**2 / dp**2 * (z1**2 - r * z1 + q) * (z2**2 - r * z2 + q)
        out[b] *= min(max(term, 1e-30), tmin)


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _dif_t(
    delta_h: float, delta_f: float, delta_img: float, e: float, lam: F64, out: F64
) -> None:  # pragma: no cover - compiled
    """out[0:3, b] = 10^(Delta_dif/10) (eq. 2.5.21, uncapped) for delta_H, delta_F, delta'.

    That is 3 + x (x = 40/lambda C'' delta) where x >= -2, else 1; C'' = (1 + (5 lambda /
    e)^2) / (1/3 + (5 lambda / e)^2) for e > 0 (eq. 2.5.22), else 1.
    """
    for b in range(8):
        c2 = 1.0
        if e > 0.0:
            r = (5.0 * lam[b] / max(e, 1e-9)) ** 2
            c2 = (1.0 + r) / (1.0 / 3.0 + r)
        a = 40.0 / lam[b] * c2
        x = a * delta_h
        out[0, b] = max(3.0 + x, 1e-12) if x >= -2.0 else 1.0
        x = a * delta_f
        out[1, b] = max(3.0 + x, 1e-12) if x >= -2.0 else 1.0
        x = a * delta_img
        out[2, b] = max(3.0 + x, 1e-12) if x >= -2.0 else 1.0


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _foliage_t(df: float, out: F64) -> None:  # pragma: no cover - compiled
    """out[b] *= 10^(-A_fol/10), ISO 9613-2 Table A.1 (0 below 10 m, 200 m at most)."""
    if df < 10.0:
        return
    short = (0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0)
    per_m = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12)
    for b in range(8):
        a = short[b] if df < 20.0 else per_m[b] * min(df, 200.0)
        out[b] *= 10.0 ** (-a / 10.0)


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _seg_box(
    ax: float, ay: float, bx: float, by: float, x0: float, y0: float, x1: float, y1: float
) -> bool:  # pragma: no cover - compiled
    """Whether the segment a -> b meets the box [x0, x1] x [y0, y1] (slab test)."""
    t0 = 0.0
    t1 = 1.0
    for axis in range(2):
        a = ax if axis == 0 else ay
        d = (bx - ax) if axis == 0 else (by - ay)
        lo = x0 if axis == 0 else y0
        hi = x1 if axis == 0 else y1
        if abs(d) < 1e-12:
            if a < lo or a > hi:
                return False
            continue
        ta = (lo - a) / d
        tb = (hi - a) / d
        t0 = max(t0, min(ta, tb))
        t1 = min(t1, max(ta, tb))
    return bool(t0 <= t1)


@njit(**_JIT)  # type: ignore[untyped-decorator]
def _pair_in_box(
    sx: float,
    sy: float,
    rx: float,
    ry: float,
    img: bool,
    p0: float,
    p1: float,
    p2: float,
    box: F64,
) -> bool:  # pragma: no cover - compiled
    """The pair's path crosses the box (an image source's also the box mirrored in its
    facade plane: the mirror image of the leg before the reflection)."""
    if _seg_box(sx, sy, rx, ry, box[0], box[1], box[2], box[3]):
        return True
    if not img:
        return False
    mx0 = np.inf
    my0 = np.inf
    mx1 = -np.inf
    my1 = -np.inf
    for j in range(4):
        cx = box[0] if j == 0 or j == 3 else box[2]
        cy = box[1] if j < 2 else box[3]
        sd = p0 * cx + p1 * cy - p2
        mx = cx - 2.0 * sd * p0
        my = cy - 2.0 * sd * p1
        mx0 = min(mx0, mx)
        my0 = min(my0, my)
        mx1 = max(mx1, mx)
        my1 = max(my1, my)
    return bool(_seg_box(sx, sy, rx, ry, mx0, my0, mx1, my1))


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def _energy(
    rec: F64,
    skip: F64,
    rn: F64,
    src: F64,
    power: F64,
    plane: F64,
    is_img: F64,
    heights: F64,
    ground: F64,
    crown_base: F64,
    crown_top: F64,
    crown_dens: F64,
    gridp: F64,
    shape: npt.NDArray[np.int64],
    alpha: F64,
    fb: F64,
    prm: F64,
    out: F64,
) -> None:  # pragma: no cover - compiled
    """Per-receiver sums over the sources (see :func:`energy_kernel`)."""
    x0, y0, cell = gridp[0], gridp[1], gridp[2]
    nx, ny = shape[0], shape[1]
    step, cut, pfav, ground_g = prm[0], prm[1], prm[2], prm[3]
    # prm[4] != 0: only the pairs whose path crosses the box prm[5:9] (xmin, ymin, xmax, ymax)
    use_box = prm.shape[0] >= 9 and prm[4] != 0.0
    box = prm[5:9] if prm.shape[0] >= 9 else prm[0:4]
    gamma_min = 1000.0
    has_ground = ground.shape[0] > 0
    has_fol = crown_top.shape[0] > 0
    n_r = rec.shape[0]
    n_s = src.shape[0]
    nw = power.shape[1]
    kmax = max(2, math.ceil(cut / step) + 2)
    cut2 = cut * cut
    lam = np.zeros(8)
    for b in range(8):
        lam[b] = 340.0 / fb[b]
    for i in prange(n_r):
        hb = np.zeros(kmax)
        kb = np.zeros(kmax, dtype=np.int64)
        ub = np.zeros(kmax)
        gb = np.zeros(kmax)
        su = np.zeros(kmax + 2)
        sh = np.zeros(kmax + 2)
        sk = np.zeros(kmax + 2, dtype=np.int64)
        cidx = np.zeros(kmax if has_fol else 0, dtype=np.int64)
        th = np.zeros(8)
        tf = np.zeros(8)
        t1 = np.zeros(8)
        t2 = np.zeros(8)
        td = np.zeros((3, 8))
        gg = np.zeros(8)
        rx, ry, rz = rec[i, 0], rec[i, 1], rec[i, 2]
        for s in range(n_s):
            sx, sy, sz = src[s, 0], src[s, 1], src[s, 2]
            d2 = (rx - sx) ** 2 + (ry - sy) ** 2
            if not d2 <= cut2:
                continue
            if use_box and not _pair_in_box(
                sx, sy, rx, ry, is_img[s] != 0.0, plane[s, 0], plane[s, 1], plane[s, 2], box
            ):
                continue
            dpair = math.sqrt(d2)
            t_start = 0.0
            if is_img[s] != 0.0:
                p0, p1, p2 = plane[s, 0], plane[s, 1], plane[s, 2]
                s_r = p0 * rx + p1 * ry - p2
                s_i = p0 * sx + p1 * sy - p2
                own = (p0 * rn[i, 0] + p1 * rn[i, 1] > 0.7) and (s_r < cell)
                if not (s_r > 0.5) or own:
                    continue
                t_ref = -s_i / max(s_r - s_i, 1e-9)
                qx = sx + t_ref * (rx - sx) - p0 * 0.5 * cell
                qy = sy + t_ref * (ry - sy) - p1 * 0.5 * cell
                qz = sz + t_ref * (rz - sz)
                c = _cell(qx, qy, x0, y0, cell, nx, ny)
                wall = heights[c] if c >= 0 else 0.0
                if not (wall >= qz):
                    continue
                if t_ref > 0:
                    t_start = t_ref + cell / max(dpair, 1e-6)
            nk = max(2, math.ceil(dpair / step) + 1)
            dx = rx - sx
            dy = ry - sy
            dh = math.sqrt(dx * dx + dy * dy)
            dz = rz - sz
            d = math.sqrt(dh * dh + dz * dz)
            # divergence (eq. 2.5.11) and absorption (eq. 2.5.12) as transmission factors
            tb = 10.0**-1.1 / max(d, 0.1) ** 2
            for b in range(8):
                th[b] = tb * math.exp(-alpha[b] * d * (math.log(10.0) / 10.0))
                tf[b] = th[b]
            # the profile over the height raster
            nb = 0
            h_first = 0.0
            gsum = 0.0
            df = 0.0
            seen = 0
            # sample k at t = (k + 1/2) / K, in cell units from the grid origin
            dt = 1.0 / nk
            cx0 = (sx - x0) / cell
            cy0 = (sy - y0) / cell
            cdx = dx / cell
            cdy = dy / cell
            ex = cx0 + cdx
            ey = cy0 + cdy
            # the whole path inside the grid, nothing masked, no ground or crown raster:
            # a lean loop. Samples lie between the end points (rounding is monotone), and
            # truncation is floor for non-negative values, so the same cells are read.
            lean = (
                not has_ground
                and not has_fol
                and skip[i] <= 0.0
                and t_start <= 0.0
                and min(cx0, ex) >= 0.0
                and max(cx0, ex) < nx
                and min(cy0, ey) >= 0.0
                and max(cy0, ey) < ny
            )
            for k in range(nk if lean else 0):
                t = (k + 0.5) * dt
                h = heights[int(cy0 + cdy * t) * nx + int(cx0 + cdx * t)]
                if k == 0:
                    h_first = h
                if h > sz + dz * t:
                    ub[nb] = dh * t
                    hb[nb] = h
                    kb[nb] = k
                    nb += 1
            for k in range(0 if lean else nk):
                t = (k + 0.5) * dt
                col = int(np.floor(cx0 + cdx * t))
                row = int(np.floor(cy0 + cdy * t))
                c = row * nx + col if (0 <= col < nx and 0 <= row < ny) else -1
                h = heights[c] if c >= 0 else 0.0
                if dh * (1.0 - t) < skip[i] or t < t_start:
                    h = 0.0
                if k == 0:
                    h_first = h
                # only samples above the line of sight can be vertices of the upper hull
                if h > sz + dz * t:
                    ub[nb] = dh * t
                    hb[nb] = h
                    kb[nb] = k
                    nb += 1
                if has_ground:
                    g = ground[c] if c >= 0 else 0.0
                    gb[k] = g
                    gsum += g
                if has_fol:
                    # the leg of an image source before its reflection is not counted
                    cidx[k] = c if t >= t_start and c >= 0 and crown_top[c] > 0.0 else -1
                    if cidx[k] >= 0:
                        seen += 1
                        zc = sz + dz * t + t * (1.0 - t) * (dh * dh / (2.0 * 5000.0))
                        top = crown_top[c]
                        if zc >= crown_base[c] and zc <= top and top > 0.0:
                            df += crown_dens[c]
            g_path = gsum / nk if has_ground else ground_g
            if nb == 0:
                _ground_t(dh, sz, rz, g_path, 0.0, False, fb, th)
                _ground_t(dh, sz, rz, g_path, 0.0, True, fb, tf)
            else:
                # upper convex hull of S, the samples above the line of sight and R
                # (monotone chain)
                su[0] = 0.0
                sh[0] = sz
                sk[0] = -1
                m = 1
                for j in range(nb + 1):
                    if j < nb:
                        pu = ub[j]
                        ph = hb[j]
                        k = kb[j]
                    else:
                        pu = dh
                        ph = rz
                        k = nk
                    # pop the top while the slope o -> p is not below the slope o -> top
                    # (cross-multiplied: the u steps are positive)
                    while m >= 2:
                        ou = su[m - 2]
                        oh = sh[m - 2]
                        if (ph - oh) * (su[m - 1] - ou) >= (sh[m - 1] - oh) * (pu - ou):
                            m -= 1
                        else:
                            break
                    su[m] = pu
                    sh[m] = ph
                    sk[m] = k
                    m += 1
                gamma = max(gamma_min, 8.0 * d)
                length = 0.0
                arcs = 0.0
                for j in range(1, m):
                    seg = math.sqrt((su[j] - su[j - 1]) ** 2 + (sh[j] - sh[j - 1]) ** 2)
                    length += seg
                    arcs += 2.0 * gamma * math.asin(min(seg / (2.0 * gamma), 1.0))
                if m >= 3:
                    fk = sk[1]
                    lk = sk[m - 2]
                    u_o1, h_o1 = su[1], sh[1]
                    u_on, h_on = su[m - 2], sh[m - 2]
                    first_len = math.sqrt(u_o1**2 + (h_o1 - sz) ** 2)
                else:  # no vertex between S and R (cannot happen on a blocked path)
                    fk = 0
                    lk = 0
                    u_o1 = dh * (0.5 * dt)
                    h_o1 = h_first
                    u_on, h_on = u_o1, h_o1
                    first_len = 0.0
                last_len = math.sqrt((dh - u_on) ** 2 + (rz - h_on) ** 2)
                e = max(length - first_len - last_len, 0.0) if lk != fk else 0.0
                delta_h = length - d
                delta_f = arcs - 2.0 * gamma * math.asin(min(d / (2.0 * gamma), 1.0))
                last_img = math.sqrt((dh - u_on) ** 2 + (rz + h_on) ** 2)
                d_img = math.sqrt(dh * dh + (rz + sz) ** 2)
                delta_img = length - last_len + last_img - d_img
                if has_ground:
                    g_so = 0.0
                    for k in range(fk + 1):
                        g_so += gb[k]
                    g_so /= fk + 1
                    g_or = 0.0
                    for k in range(lk, nk):
                        g_or += gb[k]
                    g_or /= nk - lk
                else:
                    g_so = ground_g
                    g_or = ground_g
                dp_so = max(u_o1, 0.1)
                dp_or = max(dh - u_on, 0.1)
                z_o1 = max(h_o1, 0.01)
                z_on = max(h_on, 0.01)
                _dif_t(delta_h, delta_f, delta_img, e, lam, td)
                for cond in range(2):
                    tt = tf if cond == 1 else th
                    # Delta_ground(S,O) = A_ground(S,O) for a source at 0.05 m (eq. 2.5.31)
                    for b in range(8):
                        gg[b] = 1.0
                        t2[b] = 1.0
                    _ground_t(dp_so, sz, z_o1, g_so, 0.0, cond == 1, fb, gg)
                    _ground_t(dp_or, z_on, rz, g_or, g_or, cond == 1, fb, t2)
                    for b in range(8):
                        # Delta_ground(O,R), eq. 2.5.32, with 10^(-(D' - D)/20) = sqrt(T'/T)
                        s_d = td[cond, b]
                        v = 1.0 + (math.sqrt(t2[b]) - 1.0) * math.sqrt(s_d / td[2, b])
                        v = max(v, 1e-12)
                        # min(Delta_dif, 25 dB): 10^(-D/10) = 1 / (3 + x), at least 10^-2.5
                        tt[b] *= gg[b] * v * v / min(s_d, _S_CAP)
                if has_fol and seen > 0:
                    # foliage along the diffracted path: the hull S -> edges -> R
                    df = 0.0
                    j = 1
                    for k in range(nk):
                        c = cidx[k]
                        if c < 0:
                            continue
                        t = (k + 0.5) * dt
                        u = dh * t
                        while j < m - 1 and su[j] < u:
                            j += 1
                        w = (u - su[j - 1]) / max(su[j] - su[j - 1], 1e-9)
                        zc = sh[j - 1] + (sh[j] - sh[j - 1]) * w
                        zc += t * (1.0 - t) * (dh * dh / (2.0 * 5000.0))
                        top = crown_top[c]
                        if zc >= crown_base[c] and zc <= top and top > 0.0:
                            df += crown_dens[c]
            if has_fol and df > 0.0:
                for b in range(8):
                    t1[b] = 1.0
                _foliage_t(df * dh / nk, t1)
                for b in range(8):
                    th[b] *= t1[b]
                    tf[b] *= t1[b]
            for b in range(8):
                fac = pfav * tf[b] + (1.0 - pfav) * th[b]
                for c8 in range(b, nw, 8):
                    out[i, c8] += power[s, c8] * fac


@njit(parallel=True, **_JIT)  # type: ignore[untyped-decorator]
def _reach(rxy: F64, sxy: F64, cut2: float, out: npt.NDArray[np.bool_]) -> None:  # pragma: no cover
    """out[i] = some source lies within sqrt(cut2) of receiver i (horizontal distance)."""
    for i in prange(rxy.shape[0]):
        rx, ry = rxy[i, 0], rxy[i, 1]
        for s in range(sxy.shape[0]):
            if (rx - sxy[s, 0]) ** 2 + (ry - sxy[s, 1]) ** 2 <= cut2:
                out[i] = True
                break


def within_reach(rxy: F64, sxy: F64, max_distance_m: float) -> npt.NDArray[np.bool_]:
    """Which receivers have a source within the cutoff (the test of the kernels' pairs).

    Parameters
    ----------
    rxy : (R, 2) float64, m; sxy : (S, 2) float64, m.

    Returns
    -------
    (R,) bool
    """
    out = np.zeros(rxy.shape[0], dtype=np.bool_)
    if rxy.shape[0] and sxy.shape[0]:
        _reach(
            np.ascontiguousarray(rxy, np.float64),
            np.ascontiguousarray(sxy, np.float64),
            float(max_distance_m) ** 2,
            out,
        )
    return out


def energy_kernel(
    rec_xyz: F64,
    rec_skip: F64,
    rec_n: F64,
    src_xyz: F64,
    src_power: F64,
    src_plane: F64,
    src_is_image: npt.NDArray[Any],
    heights: F64,
    ground: F64 | None,
    crowns: tuple[F64, F64, F64] | None,
    grid: tuple[float, float, float, int, int],
    alpha: F64,
    bands_hz: F64,
    step_m: float,
    max_distance_m: float,
    p_favourable: float,
    ground_g: float,
    *,
    box: tuple[float, float, float, float] | None = None,
) -> F64:
    """Energy at receivers from point sources, compiled (numba, threads over receivers).

    Parameters
    ----------
    rec_xyz : (R, 3) float64, m; rec_skip : (R,) float64, m; rec_n : (R, 2) facade normals.
    src_xyz : (S, 3) float64, m; src_power : (S, W) float64 weights (W = C x 8, band
        fastest); src_plane : (S, 3) float64 reflecting planes; src_is_image : (S,) bool.
    heights, ground : flattened (ny * nx,) rasters (ground None: ``ground_g`` everywhere).
    crowns : flattened (base, top, density) rasters for foliage, or None.
    grid : (x0, y0, cell, nx, ny).
    alpha : (8,) dB/m; bands_hz : (8,) nominal band centres, Hz.
    step_m : profile step, m; max_distance_m : cutoff, m; p_favourable : 0..1.
    box : (xmin, ymin, xmax, ymax), m: only the pairs whose horizontal path crosses it
        (an image source's, or its mirror image in the facade plane) are summed; None:
        every pair.

    Returns
    -------
    (R, W) float64, sum over sources of w 10^(-A/10) (long-term, eq. 2.5.9 ff.).
    """
    f64 = np.float64
    n_r = rec_xyz.shape[0]
    out = np.zeros((n_r, src_power.shape[1]))
    if n_r == 0 or src_xyz.shape[0] == 0:
        return out
    empty = np.zeros(0)
    cb, ct, cd = crowns if crowns is not None else (empty, empty, empty)
    with _LOCK:
        _energy(
            np.ascontiguousarray(rec_xyz, f64),
            np.ascontiguousarray(rec_skip, f64),
            np.ascontiguousarray(rec_n, f64),
            np.ascontiguousarray(src_xyz, f64),
            np.ascontiguousarray(src_power, f64),
            np.ascontiguousarray(src_plane, f64),
            np.ascontiguousarray(src_is_image, f64),
            np.ascontiguousarray(heights, f64),
            empty if ground is None else np.ascontiguousarray(ground, f64),
            np.ascontiguousarray(cb, f64),
            np.ascontiguousarray(ct, f64),
            np.ascontiguousarray(cd, f64),
            np.array(grid[:3], dtype=f64),
            np.array(grid[3:], dtype=np.int64),
            np.ascontiguousarray(alpha, f64),
            np.ascontiguousarray(bands_hz, f64),
            np.array(
                [step_m, max_distance_m, p_favourable, ground_g]
                + ([1.0, *box] if box is not None else [0.0, 0.0, 0.0, 0.0, 0.0]),
                dtype=f64,
            ),
            out,
        )
    return out


def warm_up() -> float:
    """Compile (or load from the on-disk cache) the kernel on a tiny case; seconds taken."""
    t0 = time.perf_counter()
    heights = np.zeros(16)
    heights[5] = 10.0
    energy_kernel(
        np.array([[3.5, 3.5, 4.0]]),
        np.zeros(1),
        np.zeros((1, 2)),
        np.array([[0.2, 0.2, 0.05], [0.2, 3.5, 0.05]]),
        np.ones((2, 8)),
        np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
        np.array([False, True]),
        heights,
        None,
        None,
        (0.0, 0.0, 1.0, 4, 4),
        np.zeros(8),
        np.array([63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0]),
        1.0,
        10.0,
        0.5,
        0.0,
    )
    within_reach(np.zeros((1, 2)), np.ones((1, 2)), 2.0)
    dt = time.perf_counter() - t0
    log.info("numba noise kernel ready in %.2f s", dt)
    return dt
