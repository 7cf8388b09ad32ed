"""Removal of particles by foliage (i-Tree Eco style; Nowak et al. 2013,
Environ. Pollut. 178, 395-402; MODELS.md "Vegetation removal").

Flux to leaves per unit ground area: ``F = V_d * C * LAI``. The PM2.5 deposition
velocity and the share of deposited particles resuspended depend on wind speed
(Nowak et al. 2013, Table 1, wind speeds 0..13 m/s)::

    u (m/s)          0  1     2     3     4     5     6     7     8     9     10    11-13
    V_d (cm/s)       0  0.03  0.09  0.15  0.17  0.19  0.20  0.56  0.92  0.92  2.11  2.11
    resuspension %   0  1.5   3     4.5   6     7.5   9     10    11    12    13    16, 20, 23

Between table speeds both are interpolated linearly; above 13 m/s the 13 m/s row
holds. The net velocity is ``V_d (1 - r)``.

Local effect on the annual mean: i-Tree expresses the air-quality improvement as the
hourly removal over removal plus the pollutant held in the mixed layer above,
``R / (R + A)`` with ``R = V_d C LAI dt`` and ``A = C H`` (per unit ground area)::

    fraction = V_d LAI dt / (V_d LAI dt + H),  dt = 3600 s

``H`` is the mixing height (default 500 m, an annual-mean order of magnitude). With
LAI 4 and 3.5 m/s wind this removes about 3-4 % of PM in a canopy cell: a small,
local effect. The PM2.5 table is applied to PM10 too, a conservative choice (coarse
particles deposit faster). Rain wash-off (above 0.2 LAI mm) only renews the leaves'
capacity and is not modelled in annual means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from greentwin.core.errors import KernelError
from greentwin.kernels.air.dispersion import WindRose
from greentwin.kernels.backend import namespace_of

__all__ = [
    "RESUSPENSION_PCT",
    "TABLE_WIND_M_S",
    "VD_PM25_CM_S",
    "deposition_velocity",
    "effective_deposition_velocity",
    "mean_keep",
    "removal_fraction",
    "resuspension",
]

#: Wind speeds of the i-Tree table, m/s (Nowak et al. 2013, Table 1).
TABLE_WIND_M_S: tuple[float, ...] = tuple(float(u) for u in range(14))
#: PM2.5 deposition velocity at :data:`TABLE_WIND_M_S`, cm/s (Nowak et al. 2013, Table 1).
VD_PM25_CM_S: tuple[float, ...] = (
    0.0, 0.03, 0.09, 0.15, 0.17, 0.19, 0.20, 0.56, 0.92, 0.92, 2.11, 2.11, 2.11, 2.11,
)  # fmt: skip
#: Resuspended share of deposited PM2.5 at :data:`TABLE_WIND_M_S`, % (Nowak et al. 2013, Table 1).
RESUSPENSION_PCT: tuple[float, ...] = (
    0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 10.0, 11.0, 12.0, 13.0, 16.0, 20.0, 23.0,
)  # fmt: skip
MAX_RESUSPENSION = RESUSPENSION_PCT[-1] / 100.0


def deposition_velocity(u: Any) -> Any:
    """PM2.5 deposition velocity, m/s, linear in the table, constant above 13 m/s.

    Parameters
    ----------
    u : wind speed(s), m/s (NumPy array or float).
    """
    return np.interp(np.asarray(u, dtype=np.float64), TABLE_WIND_M_S, VD_PM25_CM_S) / 100.0


def resuspension(u: Any) -> Any:
    """Resuspended share of deposited particles, 0..0.23 (Nowak et al. 2013, Table 1).

    Linear between the table's wind speeds (0..13 m/s); 0.23 above 13 m/s.
    """
    return np.interp(np.asarray(u, dtype=np.float64), TABLE_WIND_M_S, RESUSPENSION_PCT) / 100.0


def effective_deposition_velocity(rose: WindRose) -> float:
    """Net deposition velocity over a wind rose, ``sum_k f_k V_d(u_k) (1 - r(u_k))``, m/s."""
    u = np.asarray(rose.speed)
    f = np.asarray(rose.frequency)
    return float(np.sum(f * deposition_velocity(u) * (1.0 - resuspension(u))))


def removal_fraction(
    lai: Any, vd: float, mixing_height_m: float = 500.0, dt_s: float = 3600.0
) -> Any:
    """Share of PM removed in a cell by its foliage, ``V_d LAI dt / (V_d LAI dt + H)``.

    Parameters
    ----------
    lai : (ny, nx) array, leaf area index of the canopy in each cell, m2/m2 (0 = none).
    vd : net deposition velocity, m/s.
    mixing_height_m : H, m.
    dt_s : time step of the i-Tree ratio, s.

    Returns
    -------
    array like ``lai``, 0..1.
    """
    if not mixing_height_m > 0:
        raise KernelError(f"mixing height must be > 0 m, got {mixing_height_m}")
    xp = namespace_of(lai)
    r = vd * xp.maximum(lai, 0.0) * dt_s
    return r / (r + mixing_height_m)


def mean_keep(lai_course: Any, vd: float, mixing_height_m: float = 500.0) -> Any:
    """Share of PM left after foliage removal, averaged over a seasonal course of LAI.

    ``mean_t (1 - removal_fraction(LAI_t))`` over T evenly spaced dates of a year: the
    annual-mean effect of foliage whose leaf area changes with the season (leafless
    deciduous crowns in winter remove nothing here), rather than the removal at one
    date's leaf area or at the mean leaf area (the ratio is not linear in LAI).

    Parameters
    ----------
    lai_course : (T, ny, nx) leaf area index at T dates, m2/m2 (T = 1: one date).
    vd : net deposition velocity, m/s.
    mixing_height_m : H, m.

    Returns
    -------
    (ny, nx) array, 0..1.
    """
    xp = namespace_of(lai_course)
    keep = 1.0 - removal_fraction(lai_course, vd, mixing_height_m)
    return xp.mean(keep, axis=0)
