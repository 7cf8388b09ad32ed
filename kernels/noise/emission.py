"""CNOSSOS-EU road traffic emission (Directive (EU) 2015/996, Annex II, section 2.2).

Equation numbers refer to Annex II of Commission Directive (EU) 2015/996 as amended
by Commission Delegated Directive (EU) 2021/1226 (coefficient set ``"2020"``); the
original 2015 coefficients stay selectable (``"2015"``).

Everything here is per road or per source point and cheap; it runs on NumPy (host)
and its results are moved to the compute backend once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.roads import CATEGORIES, Road, RoadNetwork, SourcePoints

__all__ = [
    "A_WEIGHTING",
    "BANDS_HZ",
    "V_REF_KMH",
    "RoadCoefficients",
    "SurfaceCoefficients",
    "gradient_correction",
    "line_emission",
    "source_powers",
    "studded_correction",
    "uphill_shares",
    "vehicle_emission",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Octave band nominal centre frequencies, Hz.
BANDS_HZ: tuple[int, ...] = (63, 125, 250, 500, 1000, 2000, 4000, 8000)
#: A-weighting per octave band, dB (IEC 61672-1), as listed in Annex II.
A_WEIGHTING: F64 = np.array([-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1])
#: Reference speed of the emission model, km/h (Annex II, 2.2.2).
V_REF_KMH = 70.0
#: Temperature coefficient K_m of rolling noise, dB/degC (eq. 2.2.9): cat. 1, 2, 3, 4a, 4b.
TEMPERATURE_K: F64 = np.array([0.08, 0.04, 0.04, 0.0, 0.0])
#: Reference temperature of the emission model, degC (eq. 2.2.9).
T_REF_C = 20.0


@dataclass(frozen=True, slots=True, eq=False)
class SurfaceCoefficients:
    """Road surface correction (Annex II, 2.2.8, eqs. 2.2.14-2.2.15).

    Attributes
    ----------
    alpha : (5, 8) float64, dB, spectral correction per category and band.
    beta : (5,) float64, dB, speed effect on rolling noise reduction.
    v_min, v_max : validity range of the correction, km/h, as the Directive's table gives
        it per surface (Appendix F); outside it the speed term takes the nearest end.
    description : the surface in words.
    """

    alpha: F64
    beta: F64
    v_min: float
    v_max: float
    description: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class RoadCoefficients:
    """CNOSSOS-EU road source coefficients of one set (Annex II, Appendix F).

    Attributes
    ----------
    set_name : ``"2020"`` (Directive 2021/1226) or ``"2015"``.
    A_R, B_R, A_P, B_P : (5, 8) float64, rolling/propulsion coefficients per category
        (rows 1, 2, 3, 4a, 4b) and band.
    studded_a, studded_b : (8,) float64, studded-tyre coefficients (category 1).
    junction_CR, junction_CP : (5, 3) float64, junction coefficients C_R, C_P per
        category and junction type k (column 0 unused, 1 = traffic lights, 2 = roundabout).
    surfaces : road surface corrections by key.
    """

    set_name: str
    A_R: F64
    B_R: F64
    A_P: F64
    B_P: F64
    studded_a: F64
    studded_b: F64
    junction_CR: F64
    junction_CP: F64
    surfaces: Mapping[str, SurfaceCoefficients]

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], set_name: str = "2020") -> RoadCoefficients:
        """Build from the parsed ``data/noise/cnossos_road_coefficients.json``.

        Raises
        ------
        KernelError
            When the set is missing or the file lacks a coefficient.
        """
        sets = obj.get("sets", {})
        if set_name not in sets:
            raise KernelError(
                f"CNOSSOS coefficient set {set_name!r} not found (have: {', '.join(sets)})"
            )
        s = sets[set_name]
        try:
            vc = s["vehicle_categories"]
            mats = {
                k: np.array([vc[c][k] for c in CATEGORIES], dtype=np.float64)
                for k in ("A_R", "B_R", "A_P", "B_P")
            }
            cr = np.zeros((5, 3))
            cp = np.zeros((5, 3))
            for m, c in enumerate(CATEGORIES):
                j = vc[c]["junction"]
                cr[m, 1], cp[m, 1] = j["crossing_k1"]["C_R"], j["crossing_k1"]["C_P"]
                cr[m, 2], cp[m, 2] = j["roundabout_k2"]["C_R"], j["roundabout_k2"]["C_P"]
            surfaces = {
                key: SurfaceCoefficients(
                    alpha=np.array(
                        [sv["per_category"][c]["alpha"] for c in CATEGORIES], dtype=np.float64
                    ),
                    beta=np.array(
                        [sv["per_category"][c]["beta"] for c in CATEGORIES], dtype=np.float64
                    ),
                    v_min=float(sv["v_min_kmh"]),
                    v_max=float(sv["v_max_kmh"]),
                    description=str(sv.get("description", "")),
                )
                for key, sv in s["road_surfaces"].items()
            }
            studded_a = np.array(vc["1"]["studded_a"], dtype=np.float64)
            studded_b = np.array(vc["1"]["studded_b"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise KernelError(f"CNOSSOS coefficient set {set_name!r} is incomplete: {exc}") from exc
        for name, arr in mats.items():
            if arr.shape != (5, 8):
                raise KernelError(f"CNOSSOS coefficients {name} must be 5 categories x 8 bands")
        return cls(
            set_name,
            mats["A_R"],
            mats["B_R"],
            mats["A_P"],
            mats["B_P"],
            studded_a,
            studded_b,
            cr,
            cp,
            surfaces,
        )


def studded_correction(coeffs: RoadCoefficients, v_kmh: float, share: float, months: float) -> F64:
    """Studded-tyre correction of category-1 rolling noise (Annex II, 2.2.7, eqs. 2.2.7-2.2.8).

    dL_studs,i = a_i + b_i lg(v / 70) with v clamped to 50..90 km/h;
    dL_WR,studs,i = 10 lg((1 - p_s) + p_s 10^(dL_studs,i / 10)), p_s = share x months / 12.

    Returns
    -------
    (8,) float64, dB (0 without studded tyres)
    """
    ps = float(np.clip(share, 0.0, 1.0) * np.clip(months, 0.0, 12.0) / 12.0)
    if ps <= 0.0:
        return np.zeros(8)
    v = min(max(v_kmh, 50.0), 90.0)
    d = coeffs.studded_a + coeffs.studded_b * np.log10(v / V_REF_KMH)
    return np.asarray(10.0 * np.log10((1.0 - ps) + ps * 10.0 ** (d / 10.0)), dtype=np.float64)


def gradient_correction(s_pct: float, speeds: F64) -> F64:
    """Road gradient correction of propulsion noise (Annex II, 2.2.9, eqs. 2.2.11-2.2.13).

    Parameters
    ----------
    s_pct : road slope in the driving direction, % (positive uphill).
    speeds : (5,) float64, km/h per category.

    Returns
    -------
    (5,) float64, dB, for categories 1, 2, 3 (0 for 4a, 4b); same for all bands.
    """
    s = float(s_pct)
    out = np.zeros(5)
    v1, v2, v3 = float(speeds[0]), float(speeds[1]), float(speeds[2])
    # category 1 (eq. 2.2.11)
    if s < -6.0:
        out[0] = (min(12.0, -s) - 6.0) / 1.0
    elif s > 2.0:
        out[0] = (min(12.0, s) - 2.0) / 1.5 * v1 / 100.0
    # category 2 (eq. 2.2.12)
    if s < -4.0:
        out[1] = (min(12.0, -s) - 4.0) / 0.7 * (v2 - 20.0) / 100.0
    elif s > 0.0:
        out[1] = min(12.0, s) / 1.0 * v2 / 100.0
    # category 3 (eq. 2.2.13)
    if s < -4.0:
        out[2] = (min(12.0, -s) - 4.0) / 0.5 * (v3 - 10.0) / 100.0
    elif s > 0.0:
        out[2] = min(12.0, s) / 0.8 * v3 / 100.0
    return out


def vehicle_emission(
    coeffs: RoadCoefficients,
    speeds: F64,
    surface: str = "DEF",
    temperature_c: float = T_REF_C,
    gradient_pct: float = 0.0,
    studded_share: float = 0.0,
    studded_months: float = 0.0,
    junction_type: int = 0,
    junction_distance_m: float | F64 = np.inf,
) -> tuple[F64, F64]:
    """Rolling and propulsion sound power of one vehicle per category and band.

    Rolling (eq. 2.2.3): L_WR,i,m = A_R,i,m + B_R,i,m lg(v_m / v_ref) + dL_WR,i,m with
    dL_WR = road surface (2.2.14, alpha + beta lg(v/v_ref), v within the surface's
    validity range of Appendix F) + studded tyres (2.2.8, cat. 1)
    + temperature K_m (20 - T) (2.2.9) + junction C_R,m,k max(1 - x/100, 0) (2.2.16).

    Propulsion (eq. 2.2.4): L_WP,i,m = A_P,i,m + B_P,i,m (v_m - v_ref) / v_ref + dL_WP,i,m
    with dL_WP = min(alpha, 0) (2.2.15) + gradient (2.2.11-2.2.13) + junction
    C_P,m,k max(1 - x/100, 0) (2.2.17).

    Parameters
    ----------
    speeds : (5,) float64, km/h per category.
    junction_distance_m : scalar or (n,) distances to the junction, m.

    Returns
    -------
    L_WR, L_WP : (..., 5, 8) float64, dB re 1 pW; ``...`` is the shape of
        ``junction_distance_m``. Rolling is -inf for categories 4a and 4b (propulsion only).
    """
    v = np.asarray(speeds, dtype=np.float64).reshape(5)
    if surface not in coeffs.surfaces:
        raise KernelError(f"road surface {surface!r} not in coefficient set {coeffs.set_name}")
    surf = coeffs.surfaces[surface]
    lv = np.log10(v / V_REF_KMH)[:, None]
    lwr = coeffs.A_R + coeffs.B_R * lv
    lwp = coeffs.A_P + coeffs.B_P * ((v - V_REF_KMH) / V_REF_KMH)[:, None]
    v_surf = np.clip(v, surf.v_min, surf.v_max)
    lwr = lwr + surf.alpha + (surf.beta * np.log10(v_surf / V_REF_KMH))[:, None]
    lwp = lwp + np.minimum(surf.alpha, 0.0)
    lwr = lwr + (TEMPERATURE_K * (T_REF_C - temperature_c))[:, None]
    lwr[0] = lwr[0] + studded_correction(coeffs, float(v[0]), studded_share, studded_months)
    lwp = lwp + gradient_correction(gradient_pct, v)[:, None]
    x = np.asarray(junction_distance_m, dtype=np.float64)
    k = int(junction_type)
    if k in (1, 2):
        fac = np.maximum(1.0 - x / 100.0, 0.0)[..., None, None]
        lwr = lwr + coeffs.junction_CR[:, k, None] * fac
        lwp = lwp + coeffs.junction_CP[:, k, None] * fac
    else:
        lwr = np.broadcast_to(lwr, (*x.shape, 5, 8)).copy()
        lwp = np.broadcast_to(lwp, (*x.shape, 5, 8)).copy()
    lwr[..., 3:, :] = -np.inf  # 4a, 4b: propulsion noise only (Annex II, 2.2.3)
    return lwr, lwp


def _combined(lwr: F64, lwp: F64) -> F64:
    """L_W = 10 lg(10^(L_WR/10) + 10^(L_WP/10)) (eq. 2.2.2), as energy (W re 1 pW)."""
    return np.asarray(10.0 ** (lwr / 10.0) + 10.0 ** (lwp / 10.0), dtype=np.float64)


def uphill_shares(road: Road) -> tuple[float, float]:
    """(share of the traffic driving up ``road.gradient_pct``, share driving down).

    ``gradient_pct`` is the slope along the digitised direction (positive: uphill that
    way). A two-way road (``direction="both"``) has half its traffic each way; a one-way
    road all of it along (``"forward"``) or against (``"backward"``) the digitised
    direction. A flat road has no uphill side: (1, 0).
    """
    if road.gradient_pct == 0.0:
        return 1.0, 0.0
    along = {"both": 0.5, "forward": 1.0, "backward": 0.0}[road.direction]
    if road.gradient_pct > 0:
        return along, 1.0 - along
    return 1.0 - along, along


def _vehicle_energy(
    coeffs: RoadCoefficients,
    road: Road,
    temperature_c: float,
    junction_type: int = 0,
    junction_distance_m: float | F64 = np.inf,
) -> F64:
    """Per-vehicle power as energy, averaged over the road's driving directions.

    The gradient correction (eqs. 2.2.11-2.2.13) takes the traffic uphill and downhill
    in the shares of :func:`uphill_shares`: half each way on a two-way road, all one way
    on a one-way road; a zero gradient gives the plain eq. 2.2.2.

    Returns
    -------
    (..., 5, 8) float64, 10^(L_W/10) (W re 1 pW).
    """
    args = (road.surface, temperature_c)
    kw: dict[str, Any] = {
        "studded_share": road.studded_share,
        "studded_months": road.studded_months,
        "junction_type": junction_type,
        "junction_distance_m": junction_distance_m,
    }
    if road.gradient_pct == 0.0:
        return _combined(*vehicle_emission(coeffs, road.speeds, *args, 0.0, **kw))
    slope = abs(road.gradient_pct)
    w_up, w_down = uphill_shares(road)
    out: F64 | float = 0.0
    if w_up > 0:
        out = out + w_up * _combined(*vehicle_emission(coeffs, road.speeds, *args, slope, **kw))
    if w_down > 0:
        out = out + w_down * _combined(*vehicle_emission(coeffs, road.speeds, *args, -slope, **kw))
    return np.asarray(out, dtype=np.float64)


def line_emission(coeffs: RoadCoefficients, road: Road, temperature_c: float = T_REF_C) -> F64:
    """Sound power per metre of a road, per period and band (eq. 2.2.1), no junction.

    L_W',eq,line,i,m = L_W,i,m + 10 lg(Q_m / (1000 v_m)), summed over categories
    energetically; the whole carriageway is one line source at the centreline.

    Returns
    -------
    (3, 8) float64, dB re 1 pW per metre (-inf where there is no traffic).
    """
    energy = _vehicle_energy(coeffs, road, temperature_c)  # (5, 8)
    flows = np.zeros((3, 5)) if road.closed else road.flows
    per_m = flows / (1000.0 * road.speeds[None, :])  # (3, 5) vehicles per metre
    total = per_m @ energy  # (3, 8)
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(total), dtype=np.float64)


def source_powers(network: RoadNetwork, points: SourcePoints, coeffs: RoadCoefficients) -> F64:
    """Sound power of each point source, per period and band, as energy.

    Each point carries its road's line emission times the length it represents
    (Annex II, 2.5.4), with the junction correction at its own distance to the
    nearest junction (eqs. 2.2.16-2.2.17).

    Returns
    -------
    (n, 3, 8) float64, W re 1 pW (10^(L_W/10)), not A-weighted.
    """
    n = len(points)
    out = np.zeros((n, 3, 8))
    if n == 0:
        return out
    order = np.argsort(points.road_index, kind="stable")
    ri_sorted = points.road_index[order]
    bounds = np.flatnonzero(np.diff(ri_sorted)) + 1
    for grp in np.split(order, bounds):
        road = network.roads[int(points.road_index[grp[0]])]
        if road.closed:
            continue
        per_m = road.flows / (1000.0 * road.speeds[None, :])  # (3, 5)
        jt = points.junction_type[grp]
        jd = points.junction_distance[grp]
        for k in np.unique(jt):
            sel = grp[jt == k]
            energy = _vehicle_energy(
                coeffs, road, network.temperature_c, int(k), jd[jt == k]
            )  # (m, 5, 8)
            out[sel] = np.einsum("pc,mcb->mpb", per_m, energy) * points.length_m[sel, None, None]
    return out
