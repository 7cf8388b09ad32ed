"""Gaussian dispersion from road sources over open ground, with a wind rose.

Dispersion parameters: Briggs (1973) urban curves (McElroy-Pooler St. Louis data),
as tabulated in Hanna, Briggs & Hosker (1982), *Handbook on Atmospheric Diffusion*,
Table 4.8, x in metres:

=========  ================================  ===============================
class      sigma_y                           sigma_z
=========  ================================  ===============================
A, B       0.32 x (1 + 0.0004 x)^-1/2        0.24 x (1 + 0.001 x)^1/2
C          0.22 x (1 + 0.0004 x)^-1/2        0.20 x
D          0.16 x (1 + 0.0004 x)^-1/2        0.14 x (1 + 0.0003 x)^-1/2
E, F       0.11 x (1 + 0.0004 x)^-1/2        0.08 x (1 + 0.0015 x)^-1/2
=========  ================================  ===============================

An initial vertical spread ``sigma_z0`` (vehicle wake) is added in quadrature.

Three forms are provided, all for a ground-level source and receiver with full
ground reflection:

- infinite line, wind perpendicular (MODELS.md): ``C = 2 q / (sqrt(2 pi) sigma_z u)``;
- a finite straight segment under one wind direction (crosswind integral of the
  Gaussian plume, erf form, cf. Venkatram & Horst 2006, Atmos. Environ. 40, 2401);
- the long-term (climatological) sector form used for annual means, in which the
  plume of a point source is integrated over a continuous wind-direction
  distribution (US EPA ISC3 user's guide, vol. II, long-term model, eq. 2-1 with
  sector smoothing)::

      C(R, beta) = 2 Q w(beta) / (sqrt(2 pi) sigma_z(R) R),  w = p(beta) / u(beta)

  with ``p`` the probability density (1/rad) of the wind blowing toward bearing
  ``beta`` (source -> receiver) and ``u`` its speed. Summed over source points it
  reproduces the finite-segment form averaged over the wind rose (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import namespace_of

__all__ = [
    "STABILITY_CLASSES",
    "WindRose",
    "erf",
    "gaussian_line_perpendicular",
    "plume_sum",
    "segment_single_wind",
    "sigma_y",
    "sigma_z",
]

F64 = npt.NDArray[np.float64]
Stability = Literal["A", "B", "C", "D", "E", "F"]
STABILITY_CLASSES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")

# (coefficient, growth, exponent) for sigma = coef * x * (1 + growth * x) ** exponent
_SZ: dict[str, tuple[float, float, float]] = {
    "A": (0.24, 0.001, 0.5),
    "B": (0.24, 0.001, 0.5),
    "C": (0.20, 0.0, 0.0),
    "D": (0.14, 0.0003, -0.5),
    "E": (0.08, 0.0015, -0.5),
    "F": (0.08, 0.0015, -0.5),
}
_SY: dict[str, float] = {"A": 0.32, "B": 0.32, "C": 0.22, "D": 0.16, "E": 0.11, "F": 0.11}
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _check_class(stability: str) -> None:
    if stability not in _SZ:
        raise KernelError(f"unknown stability class {stability!r}; use one of A..F")


def sigma_z(x: Any, stability: str = "D", sigma_z0: float = 0.0) -> Any:
    """Vertical dispersion, Briggs urban (Hanna et al. 1982, Table 4.8).

    Parameters
    ----------
    x : array (any shape), downwind distance, m (>= 0).
    stability : Pasquill class A..F.
    sigma_z0 : initial vertical spread added in quadrature, m.

    Returns
    -------
    array like ``x``, m.
    """
    _check_class(stability)
    xp = namespace_of(x)
    c, g, e = _SZ[stability]
    s = c * x * (1.0 + g * x) ** e
    return xp.sqrt(s * s + sigma_z0 * sigma_z0) if sigma_z0 else s


def sigma_y(x: Any, stability: str = "D") -> Any:
    """Horizontal dispersion, Briggs urban: ``c x (1 + 0.0004 x)^-1/2`` (Table 4.8), m."""
    _check_class(stability)
    xp = namespace_of(x)
    return _SY[stability] * x / xp.sqrt(1.0 + 0.0004 * x)


def gaussian_line_perpendicular(
    q: Any, x: Any, u: float, stability: str = "D", sigma_z0: float = 0.0
) -> Any:
    """Infinite ground-level line source, wind perpendicular (MODELS.md, "Open roads").

    ``C = 2 q / (sqrt(2 pi) sigma_z(x) u)``.

    Parameters
    ----------
    q : emission per metre, ug/(m s) (scalar or array).
    x : downwind distance from the line, m.
    u : wind speed, m/s.

    Returns
    -------
    concentration, ug/m3.
    """
    if not u > 0:
        raise KernelError(f"wind speed must be > 0 m/s, got {u}")
    return 2.0 * q / (_SQRT_2PI * sigma_z(x, stability, sigma_z0) * u)


def erf(x: Any) -> Any:
    """Error function, Abramowitz & Stegun (1964) eq. 7.1.26 (|error| < 1.5e-7).

    Array-namespace code (NumPy has no ``erf``); ``x`` any shape.
    """
    xp = namespace_of(x)
    s = xp.sign(x)
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return s * (1.0 - poly * xp.exp(-a * a))


def segment_single_wind(
    q: float,
    p0: tuple[float, float],
    p1: tuple[float, float],
    rx: Any,
    ry: Any,
    wind_from_deg: float,
    u: float,
    stability: str = "D",
    sigma_z0: float = 0.0,
    n_sub: int = 50,
) -> Any:
    """Concentration from a straight road segment under one wind direction.

    The segment is cut into ``n_sub`` pieces; each piece's emission ``q L`` spreads
    over its crosswind extent and the Gaussian plume is integrated across it
    (erf form), with the downwind distance of the piece's middle (Venkatram & Horst
    2006 approach, ground-level source and receiver, full reflection)::

        C_piece = q L / (sqrt(2 pi) sigma_z u) * [erf(y_b / (sqrt2 sigma_y)) -
                  erf(y_a / (sqrt2 sigma_y))] / (y_b - y_a)

    Parameters
    ----------
    q : emission, ug/(m s).
    p0, p1 : segment end points, m.
    rx, ry : arrays (same shape), receiver positions, m.
    wind_from_deg : meteorological direction the wind blows from, degrees from north.
    u : wind speed, m/s.

    Returns
    -------
    array like ``rx``, ug/m3 (upwind receivers get 0).
    """
    xp = namespace_of(rx, ry)
    to = math.radians(wind_from_deg + 180.0)
    ex, ey = math.sin(to), math.cos(to)  # unit vector along the wind
    cx, cy = ey, -ex  # crosswind unit vector
    t = (np.arange(n_sub) + 0.5) / n_sub
    mx = p0[0] + (p1[0] - p0[0]) * t
    my = p0[1] + (p1[1] - p0[1]) * t
    piece = math.hypot(p1[0] - p0[0], p1[1] - p0[1]) / n_sub
    half_cross = 0.5 * abs((p1[0] - p0[0]) * cx + (p1[1] - p0[1]) * cy) / n_sub
    out = xp.zeros_like(rx + ry, dtype=xp.float64)
    for k in range(n_sub):
        dx = rx - mx[k]
        dy = ry - my[k]
        xd = dx * ex + dy * ey
        yc = dx * cx + dy * cy
        xpos = xp.maximum(xd, 1e-3)
        sy = sigma_y(xpos, stability)
        sz = sigma_z(xpos, stability, sigma_z0)
        if half_cross > 1e-9:
            band = (
                erf((yc + half_cross) / (math.sqrt(2.0) * sy))
                - erf((yc - half_cross) / (math.sqrt(2.0) * sy))
            ) / (2.0 * half_cross)
        else:
            band = xp.exp(-0.5 * (yc / sy) ** 2) * math.sqrt(2.0 / math.pi) / sy
        c = q * piece * band / (_SQRT_2PI * sz * u)
        out = out + xp.where(xd > 0, c, 0.0)
    return out


@dataclass(frozen=True, slots=True)
class WindRose:
    """Wind-direction frequencies and mean speeds per sector.

    Attributes
    ----------
    frequency : (n,) float64, share of the year with wind *from* sector k (sums to 1);
        sector k is centred on ``k * 360 / n`` degrees from north, clockwise.
    speed : (n,) float64, mean wind speed in sector k, m/s (clamped to >= 0.5 m/s
        against calms).
    """

    frequency: tuple[float, ...]
    speed: tuple[float, ...]

    def __post_init__(self) -> None:
        f = np.asarray(self.frequency, dtype=np.float64)
        u = np.asarray(self.speed, dtype=np.float64)
        if f.ndim != 1 or len(f) < 4 or f.shape != u.shape:
            raise KernelError("WindRose: need >= 4 sectors with one frequency and one speed each")
        if (f < 0).any() or not math.isclose(float(f.sum()), 1.0, rel_tol=1e-6):
            raise KernelError(f"WindRose: frequencies must be >= 0 and sum to 1 (sum {f.sum():g})")
        if not (u > 0).all():
            raise KernelError("WindRose: sector speeds must be > 0 m/s")

    @classmethod
    def uniform(cls, sectors: int = 12, speed: float = 3.5) -> WindRose:
        """Every direction equally likely, one speed (m/s) everywhere."""
        return cls((1.0 / sectors,) * sectors, (float(speed),) * sectors)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WindRose:
        """From ``{"frequency": [...], "speed": [...]}`` (frequencies normalised to 1)."""
        f = np.asarray(d["frequency"], dtype=np.float64)
        if not f.sum() > 0:
            raise KernelError("WindRose: frequencies sum to zero")
        return cls(tuple((f / f.sum()).tolist()), tuple(float(v) for v in d["speed"]))

    def to_dict(self) -> dict[str, list[float]]:
        """``{"frequency": [...], "speed": [...]}``."""
        return {"frequency": list(self.frequency), "speed": list(self.speed)}

    @property
    def sectors(self) -> int:
        """Number of sectors."""
        return len(self.frequency)

    def mean_speed(self) -> float:
        """Frequency-weighted mean wind speed, m/s."""
        return float(np.dot(self.frequency, np.maximum(self.speed, 0.5)))

    def harmonic_speed(self) -> float:
        """``1 / mean(1/u)``, m/s: the speed whose dilution equals the rose's."""
        return 1.0 / float(np.dot(self.frequency, 1.0 / np.maximum(self.speed, 0.5)))

    def weights(self) -> F64:
        """(n,) float64, ``w_k = f_k / (u_k * dtheta)``: density over speed, s/(m rad)."""
        f = np.asarray(self.frequency)
        u = np.maximum(np.asarray(self.speed), 0.5)
        return np.asarray(f / (u * (2.0 * math.pi / len(f))))


def _rose_weight(xp: Any, w: Any, dx: Any, dy: Any) -> Any:
    """Wind weight toward the bearing of (dx, dy), linear between sector centres."""
    n = int(w.shape[0])
    # direction the wind must come from to carry source -> receiver, in sector units
    frm = (xp.arctan2(dx, dy) + math.pi) * (n / (2.0 * math.pi))
    k0f = xp.floor(frm)
    frac = frm - k0f
    k0 = k0f.astype(xp.int64) % n
    k1 = (k0 + 1) % n
    return (1.0 - frac) * w[k0] + frac * w[k1]


_TABLE_BINS = 4096


def _pseudo_angle_table(rose: WindRose) -> F64:
    """Rose weight tabulated over a pseudo-angle of the source -> receiver vector.

    The pseudo-angle ``p = 1 - dx/(|dx|+|dy|)`` (dy >= 0) or ``3 + dx/(|dx|+|dy|)``
    (dy < 0) runs monotonically 0..4 counter-clockwise from east and costs a few
    arithmetic operations instead of ``arctan2``. Bin ``i`` holds the linearly
    interpolated rose weight at the direction of the bin centre.

    Returns
    -------
    (_TABLE_BINS,) float64, s/(m rad).
    """
    pc = (np.arange(_TABLE_BINS) + 0.5) * (4.0 / _TABLE_BINS)
    t = np.where(pc <= 2.0, 1.0 - pc, pc - 3.0)
    vx = t
    vy = np.where(pc <= 2.0, 1.0 - np.abs(t), -(1.0 - np.abs(t)))
    return np.asarray(_rose_weight(np, rose.weights(), vx, vy), dtype=np.float64)


def _inv_sigma_z(xp: Any, r: Any, stab: dict[str, float], sigma_z0: float) -> Any:
    """1 / sigma_z(r) averaged over stability shares (Briggs urban, see module table)."""
    total = sum(stab.values())
    out = None
    for cls, share in stab.items():
        if share <= 0:
            continue
        c, g, e = _SZ[cls]
        if e == 0.0:
            sz = c * r
        elif e > 0:
            sz = c * r * xp.sqrt(1.0 + g * r)
        else:
            sz = c * r / xp.sqrt(1.0 + g * r)
        if sigma_z0:
            sz = xp.sqrt(sz * sz + sigma_z0 * sigma_z0)
        term = (share / total) / sz
        out = term if out is None else out + term
    return out


def plume_sum(
    rx: Any,
    ry: Any,
    sx: Any,
    sy: Any,
    q: Any,
    r_min: Any,
    rose: WindRose,
    stability: Mapping[str, float] | None = None,
    sigma_z0: float = 1.5,
    reach_m: float = 500.0,
    chunk_pairs: int = 1_000_000,
) -> Any:
    """Annual-mean concentration from point sources over a wind rose (long-term form).

    ``C_i = sum_j sum_c p_c 2 Q_j w(beta_ij) / (sqrt(2 pi) sigma_z,c(R_ij) R_ij)``,
    ``R = max(|r_i - s_j|, r_min_j)``, pairs beyond ``reach_m`` left out; ``w`` is
    looked up in a 4096-bin table over direction (0.09 degree bins).

    Parameters
    ----------
    rx, ry : (n,) float64, receiver positions, m (NumPy or CuPy: the namespace follows).
    sx, sy : (m,) float64, source points, m.
    q : (m, k) float64, emission of each point per pollutant, ug/s (``E * length``).
    r_min : (m,) float64, smallest distance used for each point, m (about half its
        length: a receiver on the road sees the road, not a singular point).
    rose : wind rose.
    stability : shares of Pasquill classes, e.g. ``{"D": 1.0}`` (default).
    sigma_z0 : initial vertical spread, m.
    reach_m : pairs farther apart are ignored, m.
    chunk_pairs : receivers are processed in chunks of about this many pairs.

    Returns
    -------
    (n, k) float64, ug/m3, same namespace as the inputs.

    Notes
    -----
    Memory is bounded by ``chunk_pairs`` (about 8 float64 temporaries of that size,
    ~64 MB at the default). Cost is linear in receivers x sources; the pair kernel
    is reduced over sources with one matrix product per chunk (BLAS / cuBLAS).
    """
    xp = namespace_of(rx, ry, sx, sy, q)
    stab = {c: float(v) for c, v in (stability or {"D": 1.0}).items()}
    for c in stab:
        _check_class(c)
    if not sum(stab.values()) > 0:
        raise KernelError("plume_sum: stability shares must sum to > 0")
    n = int(rx.shape[0])
    m = int(sx.shape[0])
    k = int(q.shape[1]) if q.ndim == 2 else 1
    out = xp.zeros((n, k))
    if n == 0 or m == 0:
        return out
    table = xp.asarray(_pseudo_angle_table(rose) * (2.0 / _SQRT_2PI))
    scale = _TABLE_BINS / 4.0
    reach2 = reach_m * reach_m
    rmin = r_min[None, :]
    step = max(1, chunk_pairs // m)
    q2 = q.reshape(m, k)
    for a in range(0, n, step):
        b = min(n, a + step)
        dx = rx[a:b, None] - sx[None, :]
        dy = ry[a:b, None] - sy[None, :]
        r2 = dx * dx + dy * dy
        # pseudo-angle -> table bin
        t = dx / xp.maximum(xp.abs(dx) + xp.abs(dy), 1e-12)
        p = xp.where(dy >= 0, 1.0 - t, 3.0 + t)
        idx = xp.minimum((p * scale).astype(xp.int32), _TABLE_BINS - 1)
        r = xp.maximum(xp.sqrt(r2), rmin)
        kern = table[idx] * _inv_sigma_z(xp, r, stab, sigma_z0) / r
        kern = xp.where(r2 <= reach2, kern, 0.0)
        out[a:b] = kern @ q2
    return out
