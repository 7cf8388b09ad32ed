"""Street canyons: the Dutch standard method SRM1 (Regeling beoordeling luchtkwaliteit
2007, Bijlage 1, "Standaardrekenmethode 1"; MODELS.md "Street canyon").

Road increment at distance ``s`` (m) from the road axis::

    C = 0.62 * E * theta(s) * F_b * (5 / u)

with ``E`` the emission in ug/(m s), ``F_b`` the tree factor (1, 1.25, 1.5), ``u``
the regional wind speed (m/s) and the dilution ``theta``::

    theta(s) = a s^2 + b s + c           for s <= 30 m, every road type
    theta(s) = alpha * s^(-0.747)        for 30 < s <= 60 m, road types 1 and 4 only

Road types 2 and 3 (buildings on both sides of the street) end at 30 m from the axis;
types 1 and 4 (open on at least one side) continue with the power law up to 60 m.
Parameters per road type are in :data:`SRM1_TYPES` (the regulation's table of a, b,
c and alpha); alpha is the tabulated value (types 1 and 4), which agrees with
continuity at 30 m, ``theta(30) * 30^0.747``, to 0.1 %.

Road types, as the regulation names them:

1. a road through open terrain, with buildings or trees here and there (scattered);
2. the basic type: roads that are none of the other types;
3. a street with buildings on both sides at a distance from the axis below three
   times their height (a street canyon);
4. a road with (nearly) continuous buildings on one side only, at a distance from the
   axis below three times their height.

Tree factor ``F_b`` (the regulation's definitions): 1.0 where there are no trees or
only one here and there; 1.25 for one or more rows of trees less than 15 m apart with
gaps between the crowns; 1.5 where the crowns touch and cover at least a third of the
street's width. :func:`tree_factor_from_crowns` applies these definitions to the
crowns along a road (see ``docs/air.md``).

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
    "tree_factor_from_crowns",
]

F64 = npt.NDArray[np.float64]
_EXP = 0.747


@dataclass(frozen=True, slots=True)
class Srm1Type:
    """Dilution parameters of one SRM1 road type.

    Attributes
    ----------
    a : 1/m2; b : 1/m; c : dimensionless (quadratic part, s <= 30 m).
    alpha : coefficient of the power-law part (30-60 m); None for the types without it.
    description : the type in words.
    """

    a: float
    b: float
    c: float
    alpha: float | None
    description: str

    @property
    def max_distance_m(self) -> float:
        """The method's range from the road axis: 60 m with the power-law part, else 30 m."""
        return 60.0 if self.alpha is not None else 30.0


#: SRM1 road types (Regeling beoordeling luchtkwaliteit 2007, Bijlage 1, table of the
#: dilution parameters).
SRM1_TYPES: dict[int, Srm1Type] = {
    1: Srm1Type(3.25e-4, -2.05e-2, 0.39, 0.856, "open terrain, scattered buildings or trees"),
    2: Srm1Type(4.88e-4, -3.08e-2, 0.59, None, "basic type: none of the other types"),
    3: Srm1Type(5.00e-4, -3.16e-2, 0.57, None, "buildings on both sides (street canyon)"),
    4: Srm1Type(3.10e-4, -1.82e-2, 0.33, 0.799, "continuous buildings on one side"),
}


def _type(road_type: int) -> Srm1Type:
    try:
        return SRM1_TYPES[int(road_type)]
    except (KeyError, ValueError, TypeError):
        raise KernelError(f"unknown SRM1 road type {road_type!r}; use 1, 2, 3 or 4") from None


def dilution(s: Any, road_type: int) -> Any:
    """SRM1 dilution factor theta(s) (Bijlage 1), dimensionless.

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
    if t.alpha is None:
        return xp.where(s <= 30.0, near, 0.0)
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


#: Spacing below which trees form a row, m (the regulation's F_b = 1.25 definition).
ROW_SPACING_M = 15.0
#: Share of the road's length a row must run along to count (this project's reading).
ROW_MIN_SHARE = 0.5


def _along(segments: F64, px: F64, py: F64) -> tuple[F64, F64, F64]:
    """(chainage along the polyline, distance to it, side +1 left / -1 right) of points."""
    a = segments[:, 0, :]
    d = segments[:, 1, :] - a
    ll = np.maximum(np.sum(d * d, axis=1), 1e-18)
    seg_len = np.sqrt(ll)
    start = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    rx = px[:, None] - a[None, :, 0]
    ry = py[:, None] - a[None, :, 1]
    t = np.clip((rx * d[None, :, 0] + ry * d[None, :, 1]) / ll[None, :], 0.0, 1.0)
    ex = rx - t * d[None, :, 0]
    ey = ry - t * d[None, :, 1]
    dist = np.hypot(ex, ey)
    k = np.argmin(dist, axis=1)
    i = np.arange(len(px))
    cross = d[k, 0] * ry[i, k] - d[k, 1] * rx[i, k]
    return start[k] + t[i, k] * seg_len[k], dist[i, k], np.where(cross >= 0, 1.0, -1.0)


def tree_factor_from_crowns(
    segments: F64,
    street_width_m: float,
    tree_xy: F64,
    crown_radius_m: F64,
    corridor_m: float | None = None,
) -> float:
    """SRM1 tree factor F_b of one street from the crowns along it.

    The regulation's definitions (Regeling beoordeling luchtkwaliteit 2007, Bijlage 1):
    F_b = 1.0 with no trees or a tree here and there; 1.25 for one or more rows of
    trees less than 15 m apart with gaps between the crowns; 1.5 where the crowns touch
    and span at least a third of the street's width. Read here as:

    - the street's trees are those whose stem lies within ``corridor_m`` of the axis
      (default: half the street width + 5 m of pavement);
    - a side of the street has a *row* when its trees, in order along the road, are
      less than 15 m apart over at least half the road's length;
    - crowns *touch* when neighbours in a row are no farther apart than the sum of
      their crown radii over at least half the road's length, and they *span* a third
      of the street when the crowns' reach over the street (crown radius minus the
      stem's distance from the street's edge, summed over both sides) is at least a
      third of ``street_width_m``.

    Parameters
    ----------
    segments : (m, 2, 2) float64, the road's centreline segments, m.
    street_width_m : width of the street (carriageway), m.
    tree_xy : (n, 2) float64 stem positions of living trees, m.
    crown_radius_m : (n,) float64 crown radius of each tree on the date, m (0: leafless
        or no crown; the factor concerns the crowns' shelter of the street).
    corridor_m : half-width of the street's tree zone from the axis, m.

    Returns
    -------
    1.0, 1.25 or 1.5.
    """
    segs = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
    xy = np.asarray(tree_xy, dtype=np.float64).reshape(-1, 2)
    rad = np.asarray(crown_radius_m, dtype=np.float64).reshape(-1)
    if len(segs) == 0 or len(xy) < 2:
        return 1.0
    length = float(np.sum(np.hypot(*(segs[:, 1] - segs[:, 0]).T)))
    if length <= 0:
        return 1.0
    half = 0.5 * street_width_m
    zone = half + 5.0 if corridor_m is None else corridor_m
    ch, dist, side = _along(segs, xy[:, 0], xy[:, 1])
    sel = (dist <= zone) & (rad > 0)
    rows = False
    touch = False
    reach = 0.0
    for sd in (1.0, -1.0):
        m = np.flatnonzero(sel & (side == sd))
        if len(m) < 2:
            continue
        o = m[np.argsort(ch[m])]
        gap = np.diff(ch[o])
        close = gap < ROW_SPACING_M
        if np.sum(gap[close]) < ROW_MIN_SHARE * length:
            continue
        rows = True
        touching = gap <= rad[o][:-1] + rad[o][1:]
        if np.sum(gap[touching]) >= ROW_MIN_SHARE * length:
            touch = True
            over = np.clip(rad[o] - np.maximum(dist[o] - half, 0.0), 0.0, street_width_m)
            reach += float(np.median(over))
    if not rows:
        return 1.0
    if touch and reach >= street_width_m / 3.0:
        return 1.5
    return 1.25
