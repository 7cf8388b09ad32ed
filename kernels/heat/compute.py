"""The heat map of a scene on a design day: shade hours, Tmrt and UTCI per cell.

:class:`HeatScene` holds the rasters (buildings, crown top and base, crown
transmissivity); :class:`HeatMap` computes, for every hour of a
:class:`~greentwin.kernels.heat.design_day.DesignDay`, the sunlit fraction
(:mod:`.shadow`), once the sky view factors (:mod:`.svf`), then Tmrt for every hour
(:mod:`.tmrt`) and UTCI at the report hour (:mod:`.utci`):

- ``shade_hours``: sum over the day's hours of ``1 - sunlit fraction`` (hours; one hour
  per sample), i.e. hours in full shade, crowns counting by what they hold back;
- ``tmrt``: Tmrt at the report hour (15:00 by default), degC;
- ``utci``: UTCI at the report hour, degC.

Roof cells (building height > 0) are NaN in the outputs: the maps are of the ground.

:meth:`HeatMap.update` recomputes only the cells a change of the rasters can reach: for
each hour the changed block and its copy moved away from the sun by the longest shadow
(``hmax / tan(elevation)``); for the sky view factors the block grown by the search
radius. Engines: ``"reference"`` (NumPy), ``"numba"`` and ``"cuda"`` (CuPy), chosen
once by :func:`resolve_engine` (``"auto"``: CUDA where CuPy sees a GPU, else numba).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError
from greentwin.kernels.heat.design_day import DesignDay
from greentwin.kernels.heat.shadow import Window, sunlit
from greentwin.kernels.heat.svf import effective_svf, svf
from greentwin.kernels.heat.tmrt import Surfaces, ground_heating, tmrt
from greentwin.kernels.heat.utci import utci

__all__ = ["HeatMap", "HeatParams", "HeatScene", "resolve_engine"]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]


def resolve_engine(backend: str) -> str:
    """``"numpy"`` -> reference, ``"numba"``/``"cpu"`` -> numba, ``"cupy"`` -> cuda,
    ``"auto"`` -> cuda where usable, else numba."""
    if backend in ("numpy", "reference"):
        return "reference"
    if backend in ("numba", "cpu"):
        return "numba"
    if backend in ("cupy", "cuda"):
        return "cuda"
    if backend == "auto":
        from greentwin.kernels.backend import cupy_available

        return "cuda" if cupy_available() else "numba"
    raise KernelError(f"unknown heat backend {backend!r}: use auto, numpy, numba or cupy")


@dataclass(frozen=True, slots=True, eq=False)
class HeatScene:
    """Height rasters of a heat map, (ny, nx) float64, row 0 south, metres.

    Attributes
    ----------
    cell : cell size, m.
    buildings : building height above ground (0 = open ground).
    canopy_top, canopy_base : crown top and crown base above ground (0 where no crown).
    transmissivity : share of the direct beam a crown lets through (1 where no crown).
    """

    cell: float
    buildings: F64
    canopy_top: F64
    canopy_base: F64
    transmissivity: F64

    def __post_init__(self) -> None:
        shape = np.shape(self.buildings)
        for name in ("canopy_top", "canopy_base", "transmissivity"):
            if np.shape(getattr(self, name)) != shape:
                raise KernelError(f"heat scene: {name} must have the buildings' shape {shape}")
        if len(shape) != 2 or self.cell <= 0:
            raise KernelError("heat scene: 2-D rasters and a positive cell size needed")

    @classmethod
    def open(cls, buildings: F64, cell: float) -> HeatScene:
        """A scene of buildings only."""
        b = np.asarray(buildings, dtype=np.float64)
        z = np.zeros_like(b)
        return cls(cell, b, z, z.copy(), np.ones_like(b))

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = np.shape(self.buildings)
        return int(ny), int(nx)

    def changed_block(self, other: HeatScene) -> Window | None:
        """Bounding block of the cells where the two scenes differ (None: identical)."""
        if other.shape != self.shape or other.cell != self.cell:
            raise KernelError("heat scenes of different grids cannot be compared")
        diff = np.zeros(self.shape, dtype=bool)
        for name in ("buildings", "canopy_top", "canopy_base", "transmissivity"):
            diff |= getattr(self, name) != getattr(other, name)
        rows, cols = np.nonzero(diff)
        if len(rows) == 0:
            return None
        return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


@dataclass(frozen=True, slots=True)
class HeatParams:
    """Settings of a heat map.

    Attributes
    ----------
    svf_directions : sectors of the sky view factor.
    svf_radius_m : search radius of the horizon, m.
    report_hour : local clock hour of the Tmrt and UTCI maps.
    crown_sky_transmissivity : share of the diffuse sky seen through crowns (``tau`` of
        ``psi = svf - (svf - svf_crowns)(1 - tau)``); one value for all crowns so that a
        change stays local (0.03: crowns in leaf, Lindberg and Grimmond 2011).
    surfaces : albedos, emissivities and ground heating (:class:`~.tmrt.Surfaces`).
    """

    svf_directions: int = 16
    svf_radius_m: float = 100.0
    report_hour: int = 15
    crown_sky_transmissivity: float = 0.03
    surfaces: Surfaces = field(default_factory=Surfaces)


def _union(a: Window | None, b: Window) -> Window:
    if a is None:
        return b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _clip(w: tuple[float, float, float, float], shape: tuple[int, int]) -> Window:
    r0, r1, c0, c1 = w
    return (
        max(0, math.floor(r0)),
        min(shape[0], math.ceil(r1)),
        max(0, math.floor(c0)),
        min(shape[1], math.ceil(c1)),
    )


class HeatMap:
    """Shadows, sky view factors, Tmrt and UTCI of one scene on one design day.

    Attributes (after :meth:`compute`)
    ----------------------------------
    sun : (H, ny, nx) float32, sunlit fraction per hour of ``day.hours``.
    svf_b, svf_bv : (ny, nx) sky view factor of buildings, and of buildings + crowns.
    tmrt_hours : (H, ny, nx) float32 Tmrt per hour, degC.
    shade_hours, tmrt, utci : (ny, nx) float64 maps (NaN on roofs).
    timings : seconds by step of the last call.
    """

    def __init__(
        self,
        scene: HeatScene,
        day: DesignDay,
        params: HeatParams | None = None,
        backend: str = "auto",
    ) -> None:
        self.scene = scene
        self.day = day
        self.params = params or HeatParams()
        self.engine = resolve_engine(backend)
        self.report = day.index(self.params.report_hour)
        ny, nx = scene.shape
        h = len(day.hours)
        self.sun = np.zeros((h, ny, nx), dtype=np.float32)
        self.svf_b = np.ones((ny, nx))
        self.svf_bv = np.ones((ny, nx))
        self.tmrt_hours = np.zeros((h, ny, nx), dtype=np.float32)
        self.shade_hours = np.zeros((ny, nx))
        self.tmrt = np.zeros((ny, nx))
        self.utci = np.zeros((ny, nx))
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ full and windowed
    def compute(self, window: Window | None = None) -> HeatMap:
        """Compute every map over the whole raster, or over ``window`` only (a block of
        cells; the rest of the raster is the obstacles around it, its maps stay unset).

        After a windowed computation, :meth:`update` keeps the window's cells right
        (what they read was computed); cells outside it may hold partial values.
        """
        ny, nx = self.scene.shape
        whole = (0, ny, 0, nx) if window is None else _clip(window, (ny, nx))
        self._run([whole] * len(self.day.hours), whole, whole)
        return self

    def update(self, scene: HeatScene) -> Window | None:
        """Move to ``scene`` (same grid) and recompute only the cells it can change.

        Returns
        -------
        The block of cells whose maps were recomputed, or None when nothing changed.
        """
        block = self.scene.changed_block(scene)
        self.scene = scene
        if block is None:
            self.timings = {}
            return None
        shape = scene.shape
        cell = scene.cell
        hmax = max(
            float(scene.buildings.max(initial=0.0)), float(scene.canopy_top.max(initial=0.0))
        )
        r0, r1, c0, c1 = block
        hours: list[Window] = []
        for az, el in zip(self.day.azimuth_deg, self.day.elevation_deg, strict=True):
            if el <= 0.0:
                hours.append((0, 0, 0, 0))
                continue
            reach = hmax / math.tan(math.radians(el)) / cell + 2.0
            dr = -math.cos(math.radians(az)) * reach  # away from the sun
            dc = -math.sin(math.radians(az)) * reach
            w = (
                min(r0, r0 + dr) - 1,
                max(r1, r1 + dr) + 1,
                min(c0, c0 + dc) - 1,
                max(c1, c1 + dc) + 1,
            )
            hours.append(_clip(w, shape))
        rad = self.params.svf_radius_m / cell + 2.0
        sky = _clip((r0 - rad, r1 + rad, c0 - rad, c1 + rad), shape)
        radiant: Window = sky
        for w in hours:
            if w[1] > w[0] and w[3] > w[2]:
                radiant = _union(radiant, w)
        self._run(hours, sky, radiant)
        return radiant

    def _run(self, hours: list[Window], sky: Window, radiant: Window) -> None:
        sc, day, p = self.scene, self.day, self.params
        t0 = time.perf_counter()
        for i, (az, el) in enumerate(zip(day.azimuth_deg, day.elevation_deg, strict=True)):
            r0, r1, c0, c1 = hours[i]
            if r1 <= r0 or c1 <= c0:
                continue
            self.sun[i, r0:r1, c0:c1] = sunlit(
                self.engine,
                sc.buildings,
                sc.canopy_top,
                sc.canopy_base,
                sc.transmissivity,
                sc.cell,
                float(az),
                float(el),
                hours[i],
            )
        t1 = time.perf_counter()
        r0, r1, c0, c1 = sky
        b, v = svf(
            self.engine,
            sc.buildings,
            sc.canopy_top,
            sc.cell,
            p.svf_directions,
            p.svf_radius_m,
            sky,
        )
        self.svf_b[r0:r1, c0:c1] = b
        self.svf_bv[r0:r1, c0:c1] = v
        t2 = time.perf_counter()
        r0, r1, c0, c1 = radiant
        svf_b = self.svf_b[r0:r1, c0:c1]
        psi = effective_svf(svf_b, self.svf_bv[r0:r1, c0:c1], p.crown_sky_transmissivity)
        roof = sc.buildings[r0:r1, c0:c1] > 0
        for i, hour in enumerate(day.hours):
            dtg = ground_heating(hour, day.sunrise_h, day.max_elevation_deg, p.surfaces)
            self.tmrt_hours[i, r0:r1, c0:c1] = tmrt(
                self.sun[i, r0:r1, c0:c1].astype(np.float64),
                svf_b,
                psi,
                azimuth_deg=float(day.azimuth_deg[i]),
                elevation_deg=float(day.elevation_deg[i]),
                dni=float(day.dni[i]),
                dhi=float(day.dhi[i]),
                ghi=float(day.ghi[i]),
                ta_c=float(day.air_temp_c[i]),
                rh=float(day.rel_humidity[i]),
                dtg=dtg,
                surfaces=p.surfaces,
            )
        shade = (1.0 - self.sun[:, r0:r1, c0:c1].astype(np.float64)).sum(axis=0)
        self.shade_hours[r0:r1, c0:c1] = np.where(roof, np.nan, shade)
        t_rep = self.tmrt_hours[self.report, r0:r1, c0:c1].astype(np.float64)
        self.tmrt[r0:r1, c0:c1] = np.where(roof, np.nan, t_rep)
        t3 = time.perf_counter()
        k = self.report
        u = utci(
            float(day.air_temp_c[k]),
            np.where(roof, np.nan, t_rep),
            day.wind_10m,
            float(day.rel_humidity[k]),
        )
        self.utci[r0:r1, c0:c1] = u
        self.timings = {
            "shadows": t1 - t0,
            "svf": t2 - t1,
            "tmrt": t3 - t2,
            "utci": time.perf_counter() - t3,
        }
        log.debug(
            "heat map %s: %s",
            radiant,
            ", ".join(f"{n} {s:.2f} s" for n, s in self.timings.items()),
        )

    def copy(self) -> HeatMap:
        """An independent copy (arrays copied; scene and day shared, they are immutable)."""
        new = HeatMap.__new__(HeatMap)
        for name in ("scene", "day", "params", "engine", "report"):
            setattr(new, name, getattr(self, name))
        for name in ("sun", "svf_b", "svf_bv", "tmrt_hours", "shade_hours", "tmrt", "utci"):
            setattr(new, name, getattr(self, name).copy())
        new.timings = dict(self.timings)
        return new

    def with_day(self, day: DesignDay) -> HeatMap:
        """A new map of the same scene on another day (computed in full)."""
        return HeatMap(self.scene, day, dataclasses.replace(self.params), self._backend()).compute()

    def _backend(self) -> str:
        return {"reference": "numpy", "numba": "numba", "cuda": "cupy"}[self.engine]
