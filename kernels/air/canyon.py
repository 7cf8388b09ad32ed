"""Street canyons: the Dutch standard method SRM1 (Regeling beoordeling luchtkwaliteit
2007, Annex 1; MODELS.md "Street canyon").

Road increment at distance ``s`` (m) from the road axis::

    C = 0.62 * E * theta(s) * F_b * (5 / u)

with ``E`` the emission in ug/(m s), ``F_b`` the tree factor (1, 1.25, 1.5), ``u``
the regional wind speed (m/s) and the dilution ``theta``::

    theta(s) = a s^2 + b s + c           for s <= 30 m
    theta(s) = alpha * s^(-0.747)        for 30 < s <= 60 m

Parameters per SRM1 road type are in :data:`SRM1_TYPES`. Type 4 is quoted in
MODELS.md; types 1-3 are the values of the Regeling's Annex 1 table as this project
records them (see ``docs/air.md``; check them against the official text before any
regulatory use). ``alpha`` is not tabulated here but derived from continuity at
30 m, ``alpha = theta(30) * 30^0.747``: for type 4 this gives 0.799, the MODELS.md
value, and for type 1 0.857.

The tree factor raises concentrations: street trees reduce ventilation in this
method. That is a planning trade-off the maps show, not a modelling error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import namespace_of

__all__ = [
    "SRM1_TYPES",
    "Srm1Type",
    "dilution",
    "distance_to_segments",
    "srm1_increment",
]

F64 = npt.NDArray[np.float64]
_EXP = 0.747


@dataclass(frozen=True, slots=True)
class Srm1Type:
    """Dilution parameters of one SRM1 road type.

    Attributes
    ----------
    a : 1/m2; b : 1/m; c : dimensionless (quadratic part, s <= 30 m).
    max_distance_m : the method's range from the road axis, m.
    description : the type in words.
    """

    a: float
    b: float
    c: float
    max_distance_m: float
    description: str

    @property
    def alpha(self) -> float:
        """Coefficient of the power-law part, from continuity at 30 m."""
        return float((self.a * 900.0 + self.b * 30.0 + self.c) * 30.0**_EXP)


#: SRM1 road types (Regeling beoordeling luchtkwaliteit 2007, Annex 1).
SRM1_TYPES: dict[int, Srm1Type] = {
    1: Srm1Type(3.25e-4, -2.05e-2, 0.39, 60.0, "basic type: scattered buildings"),
    2: Srm1Type(4.88e-4, -3.08e-2, 0.59, 60.0, "buildings on both sides, wider street"),
    3: Srm1Type(5.00e-4, -3.16e-2, 0.57, 30.0, "street canyon: buildings on both sides, close"),
    4: Srm1Type(3.10e-4, -1.82e-2, 0.33, 60.0, "buildings on one side"),
}


def _type(road_type: int) -> Srm1Type:
    try:
        return SRM1_TYPES[int(road_type)]
    except (KeyError, ValueError, TypeError):
        raise KernelError(f"unknown SRM1 road type {road_type!r}; use 1, 2, 3 or 4") from None


def dilution(s: Any, road_type: int) -> Any:
    """SRM1 dilution factor theta(s) (Annex 1), dimensionless.

    Parameters
    ----------
    s : array, distance from the road axis, m; values beyond the type's range give 0.

    Returns
    -------
    array like ``s``.
    """
    t = _type(road_type)
    xp = namespace_of(s)
    s = xp.asarray(s, dtype=xp.float64)
    near = t.a * s * s + t.b * s + t.c
    far = t.alpha * xp.maximum(s, 30.0) ** (-_EXP)
    theta = xp.where(s <= 30.0, near, far)
    return xp.where(s <= t.max_distance_m, theta, 0.0)


def srm1_increment(
    emission: Any,
    s: Any,
    road_type: int,
    tree_factor: float = 1.0,
    wind_speed: float = 5.0,
) -> Any:
    """Road increment ``C = 0.62 E theta(s) F_b (5 / u)`` (SRM1, MODELS.md), ug/m3.

    Parameters
    ----------
    emission : ug/(m s), scalar or array broadcasting against ``s``
        (e.g. (k,) pollutants against (n, 1) distances).
    s : distance from the road axis, m.
    road_type : SRM1 road type 1-4.
    tree_factor : F_b, 1, 1.25 or 1.5.
    wind_speed : regional wind speed u, m/s.
    """
    if tree_factor not in (1.0, 1.25, 1.5):
        raise KernelError(f"SRM1 tree factor must be 1, 1.25 or 1.5, got {tree_factor}")
    if not wind_speed > 0:
        raise KernelError(f"SRM1 wind speed must be > 0 m/s, got {wind_speed}")
    return 0.62 * emission * dilution(s, road_type) * tree_factor * (5.0 / wind_speed)


def distance_to_segments(px: Any, py: Any, segments: F64) -> Any:
    """Shortest distance from points to a polyline given as segments.

    Parameters
    ----------
    px, py : (n,) arrays, points, m (NumPy or CuPy).
    segments : (m, 2, 2) float64, ``[k, 0]`` start and ``[k, 1]`` end, m.

    Returns
    -------
    (n,) distances, m (``inf`` when there are no segments).
    """
    xp = namespace_of(px, py)
    if len(segments) == 0:
        return xp.full(px.shape, math.inf)
    seg = xp.asarray(segments)
    ax, ay = seg[:, 0, 0][None, :], seg[:, 0, 1][None, :]
    dx, dy = (seg[:, 1, 0] - seg[:, 0, 0])[None, :], (seg[:, 1, 1] - seg[:, 0, 1])[None, :]
    ll = xp.maximum(dx * dx + dy * dy, 1e-18)
    t = xp.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / ll, 0.0, 1.0)
    ex = px[:, None] - (ax + t * dx)
    ey = py[:, None] - (ay + t * dy)
    return xp.sqrt(xp.min(ex * ex + ey * ey, axis=1))
