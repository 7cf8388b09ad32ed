"""Mean radiant temperature of a standing person by the SOLWEIG method.

Lindberg, Holmer and Thorsson (2008), "SOLWEIG 1.0 - Modelling spatial variations of 3D
radiant fluxes and mean radiant temperature in complex urban settings", Int. J.
Biometeorol. 52: 697-713. The person is a box receiving short-wave ``K_i`` and long-wave
``L_i`` from six directions (up, down, east, south, west, north) with angular factors
``F = 0.06`` up/down and ``0.22`` for the sides (their eq. 2, after Hoeppe 1992 and
VDI 3787):

    Tmrt = ((xi_k sum K_i F_i + eps_p sum L_i F_i) / (eps_p sigma))^0.25 - 273.15

``xi_k = 0.70`` (short-wave absorption), ``eps_p = 0.97``. The fluxes, per cell, with
``S`` the sunlit fraction of the direct beam (shadow module), ``psi`` the sky view
factor through crowns, ``svf`` the sky view factor of the buildings, ``I`` direct
normal, ``D`` diffuse and ``G`` global irradiance, ``eta`` the sun elevation:

- K_down = I S sin(eta) + D psi + alpha_w (1 - svf) (G (1 - f_sh) + D f_sh)
  (direct, diffuse sky, and reflected by the walls, sunlit in part ``1 - f_sh``);
- K_up = alpha_g (I S sin(eta) + D psi + alpha_w (1 - svf)(G (1 - f_sh) + D f_sh))
  (the ground around the point is taken to receive what the point receives);
- K_side(phi) = I S cos(eta) max(0, cos(azimuth - phi)) + (K_down - I S sin(eta)) / 2
  + K_up / 2 (direct beam on the side facing the sun; half the sky and walls and half
  the ground for the diffuse part);
- L_sky = eps_sky sigma Ta^4, eps_sky of a clear sky after Prata (1996, Q. J. R.
  Meteorol. Soc. 122: 1127-1151): 1 - (1 + w) exp(-sqrt(1.2 + 3 w)), w = 46.5 e_a / Ta;
- L_down = psi L_sky + (svf - psi) sigma Ta^4 (crowns at air temperature)
  + (1 - svf) (eps_w sigma Tw^4 + (1 - eps_w) L_sky);
- L_up = eps_g sigma Tg^4 + (1 - eps_g) L_down;
- L_side = (L_down + L_up) / 2.

Surface temperatures follow the 2008 paper's empirical ground heating: in the sun
``Tg - Ta = (0.37 eta_max - 3.41) sin(pi/2 (t - t_sunrise) / (15 h - t_sunrise))``
(eta_max the day's highest sun elevation, degrees; clear sky), so sunlit ground is
``Ta + dTg S``; walls are ``Ta + dTg (1 - f_sh)`` with ``f_sh = 0.5`` (half the walls
in shade: a simplification of SOLWEIG's wall-shadow fraction). Albedos 0.15 (ground),
0.20 (walls), emissivities 0.95 (ground), 0.90 (walls): SOLWEIG's defaults.

Simplifications against SOLWEIG itself are stated above (walls' sunlit share, ground
around the point like the point, isotropic side fluxes). Every function works on NumPy
or CuPy arrays alike (elementwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SIGMA", "Surfaces", "ground_heating", "sky_emissivity", "tmrt"]

F64 = npt.NDArray[np.float64]

#: Stefan-Boltzmann constant, W m-2 K-4.
SIGMA = 5.67e-8
#: Angular factors of the standing box-man: up/down and each of the four sides.
F_VERTICAL = 0.06
F_SIDE = 0.22
#: Side directions, degrees clockwise from north (E, S, W, N).
SIDES = (90.0, 180.0, 270.0, 0.0)


@dataclass(frozen=True, slots=True)
class Surfaces:
    """Radiative properties (SOLWEIG defaults; Lindberg et al. 2008)."""

    albedo_ground: float = 0.15
    albedo_wall: float = 0.20
    emis_ground: float = 0.95
    emis_wall: float = 0.90
    absorb_k: float = 0.70
    emis_person: float = 0.97
    wall_shade_fraction: float = 0.5
    tg_k: float = 0.37
    tg_start: float = -3.41
    tg_max_hour: float = 15.0


def sky_emissivity(ta_c: float, rh: float) -> float:
    """Clear-sky emissivity after Prata (1996): 1 - (1 + w) exp(-sqrt(1.2 + 3 w))."""
    from greentwin.kernels.heat.design_day import magnus_es_hpa

    tk = ta_c + 273.15
    ea = float(magnus_es_hpa(ta_c)) * rh / 100.0
    w = 46.5 * ea / tk
    return 1.0 - (1.0 + w) * math.exp(-math.sqrt(1.2 + 3.0 * w))


def ground_heating(hour: float, sunrise_h: float, max_elevation_deg: float, s: Surfaces) -> float:
    """Sunlit ground minus air temperature, K (Lindberg et al. 2008; clear sky)."""
    amp = s.tg_k * max_elevation_deg + s.tg_start
    if hour <= sunrise_h:
        return 0.0
    phase = 0.5 * math.pi * (hour - sunrise_h) / (s.tg_max_hour - sunrise_h)
    return max(0.0, amp * math.sin(min(phase, math.pi)))


def tmrt(
    sun: Any,
    svf_b: Any,
    psi: Any,
    *,
    azimuth_deg: float,
    elevation_deg: float,
    dni: float,
    dhi: float,
    ghi: float,
    ta_c: float,
    rh: float,
    dtg: float,
    surfaces: Surfaces = Surfaces(),
) -> Any:
    """Mean radiant temperature, degC, per cell (arrays of one shape, NumPy or CuPy).

    Parameters
    ----------
    sun : sunlit fraction of the direct beam (0..1).
    svf_b : sky view factor of the buildings (0..1).
    psi : sky view factor through crowns (0..1, <= svf_b).
    azimuth_deg, elevation_deg : sun position; dni, dhi, ghi : W/m2.
    ta_c : air temperature, degC; rh : relative humidity, %.
    dtg : sunlit ground minus air temperature, K (:func:`ground_heating`).
    """
    s = surfaces
    el = math.radians(max(elevation_deg, 0.0))
    az = math.radians(azimuth_deg)
    direct_h = dni * math.sin(el) * sun
    walls = (
        s.albedo_wall
        * (1.0 - svf_b)
        * (ghi * (1.0 - s.wall_shade_fraction) + dhi * s.wall_shade_fraction)
    )
    k_down = direct_h + dhi * psi + walls
    k_up = s.albedo_ground * k_down
    k_sides = 0.0 * sun
    diffuse_side = 0.5 * (k_down - direct_h) + 0.5 * k_up
    for phi in SIDES:
        facing = max(0.0, math.cos(az - math.radians(phi)))
        k_sides = k_sides + dni * math.cos(el) * facing * sun + diffuse_side
    tk = ta_c + 273.15
    l_sky = sky_emissivity(ta_c, rh) * SIGMA * tk**4
    tw = tk + dtg * (1.0 - s.wall_shade_fraction)
    tg = tk + dtg * sun
    l_down = (
        psi * l_sky
        + (svf_b - psi) * SIGMA * tk**4
        + (1.0 - svf_b) * (s.emis_wall * SIGMA * tw**4 + (1.0 - s.emis_wall) * l_sky)
    )
    l_up = s.emis_ground * SIGMA * tg**4 + (1.0 - s.emis_ground) * l_down
    l_side = 0.5 * (l_down + l_up)
    absorbed = s.absorb_k * (F_VERTICAL * (k_down + k_up) + F_SIDE * k_sides) + s.emis_person * (
        F_VERTICAL * (l_down + l_up) + 4.0 * F_SIDE * l_side
    )
    return (absorbed / (s.emis_person * SIGMA)) ** 0.25 - 273.15
