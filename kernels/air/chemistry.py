"""NO2 from NOx: the empirical SRM1 conversion and the photostationary state.

Empirical (MODELS.md; Regeling beoordeling luchtkwaliteit 2007, Annex 1)::

    NO2 = f NOx + B O3 (1 - f) NOx / ((1 - f) NOx + K),   B = 0.6, K = 100 ug/m3

applied to the road increment of NOx, with ``f NOx`` the directly emitted NO2.

Photostationary state (Leighton relationship, e.g. Seinfeld & Pandis,
*Atmospheric Chemistry and Physics*, ch. 6)::

    NO2^2 - (rjk + Ox + NOx) NO2 + Ox NOx = 0,  Ox = NO2 + O3,  rjk = J_NO2 / k_NO+O3

solved in mixing ratios (ppb); its smaller root is the physical one. The increment
due to traffic is ``PSS(background + road) - PSS(background)``, so zero traffic
gives the background exactly.
"""

from __future__ import annotations

from typing import Any

from greentwin.kernels.backend import namespace_of

__all__ = [
    "MOLAR_VOLUME_L",
    "no2_empirical",
    "no2_photostationary",
    "ppb_to_ug",
    "pss_no2_ppb",
    "ug_to_ppb",
]

#: Molar volume at 293.15 K and 101.325 kPa (EU reference conditions for gases), L/mol.
MOLAR_VOLUME_L = 24.055
_M = {"no2": 46.0055, "o3": 47.9982}


def ug_to_ppb(c: Any, species: str) -> Any:
    """ug/m3 -> ppb at 293.15 K (NOx counted as NO2 mass)."""
    return c * MOLAR_VOLUME_L / _M[species]


def ppb_to_ug(c: Any, species: str) -> Any:
    """ppb -> ug/m3 at 293.15 K."""
    return c * _M[species] / MOLAR_VOLUME_L


def no2_empirical(
    nox_inc: Any, no2_direct_inc: Any, o3: float, b: float = 0.6, k: float = 100.0
) -> Any:
    """NO2 road increment from the NOx increment (SRM1 empirical formula), ug/m3.

    Parameters
    ----------
    nox_inc : array, road NOx increment (as NO2), ug/m3.
    no2_direct_inc : array, directly emitted NO2 part of it (``f NOx``), ug/m3.
    o3 : background ozone, ug/m3.
    b, k : the formula's constants (0.6; 100 ug/m3).

    Returns
    -------
    array like ``nox_inc``; 0 where ``nox_inc`` is 0; non-decreasing in ``nox_inc``.
    """
    xp = namespace_of(nox_inc, no2_direct_inc)
    rest = xp.maximum(nox_inc - no2_direct_inc, 0.0)
    return no2_direct_inc + b * o3 * rest / (rest + k)


def pss_no2_ppb(nox: Any, ox: Any, rjk: float) -> Any:
    """Photostationary NO2 (ppb): smaller root of ``NO2^2 - (rjk+Ox+NOx) NO2 + Ox NOx``.

    Written as ``2 Ox NOx / (S + sqrt(S^2 - 4 Ox NOx))`` to avoid cancellation.
    """
    xp = namespace_of(nox, ox)
    s = rjk + ox + nox
    disc = xp.maximum(s * s - 4.0 * ox * nox, 0.0)
    return 2.0 * ox * nox / xp.maximum(s + xp.sqrt(disc), 1e-30)


def no2_photostationary(
    nox_inc: Any,
    no2_direct_inc: Any,
    nox_bg: float,
    no2_bg: float,
    o3_bg: float,
    rjk_ppb: float = 20.0,
) -> Any:
    """NO2 road increment from the photostationary state, ug/m3.

    Parameters
    ----------
    nox_inc, no2_direct_inc : arrays, road increments of NOx (as NO2) and direct NO2, ug/m3.
    nox_bg, no2_bg, o3_bg : background concentrations, ug/m3 (NOx as NO2).
    rjk_ppb : J_NO2 / k(NO + O3), ppb (site- and season-dependent; 20 ppb is an
        order-of-magnitude annual daytime value, configure for the site).

    Returns
    -------
    array like ``nox_inc``: ``PSS(bg + road) - PSS(bg)`` converted to ug/m3.
    """
    ox_bg = ug_to_ppb(no2_bg, "no2") + ug_to_ppb(o3_bg, "o3")
    nox_b = ug_to_ppb(nox_bg, "no2")
    base = pss_no2_ppb(nox_b, ox_bg, rjk_ppb)
    total = pss_no2_ppb(
        nox_b + ug_to_ppb(nox_inc, "no2"), ox_bg + ug_to_ppb(no2_direct_inc, "no2"), rjk_ppb
    )
    return ppb_to_ug(total - base, "no2")
