"""Annual-mean NO2 / PM10 maps over a receiver grid, with per-road incremental updates.

Each road adds a linear increment of four emitted quantities (:data:`POLLUTANTS`:
NOx, direct NO2, PM10, PM2.5) to every receiver within ``reach_m`` of its source
points:

- open roads: the long-term Gaussian form over the wind rose
  (:func:`~greentwin.kernels.air.dispersion.plume_sum`);
- roads flagged ``canyon``: SRM1 (:mod:`~greentwin.kernels.air.canyon`) for
  receivers within the type's range of the road axis (30 m for type 3, 60 m
  otherwise), the Gaussian form beyond it.

Increments add linearly. The maps then add backgrounds, turn NOx into NO2
(:mod:`~greentwin.kernels.air.chemistry`) and apply foliage deposition to PM
(:mod:`~greentwin.kernels.air.deposition`), with the leaf area on a date or averaged
over its seasonal course (:meth:`AirMap.set_lai`). Because the increments are linear and
each road's contribution is cut at ``reach_m``, a change on one road is applied by
subtracting its old contribution and adding the new one inside its reach only
(:meth:`AirMap.update_roads`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.air.canyon import SRM1_TYPES, distance_to_segments, srm1_increment
from greentwin.kernels.air.chemistry import no2_empirical, no2_photostationary
from greentwin.kernels.air.deposition import effective_deposition_velocity, mean_keep
from greentwin.kernels.air.dispersion import WindRose, plume_sum
from greentwin.kernels.air.emission import POLLUTANTS, EmissionFactors, road_emission
from greentwin.kernels.backend import get_backend, to_numpy
from greentwin.kernels.raster import Grid
from greentwin.kernels.roads import Road, RoadNetwork

__all__ = ["MAP_NAMES", "AirConfig", "AirMap", "Backgrounds"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
Window = tuple[slice, slice]
#: Names of the maps returned by :meth:`AirMap.maps`.
MAP_NAMES: tuple[str, ...] = ("no2", "pm10", "pm25", "nox")


@dataclass(frozen=True, slots=True)
class Backgrounds:
    """Urban background concentrations, ug/m3 (annual means; NOx as NO2).

    Defaults are round numbers of the order of recent Berlin urban-background
    annual means (NO2 ~20, PM10 ~18, PM2.5 ~12, O3 ~50); set them for the site.
    """

    no2: float = 20.0
    pm10: float = 18.0
    pm25: float = 12.0
    o3: float = 50.0
    nox: float = 30.0


@dataclass(frozen=True, slots=True)
class AirConfig:
    """Settings of the air model.

    Attributes
    ----------
    backgrounds : background concentrations.
    factors : emission factors and their speed scaling.
    wind_rose : wind directions and speeds (default: uniform, 12 sectors, 3.5 m/s).
    stability : Pasquill class shares, e.g. ``(("D", 0.7), ("E", 0.3))``; default D.
    srm1_wind_speed : regional wind speed for SRM1, m/s (None: the rose's mean speed).
    reach_m : a road affects receivers within this distance of its source points, m.
    spacing_m : source-point spacing along the roads, m.
    sigma_z0 : initial vertical spread (vehicle wake), m.
    no2_method : ``"empirical"`` (SRM1 formula) or ``"photostationary"``.
    b, k : constants of the empirical NO2 formula (0.6; 100 ug/m3).
    rjk_ppb : J/k ratio for the photostationary option, ppb.
    mixing_height_m : H of the foliage-deposition ratio, m.
    chunk_pairs : receiver x source pairs per chunk (memory bound).
    """

    backgrounds: Backgrounds = field(default_factory=Backgrounds)
    factors: EmissionFactors = field(default_factory=EmissionFactors)
    wind_rose: WindRose = field(default_factory=WindRose.uniform)
    stability: tuple[tuple[str, float], ...] = (("D", 1.0),)
    srm1_wind_speed: float | None = None
    reach_m: float = 500.0
    spacing_m: float = 5.0
    sigma_z0: float = 1.5
    no2_method: Literal["empirical", "photostationary"] = "empirical"
    b: float = 0.6
    k: float = 100.0
    rjk_ppb: float = 20.0
    mixing_height_m: float = 500.0
    chunk_pairs: int = 1_000_000

    def __post_init__(self) -> None:
        if not self.reach_m > 0 or not self.spacing_m > 0:
            raise KernelError("AirConfig: reach_m and spacing_m must be > 0")
        if self.no2_method not in ("empirical", "photostationary"):
            raise KernelError(f"AirConfig: unknown no2_method {self.no2_method!r}")

    @property
    def srm1_u(self) -> float:
        """Wind speed used by SRM1, m/s."""
        return self.srm1_wind_speed or self.wind_rose.mean_speed()


class AirMap:
    """Annual-mean air-quality maps of a road network over a grid.

    Parameters
    ----------
    grid : receiver grid (cell centres are the receivers, e.g. 5 m cells).
    roads : the network (or its roads); closed roads emit nothing.
    config : model settings.
    lai : leaf area index of canopy per cell (from the green model): (ny, nx) on one
        date or (T, ny, nx) its course over a year (annual mean); None: no canopy.
    backend : ``"auto"``, ``"numpy"`` or ``"cupy"``; chosen once here.

    Notes
    -----
    Memory: the increments are (ny, nx, 4) float64 on the backend (1.3 MB for
    200 x 200 cells) plus the chunked kernel temporaries (``chunk_pairs``).
    """

    def __init__(
        self,
        grid: Grid,
        roads: RoadNetwork | Sequence[Road],
        config: AirConfig | None = None,
        *,
        lai: F64 | None = None,
        backend: str = "auto",
    ) -> None:
        self.grid = grid
        self.config = config or AirConfig()
        self.xp: ModuleType = get_backend(backend).xp
        road_list = roads.roads if isinstance(roads, RoadNetwork) else tuple(roads)
        self._roads: dict[str, Road] = {}
        for r in road_list:
            if r.id in self._roads:
                raise KernelError(f"AirMap: duplicate road id {r.id!r}")
            self._roads[r.id] = r
        self._inc = self.xp.zeros((grid.ny, grid.nx, len(POLLUTANTS)))
        self._xs = self.xp.asarray(grid.xs())
        self._ys = self.xp.asarray(grid.ys())
        self._lai: Any = None
        self.set_lai(lai)
        self._computed = False

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """The state with the array module by name and without the receivers'
        coordinates (both rebuilt on loading): a map computed in a worker process comes
        back whole, and can be kept on disk."""
        state = dict(self.__dict__)
        state["xp"] = self.backend
        del state["_xs"], state["_ys"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.xp = get_backend(state["xp"]).xp
        self._xs = self.xp.asarray(self.grid.xs())
        self._ys = self.xp.asarray(self.grid.ys())

    # ------------------------------------------------------------------ state
    @property
    def roads(self) -> tuple[Road, ...]:
        """The roads currently in the map."""
        return tuple(self._roads.values())

    @property
    def backend(self) -> str:
        """``"numpy"`` or ``"cupy"``."""
        return str(self.xp.__name__)

    def set_lai(self, lai: F64 | None) -> None:
        """Set the canopy leaf area index, m2/m2, or None for no canopy.

        Parameters
        ----------
        lai : (ny, nx) the leaf area on one date (maps for that date's foliage), or
            (T, ny, nx) its course over a year at T evenly spaced dates: the maps are then
            annual means, the foliage removal averaged over the course
            (:func:`~greentwin.kernels.air.deposition.mean_keep`), not taken at one date.
        """
        if lai is None:
            self._lai = None
            return
        arr = np.asarray(lai, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != self.grid.shape or arr.shape[0] == 0:
            raise KernelError(f"AirMap: LAI grid shape {arr.shape} != grid {self.grid.shape}")
        self._lai = self.xp.asarray(np.nan_to_num(arr, nan=0.0))

    def increments(self) -> F64:
        """(ny, nx, 4) float64, road increments of :data:`POLLUTANTS`, ug/m3 (host copy)."""
        self._ensure()
        return np.asarray(to_numpy(self._inc), dtype=np.float64)

    # ------------------------------------------------------------------ compute
    def compute(self) -> None:
        """Full recompute of every road's increment."""
        self._inc[...] = 0.0
        self._apply(list(self._roads.values()), +1.0)
        self._computed = True

    def update_roads(self, old: Sequence[Road], new: Sequence[Road]) -> Window | None:
        """Replace roads: subtract the old roads' increments, add the new ones'.

        Parameters
        ----------
        old : roads as they are in the map now (matched by id; removed or changed).
        new : roads as they are to be (added or changed).

        Returns
        -------
        (rows, cols) slices of the grid window that changed, or None if nothing did.

        Raises
        ------
        KernelError
            When a road of ``old`` is not in the map, or ``new`` repeats an id.
        """
        self._ensure()
        stored: list[Road] = []
        for r in old:
            if r.id not in self._roads:
                raise KernelError(f"AirMap.update_roads: road {r.id!r} is not in the map")
            stored.append(self._roads[r.id])
        ids = [r.id for r in new]
        if len(set(ids)) != len(ids):
            raise KernelError("AirMap.update_roads: new roads repeat an id")
        w_old = self._apply(stored, -1.0)
        for r in stored:
            del self._roads[r.id]
        for r in new:
            if r.id in self._roads:
                raise KernelError(
                    f"AirMap.update_roads: road {r.id!r} is already in the map; pass it in 'old'"
                )
            self._roads[r.id] = r
        w_new = self._apply(list(new), +1.0)
        return _union(w_old, w_new)

    def maps(self) -> dict[str, F64]:
        """Annual-mean concentrations incl. background, (ny, nx) float64 each, ug/m3.

        Keys: ``no2``, ``pm10``, ``pm25``, ``nox`` (NOx as NO2). PM includes the
        foliage removal where an LAI grid is set.
        """
        self._ensure()
        xp, bg, cfg = self.xp, self.config.backgrounds, self.config
        nox, no2d, pm10, pm25 = (self._inc[..., i] for i in range(4))
        if cfg.no2_method == "empirical":
            no2_inc = no2_empirical(nox, no2d, bg.o3, cfg.b, cfg.k)
        else:
            no2_inc = no2_photostationary(nox, no2d, bg.nox, bg.no2, bg.o3, cfg.rjk_ppb)
        keep: Any = 1.0
        if self._lai is not None:
            vd = effective_deposition_velocity(cfg.wind_rose)
            keep = mean_keep(self._lai, vd, cfg.mixing_height_m)
        out = {
            "no2": bg.no2 + no2_inc,
            "pm10": (bg.pm10 + pm10) * keep,
            "pm25": (bg.pm25 + pm25) * keep,
            "nox": bg.nox + nox,
        }
        return {k: np.asarray(to_numpy(xp.asarray(v)), dtype=np.float64) for k, v in out.items()}

    # ------------------------------------------------------------------ internals
    def _ensure(self) -> None:
        if not self._computed:
            self.compute()

    def _window(self, bounds: tuple[float, float, float, float]) -> Window:
        m = self.config.reach_m
        xmin, ymin, xmax, ymax = bounds
        return self.grid.window((xmin - m, ymin - m, xmax + m, ymax + m))

    def _apply(self, roads: list[Road], sign: float) -> Window | None:
        """Add ``sign`` x the increments of ``roads``; returns the window touched."""
        live = [r for r in roads if not r.closed]
        if not live:
            return None
        touched: Window | None = None
        plain = [r for r in live if not r.canyon]
        if plain:
            touched = _union(touched, self._add_sources(plain, sign, canyon=None))
        for r in live:
            if r.canyon:
                touched = _union(touched, self._add_sources([r], sign, canyon=r))
        return touched

    def _add_sources(self, roads: list[Road], sign: float, canyon: Road | None) -> Window | None:
        xp, cfg = self.xp, self.config
        net = RoadNetwork(tuple(roads))
        pts = net.source_points(cfg.spacing_m)
        if len(pts) == 0:
            return None
        emis = np.stack([road_emission(r, cfg.factors) for r in roads])  # (nroads, 4)
        q = emis[pts.road_index] * pts.length_m[:, None]  # ug/s per point
        if not np.any(q):
            return None
        lo, hi = pts.xy.min(axis=0), pts.xy.max(axis=0)
        rows, cols = self._window((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))
        if rows.stop <= rows.start or cols.stop <= cols.start:
            return None
        gx, gy = xp.meshgrid(self._xs[cols], self._ys[rows])
        rx, ry = gx.ravel(), gy.ravel()
        conc = plume_sum(
            rx,
            ry,
            xp.asarray(pts.xy[:, 0]),
            xp.asarray(pts.xy[:, 1]),
            xp.asarray(q),
            xp.asarray(np.maximum(0.5 * pts.length_m, 1.0)),
            cfg.wind_rose,
            dict(cfg.stability),
            cfg.sigma_z0,
            cfg.reach_m,
            cfg.chunk_pairs,
        )
        if canyon is not None:
            t = SRM1_TYPES[canyon.street_type]
            s = distance_to_segments(rx, ry, canyon.segments())
            zone = s <= t.max_distance_m
            s_eff = xp.maximum(s, 0.5 * canyon.width_m)
            inc = srm1_increment(
                xp.asarray(emis[0])[None, :],
                s_eff[:, None],
                canyon.street_type,
                canyon.tree_factor,
                cfg.srm1_u,
            )
            conc = xp.where(zone[:, None], inc, conc)
        h, w = rows.stop - rows.start, cols.stop - cols.start
        self._inc[rows, cols, :] += sign * conc.reshape(h, w, len(POLLUTANTS))
        return rows, cols


def _union(a: Window | None, b: Window | None) -> Window | None:
    if a is None:
        return b
    if b is None:
        return a
    return (
        slice(min(a[0].start, b[0].start), max(a[0].stop, b[0].stop)),
        slice(min(a[1].start, b[1].start), max(a[1].stop, b[1].stop)),
    )
