"""The noise map kernel: receivers x road source points, chunked, incremental.

The reference implementation (:func:`receiver_energy`) is array-namespace code that
runs on NumPy and on CuPy; :func:`receiver_energy_numba` (compiled CPU) and
:func:`receiver_energy_cuda` (``cupy.RawKernel``) compute the same per pair behind the
same signature. The engine is chosen once per map (:func:`resolve_backend`). For each
receiver-source pair within ``max_distance_m``:

1. the straight vertical path is sampled over the building height raster:
   K = max(2, ceil(d_h / step) + 1) samples at t_k = (k + 1/2) / K, step =
   ``profile_step_m`` or the cell size;
2. if the line of sight is free: A = A_div + A_atm + A_ground (H and F conditions);
3. if it is blocked: the rubber-band path over the profile's upper convex hull gives
   the path difference delta (multi-edge, C'' with e between the first and the last
   edge) and A = A_div + A_atm + A_dif, A_dif = min(25, Delta_dif) + Delta_ground(S,O)
   + Delta_ground(O,R) (Annex II, 2.5.6);
4. first-order facade reflections come from image sources mirrored in the facade met
   across the street (see :func:`image_sources`);
5. optional foliage attenuation through crowns (ISO 9613-2 Annex A, ``foliage=True``: the
   "vegetation" mode of :mod:`~greentwin.kernels.noise.foliage`): the density-weighted
   length through crowns along the 5 km-radius arc over the path actually taken (the
   line of sight, or the diffraction hull over obstacles); an image source's leg before
   its reflection is not counted;
6. long-term level L = 10 lg(p 10^(L_F/10) + (1 - p) 10^(L_H/10)) (eq. 2.5.9 ff.).

Energies are kept per receiver, per period and per band, unweighted, so that the
contribution of any set of roads can be subtracted and added again
(:meth:`NoiseMap.update_roads`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.backend import Backend, get_backend, namespace_of, to_numpy
from greentwin.kernels.noise.emission import (
    A_WEIGHTING,
    RoadCoefficients,
    line_emission,
    source_powers,
)
from greentwin.kernels.noise.propagation import (
    NOMINAL_BANDS_HZ,
    atmospheric_absorption,
    diffraction,
    divergence,
    foliage_attenuation,
    ground_favourable,
    ground_homogeneous,
    ground_over_diffraction,
)
from greentwin.kernels.raster import BuildingFootprint, CrownRaster, Grid
from greentwin.kernels.roads import PERIOD_HOURS, Road, RoadNetwork, SourcePoints

__all__ = [
    "Engine",
    "FacadeReceivers",
    "NoiseMap",
    "NoiseParams",
    "NoiseScene",
    "Receivers",
    "SourceSet",
    "facade_receivers",
    "grid_receivers",
    "image_sources",
    "indicators",
    "receiver_energy",
    "receiver_energy_cuda",
    "receiver_energy_numba",
    "resolve_backend",
    "road_sources",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Array = Any

#: Kernel implementations: the vectorised reference, compiled CPU, CUDA.
Engine = Literal["reference", "numba", "cuda"]

#: Radius of the curved path used for foliage, m (ISO 9613-2, Annex A).
FOLIAGE_ARC_RADIUS_M = 5000.0


@dataclass(frozen=True, slots=True)
class NoiseParams:
    """Settings of the noise computation.

    Attributes
    ----------
    max_distance_m : propagation cutoff, m: pairs farther apart are ignored.
    source_spacing_m : length of centreline per point source, m.
    receiver_height_m : receiver height above ground, m (END: 4 m).
    p_favourable : probability of favourable propagation conditions (eq. 2.5.9 ff.).
    temperature_c, humidity_pct : air for ISO 9613-1 absorption (CNOSSOS default 15 degC, 70 %).
    ground_g : ground factor used where no ground raster is given (0 = hard).
    profile_step_m : profile sampling step, m (None: the height raster's cell size).
    reflections : first-order facade reflections (image sources across the street).
    facade_absorption : absorption coefficient alpha_r of facades (reflected power x (1 - alpha_r)).
    reflection_search_m : how far from a source a facade is looked for, m.
    foliage : attenuation through crowns (ISO 9613-2 Annex A): the "vegetation" mode; off
        ("cnossos" mode) by default, CNOSSOS-EU has no foliage term.
    pair_budget : samples (pairs x profile samples) per chunk: bounds memory.
    """

    max_distance_m: float = 250.0
    source_spacing_m: float = 10.0
    receiver_height_m: float = 4.0
    p_favourable: float = 0.5
    temperature_c: float = 15.0
    humidity_pct: float = 70.0
    ground_g: float = 0.0
    profile_step_m: float | None = None
    reflections: bool = True
    facade_absorption: float = 0.1
    reflection_search_m: float = 30.0
    foliage: bool = False
    pair_budget: int = 4_000_000

    @property
    def mode(self) -> str:
        """``"vegetation"`` with the foliage term, ``"cnossos"`` without."""
        return "vegetation" if self.foliage else "cnossos"

    @classmethod
    def for_mode(cls, mode: str, **kw: Any) -> NoiseParams:
        """Parameters of a noise mode (``"cnossos"`` or ``"vegetation"``, see
        :mod:`~greentwin.kernels.noise.foliage`); other fields as keywords."""
        if mode not in ("cnossos", "vegetation"):
            raise KernelError(f"unknown noise mode {mode!r}: use 'cnossos' or 'vegetation'")
        return cls(foliage=mode == "vegetation", **kw)


@dataclass(frozen=True, slots=True, eq=False)
class NoiseScene:
    """What sound meets on its way: buildings, ground, crowns, on one grid.

    Attributes
    ----------
    grid : the raster grid (metres, projected CRS).
    heights : (ny, nx) float64, building (or barrier) heights above ground, m; 0 = open.
    ground : (ny, nx) float64 ground factor G (0..1), or None for ``NoiseParams.ground_g``.
    crowns : crown raster for foliage attenuation, or None.
    """

    grid: Grid
    heights: F64
    ground: F64 | None = None
    crowns: CrownRaster | None = None

    def __post_init__(self) -> None:
        if self.heights.shape != self.grid.shape:
            raise KernelError(f"heights shape {self.heights.shape} != grid {self.grid.shape}")
        if self.ground is not None and self.ground.shape != self.grid.shape:
            raise KernelError(f"ground shape {self.ground.shape} != grid {self.grid.shape}")


@dataclass(frozen=True, slots=True, eq=False)
class Receivers:
    """Receiver points.

    Attributes
    ----------
    xyz : (R, 3) float64, metres (z above ground).
    skip_m : (R,) float64: obstacles closer than this to the receiver are ignored (the
        receiver's own facade for facade receivers), m.
    facade_n : (R, 2) float64, outward facade normal (zero for free-field receivers);
        reflections in the plane of a receiver's own facade are left out.
    """

    xyz: F64
    skip_m: F64
    facade_n: F64

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class FacadeReceivers:
    """Receivers 0.1 m in front of facades, with the building each belongs to.

    Attributes
    ----------
    receivers : the points.
    building : (R,) int64 index into the footprint list.
    building_ids : id per footprint.
    """

    receivers: Receivers
    building: I64
    building_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class SourceSet:
    """Point sources on the compute backend (real sources and their image sources).

    Attributes
    ----------
    xyz : (S, 3) float64, metres.
    power : (S, C, 8) float64 per-source weights per band (W re 1 pW per period and band
        for C = 3, or metres of road for C = 1, see :meth:`NoiseMap.compute`).
    plane : (S, 3) float64, reflecting plane n_x, n_y, c with s(p) = n . p - c > 0 on the
        receiver side; zeros for real sources.
    is_image : (S,) bool.
    """

    xyz: Array
    power: Array
    plane: Array
    is_image: Array

    def __len__(self) -> int:
        return int(self.xyz.shape[0])


# --------------------------------------------------------------------------- receivers
def grid_receivers(scene: NoiseScene, height_m: float = 4.0) -> tuple[Receivers, I64]:
    """Receivers at the centres of the grid cells not covered by a building.

    Returns
    -------
    receivers, cell : (R,) int64 flat cell index (row-major, ``grid.shape``) of each receiver.
    """
    centers = scene.grid.centers()
    cell = np.flatnonzero(scene.heights.ravel() <= 0.0)
    xy = centers[cell]
    n = len(cell)
    xyz = np.column_stack([xy, np.full(n, height_m)])
    return Receivers(xyz, np.zeros(n), np.zeros((n, 2))), cell


def facade_receivers(
    buildings: Sequence[BuildingFootprint],
    scene: NoiseScene,
    spacing_m: float = 5.0,
    height_m: float = 4.0,
    offset_m: float = 0.1,
) -> FacadeReceivers:
    """Receivers 0.1 m in front of each facade, every ``spacing_m`` along the walls.

    Points that fall inside another building (shared walls) are dropped. The
    receiver's own building is ignored for ``skip_m`` (1.5 raster cells) along each
    path, and the reflection in its own facade plane is left out (END: most exposed
    facade level without the last reflection).
    """
    pts: list[F64] = []
    nrm: list[F64] = []
    bidx: list[int] = []
    cell = scene.grid.cell
    for bi, b in enumerate(buildings):
        ring = np.asarray(b.exterior, dtype=np.float64)[:, :2]
        if len(ring) > 2 and np.allclose(ring[0], ring[-1]):
            ring = ring[:-1]
        if len(ring) < 3:
            continue
        area2 = float(
            np.sum(ring[:, 0] * np.roll(ring[:, 1], -1) - np.roll(ring[:, 0], -1) * ring[:, 1])
        )
        a, c = ring, np.roll(ring, -1, axis=0)
        d = c - a
        length = np.hypot(d[:, 0], d[:, 1])
        ok = length > 0.5
        a, d, length = a[ok], d[ok], length[ok]
        sign = 1.0 if area2 > 0 else -1.0  # counter-clockwise ring: outward normal = (dy, -dx)
        n_out = sign * np.column_stack([d[:, 1], -d[:, 0]]) / length[:, None]
        k = np.maximum(np.round(length / spacing_m).astype(np.int64), 1)
        seg = np.repeat(np.arange(len(a)), k)
        j = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        frac = (j + 0.5) / k[seg]
        p = a[seg] + d[seg] * frac[:, None] + n_out[seg] * offset_m
        pts.append(p)
        nrm.append(n_out[seg])
        bidx.extend([bi] * len(p))
    if not pts:
        empty = Receivers(np.zeros((0, 3)), np.zeros(0), np.zeros((0, 2)))
        return FacadeReceivers(empty, np.zeros(0, np.int64), tuple(b.id for b in buildings))
    xy = np.concatenate(pts)
    n_all = np.concatenate(nrm)
    bi_arr = np.asarray(bidx, dtype=np.int64)
    # drop points inside another building: probe 1 cell outward
    probe = xy + n_all * cell
    row, col = scene.grid.index(probe[:, 0], probe[:, 1])
    inside = scene.grid.contains(probe[:, 0], probe[:, 1])
    h = np.zeros(len(xy))
    h[inside] = scene.heights[row[inside], col[inside]]
    keep = h <= 0.0
    n = int(keep.sum())
    rec = Receivers(
        np.column_stack([xy[keep], np.full(n, height_m)]),
        np.full(n, 1.5 * cell),
        n_all[keep],
    )
    return FacadeReceivers(rec, bi_arr[keep], tuple(b.id for b in buildings))


# --------------------------------------------------------------------------- sources
def image_sources(
    points: SourcePoints, power: F64, scene: NoiseScene, params: NoiseParams
) -> tuple[F64, F64, F64]:
    """First-order image sources in the facades across the street (Annex II, 2.5.5 reflections).

    For each source point, a ray is marched on the height raster perpendicular to its
    road on both sides up to ``reflection_search_m``; the first building cell met
    marks a facade assumed parallel to the road. The source is mirrored in that
    plane; its power is multiplied by (1 - alpha_r). Whether the reflection point
    really lies on a wall high enough is checked per receiver in the kernel.

    Returns
    -------
    xyz : (m, 3) float64 image positions, m.
    power : (m, C, 8) float64, the sources' weights x (1 - alpha_r).
    plane : (m, 3) float64 (n_x, n_y, c), s(p) = n . p - c, positive on the source side.
    """
    grid = scene.grid
    step = grid.cell / 2.0
    nsteps = max(1, int(params.reflection_search_m / step))
    out_xyz: list[F64] = []
    out_pw: list[F64] = []
    out_pl: list[F64] = []
    if len(points) == 0:
        return np.zeros((0, 3)), np.zeros((0, *power.shape[1:])), np.zeros((0, 3))
    k = (np.arange(1, nsteps + 1) * step)[None, :]
    for sign in (1.0, -1.0):
        nx = -points.direction[:, 1] * sign
        ny = points.direction[:, 0] * sign
        px = points.xy[:, 0:1] + nx[:, None] * k
        py = points.xy[:, 1:2] + ny[:, None] * k
        row, col = grid.index(px, py)
        inside = (row >= 0) & (row < grid.ny) & (col >= 0) & (col < grid.nx)
        h = np.zeros(px.shape)
        h[inside] = scene.heights[row[inside], col[inside]]
        hit = h > 0.0
        has = hit.any(axis=1)
        first = np.argmax(hit, axis=1)
        w = (first + 0.5) * step  # distance source -> facade plane, m
        sel = np.flatnonzero(has & (w > 0.5))
        if len(sel) == 0:
            continue
        wsel = w[sel]
        n_src = np.column_stack([-nx[sel], -ny[sel]])  # plane normal pointing to the source
        foot = points.xy[sel] + np.column_stack([nx[sel], ny[sel]]) * wsel[:, None]
        c = np.sum(n_src * foot, axis=1)
        img = points.xy[sel] - 2.0 * n_src * wsel[:, None]
        out_xyz.append(np.column_stack([img, points.z[sel]]))
        out_pw.append(power[sel] * (1.0 - params.facade_absorption))
        out_pl.append(np.column_stack([n_src, c]))
    if not out_xyz:
        return np.zeros((0, 3)), np.zeros((0, *power.shape[1:])), np.zeros((0, 3))
    return np.concatenate(out_xyz), np.concatenate(out_pw), np.concatenate(out_pl)


def road_sources(
    road: Road,
    network: RoadNetwork,
    coeffs: RoadCoefficients,
    scene: NoiseScene,
    params: NoiseParams,
    backend: Backend,
) -> tuple[SourceSet, SourceSet, F64]:
    """Point sources of one road, split for incremental updates.

    Returns
    -------
    plain : points farther than 100 m from any junction, with weights (S, 1, 8) = metres
        of road each stands for (x (1 - alpha_r) for image sources): their energy is
        the transfer sum times the road's power per metre.
    junction : points within 100 m of a junction (eqs. 2.2.16-2.2.17), with weights
        (S, 3, 8) = their sound power per period and band, W re 1 pW.
    line : (3, 8) float64, the road's power per metre without junction, W re 1 pW / m
        (zero when closed).
    """
    net = replace(network, roads=(road,), skipped=[])
    pts = net.source_points(params.source_spacing_m, include_closed=True)
    if road.closed:
        line = np.zeros((3, 8))
    else:
        line = 10.0 ** (line_emission(coeffs, road, network.temperature_c) / 10.0)
    jmask = (pts.junction_type > 0) & (pts.junction_distance < 100.0)
    plain = pts.select(~jmask)
    junc = pts.select(jmask)
    w_plain = np.repeat(plain.length_m[:, None, None], 8, axis=2)
    w_junc = (
        source_powers(net, junc, coeffs)
        if len(junc) and not road.closed
        else np.zeros((len(junc), 3, 8))
    )
    return (
        _source_set(plain, w_plain, scene, params, backend),
        _source_set(junc, w_junc, scene, params, backend),
        np.asarray(line, dtype=np.float64),
    )


def _source_set(
    pts: SourcePoints, weights: F64, scene: NoiseScene, params: NoiseParams, backend: Backend
) -> SourceSet:
    """Sources (with their image sources when reflections are on) on the backend."""
    xyz = np.column_stack([pts.xy, pts.z]) if len(pts) else np.zeros((0, 3))
    plane = np.zeros((len(pts), 3))
    is_img = np.zeros(len(pts), dtype=bool)
    if params.reflections and len(pts):
        ixyz, iw, ipl = image_sources(pts, weights, scene, params)
        xyz = np.concatenate([xyz, ixyz])
        weights = np.concatenate([weights, iw])
        plane = np.concatenate([plane, ipl])
        is_img = np.concatenate([is_img, np.ones(len(ixyz), dtype=bool)])
    xp = backend.xp
    return SourceSet(xp.asarray(xyz), xp.asarray(weights), xp.asarray(plane), xp.asarray(is_img))


# --------------------------------------------------------------------------- the kernel
@dataclass(frozen=True, slots=True, eq=False)
class _SceneArrays:
    """Scene rasters on the compute backend, flattened."""

    heights: Array
    ground: Array | None
    crown_base: Array | None
    crown_top: Array | None
    crown_density: Array | None
    grid: Grid


def _scene_arrays(scene: NoiseScene, xp: ModuleType, foliage: bool) -> _SceneArrays:
    cr = scene.crowns if foliage else None
    return _SceneArrays(
        heights=xp.asarray(scene.heights.ravel()),
        ground=None if scene.ground is None else xp.asarray(scene.ground.ravel()),
        crown_base=None if cr is None else xp.asarray(cr.base.ravel()),
        crown_top=None if cr is None else xp.asarray(cr.top.ravel()),
        crown_density=None if cr is None else xp.asarray(cr.density.ravel()),
        grid=scene.grid,
    )


def _sample(sa: _SceneArrays, raster: Array, x: Array, y: Array, xp: ModuleType) -> Array:
    """Values of a flattened raster at points (nearest cell); 0 outside the grid."""
    g = sa.grid
    col = xp.floor((x - g.x0) / g.cell).astype(xp.int64)
    row = xp.floor((y - g.y0) / g.cell).astype(xp.int64)
    inside = (col >= 0) & (col < g.nx) & (row >= 0) & (row < g.ny)
    idx = xp.where(inside, row * g.nx + col, 0)
    return xp.where(inside, raster[idx], 0.0)


def _cells(sa: _SceneArrays, cx: Array, cy: Array, xp: ModuleType) -> Array:
    """Flat cell index at positions given in cell units from the grid origin; -1 outside."""
    g = sa.grid
    col = xp.floor(cx).astype(xp.int64)
    row = xp.floor(cy).astype(xp.int64)
    inside = (col >= 0) & (col < g.nx) & (row >= 0) & (row < g.ny)
    return xp.where(inside, row * g.nx + col, -1)


def _take(raster: Array, cells: Array, xp: ModuleType) -> Array:
    """Values of a flattened raster at cell indices from :func:`_cells`; 0 outside."""
    return xp.where(cells >= 0, raster[xp.maximum(cells, 0)], 0.0)


def _pair_attenuation(
    sa: _SceneArrays,
    sx: Array,
    sy: Array,
    sz: Array,
    rx: Array,
    ry: Array,
    rz: Array,
    skip: Array,
    t_start: Array,
    alpha_atm: Array,
    params: NoiseParams,
    nk: int,
    xp: ModuleType,
) -> tuple[Array, Array]:
    """Attenuation of P source-receiver paths in homogeneous and favourable conditions.

    Parameters
    ----------
    sx, sy, sz, rx, ry, rz : (P,) source and receiver positions, m.
    skip : (P,) obstacles within this distance of the receiver are ignored, m.
    t_start : (P,) fraction of the path before which obstacles are ignored (image
        sources: the part behind the reflecting facade).
    alpha_atm : (8,) dB/m.
    nk : number of profile samples per path.

    Returns
    -------
    A_H, A_F : (P, 8) dB
    """
    p_n = sx.shape[0]
    dx = rx - sx
    dy = ry - sy
    dh = xp.sqrt(dx * dx + dy * dy)
    dz = rz - sz
    d = xp.sqrt(dh * dh + dz * dz)
    base = divergence(d)[:, None] + alpha_atm[None, :] * d[:, None]

    t = (xp.arange(nk, dtype=xp.float64) + 0.5) * (1.0 / nk)  # (K,)
    g = sa.grid
    # sample positions in cell units from the grid origin (the compiled kernels do the same
    # operations, so both pick the same cells)
    cx = ((sx - g.x0) / g.cell)[:, None] + (dx / g.cell)[:, None] * t[None, :]
    cy = ((sy - g.y0) / g.cell)[:, None] + (dy / g.cell)[:, None] * t[None, :]
    cells = _cells(sa, cx, cy, xp)
    h = _take(sa.heights, cells, xp)  # (P, K)
    dist_r = dh[:, None] * (1.0 - t[None, :])
    h = xp.where((dist_r < skip[:, None]) | (t[None, :] < t_start[:, None]), 0.0, h)
    z_los = sz[:, None] + dz[:, None] * t[None, :]
    blocked = xp.any(h > z_los, axis=1)

    if sa.ground is not None:
        gs = _take(sa.ground, cells, xp)
        g_path = xp.mean(gs, axis=1)
    else:
        gs = None
        g_path = xp.full(p_n, float(params.ground_g))

    a_h = base + ground_homogeneous(dh, sz, rz, g_path, 0.0)
    a_f = base + ground_favourable(dh, sz, rz, g_path, 0.0)

    fol: Array = None
    crown: tuple[Array, Array, Array] | None = None
    if sa.crown_top is not None:
        # crowns along the path; the leg of an image source before its reflection
        # (t < t_start) runs behind the facade and is not counted
        top = _take(sa.crown_top, cells, xp)
        bot = _take(sa.crown_base, cells, xp)
        dens = xp.where(t[None, :] < t_start[:, None], 0.0, _take(sa.crown_density, cells, xp))
        crown = (bot, top, dens)
        sag = (t * (1.0 - t))[None, :] * (dh * dh / (2.0 * FOLIAGE_ARC_RADIUS_M))[:, None]
        fol = foliage_attenuation(_through_crowns(z_los + sag, crown, dh, nk, xp))
        a_h = a_h + fol
        a_f = a_f + fol

    bi = xp.nonzero(blocked)[0]
    if bi.shape[0] == 0:
        return a_h, a_f
    crown_b = None if crown is None else (crown[0][bi], crown[1][bi], crown[2][bi])
    a_h_b, a_f_b, fol_b = _diffracted(
        h[bi],
        gs[bi] if gs is not None else None,
        t,
        dh[bi],
        d[bi],
        sz[bi],
        rz[bi],
        params,
        xp,
        crown_b,
    )
    a_h[bi] = base[bi] + a_h_b
    a_f[bi] = base[bi] + a_f_b
    if fol_b is not None:
        a_h[bi] = a_h[bi] + fol_b
        a_f[bi] = a_f[bi] + fol_b
    return a_h, a_f


def _through_crowns(
    z: Array, crown: tuple[Array, Array, Array], dh: Array, nk: int, xp: ModuleType
) -> Array:
    """Length through foliage d_f (density-weighted) of paths at heights ``z`` (P, K), m."""
    bot, top, dens = crown
    inside = (z >= bot) & (z <= top) & (top > 0.0)
    return xp.sum(xp.where(inside, dens, 0.0), axis=1) * dh / nk


def _diffracted(
    h: Array,
    gs: Array | None,
    t: Array,
    dh: Array,
    d: Array,
    zs: Array,
    zr: Array,
    params: NoiseParams,
    xp: ModuleType,
    crown: tuple[Array, Array, Array] | None = None,
) -> tuple[Array, Array, Array | None]:
    """A_dif in H and F conditions for blocked paths (Annex II, 2.5.6, eqs. 2.5.21-2.5.32).

    The rubber-band path is the upper convex hull of the profile from S to R, found by
    gift wrapping (each step takes the next vertex of steepest ascent). delta_H is the
    hull length minus the direct distance; delta_F uses arcs of radius
    Gamma = max(1000, 8 d) over the same vertices (eq. 2.5.24); e is the hull length
    between the first and the last edge.

    With ``crown`` (per-sample crown base, top and density), the foliage attenuation
    (ISO 9613-2 Table A.1) along the diffracted path is returned too: the sound goes over
    the hull (plus the 5 km arc's rise), not along the blocked line of sight.

    Returns
    -------
    (B, 8) A_dif for H and for F, dB; (B, 8) foliage attenuation, dB, or None.
    """
    b_n, nk = h.shape
    z_path = xp.zeros((b_n, nk)) if crown is not None else None
    u = dh[:, None] * t[None, :]  # horizontal position of samples (B, K)
    gamma = xp.maximum(1000.0, 8.0 * d)
    cur_u = xp.zeros(b_n)
    cur_h = zs.copy()
    cur_k = xp.full(b_n, -1, dtype=xp.int64)
    length = xp.zeros(b_n)
    arcs = xp.zeros(b_n)
    first_k = xp.full(b_n, -1, dtype=xp.int64)
    last_k = xp.full(b_n, -1, dtype=xp.int64)
    first_len = xp.zeros(b_n)
    active = xp.arange(b_n)
    kk = xp.arange(nk)
    for _ in range(nk + 1):
        if active.shape[0] == 0:
            break
        cu = cur_u[active][:, None]
        ch = cur_h[active][:, None]
        ck = cur_k[active][:, None]
        du = u[active] - cu
        slope = xp.where(kk[None, :] > ck, (h[active] - ch) / xp.maximum(du, 1e-9), -xp.inf)
        best = (nk - 1) - xp.argmax(slope[:, ::-1], axis=1)  # farthest of equal slopes
        best_s = xp.take_along_axis(slope, best[:, None], axis=1)[:, 0]
        du_r = dh[active] - cur_u[active]
        s_r = (zr[active] - cur_h[active]) / xp.maximum(du_r, 1e-9)
        to_r = s_r >= best_s
        nu = xp.where(to_r, dh[active], xp.take_along_axis(u[active], best[:, None], axis=1)[:, 0])
        nh = xp.where(to_r, zr[active], xp.take_along_axis(h[active], best[:, None], axis=1)[:, 0])
        if z_path is not None:
            # heights of the hull segment (cur -> next vertex) over the samples it spans
            ua = u[active]
            span = (ua > cu) & (ua <= nu[:, None])
            frac_u = (ua - cu) / xp.maximum(nu[:, None] - cu, 1e-9)
            zseg = ch + (nh[:, None] - ch) * frac_u
            z_path[active] = xp.where(span, zseg, z_path[active])
        seg = xp.sqrt((nu - cur_u[active]) ** 2 + (nh - cur_h[active]) ** 2)
        ga = gamma[active]
        arc = 2.0 * ga * xp.arcsin(xp.minimum(seg / (2.0 * ga), 1.0))
        length[active] = length[active] + seg
        arcs[active] = arcs[active] + arc
        is_first = (first_k[active] < 0) & ~to_r
        first_len[active] = xp.where(is_first, seg, first_len[active])
        first_k[active] = xp.where(is_first, best, first_k[active])
        last_k[active] = xp.where(to_r, last_k[active], best)
        cur_u[active] = nu
        cur_h[active] = nh
        cur_k[active] = xp.where(to_r, nk, best)
        active = active[~to_r]

    has = first_k >= 0  # a hull vertex exists (always, for blocked paths)
    fk = xp.where(has, first_k, 0)
    lk = xp.where(has, last_k, 0)
    u_o1 = xp.take_along_axis(u, fk[:, None], axis=1)[:, 0]
    h_o1 = xp.take_along_axis(h, fk[:, None], axis=1)[:, 0]
    u_on = xp.take_along_axis(u, lk[:, None], axis=1)[:, 0]
    h_on = xp.take_along_axis(h, lk[:, None], axis=1)[:, 0]
    last_len = xp.sqrt((dh - u_on) ** 2 + (zr - h_on) ** 2)
    e = xp.maximum(length - first_len - last_len, 0.0)
    e = xp.where(lk != fk, e, 0.0)

    delta_h = length - d
    arc_d = 2.0 * gamma * xp.arcsin(xp.minimum(d / (2.0 * gamma), 1.0))
    delta_f = arcs - arc_d
    # image receiver R' (z = -z_r) for Delta_ground(O,R), eq. 2.5.32
    last_len_img = xp.sqrt((dh - u_on) ** 2 + (zr + h_on) ** 2)
    d_img = xp.sqrt(dh * dh + (zr + zs) ** 2)
    delta_img = length - last_len + last_len_img - d_img

    dif_h = diffraction(delta_h, e)
    dif_f = diffraction(delta_f, e)
    dif_img = diffraction(delta_img, e)

    if gs is not None:
        cg = xp.cumsum(gs, axis=1)
        n_so = (fk + 1).astype(xp.float64)
        g_so = xp.take_along_axis(cg, fk[:, None], axis=1)[:, 0] / n_so
        tot = cg[:, -1]
        before = (
            xp.take_along_axis(cg, lk[:, None], axis=1)[:, 0]
            - xp.take_along_axis(gs, lk[:, None], axis=1)[:, 0]
        )
        n_or = (nk - lk).astype(xp.float64)
        g_or = (tot - before) / n_or
    else:
        g_so = xp.full(b_n, float(params.ground_g))
        g_or = g_so
    dp_so = xp.maximum(u_o1, 0.1)
    dp_or = xp.maximum(dh - u_on, 0.1)
    z_o1 = xp.maximum(h_o1, 0.01)
    z_on = xp.maximum(h_on, 0.01)
    # S-O: with a source at 0.05 m, Delta_dif(S',R) = Delta_dif(S,R), so eq. 2.5.31
    # reduces to Delta_ground(S,O) = A_ground(S,O).
    gso_h = ground_homogeneous(dp_so, zs, z_o1, g_so, 0.0)
    gso_f = ground_favourable(dp_so, zs, z_o1, g_so, 0.0)
    gor_h = ground_over_diffraction(ground_homogeneous(dp_or, z_on, zr, g_or, g_or), dif_img, dif_h)
    gor_f = ground_over_diffraction(ground_favourable(dp_or, z_on, zr, g_or, g_or), dif_img, dif_f)
    a_h = xp.minimum(dif_h, 25.0) + gso_h + gor_h
    a_f = xp.minimum(dif_f, 25.0) + gso_f + gor_f
    fol = None
    if crown is not None and z_path is not None:
        sag = (t * (1.0 - t))[None, :] * (dh * dh / (2.0 * FOLIAGE_ARC_RADIUS_M))[:, None]
        fol = foliage_attenuation(_through_crowns(z_path + sag, crown, dh, nk, xp))
    return a_h, a_f, fol


def receiver_energy(
    rec_xyz: Array,
    rec_skip: Array,
    rec_n: Array,
    sources: SourceSet,
    sa: _SceneArrays,
    params: NoiseParams,
    box: tuple[float, float, float, float] | None = None,
) -> Array:
    """Energy at receivers from point sources: sum over pairs within the cutoff.

    Parameters
    ----------
    rec_xyz : (R, 3) receivers, m; rec_skip : (R,) m; rec_n : (R, 2) facade normals.
    sources : the sources (same backend).
    box : (xmin, ymin, xmax, ymax), m: only the pairs whose horizontal path crosses it
        (for an image source, or the box mirrored in its facade plane) are summed; None:
        every pair (incremental updates of crowns use it: :meth:`NoiseMap.update_scene`).

    Returns
    -------
    (R, C, 8) float64: sum over sources of w 10^(-A/10) (long-term, eq. 2.5.9 ff.), with
    w the sources' (S, C, 8) weights; unweighted.

    Notes
    -----
    Receivers are processed in blocks and pairs in chunks of at most
    ``params.pair_budget`` profile samples, each chunk holding pairs of one profile
    length K (pairs are sorted by distance); peak memory is about 20 x 8 bytes per
    sample. This is the vectorised reference of the compiled kernels
    (:func:`receiver_energy_numba`, :func:`receiver_energy_cuda`).
    """
    xp = namespace_of(rec_xyz)
    n_r = int(rec_xyz.shape[0])
    n_s = len(sources)
    n_c = int(sources.power.shape[1])
    out = xp.zeros((n_r, n_c, 8))
    if n_r == 0 or n_s == 0:
        return out
    alpha = xp.asarray(atmospheric_absorption(params.temperature_c, params.humidity_pct))
    step = params.profile_step_m or sa.grid.cell
    pfav = params.p_favourable
    cut = params.max_distance_m
    block = max(1, min(n_r, params.pair_budget // max(n_s, 1)))
    sxy = sources.xyz[:, :2]
    power = sources.power.reshape(n_s, n_c * 8)
    for r0 in range(0, n_r, block):
        r1 = min(n_r, r0 + block)
        rxy = rec_xyz[r0:r1, :2]
        d2 = (rxy[:, None, 0] - sxy[None, :, 0]) ** 2 + (rxy[:, None, 1] - sxy[None, :, 1]) ** 2
        ri, si = xp.nonzero(d2 <= cut * cut)
        if ri.shape[0] == 0:
            continue
        if box is not None:
            sel = xp.nonzero(_pairs_in_box(sources, si, rxy[ri], box, xp))[0]
            ri, si = ri[sel], si[sel]
            if ri.shape[0] == 0:
                continue
        dpair = xp.sqrt(d2[ri, si])
        order = xp.argsort(dpair)
        ri, si, dpair = ri[order], si[order], dpair[order]
        ri_g = ri + r0
        # image sources: reflection point and validity
        pl = sources.plane[si]
        img = sources.is_image[si]
        rx = rec_xyz[ri_g, 0]
        ry = rec_xyz[ri_g, 1]
        s_r = pl[:, 0] * rx + pl[:, 1] * ry - pl[:, 2]
        s_i = pl[:, 0] * sources.xyz[si, 0] + pl[:, 1] * sources.xyz[si, 1] - pl[:, 2]
        # a facade receiver's own facade: no reflection there (END: without the last reflection)
        own = (pl[:, 0] * rec_n[ri_g, 0] + pl[:, 1] * rec_n[ri_g, 1] > 0.7) & (s_r < sa.grid.cell)
        valid = ~img | ((s_r > 0.5) & ~own)
        t_ref = xp.where(img, -s_i / xp.maximum(s_r - s_i, 1e-9), 0.0)
        # reflection point must sit on a wall high enough: probe just behind the plane
        qx = sources.xyz[si, 0] + t_ref * (rx - sources.xyz[si, 0]) - pl[:, 0] * 0.5 * sa.grid.cell
        qy = sources.xyz[si, 1] + t_ref * (ry - sources.xyz[si, 1]) - pl[:, 1] * 0.5 * sa.grid.cell
        qz = sources.xyz[si, 2] + t_ref * (rec_xyz[ri_g, 2] - sources.xyz[si, 2])
        wall = _sample(sa, sa.heights, qx, qy, xp)
        valid = valid & (~img | (wall >= qz))
        keep = xp.nonzero(valid)[0]
        ri, si, dpair, ri_g, t_ref = ri[keep], si[keep], dpair[keep], ri_g[keep], t_ref[keep]
        n_p = int(ri.shape[0])
        dist_host = to_numpy(dpair)
        # samples per pair, K = max(2, ceil(d_h / step) + 1): non-decreasing (pairs sorted by
        # distance), so each chunk holds pairs of one K and every pair gets its own K
        k_pair = np.maximum(2, np.ceil(dist_host / step).astype(np.int64) + 1)
        start = 0
        nw = n_c * 8
        acc = xp.zeros(((r1 - r0) * nw,))
        while start < n_p:
            nk = int(k_pair[start])
            same_k = int(np.searchsorted(k_pair, nk, side="right"))
            stop = min(same_k, start + max(1, params.pair_budget // nk))
            sl = slice(start, stop)
            s_idx = si[sl]
            r_idx = ri_g[sl]
            tmargin = xp.where(
                t_ref[sl] > 0, t_ref[sl] + sa.grid.cell / xp.maximum(dpair[sl], 1e-6), 0.0
            )
            a_h, a_f = _pair_attenuation(
                sa,
                sources.xyz[s_idx, 0],
                sources.xyz[s_idx, 1],
                sources.xyz[s_idx, 2],
                rec_xyz[r_idx, 0],
                rec_xyz[r_idx, 1],
                rec_xyz[r_idx, 2],
                rec_skip[r_idx],
                tmargin,
                alpha,
                params,
                nk,
                xp,
            )
            fac = pfav * 10.0 ** (-a_f / 10.0) + (1.0 - pfav) * 10.0 ** (-a_h / 10.0)  # (P, 8)
            contrib = (power[s_idx].reshape(-1, n_c, 8) * fac[:, None, :]).reshape(-1, nw)
            loc = (ri[sl] * nw)[:, None] + xp.arange(nw)[None, :]
            acc += xp.bincount(loc.ravel(), weights=contrib.ravel(), minlength=(r1 - r0) * nw)
            start = stop
        out[r0:r1] += acc.reshape(r1 - r0, n_c, 8)
    return out


def _seg_in_box(ax: Array, ay: Array, bx: Array, by: Array, box: Array, xp: ModuleType) -> Array:
    """Whether segments a -> b meet boxes (P, 4) = (xmin, ymin, xmax, ymax), slab test."""
    t0 = xp.zeros(ax.shape)
    t1 = xp.ones(ax.shape)
    ok = xp.ones(ax.shape, dtype=bool)
    for a, b, lo, hi in ((ax, bx, box[:, 0], box[:, 2]), (ay, by, box[:, 1], box[:, 3])):
        d = b - a
        flat = xp.abs(d) < 1e-12
        ok = ok & (~flat | ((a >= lo) & (a <= hi)))
        dd = xp.where(flat, 1.0, d)
        ta = xp.where(flat, -xp.inf, (lo - a) / dd)
        tb = xp.where(flat, xp.inf, (hi - a) / dd)
        t0 = xp.maximum(t0, xp.minimum(ta, tb))
        t1 = xp.minimum(t1, xp.maximum(ta, tb))
    return ok & (t0 <= t1)


def _pairs_in_box(
    sources: SourceSet,
    si: Array,
    rxy: Array,
    box: tuple[float, float, float, float],
    xp: ModuleType,
) -> Array:
    """(P,) bool: pair (sources[si], rxy) crosses ``box`` (image sources: or its mirror)."""
    sx, sy = sources.xyz[si, 0], sources.xyz[si, 1]
    n = sx.shape[0]
    b = xp.broadcast_to(xp.asarray(box, dtype=xp.float64)[None, :], (n, 4))
    hit = _seg_in_box(sx, sy, rxy[:, 0], rxy[:, 1], b, xp)
    pl = sources.plane[si]
    cx = xp.asarray([box[0], box[2], box[2], box[0]])[None, :]
    cy = xp.asarray([box[1], box[1], box[3], box[3]])[None, :]
    sd = pl[:, 0:1] * cx + pl[:, 1:2] * cy - pl[:, 2:3]
    mx = cx - 2.0 * sd * pl[:, 0:1]
    my = cy - 2.0 * sd * pl[:, 1:2]
    mb = xp.stack([mx.min(axis=1), my.min(axis=1), mx.max(axis=1), my.max(axis=1)], axis=1)
    hit_m = _seg_in_box(sx, sy, rxy[:, 0], rxy[:, 1], mb, xp)
    return hit | (sources.is_image[si] & hit_m)


def _fast_args(sources: SourceSet, sa: _SceneArrays, params: NoiseParams) -> tuple[Array, ...]:
    """Arguments shared by the compiled kernels, on the sources' backend."""
    xp = namespace_of(sources.xyz)
    g = sa.grid
    crowns = (
        None
        if sa.crown_top is None or sa.crown_base is None or sa.crown_density is None
        else (sa.crown_base, sa.crown_top, sa.crown_density)
    )
    n_s = len(sources)
    return (
        sources.xyz,
        sources.power.reshape(n_s, -1),
        sources.plane,
        sources.is_image,
        sa.heights,
        sa.ground,
        crowns,
        (g.x0, g.y0, g.cell, g.nx, g.ny),
        xp.asarray(atmospheric_absorption(params.temperature_c, params.humidity_pct)),
        xp.asarray(NOMINAL_BANDS_HZ),
        float(params.profile_step_m or g.cell),
        float(params.max_distance_m),
        float(params.p_favourable),
        float(params.ground_g),
    )


def receiver_energy_numba(
    rec_xyz: F64,
    rec_skip: F64,
    rec_n: F64,
    sources: SourceSet,
    sa: _SceneArrays,
    params: NoiseParams,
    box: tuple[float, float, float, float] | None = None,
) -> F64:
    """:func:`receiver_energy` compiled with numba (CPU threads over receivers).

    Same signature, inputs and result as the reference (host NumPy arrays); see
    :mod:`greentwin.kernels.noise.fast`.
    """
    from greentwin.kernels.noise.fast import energy_kernel

    n_c = int(sources.power.shape[1])
    e = energy_kernel(rec_xyz, rec_skip, rec_n, *_fast_args(sources, sa, params), box=box)
    return e.reshape(-1, n_c, 8)


def receiver_energy_cuda(
    rec_xyz: Array,
    rec_skip: Array,
    rec_n: Array,
    sources: SourceSet,
    sa: _SceneArrays,
    params: NoiseParams,
    box: tuple[float, float, float, float] | None = None,
) -> Array:
    """:func:`receiver_energy` as a CUDA kernel (``cupy.RawKernel``, one thread per receiver).

    Same signature as the reference, on CuPy arrays; see
    :mod:`greentwin.kernels.noise.cuda`. The pair selection ``box`` is not implemented
    here (:meth:`NoiseMap.update_scene` does not ask the CUDA engine for it).
    """
    from greentwin.kernels.noise.cuda import energy_kernel

    if box is not None:
        raise KernelError("the CUDA noise kernel has no pair selection by box")
    n_c = int(sources.power.shape[1])
    e = energy_kernel(rec_xyz, rec_skip, rec_n, *_fast_args(sources, sa, params))
    return e.reshape(-1, n_c, 8)


#: The kernel of each engine; all take and return the same arrays.
KERNELS: dict[str, Any] = {
    "reference": receiver_energy,
    "numba": receiver_energy_numba,
    "cuda": receiver_energy_cuda,
}


def resolve_backend(backend: Backend | str) -> tuple[Backend, Engine]:
    """The array backend and the kernel engine for a backend name, chosen once.

    ``"numpy"``: the vectorised reference on NumPy; ``"numba"`` or ``"cpu"``: the compiled
    CPU kernel; ``"cupy"``: the CUDA kernel (``cupy.RawKernel``); ``"cupy-reference"``:
    the vectorised reference on CuPy; ``"auto"``: CuPy's CUDA kernel where a GPU is
    usable, else numba. A :class:`Backend` object selects the fast engine of its
    library (numba for NumPy, CUDA for CuPy).

    Raises
    ------
    KernelError
        Unknown name, or CuPy requested where it is not available.
    """
    if isinstance(backend, Backend):
        return backend, ("cuda" if backend.name == "cupy" else "numba")
    if backend == "numpy":
        return get_backend("numpy"), "reference"
    if backend in ("numba", "cpu"):
        return get_backend("numpy"), "numba"
    if backend == "cupy":
        return get_backend("cupy"), "cuda"
    if backend == "cupy-reference":
        return get_backend("cupy"), "reference"
    if backend == "auto":
        be = get_backend("auto")
        return be, ("cuda" if be.name == "cupy" else "numba")
    raise KernelError(
        f"unknown noise backend {backend!r}: use 'auto', 'numpy', 'numba' (or 'cpu'), "
        "'cupy' or 'cupy-reference'"
    )


# --------------------------------------------------------------------------- indicators
def indicators(energy: F64) -> dict[str, F64]:
    """L_day, L_evening, L_night, L_den in dB(A) from per-period band energies.

    L_p = 10 lg sum_i E_p,i 10^(A_i / 10) (A-weighting per band, Annex II 2.5.1);
    L_den = 10 lg((12 10^(L_day/10) + 4 10^((L_evening + 5)/10) + 8 10^((L_night + 10)/10)) / 24)
    (Directive 2002/49/EC, Annex I).

    Parameters
    ----------
    energy : (R, 3, 8) float64 (host).

    Returns
    -------
    dict of (R,) float64, dB(A); -inf where no sound arrives.
    """
    aw = 10.0 ** (A_WEIGHTING / 10.0)
    e = np.maximum(np.asarray(energy), 0.0) @ aw  # (R, 3)
    with np.errstate(divide="ignore"):
        lday, leve, lnig = (10.0 * np.log10(e[:, p]) for p in range(3))
        h = PERIOD_HOURS
        den = (h[0] * e[:, 0] + h[1] * e[:, 1] * 10**0.5 + h[2] * e[:, 2] * 10.0) / 24.0
        lden = 10.0 * np.log10(den)
    return {"L_day": lday, "L_evening": leve, "L_night": lnig, "L_den": lden}


# --------------------------------------------------------------------------- the map
@dataclass(slots=True, eq=False)
class _RoadPart:
    """One road's share of the map, kept so that its change is cheap.

    rec : (k,) receivers it reaches; g : (k, 8) transfer sum over its plain points
    (metres x 10^(-A/10)); line : (3, 8) power per metre; jrec, ej : receivers and
    (kj, 3, 8) energy of its points near junctions.
    """

    road: Road
    rec: I64
    g: F64
    line: F64
    jrec: I64
    ej: F64


@dataclass(slots=True, eq=False)
class NoiseMap:
    """Noise at a set of receivers, with per-road contributions kept for updates.

    Build with :meth:`compute`; then :meth:`update_roads` and :meth:`update_scene`
    recompute only the receivers a change can reach (within ``max_distance_m``).
    A traffic change on a road (flows, speeds, surface, closure) with the same
    geometry reuses the stored propagation: only emission is recomputed.

    Attributes
    ----------
    network, coeffs, scene, receivers, params : the inputs.
    backend : the array backend (chosen once).
    engine : the kernel: ``"reference"`` (vectorised), ``"numba"`` or ``"cuda"``.
    energy : (R, 3, 8) float64 host array, unweighted band energy per period.
    timings : seconds of the last operations, by name.
    """

    network: RoadNetwork
    coeffs: RoadCoefficients
    scene: NoiseScene
    receivers: Receivers
    params: NoiseParams
    backend: Backend
    energy: F64
    engine: Engine = "reference"
    parts: dict[str, _RoadPart] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def compute(
        cls,
        network: RoadNetwork,
        coeffs: RoadCoefficients,
        scene: NoiseScene,
        receivers: Receivers,
        params: NoiseParams | None = None,
        backend: Backend | str = "auto",
    ) -> NoiseMap:
        """Full computation over all receivers and all roads."""
        prm = params or NoiseParams()
        be, engine = resolve_backend(backend)
        t0 = time.perf_counter()
        m = cls(
            network, coeffs, scene, receivers, prm, be, np.zeros((len(receivers), 3, 8)), engine
        )
        for road in network.roads:
            part = m._road_part(road, scene, None)
            m.parts[road.id] = part
            m._add(part, 1.0)
        m.timings["full"] = time.perf_counter() - t0
        log.info(
            "noise map: %d receivers, %d roads, %.2f s (%s, %s)",
            len(receivers),
            len(network.roads),
            m.timings["full"],
            be.name,
            engine,
        )
        return m

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """The fields, with the array backend by name (its module cannot be pickled):
        a map computed in a worker process comes back whole, and can be kept on disk."""
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        state["backend"] = self.backend.name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, get_backend(value) if name == "backend" else value)

    # ------------------------------------------------------------------ internals
    def _add(self, part: _RoadPart, sign: float) -> None:
        if len(part.rec):
            self.energy[part.rec] += sign * part.g[:, None, :] * part.line[None, :, :]
        if len(part.jrec):
            self.energy[part.jrec] += sign * part.ej
        if sign < 0:
            np.maximum(self.energy, 0.0, out=self.energy)

    def _reach(self, sources: SourceSet, within: I64 | None) -> I64:
        """Receivers (optionally among ``within``) within the cutoff of any source."""
        if len(sources) == 0:
            return np.zeros(0, np.int64)
        xy = to_numpy(sources.xyz)[:, :2]
        rxy = self.receivers.xyz[:, :2]
        cand = np.arange(len(rxy)) if within is None else np.asarray(within, dtype=np.int64)
        lo = xy.min(axis=0) - self.params.max_distance_m
        hi = xy.max(axis=0) + self.params.max_distance_m
        pc = rxy[cand]
        cand = cand[np.all((pc >= lo) & (pc <= hi), axis=1)]
        if self.engine != "reference":  # compiled engines: a compiled early-exit scan
            from greentwin.kernels.noise.fast import within_reach

            return cand[within_reach(rxy[cand], xy, self.params.max_distance_m)]
        reach2 = self.params.max_distance_m**2
        hit = np.zeros(len(cand), dtype=bool)
        pc = rxy[cand]
        for c0 in range(0, len(xy), 512):
            p = xy[c0 : c0 + 512]
            d2 = (pc[:, None, 0] - p[None, :, 0]) ** 2 + (pc[:, None, 1] - p[None, :, 1]) ** 2
            hit |= (d2 <= reach2).any(axis=1)
        return cand[hit]

    def _transfer(
        self,
        sources: SourceSet,
        rec: I64,
        scene: NoiseScene,
        box: tuple[float, float, float, float] | None = None,
    ) -> F64:
        xp = self.backend.xp
        sa = _scene_arrays(scene, xp, self.params.foliage)
        r = self.receivers
        e = KERNELS[self.engine](
            xp.asarray(r.xyz[rec]),
            xp.asarray(r.skip_m[rec]),
            xp.asarray(r.facade_n[rec]),
            sources,
            sa,
            self.params,
            box=box,
        )
        return to_numpy(e)

    def _crown_delta(
        self,
        part: _RoadPart,
        old: NoiseScene,
        new: NoiseScene,
        cand: I64,
        box: tuple[float, float, float, float],
    ) -> I64:
        """Apply a change of crowns to one road's share, pair by pair.

        Sources and image sources do not depend on crowns, so the share changes only on
        the pairs whose path crosses ``box``: their transfer with the new crowns minus
        that with the old ones is added (the other pairs' terms cancel exactly).

        Returns
        -------
        The receivers of ``cand`` whose energy from this road changed.
        """
        plain, junc, _ = road_sources(
            part.road, self.network, self.coeffs, new, self.params, self.backend
        )
        n = len(self.receivers)
        touched: list[I64] = []
        for sources, rec, is_plain in ((plain, part.rec, True), (junc, part.jrec, False)):
            if len(sources) == 0 or len(rec) == 0:
                continue
            pos = np.full(n, -1, dtype=np.int64)
            pos[rec] = np.arange(len(rec))
            sel = cand[pos[cand] >= 0]
            if len(sel) == 0:
                continue
            d = self._transfer(sources, sel, new, box) - self._transfer(sources, sel, old, box)
            changed = np.any(d != 0.0, axis=tuple(range(1, d.ndim)))
            sel, d = sel[changed], d[changed]
            idx = pos[sel]
            if is_plain:
                part.g[idx] += d[:, 0, :]
                self.energy[sel] += d[:, 0, None, :] * part.line[None, :, :]
            else:
                part.ej[idx] += d
                self.energy[sel] += d
            touched.append(sel)
        np.maximum(self.energy, 0.0, out=self.energy)
        return np.unique(np.concatenate(touched)) if touched else np.zeros(0, np.int64)

    def _crossing(
        self, road: Road, scene: NoiseScene, cand: I64, box: tuple[float, float, float, float]
    ) -> I64:
        """Receivers of ``cand`` with a path from one of the road's sources (or image
        sources) within the cutoff that crosses ``box`` in plan. An image source's path
        stands for the reflected one; its leg before the facade is the mirror image of
        the real leg, so the box is mirrored in the facade plane for it too."""
        if len(cand) == 0:
            return cand
        plain, junc, _ = road_sources(
            road, self.network, self.coeffs, scene, self.params, get_backend("numpy")
        )
        xy = np.concatenate([to_numpy(plain.xyz)[:, :2], to_numpy(junc.xyz)[:, :2]])
        plane = np.concatenate([to_numpy(plain.plane), to_numpy(junc.plane)])
        img = np.concatenate([to_numpy(plain.is_image), to_numpy(junc.is_image)])
        boxes = np.repeat(np.asarray(box, dtype=np.float64)[None, :], len(xy), axis=0)
        if np.any(img):
            # bounding box of the box mirrored in each image source's facade plane
            xmin, ymin, xmax, ymax = box
            cx = np.array([xmin, xmax, xmax, xmin])
            cy = np.array([ymin, ymin, ymax, ymax])
            n0, n1, c = plane[img, 0:1], plane[img, 1:2], plane[img, 2:3]
            sd = n0 * cx[None, :] + n1 * cy[None, :] - c
            mx = cx[None, :] - 2.0 * sd * n0
            my = cy[None, :] - 2.0 * sd * n1
            mirrored = np.column_stack([mx.min(1), my.min(1), mx.max(1), my.max(1)])
            extra_xy = xy[img]
        else:
            mirrored = np.zeros((0, 4))
            extra_xy = np.zeros((0, 2))
        src = np.concatenate([xy, extra_xy])
        boxes = np.concatenate([boxes, mirrored])
        rxy = self.receivers.xyz[cand, :2]
        cut2 = self.params.max_distance_m**2
        hit = np.zeros(len(cand), dtype=bool)
        for c0 in range(0, len(src), 256):
            p = src[c0 : c0 + 256]
            bx = boxes[c0 : c0 + 256]
            d2 = (rxy[:, None, 0] - p[None, :, 0]) ** 2 + (rxy[:, None, 1] - p[None, :, 1]) ** 2
            ax = np.broadcast_to(p[None, :, 0], d2.shape)
            ay = np.broadcast_to(p[None, :, 1], d2.shape)
            rx = np.broadcast_to(rxy[:, None, 0], d2.shape)
            ry = np.broadcast_to(rxy[:, None, 1], d2.shape)
            cross = _segments_cross_box(ax, ay, rx, ry, bx[None, :, :])
            hit |= np.any(cross & (d2 <= cut2), axis=1)
        return cand[hit]

    def _road_part(
        self, road: Road, scene: NoiseScene, within: I64 | None, reuse: _RoadPart | None = None
    ) -> _RoadPart:
        plain, junc, line = road_sources(
            road, self.network, self.coeffs, scene, self.params, self.backend
        )
        if reuse is not None:
            rec, g = reuse.rec, reuse.g
        else:
            rec = self._reach(plain, within)
            g = self._transfer(plain, rec, scene)[:, 0, :] if len(rec) else np.zeros((0, 8))
        jrec = self._reach(junc, within)
        ej = self._transfer(junc, jrec, scene) if len(jrec) else np.zeros((0, 3, 8))
        return _RoadPart(road, rec, g, line, jrec, ej)

    # ------------------------------------------------------------------ public
    def indicators(self) -> dict[str, F64]:
        """L_day, L_evening, L_night, L_den per receiver, dB(A)."""
        return indicators(self.energy)

    def update_roads(self, changed_old: Sequence[Road], changed_new: Sequence[Road]) -> I64:
        """Replace some roads: subtract the old roads' contribution, add the new roads'.

        Roads in ``changed_old`` that are not in ``changed_new`` are removed; new ids
        are added. A road whose centreline is unchanged keeps its stored propagation
        (only its emission and its junction points are recomputed); a moved road is
        propagated again, to the receivers within ``max_distance_m`` only.

        Returns
        -------
        (k,) int64, the receivers whose level changed.
        """
        t0 = time.perf_counter()
        touched: list[I64] = []
        old_parts: dict[str, _RoadPart] = {}
        for road in changed_old:
            part = self.parts.pop(road.id, None)
            if part is None:
                raise KernelError(f"update_roads: road {road.id!r} is not in the map")
            self._add(part, -1.0)
            old_parts[road.id] = part
            touched += [part.rec, part.jrec]
        net = self.network
        for rid in old_parts:
            if rid not in {r.id for r in changed_new}:
                net = net.without_road(rid)
        for road in changed_new:
            net = net.with_road(road)
        self.network = net
        for road in changed_new:
            prev = old_parts.get(road.id)
            same = (
                prev is not None
                and prev.road.coords.shape == road.coords.shape
                and np.array_equal(prev.road.coords, road.coords)
                and prev.road.breaks == road.breaks
            )
            part = self._road_part(road, self.scene, None, reuse=prev if same else None)
            self.parts[road.id] = part
            self._add(part, 1.0)
            touched += [part.rec, part.jrec]
        self.timings["update_roads"] = time.perf_counter() - t0
        return np.unique(np.concatenate(touched)) if touched else np.zeros(0, np.int64)

    def update_scene(
        self, scene: NoiseScene, changed: tuple[float, float, float, float] | None = None
    ) -> I64:
        """Swap the scene (a new barrier, building or tree belt) and recompute around it.

        Parameters
        ----------
        scene : the new scene on the same grid.
        changed : (xmin, ymin, xmax, ymax) of the changed cells, m; None: found by
            comparing the rasters.

        Returns
        -------
        (k,) int64, the receivers recomputed: every receiver within ``max_distance_m``
        of the changed area (a path through the area is never longer than that).
        """
        t0 = time.perf_counter()
        if scene.grid != self.scene.grid:
            raise KernelError("update_scene: the new scene must use the same grid")
        if changed is None:
            changed = _changed_bounds(self.scene, scene)
            if changed is None:
                self.scene = scene
                return np.zeros(0, np.int64)
        xmin, ymin, xmax, ymax = changed
        rxy = self.receivers.xyz[:, :2]
        dx = np.maximum(np.maximum(xmin - rxy[:, 0], rxy[:, 0] - xmax), 0.0)
        dy = np.maximum(np.maximum(ymin - rxy[:, 1], rxy[:, 1] - ymax), 0.0)
        near = np.flatnonzero(np.hypot(dx, dy) <= self.params.max_distance_m)
        # only crowns changed: sources and image sources stay; a pair changes only when
        # its horizontal path crosses the changed area (foliage is taken along it)
        crowns_only = _crowns_only(self.scene, scene)
        old_scene = self.scene
        self.scene = scene
        if len(near) == 0:
            return near
        pad = self.receivers.skip_m.max(initial=0.0) + scene.grid.cell
        box = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        redone: list[I64] = []
        g = scene.grid
        local = (xmax - xmin) * (ymax - ymin) <= 0.25 * (g.nx * g.ny * g.cell * g.cell)
        if crowns_only and local and self.engine != "cuda":
            # pair by pair: only the paths through the changed crowns are computed again
            # (twice: old and new crowns; a change over much of the map, such as another
            # season, is cheaper as the receiver-by-receiver recompute below)
            for part in self.parts.values():
                redone.append(self._crown_delta(part, old_scene, scene, near, box))
            self.timings["update_scene"] = time.perf_counter() - t0
            return np.unique(np.concatenate(redone)) if redone else np.zeros(0, np.int64)
        for rid, part in list(self.parts.items()):
            within = near
            if crowns_only:
                within = self._crossing(part.road, scene, near, box)
                if len(within) == 0:
                    continue
            self._add(part, -1.0)
            new = self._road_part(part.road, scene, within)
            keep = ~np.isin(part.rec, within)
            jkeep = ~np.isin(part.jrec, within)
            merged = _RoadPart(
                part.road,
                np.concatenate([part.rec[keep], new.rec]),
                np.concatenate([part.g[keep], new.g]),
                new.line,
                np.concatenate([part.jrec[jkeep], new.jrec]),
                np.concatenate([part.ej[jkeep], new.ej]),
            )
            self.parts[rid] = merged
            self._add(merged, 1.0)
            redone.append(within)
        near = np.unique(np.concatenate(redone)) if redone else np.zeros(0, np.int64)
        self.timings["update_scene"] = time.perf_counter() - t0
        return near


def _crowns_only(old: NoiseScene, new: NoiseScene) -> bool:
    """True when two scenes differ at most in their crowns (same heights and ground)."""
    if not np.array_equal(old.heights, new.heights):
        return False
    if old.ground is None or new.ground is None:
        return old.ground is None and new.ground is None
    return np.array_equal(old.ground, new.ground)


def _segments_cross_box(ax: F64, ay: F64, bx: F64, by: F64, box: F64) -> npt.NDArray[np.bool_]:
    """Whether segments (a -> b) meet axis-aligned boxes (slab test), elementwise.

    ``box`` is (..., 4) (xmin, ymin, xmax, ymax), broadcasting against the end points.
    """
    xmin, ymin, xmax, ymax = (box[..., k] for k in range(4))
    t0 = np.zeros(ax.shape)
    t1 = np.ones(ax.shape)
    ok = np.ones(ax.shape, dtype=bool)
    for a, b, lo, hi in ((ax, bx, xmin, xmax), (ay, by, ymin, ymax)):
        d = b - a
        flat = np.abs(d) < 1e-12
        ok &= ~flat | ((a >= lo) & (a <= hi))
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = np.where(flat, -np.inf, (lo - a) / d)
            tb = np.where(flat, np.inf, (hi - a) / d)
        t0 = np.maximum(t0, np.minimum(ta, tb))
        t1 = np.minimum(t1, np.maximum(ta, tb))
    return ok & (t0 <= t1)


def _changed_bounds(old: NoiseScene, new: NoiseScene) -> tuple[float, float, float, float] | None:
    """Bounds of the cells where two scenes differ (heights, ground, crowns), or None."""
    zero = np.zeros(new.grid.shape)
    diff = old.heights != new.heights
    g_old = old.ground if old.ground is not None else zero
    g_new = new.ground if new.ground is not None else zero
    diff |= g_old != g_new
    for attr in ("top", "base", "density"):
        a = getattr(old.crowns, attr) if old.crowns is not None else zero
        b = getattr(new.crowns, attr) if new.crowns is not None else zero
        diff |= a != b
    rows, cols = np.nonzero(diff)
    if len(rows) == 0:
        return None
    g = new.grid
    return (
        g.x0 + float(cols.min()) * g.cell,
        g.y0 + float(rows.min()) * g.cell,
        g.x0 + float(cols.max() + 1) * g.cell,
        g.y0 + float(rows.max() + 1) * g.cell,
    )
