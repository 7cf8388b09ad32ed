"""CNOSSOS-EU propagation terms (Directive (EU) 2015/996, Annex II, section 2.5) and ISO 9613.

Every function works on NumPy or CuPy arrays: the array module is taken from the
inputs (``xp``), and band constants are small host arrays moved once. Per-pair
arrays are ``(P,)``; per-pair-per-band results are ``(P, 8)`` in the octave bands
63 Hz .. 8 kHz.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "EXACT_BANDS_HZ",
    "NOMINAL_BANDS_HZ",
    "SOUND_SPEED",
    "atmospheric_absorption",
    "diffraction",
    "divergence",
    "foliage_attenuation",
    "ground_favourable",
    "ground_homogeneous",
    "ground_over_diffraction",
]

F64 = npt.NDArray[np.float64]
Array = Any

#: Sound speed used by CNOSSOS-EU for wavelengths and wave numbers, m/s (Annex II, 2.5.6).
SOUND_SPEED = 340.0
#: Nominal octave band centres, Hz (used for k = 2 pi f / c and lambda = c / f).
NOMINAL_BANDS_HZ: F64 = np.array([63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0])
#: Exact octave band centres f_m = 1000 x 10^(3n/10) Hz (IEC 61260, ISO 9613-1 Annex).
EXACT_BANDS_HZ: F64 = np.asarray(1000.0 * 10.0 ** (3.0 * np.arange(-4, 4) / 10.0), dtype=np.float64)
#: Foliage attenuation, ISO 9613-2 Table A.1, for 10 m <= d_f < 20 m, dB.
FOLIAGE_10_20_DB: F64 = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0])
#: Foliage attenuation, ISO 9613-2 Table A.1, for 20 m <= d_f <= 200 m, dB/m.
FOLIAGE_PER_M_DB: F64 = np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.09, 0.12])


def atmospheric_absorption(
    temperature_c: float = 15.0, humidity_pct: float = 70.0, pressure_kpa: float = 101.325
) -> F64:
    """Pure-tone attenuation coefficient alpha at the exact band centres (ISO 9613-1).

    ISO 9613-1:1993 eq. (5): alpha = 8.686 f^2 [1.84e-11 (p_a/p_r)^-1 (T/T_0)^(1/2)
    + (T/T_0)^(-5/2) (0.01275 e^(-2239.1/T) / (f_rO + f^2/f_rO)
    + 0.1068 e^(-3352.0/T) / (f_rN + f^2/f_rN))] dB/m, with the relaxation frequencies
    of eqs. (3)-(4) and the molar concentration of water vapour h of Annex B
    (eqs. B.1-B.2). T_0 = 293.15 K, T_01 = 273.16 K, p_r = 101.325 kPa.

    Returns
    -------
    (8,) float64, dB/m (CNOSSOS uses A_atm = alpha d, eq. 2.5.12, with alpha in dB/km / 1000).
    """
    t = temperature_c + 273.15
    t0, t01, pr = 293.15, 273.16, 101.325
    pa = pressure_kpa / pr
    c = -6.8346 * (t01 / t) ** 1.261 + 4.6151
    h = humidity_pct * 10.0**c / pa
    fro = pa * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
    frn = (
        pa
        * (t / t0) ** -0.5
        * (9.0 + 280.0 * h * math.exp(-4.170 * ((t / t0) ** (-1.0 / 3.0) - 1.0)))
    )
    f = EXACT_BANDS_HZ
    alpha = (
        8.686
        * f**2
        * (
            1.84e-11 / pa * (t / t0) ** 0.5
            + (t / t0) ** -2.5
            * (
                0.01275 * math.exp(-2239.1 / t) / (fro + f**2 / fro)
                + 0.1068 * math.exp(-3352.0 / t) / (frn + f**2 / frn)
            )
        )
    )
    return np.asarray(alpha, dtype=np.float64)


def divergence(d: Array) -> Array:
    """Geometric divergence of a point source, A_div = 20 lg(d) + 11 dB (eq. 2.5.11).

    Parameters
    ----------
    d : (P,) 3D source-receiver distance, m.
    """
    xp = _xp(d)
    return 20.0 * xp.log10(xp.maximum(d, 0.1)) + 11.0


def _xp(a: Array) -> ModuleType:
    from greentwin.kernels.backend import namespace_of

    return namespace_of(a)


def _g_prime(dp: Array, zs: Array, zr: Array, g_path: Array, g_s: Array | float) -> Array:
    """G'_path (eq. 2.5.14): near the source, the source's own ground G_s weighs in."""
    xp = _xp(dp)
    lim = 30.0 * (zs + zr)
    frac = xp.minimum(dp / lim, 1.0)
    return g_path * frac + g_s * (1.0 - frac)


def _ground_core(dp: Array, zs: Array, zr: Array, gw: Array, f: Array) -> Array:
    """-10 lg[4 k^2/d_p^2 (z_s^2 - sqrt(2C_f/k) z_s + C_f/k)(z_r^2 - sqrt(2C_f/k) z_r + C_f/k)].

    Eqs. 2.5.15-2.5.17 (w, C_f); inputs (P,), f (8,); returns (P, 8).
    """
    xp = _xp(dp)
    dp2 = dp[:, None]
    gw2 = gw[:, None]
    gw26 = gw2**2.6
    w = 0.0185 * f**2.5 * gw26 / (f**1.5 * gw26 + 1.3e3 * f**0.75 * gw2**1.3 + 1.16e6)
    wd = w * dp2
    cf = dp2 * (1.0 + 3.0 * wd * xp.exp(-xp.sqrt(wd))) / (1.0 + wd)
    k = 2.0 * math.pi * f / SOUND_SPEED
    q = cf / k
    r = xp.sqrt(2.0 * q)
    zs2 = zs[:, None]
    zr2 = zr[:, None]
    term = 4.0 * k**2 / dp2**2 * (zs2**2 - r * zs2 + q) * (zr2**2 - r * zr2 + q)
    return -10.0 * xp.log10(xp.maximum(term, 1e-30))


def ground_homogeneous(
    dp: Array, zs: Array, zr: Array, g_path: Array, g_s: Array | float = 0.0
) -> Array:
    """Ground attenuation in homogeneous conditions, A_ground,H (eqs. 2.5.15-2.5.17).

    A_ground,H = max(-10 lg[...], A_ground,H,min), A_ground,H,min = -3 (1 - G'_path),
    w computed with G_w = G'_path; A_ground,H = -3 dB when G_path = 0.

    Parameters
    ----------
    dp : (P,) projected source-receiver distance, m.
    zs, zr : (P,) source and receiver heights above the mean ground plane, m.
    g_path : (P,) ground factor of the path, 0..1.
    g_s : ground factor at the source (0 for a road platform, Annex II 2.5.7).

    Returns
    -------
    (P, 8) dB
    """
    xp = _xp(dp)
    if not bool(xp.any(g_path > 0.0)):  # hard ground everywhere: -3 dB (eq. 2.5.15 note)
        return xp.full((dp.shape[0], 8), -3.0)
    f = xp.asarray(NOMINAL_BANDS_HZ)
    gp = _g_prime(dp, zs, zr, g_path, g_s)
    a = xp.maximum(_ground_core(dp, zs, zr, gp, f), (-3.0 * (1.0 - gp))[:, None])
    return xp.where((g_path == 0.0)[:, None], -3.0, a)


def ground_favourable(
    dp: Array, zs: Array, zr: Array, g_path: Array, g_s: Array | float = 0.0
) -> Array:
    """Ground attenuation in favourable conditions, A_ground,F (eqs. 2.5.18-2.5.20).

    As :func:`ground_homogeneous` with z_s -> z_s + dz_s + dz_T, z_r -> z_r + dz_r + dz_T,
    dz(z) = a_0 (z / (z_s + z_r))^2 d_p^2 / 2, a_0 = 2e-4 1/m, dz_T = 6e-3 d_p / (z_s + z_r),
    G_w = G_path; lower bound A_ground,F,min = -3 (1 - G'_path) when d_p <= 30 (z_s + z_r),
    else -3 (1 - G'_path) (1 + 2 (1 - 30 (z_s + z_r) / d_p)); A_ground,F = A_ground,F,min
    when G_path = 0.

    Returns
    -------
    (P, 8) dB
    """
    xp = _xp(dp)
    f = xp.asarray(NOMINAL_BANDS_HZ)
    zsum = zs + zr
    a0 = 2e-4
    dzt = 6e-3 * dp / zsum
    zs_f = zs + a0 * (zs / zsum) ** 2 * dp**2 / 2.0 + dzt
    zr_f = zr + a0 * (zr / zsum) ** 2 * dp**2 / 2.0 + dzt
    gp = _g_prime(dp, zs, zr, g_path, g_s)
    lim = 30.0 * zsum
    amin = -3.0 * (1.0 - gp) * xp.where(dp > lim, 1.0 + 2.0 * (1.0 - lim / dp), 1.0)
    if not bool(xp.any(g_path > 0.0)):  # hard ground everywhere: the lower bound
        return xp.broadcast_to(amin[:, None], (dp.shape[0], 8)).copy()
    a = xp.maximum(_ground_core(dp, zs_f, zr_f, g_path, f), amin[:, None])
    return xp.where((g_path == 0.0)[:, None], amin[:, None], a)


def diffraction(delta: Array, e: Array | None = None) -> Array:
    """Pure diffraction term Delta_dif (eq. 2.5.21), before the 25 dB cap.

    Delta_dif = 10 lg(3 + 40/lambda C'' delta) if 40/lambda C'' delta >= -2, else 0, with
    C'' = 1 for one edge and C'' = (1 + (5 lambda / e)^2) / (1/3 + (5 lambda / e)^2) for
    several edges, e the path length between the first and last edge (eq. 2.5.22).

    Parameters
    ----------
    delta : (P,) path difference, m.
    e : (P,) distance between first and last edge, m (0 or None: single edge).

    Returns
    -------
    (P, 8) dB
    """
    xp = _xp(delta)
    lam = SOUND_SPEED / xp.asarray(NOMINAL_BANDS_HZ)
    if e is None:
        c2 = xp.ones((delta.shape[0], 8))
    else:
        ee = e[:, None]
        r = (5.0 * lam / xp.maximum(ee, 1e-9)) ** 2
        c2 = xp.where(ee > 0.0, (1.0 + r) / (1.0 / 3.0 + r), 1.0)
    x = 40.0 / lam * c2 * delta[:, None]
    return xp.where(x >= -2.0, 10.0 * xp.log10(xp.maximum(3.0 + x, 1e-12)), 0.0)


def ground_over_diffraction(a_ground: Array, dif_image: Array, dif: Array) -> Array:
    """Ground term of a diffracted sub-path (eqs. 2.5.31-2.5.32).

    Delta_ground = -20 lg(1 + (10^(-A_ground/20) - 1) 10^(-(Delta_dif(image) - Delta_dif)/20)),
    with the image of the source (S', for S-O) or of the receiver (R', for O-R) in the
    mean ground plane.

    Returns
    -------
    (P, 8) dB
    """
    xp = _xp(a_ground)
    v = 1.0 + (10.0 ** (-a_ground / 20.0) - 1.0) * 10.0 ** (-(dif_image - dif) / 20.0)
    return -20.0 * xp.log10(xp.maximum(v, 1e-12))


def foliage_attenuation(df: Array) -> Array:
    """Attenuation by dense foliage over a path length d_f through crowns (ISO 9613-2, Annex A).

    Table A.1: 0 below 10 m; the fixed values for 10 m <= d_f < 20 m; the per-metre
    values times d_f for 20 m <= d_f <= 200 m, and 200 m taken for longer paths.

    Parameters
    ----------
    df : (P,) path length through foliage, m.

    Returns
    -------
    (P, 8) dB
    """
    xp = _xp(df)
    d = df[:, None]
    short = xp.asarray(FOLIAGE_10_20_DB)
    per_m = xp.asarray(FOLIAGE_PER_M_DB)
    return xp.where(d < 10.0, 0.0, xp.where(d < 20.0, short, per_m * xp.minimum(d, 200.0)))
