"""A district's inputs and the layers computed from them: vegetation per date, noise and air.

Public API
----------
``District`` (frozen): everything one scenario's layers are computed from, in a projected
CRS (metres)::

    District(crs, height_offset, footprints, trees, covers, roads, barriers, grid,
             coefficients, climate, survey_date)
    District.load_demo(input_dir) -> District      # data/citygml + data/demo/roads.geojson
    district.replace(**changes) -> District        # dataclasses.replace
    district.tree(tree_id) -> Tree                 # KeyError when unknown
    district.tree_table() -> TreeTable             # cached per District object
    district.to_xy(lon, lat) / district.to_lonlat(x, y)
    district.bounds_lonlat() -> (w, s, e, n)       # of the analysis grid

``Barrier(id, coords, height_m)``: a noise barrier (polyline, (n, 2) metres).

``vegetation_layer(district, date, out_dir) -> VegetationSummary``: a vegetation tileset
of ``date`` into ``out_dir``. ``cached_vegetation_layer(district, date, cache_dir) -> (key,
summary)``: the same through a content-keyed cache folder ``cache_dir/<key>/``.
``date_bucket(date) -> date``: the representative date of a half-month (see below).

``overlay_layers(district, out_root, *, previous=None, baseline=None) -> OverlayState``:
noise (L_den, L_night at 4 m), air (NO2, PM10 annual means) and heat (hours of shade,
Tmrt and UTCI at 15:00 on the design day; :mod:`~greentwin.twin.district_heat`) on
``district.grid``, written as XYZ PNG tiles per indicator into ``out_root/<indicator>/`` (plus
``legend.json``, ``meta.json`` and ``values.npy``: the grid values, float32, row 0 south,
NaN = no data). With ``previous`` (the state of an earlier call on the same grid) only the
changed roads, barriers and canopy are recomputed (the kernels' incremental updates) and
only the tiles over cells whose colour class changed are rendered (palette PNGs:
:func:`greentwin.tiles.overlay.render_indexed`, :func:`~greentwin.tiles.overlay.encode_png_indexed`)
and encoded again; the others are reused from memory. ``overlay_files(state, indicator)``
gives one layer's files in memory (what a :class:`~greentwin.twin.layers.LayerStore`'s
``publish_files`` publishes).
With ``baseline`` (the baseline scenario's state), difference layers ``diff_<indicator>``
(scenario minus baseline) are written too. The maps are computed per block of the grid
(:mod:`greentwin.twin.blocks`, ``district.block_m``; a grid that fits in one block is
computed as a whole): in this process by default, where ``OverlayState.blocks`` keeps
each block's kernel objects (``NoiseMap``, ``AirMap``, ``HeatMap``) so that an edit
updates only the blocks it can reach; or with ``jobs``/``scheduler`` through an executor
(``greentwin build``), the blocks' values only coming back. ``state.portable()`` drops
the kernel objects and pickles.

``probe(state, lon, lat) -> dict[str, float | None]``: every indicator's value at a point.

Each indicator's folder is published as one store layer (kind ``"overlay"``, entry
``meta.json``): ``/overlays/{indicator}/{scenario}/{version}/{z}/{x}/{y}.png``.

Date buckets
------------
The time slider would otherwise ask for a tileset per day. Vegetation tilesets are built
per half-month: the 1st-15th of a month draw the 8th, the 16th-last the 23rd. Plant
growth moves by a fraction of a percent in two weeks and leaf-out and leaf fall take
several weeks (``docs/green_model.md``), so the view changes little within a bucket,
while a year has at most 24 tilesets per scenario.

Heavy work (the noise map takes seconds, a vegetation tileset about a second) must run
off the event loop: the server's recompute computes the baseline overlays once in its
worker thread (and publishes them for the demo's build), ``greentwin build`` in its build
process; the server builds vegetation tilesets per date in a process pool
(:mod:`~greentwin.server.routes_green`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from greentwin.core import ScenarioError, ServerError
from greentwin.green_model.api import Climate, PlantCover, Tree, TreeTable, trees_to_table
from greentwin.kernels.noise.emission import RoadCoefficients
from greentwin.kernels.raster import BuildingFootprint, Grid, building_height_grid
from greentwin.kernels.roads import Road, RoadNetwork
from greentwin.twin.blocks import Block
from greentwin.twin.manifest import (
    DEFAULT_BLOCK_M,
    DEFAULT_CELL_M,
    DEFAULT_MARGIN_M,
    DEFAULT_RECEIVER_HEIGHT_M,
    DEFAULT_STOREY_M,
)

__all__ = [
    "BUILDINGS_GML",
    "DEMO_DATE",
    "GRID_CELL_M",
    "GRID_MARGIN_M",
    "INDICATORS",
    "RECEIVER_HEIGHT_M",
    "STOREY_M",
    "TREES_GML",
    "UNITS",
    "Barrier",
    "BuildingInfo",
    "District",
    "OverlayMeta",
    "OverlayState",
    "cached_vegetation_layer",
    "date_bucket",
    "full_computations",
    "overlay_files",
    "overlay_layers",
    "probe",
    "vegetation_layer",
    "write_overlays",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]

#: Survey date of the demo's trees (leaf-on summer); the date the demo layer is drawn at.
DEMO_DATE = dt.date(2023, 7, 1)
#: Analysis grid: 5 m cells over the buildings plus a 150 m margin (a project's defaults).
GRID_CELL_M = DEFAULT_CELL_M
GRID_MARGIN_M = DEFAULT_MARGIN_M
#: Noise receiver height above ground, m (Directive 2002/49/EC, Annex I: 4 m); a project
#: may set its own (``[grid] receiver_height_m``, :attr:`District.receiver_height_m`).
RECEIVER_HEIGHT_M = DEFAULT_RECEIVER_HEIGHT_M

#: Storey height assumed where a building's storeys are unknown, m.
STOREY_M = DEFAULT_STOREY_M

#: Overlay indicators, in display order. ``noise_*`` is the "vegetation" noise mode (with
#: foliage through the crowns on the date; the viewer's default), ``noise_*_cnossos`` the
#: CNOSSOS-EU mode without foliage (END reporting); see ``docs/noise.md``.
INDICATORS: tuple[str, ...] = (
    "noise_lden",
    "noise_lnight",
    "noise_lden_cnossos",
    "noise_lnight_cnossos",
    "no2",
    "pm10",
    "shade_hours",
    "tmrt",
    "utci",
)
#: Unit of each indicator (and of its difference layer).
UNITS: dict[str, str] = {
    "noise_lden": "dB(A)",
    "noise_lnight": "dB(A)",
    "noise_lden_cnossos": "dB(A)",
    "noise_lnight_cnossos": "dB(A)",
    "no2": "ug/m3",
    "pm10": "ug/m3",
    "shade_hours": "h",
    "tmrt": "degC",
    "utci": "degC",
}
#: Colour scale of each indicator (``greentwin.tiles.colormaps.get_scale`` names).
_SCALES: dict[str, str] = {
    "noise_lden": "lden",
    "noise_lnight": "lnight",
    "noise_lden_cnossos": "lden",
    "noise_lnight_cnossos": "lnight",
    "no2": "no2",
    "pm10": "pm10",
    "shade_hours": "shade_hours",
    "tmrt": "tmrt",
    "utci": "utci",
}

#: The demo district's inputs in its CityGML folder.
BUILDINGS_GML = "berlin_testarea_lod2_buildings.gml"
TREES_GML = "berlin_testarea_trees_veg.gml"


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True, slots=True, eq=False)
class Barrier:
    """A noise barrier.

    Attributes
    ----------
    id : barrier id.
    coords : (n, 2) float64 polyline, metres in the district CRS (n >= 2).
    height_m : height above ground, m.
    """

    id: str
    coords: F64
    height_m: float

    def __post_init__(self) -> None:
        c = np.asarray(self.coords, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] < 2 or c.shape[1] < 2 or not np.isfinite(c).all():
            raise ScenarioError(f"barrier {self.id!r}: needs at least 2 finite (x, y) points")
        if not 0.0 < self.height_m <= 30.0:
            raise ScenarioError(f"barrier {self.id!r}: height must lie in (0, 30] m")
        object.__setattr__(self, "coords", c[:, :2].copy())


@dataclass(frozen=True, slots=True)
class BuildingInfo:
    """What the indicators need to know of one footprint's building.

    Attributes
    ----------
    building_id : gml:id of the top-level Building (a BuildingPart's footprint names
        its building here; a scenario volume names itself).
    function : the building's function code as written (ALKIS ``31001_1010``...), or ""
        when unknown.
    storeys : storeys above ground, or None when the data has none.
    ground_z : lowest point of the building's geometry, metres in the source datum.
    name : the building's name, or "".
    """

    building_id: str
    function: str = ""
    storeys: int | None = None
    ground_z: float = 0.0
    name: str = ""


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class District:
    """Everything the layers of one scenario are computed from (projected CRS, metres).

    Attributes
    ----------
    crs : ``"EPSG:<code>"`` of every coordinate below.
    height_offset : metres added to the trees' heights so they stand on the buildings'
        ground (the demo's buildings are moved down by their lowest ground point).
    footprints : building footprints and heights (``kernels.raster``).
    trees : surveyed and planted trees, with their events.
    covers : plant covers (lawn, meadow, shrub beds).
    roads : the road network with traffic.
    barriers : noise barriers (empty for the baseline).
    grid : the analysis grid of the noise and air maps.
    coefficients : CNOSSOS-EU road emission coefficients.
    climate : growth and phenology climate.
    survey_date : the date the trees were surveyed.
    buildings : footprint id -> :class:`BuildingInfo` (building, use, storeys, ground).
    block_m : side of the blocks the maps are computed in, m (:mod:`greentwin.twin.blocks`).
    receiver_height_m : height of the noise receivers above ground, m.
    backgrounds : urban background concentrations replacing the air model's defaults,
        ``(name, ug/m3)`` pairs (``no2``, ``nox``, ``o3``, ``pm10``, ``pm25``).
    """

    crs: str
    height_offset: float
    footprints: tuple[BuildingFootprint, ...]
    trees: tuple[Tree, ...]
    covers: tuple[PlantCover, ...]
    roads: RoadNetwork
    barriers: tuple[Barrier, ...]
    grid: Grid
    coefficients: RoadCoefficients
    climate: Climate
    survey_date: dt.date = DEMO_DATE
    buildings: Mapping[str, BuildingInfo] = field(default_factory=dict)
    block_m: float = DEFAULT_BLOCK_M
    receiver_height_m: float = RECEIVER_HEIGHT_M
    backgrounds: tuple[tuple[str, float], ...] = ()

    @classmethod
    def load_demo(cls, input_dir: Path) -> District:
        """The demo district: Berlin test-area buildings and trees, illustrative roads.

        Reads ``input_dir/berlin_testarea_lod2_buildings.gml``, ``.../trees_veg.gml``,
        ``input_dir/../demo/roads.geojson`` and ``input_dir/../noise/
        cnossos_road_coefficients.json``; the result is cached per process (keyed by the
        files' paths, sizes and modification times), so later calls are immediate.

        Raises
        ------
        ServerError
            An input is missing or unusable.
        """
        root = Path(input_dir).resolve()
        if root.suffix == ".toml":  # a project manifest (greentwin serve PROJECT.toml)
            return cls.from_project(root)
        paths = (
            root / BUILDINGS_GML,
            root / TREES_GML,
            root.parent / "demo" / "roads.geojson",
            root.parent / "noise" / "cnossos_road_coefficients.json",
        )
        stamp: list[tuple[str, int, int]] = []
        for p in paths:
            try:
                st = p.stat()
            except OSError as exc:
                raise ServerError(f"demo input {p} cannot be read: {exc.strerror}") from exc
            stamp.append((str(p), st.st_size, st.st_mtime_ns))
        return _load_demo_cached(tuple(stamp))

    @classmethod
    def from_project(cls, manifest: Path) -> District:
        """The district of a project manifest (:mod:`greentwin.twin`; ``docs/projects.md``).

        Cached per process by the inputs' sizes and modification times.

        Raises
        ------
        ServerError
            The manifest or one of its sources is unusable (the message names which).
        """
        from greentwin.twin import ManifestError, district_inputs

        try:
            inputs = district_inputs(manifest)
        except ManifestError as exc:
            raise ServerError(str(exc)) from exc
        return _from_inputs(inputs)

    def replace(self, **changes: Any) -> District:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def tree(self, tree_id: str) -> Tree:
        """The tree with this id.

        Raises
        ------
        KeyError
            No such tree.
        """
        return self.trees[self._tree_index()[tree_id]]

    def tree_row(self, tree_id: str) -> int:
        """Row of a tree in :attr:`trees` (and in :meth:`tree_table`); KeyError if unknown."""
        return self._tree_index()[tree_id]

    def _tree_index(self) -> dict[str, int]:
        index: dict[str, int] = _derived(
            self, "index", lambda: {t.id: i for i, t in enumerate(self.trees)}
        )
        return index

    def tree_table(self) -> TreeTable:
        """The trees as one vectorised :class:`TreeTable` (built once per District)."""
        table: TreeTable = _derived(self, "table", lambda: _table_of(self.trees))
        _remember_table(self.trees, table)  # still found by a later District of these trees
        return table

    def to_xy(self, lon: F64 | float, lat: F64 | float) -> tuple[F64, F64]:
        """WGS84 degrees -> district CRS metres."""
        x, y = _transformer("EPSG:4326", self.crs).transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_lonlat(self, x: F64 | float, y: F64 | float) -> tuple[F64, F64]:
        """District CRS metres -> WGS84 degrees."""
        lon, lat = _transformer(self.crs, "EPSG:4326").transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the analysis grid, degrees (edges densified)."""
        xmin, ymin, xmax, ymax = self.grid.bounds
        t = np.linspace(0.0, 1.0, 17)
        ex = np.concatenate(
            [
                xmin + (xmax - xmin) * t,
                np.full(17, xmax),
                xmin + (xmax - xmin) * t,
                np.full(17, xmin),
            ]
        )
        ey = np.concatenate(
            [
                np.full(17, ymin),
                ymin + (ymax - ymin) * t,
                np.full(17, ymax),
                ymin + (ymax - ymin) * t,
            ]
        )
        lon, lat = self.to_lonlat(ex, ey)
        return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


_DERIVED: weakref.WeakKeyDictionary[District, dict[str, Any]] = weakref.WeakKeyDictionary()
_DERIVED_LOCK = threading.Lock()


def _same_trees(a: tuple[Tree, ...], b: tuple[Tree, ...]) -> bool:
    """The same ``Tree`` objects in the same order (trees are frozen: same content)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


#: The last tree tables, newest first: a scenario's district after an edit that leaves
#: the trees alone is a new District object with the same ``Tree`` objects.
_TABLES: list[tuple[tuple[Tree, ...], TreeTable]] = []
_TABLES_LOCK = threading.Lock()


def _table_of(trees: tuple[Tree, ...]) -> TreeTable:
    with _TABLES_LOCK:
        for known, table in _TABLES:
            if _same_trees(known, trees):
                return table
    return trees_to_table(trees)


def _remember_table(trees: tuple[Tree, ...], table: TreeTable) -> None:
    """Put (trees, table) first in :data:`_TABLES` (least recently used falls out)."""
    with _TABLES_LOCK:
        if _TABLES and _TABLES[0][1] is table:
            return
        _TABLES[:] = [entry for entry in _TABLES if entry[1] is not table]
        _TABLES.insert(0, (trees, table))
        del _TABLES[8:]


def _derived(district: District, name: str, make: Any) -> Any:
    """A value computed once per District object (kept while the object lives)."""
    with _DERIVED_LOCK:
        slot = _DERIVED.setdefault(district, {})
        if name in slot:
            return slot[name]
    value = make()
    with _DERIVED_LOCK:
        return _DERIVED.setdefault(district, {}).setdefault(name, value)


@functools.lru_cache(maxsize=8)
def _transformer(src: str, dst: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _plain_attributes(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar attributes only (drops the heavy implicit-geometry prototype)."""
    return {k: v for k, v in attrs.items() if isinstance(v, str | int | float | bool)}


@functools.lru_cache(maxsize=4)
def _load_demo_cached(stamp: tuple[tuple[str, int, int], ...]) -> District:
    from greentwin.citygml.reader import CityGMLReader
    from greentwin.green_model.io import read_vegetation
    from greentwin.kernels.raster import footprints_from_features
    from greentwin.twin.demo import _ground_shift as ground_shift

    t0 = time.perf_counter()
    buildings, trees_gml, roads_path, coeff_path = (Path(s[0]) for s in stamp)
    try:
        reader = CityGMLReader(buildings)
        footprints_list: list[BuildingFootprint] = []
        info: dict[str, BuildingInfo] = {}
        for feature in reader.features():
            found = footprints_from_features([feature])
            record = building_info(feature)
            footprints_list.extend(found)
            info.update((fp.id, record) for fp in found)
        footprints = tuple(footprints_list)
        if reader.crs is None:
            raise ServerError(f"{buildings} names no CRS")
        crs = _epsg(reader.crs.pyproj_definition)
        veg = read_vegetation(trees_gml, DEMO_DATE)
        network = RoadNetwork.from_geojson(json.loads(roads_path.read_text(encoding="utf-8")))
        coeffs = RoadCoefficients.from_dict(json.loads(coeff_path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ServerError(f"the demo district cannot be loaded: {exc}") from exc
    if not footprints:
        raise ServerError(f"{buildings} holds no building footprints")
    if network.crs != crs:
        raise ServerError(f"{roads_path} is in {network.crs}, the buildings in {crs}")
    trees = tuple(
        dataclasses.replace(t, attributes=_plain_attributes(t.attributes)) for t in veg.trees
    )
    xy = np.concatenate([f.exterior[:, :2] for f in footprints])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    grid = Grid.covering(
        (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
        GRID_CELL_M,
        crs,
        margin=GRID_MARGIN_M,
    )
    district = District(
        crs=crs,
        height_offset=-ground_shift(buildings),
        footprints=footprints,
        trees=trees,
        covers=tuple(veg.covers),
        roads=network,
        barriers=(),
        grid=grid,
        coefficients=coeffs,
        climate=Climate.for_city("Berlin"),
        survey_date=DEMO_DATE,
        buildings=info,
    )
    log.info(
        "demo district loaded: %d footprints, %d trees, %d roads, grid %dx%d (%.2f s)",
        len(footprints),
        len(trees),
        len(network.roads),
        grid.nx,
        grid.ny,
        time.perf_counter() - t0,
    )
    return district


@functools.lru_cache(maxsize=4)
def _from_inputs(inputs: Any) -> District:
    """A District from a project's :class:`greentwin.twin.DistrictInputs` (one per inputs)."""
    return District(
        crs=inputs.crs,
        height_offset=inputs.height_offset,
        footprints=inputs.footprints,
        trees=inputs.trees,
        covers=inputs.covers,
        roads=inputs.roads,
        barriers=(),
        grid=inputs.grid,
        coefficients=inputs.coefficients,
        climate=inputs.climate,
        survey_date=inputs.survey_date,
        buildings={k: _info_of(r) for k, r in inputs.buildings.items()},
        block_m=float(getattr(inputs.project, "block_m", DEFAULT_BLOCK_M)),
        receiver_height_m=float(
            getattr(inputs.project, "receiver_height_m", DEFAULT_RECEIVER_HEIGHT_M)
        ),
        backgrounds=tuple(getattr(inputs.project, "backgrounds", ())),
    )


def air_config(district: District) -> Any:
    """The air model's settings: its defaults, with the project's background concentrations."""
    from greentwin.kernels.air.compute import AirConfig, Backgrounds

    if not district.backgrounds:
        return AirConfig()
    return AirConfig(backgrounds=Backgrounds(**dict(district.backgrounds)))


def _info_of(record: Any) -> BuildingInfo:
    """A :class:`greentwin.twin.BuildingRecord` as :class:`BuildingInfo`."""
    return BuildingInfo(
        record.building_id, record.function, record.storeys, record.ground_z, record.name
    )


def building_info(feature: Any) -> BuildingInfo:
    """The :class:`BuildingInfo` of a top-level CityGML Building feature.

    Storeys come from ``storeysAboveGround`` (the building's, else the largest of its
    parts'); the ground from the lowest z of all its polygons
    (:func:`greentwin.twin.readers.building_record`).
    """
    from greentwin.twin.readers import building_record

    return _info_of(building_record(feature))


def _epsg(definition: str) -> str:
    from pyproj import CRS

    code = CRS.from_user_input(definition).to_epsg()
    if code is None:
        raise ServerError(f"the district CRS {definition!r} has no EPSG code")
    return f"EPSG:{code}"


# --------------------------------------------------------------------------- vegetation
def date_bucket(date: dt.date) -> dt.date:
    """The representative date of ``date``'s half-month: the 8th or the 23rd."""
    return date.replace(day=8 if date.day <= 15 else 23)


def vegetation_layer(
    district: District, date: dt.date, out_dir: Path, *, instanced: bool = True
) -> Any:
    """Write the vegetation tileset of ``date`` into ``out_dir``.

    ``instanced``: ``EXT_mesh_gpu_instancing`` content (CesiumJS, Cesium for Unreal) or
    every tree's mesh baked into its tile (the ``vegetation_baked`` layer, for engines
    without the extension, such as Cesium for Unity).

    Returns the :class:`~greentwin.tiles.vegetation.VegetationSummary`.
    """
    from greentwin.tiles.vegetation import build_vegetation_tileset

    return build_vegetation_tileset(
        district.tree_table(),
        district.covers,
        date,
        out_dir,
        crs=district.crs,
        climate=district.climate,
        instanced=instanced,
        height_offset=district.height_offset,
    )


def cached_vegetation_layer(
    district: District, date: dt.date, cache_dir: Path, instanced: bool = True
) -> tuple[str, Any]:
    """The vegetation tileset of ``date`` in ``cache_dir/<key>/``, built on first request.

    ``instanced=False`` gives the baked variant (its own key: the flag is part of it).

    Returns
    -------
    (key, summary): the folder name (32 hex digits, a content key over trees, covers,
    date and parameters) and the build summary.
    """
    from greentwin.tiles.vegetation import cached_vegetation_tileset

    summary = cached_vegetation_tileset(
        cache_dir,
        district.tree_table(),
        district.covers,
        date,
        crs=district.crs,
        climate=district.climate,
        instanced=instanced,
        height_offset=district.height_offset,
    )
    return Path(summary["tileset"]).parent.name, summary


# --------------------------------------------------------------------------- overlays
class OverlayMeta(TypedDict):
    """``meta.json`` of an overlay layer (what ``/api/layers`` and the probe read)."""

    indicator: str
    unit: str
    zoom: list[int]
    bounds: list[float]
    grid: dict[str, Any]
    legend: Any


@dataclass(slots=True, eq=False)
class BlockMaps:
    """One block's kernel objects and values (:mod:`greentwin.twin.blocks`).

    Attributes
    ----------
    block : the block (windows in cells of the whole grid).
    district : the block's inputs (grid = the block's window).
    values : indicator -> the core's (ny, nx) values.
    noise, noise_cnossos, air, heat : the kernel objects (``NoiseMap`` of each mode on the
        window's obstacles with the core's receivers, ``AirMap`` on the core, ``HeatMap`` on
        the heat window computed over the core).
    buildings, heights : (ny, nx) building and obstacle heights of the window, m.
    receiver_cells : (R,) int64 flat window cell of each noise receiver.
    lai : (24, ny, nx) canopy LAI course of the core.
    crowns : the window's ``CrownRaster`` of the "vegetation" noise map.
    air_roads : the roads of the air map (within the air kernel's reach of the core).
    date : the date the maps are for.
    """

    block: Block
    district: District
    values: dict[str, F64]
    noise: Any = None
    noise_cnossos: Any = None
    air: Any = None
    heat: Any = None
    buildings: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    heights: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    receiver_cells: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    lai: F64 = field(default_factory=lambda: np.zeros((0, 0)))
    crowns: Any = None
    air_roads: Any = None
    date: dt.date | None = None


@dataclass(slots=True, eq=False)
class OverlayState:
    """The noise, air and heat maps of one district state, with their rendered tiles.

    Attributes
    ----------
    district : the inputs the maps were computed from.
    grid : the analysis grid.
    values : indicator -> (ny, nx) float64 grid (row 0 south; NaN in buildings for noise);
        also ``diff_<indicator>`` when a baseline was given.
    zoom : (zmin, zmax) of the tiles.
    bounds : (west, south, east, north) degrees of the grid.
    tiles : indicator -> {(z, x, y): PNG bytes}.
    plan : the blocks the grid was computed in (:func:`greentwin.twin.blocks.plan_blocks`).
    blocks : each block's :class:`BlockMaps` (kernel objects for incremental updates);
        empty after :meth:`portable` or when the blocks ran in other processes.
    borrowed : indices of the blocks shared with another state (:meth:`borrow`): copied
        before an update changes them.
    date : the date the maps are for (trees' sizes and leaves on that date).
    air_roads : the roads the air maps used (street canyons' F_b from their trees).
    timings : seconds by step of the last call (kernel steps summed over the blocks; with
        an executor ``blocks_wall`` is the wall time of all blocks), and ``blocks``: how
        many blocks were computed.
    """

    district: District
    grid: Grid
    values: dict[str, F64]
    zoom: tuple[int, int]
    bounds: tuple[float, float, float, float]
    tiles: dict[str, dict[tuple[int, int, int], bytes]] = field(default_factory=dict)
    plan: tuple[Block, ...] = ()
    blocks: list[BlockMaps] = field(default_factory=list)
    date: dt.date | None = None
    air_roads: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    borrowed: frozenset[int] = frozenset()

    def portable(self) -> OverlayState:
        """A copy without the kernel objects (picklable; no incremental updates from it)."""
        return dataclasses.replace(self, blocks=[], borrowed=frozenset())

    def borrow(self) -> OverlayState:
        """A state to update from (``previous``) that leaves this one as it is: it shares
        this state's blocks, and an update copies a block before changing it (copy on
        write), so the blocks an edit does not reach are never copied."""
        return dataclasses.replace(
            self,
            tiles=dict(self.tiles),
            blocks=list(self.blocks),
            borrowed=frozenset(b.block.index for b in self.blocks),
        )

    def meta(self, indicator: str) -> OverlayMeta:
        """The ``meta.json`` content of one indicator's layer."""
        from greentwin.tiles.colormaps import get_scale
        from greentwin.tiles.overlay import legend

        base = indicator.removeprefix("diff_")
        scale = _SCALES[base] if base == indicator else f"diff_{_SCALES[base]}"
        g = self.grid
        return {
            "indicator": indicator,
            "unit": UNITS[base],
            "zoom": [self.zoom[0], self.zoom[1]],
            "bounds": [round(v, 7) for v in self.bounds],
            "grid": {"x0": g.x0, "y0": g.y0, "cell": g.cell, "nx": g.nx, "ny": g.ny, "crs": g.crs},
            "legend": legend(get_scale(scale)),
        }


def obstacle_heights(district: District) -> tuple[F64, F64]:
    """(buildings, buildings + barriers) height rasters on the district grid, m.

    Barriers are drawn into every cell their polyline passes (sampled every quarter
    cell), so they are at least one cell wide (``docs/noise.md``, limits).
    """
    grid = district.grid
    buildings = building_height_grid(grid, list(district.footprints))
    heights = buildings.copy()
    for b in district.barriers:
        pts: list[F64] = []
        for (x0, y0), (x1, y1) in zip(b.coords[:-1], b.coords[1:], strict=True):
            n = max(2, math.ceil(math.hypot(x1 - x0, y1 - y0) / (grid.cell / 4.0)) + 1)
            t = np.linspace(0.0, 1.0, n)
            pts.append(np.column_stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t]))
        p = np.concatenate(pts)
        ok = grid.contains(p[:, 0], p[:, 1])
        row, col = grid.index(p[ok, 0], p[ok, 1])
        np.maximum.at(heights, (row, col), b.height_m)
    return buildings, heights


def canopy_lai(district: District, year: int | None = None) -> F64:
    """(ny, nx) annual-mean canopy leaf area index on the district grid, m2/m2.

    The mean of :func:`canopy_lai_course` over the year (default: the survey year): the
    seasonal course of each tree's leaf area integrated over the year, for display and
    summaries. The air map itself averages the foliage removal over the course (it is
    not linear in LAI; i-Tree Eco, Nowak et al. 2013, via ``kernels.air.deposition``).
    """
    y = district.survey_date.year if year is None else year
    return np.asarray(canopy_lai_course(district, y).mean(axis=0), dtype=np.float64)


def course_dates(year: int) -> list[dt.date]:
    """The 24 half-month dates of ``year`` at which the seasonal course is sampled: the
    8th and the 23rd of each month (the half-month buckets of :func:`date_bucket`)."""
    return [dt.date(year, m, d) for m in range(1, 13) for d in (8, 23)]


def _crown_cells(
    district: District, radius: F64, alive: npt.NDArray[np.bool_]
) -> list[tuple[Any, bool]]:
    """Flat grid cells under each tree's crown (centre within the radius), and whether
    the crown was smaller than that: then it is the stem's cell alone (a young tree on a
    coarse grid keeps its leaves)."""
    grid = district.grid
    table = district.tree_table()
    xs, ys = grid.xs(), grid.ys()
    none = np.zeros(0, np.int64)
    out: list[tuple[Any, bool]] = []
    for i in range(len(radius)):
        r = float(radius[i])
        x, y = table.xyz[i, :2]
        if not (alive[i] and r > 0 and grid.contains(np.array([x]), np.array([y]))[0]):
            out.append((none, False))
            continue
        rows, cols = grid.window((x - r, y - r, x + r, y + r))
        cells = none
        if rows.stop > rows.start and cols.stop > cols.start:
            gx, gy = np.meshgrid(xs[cols], ys[rows])
            rr, cc = np.nonzero((gx - x) ** 2 + (gy - y) ** 2 <= r * r)
            cells = (rr + rows.start) * grid.nx + (cc + cols.start)
        if len(cells):
            out.append((cells, False))
        else:
            row, col = grid.index(np.array([x]), np.array([y]))
            out.append((np.array([int(row[0]) * grid.nx + int(col[0])]), True))
    return out


def canopy_lai_on(district: District, date: dt.date) -> F64:
    """(ny, nx) canopy leaf area index on ``date``, m2/m2.

    Each living tree puts its LAI on the date (leaf area on the date / crown
    projection: zero for a leafless deciduous crown, full for evergreens) on the cells
    whose centres lie within its crown (a crown smaller than that: its leaf area over
    the stem's cell); where crowns overlap the larger value is kept. Planting, removal,
    pruning and growth change it through the trees' states.
    """
    grid = district.grid
    lai = np.zeros(grid.nx * grid.ny)
    if not district.trees:
        return lai.reshape(grid.shape)
    st = district.tree_table().states(date, district.climate)
    area = np.pi * (st.crown_diameter_m / 2.0) ** 2
    value = np.where(area > 0, st.leaf_area_m2 / np.maximum(area, 1e-9), 0.0)
    small = st.leaf_area_m2 / grid.cell**2
    for i, (cells, tiny) in enumerate(_crown_cells(district, st.crown_diameter_m / 2.0, st.alive)):
        if len(cells):
            np.maximum.at(lai, cells, small[i] if tiny else value[i])
    return lai.reshape(grid.shape)


def canopy_lai_course(district: District, year: int) -> F64:
    """(24, ny, nx) canopy LAI at the half-month dates of ``year`` (:func:`course_dates`).

    The seasonal course the air map averages for its annual means (foliage deposition,
    i-Tree Eco; ``AirMap.set_lai``); each date as :func:`canopy_lai_on`.
    """
    grid = district.grid
    dates = course_dates(year)
    if not district.trees:
        return np.zeros((len(dates), *grid.shape))
    with _LAI_LOCK:
        for i, (trees, g, climate, y, course) in enumerate(_LAI_COURSES):
            if (
                y == year
                and g == grid
                and climate is district.climate
                and _same_trees(trees, district.trees)
            ):
                _LAI_COURSES.insert(0, _LAI_COURSES.pop(i))  # least recently used goes first
                return course
    course = np.stack([canopy_lai_on(district, d) for d in dates])
    course.setflags(write=False)
    with _LAI_LOCK:
        _LAI_COURSES.insert(0, (district.trees, grid, district.climate, year, course))
        del _LAI_COURSES[_LAI_KEEP:]
    return course


#: The last canopy LAI courses, newest first: a scenario edit that leaves the trees alone
#: (the same ``Tree`` objects, as :func:`~greentwin.twin.recompute_district.district_for`
#: keeps them) reuses its course instead of recomputing 24 dates.
_LAI_COURSES: list[tuple[tuple[Tree, ...], Grid, Climate, int, F64]] = []
_LAI_KEEP = 8
_LAI_LOCK = threading.Lock()


def noise_crowns(district: District, date: dt.date) -> Any:
    """The trees' crowns on ``date`` as the noise map's foliage raster (``CrownRaster``).

    Crown from ``height - crown_height`` to ``height``, radius half the crown diameter,
    density from the leaf fraction on the date (evergreens dense all year, leafless
    deciduous crowns as branches only: :mod:`greentwin.kernels.noise.foliage`); a dead
    tree still standing keeps its branches.
    """
    from greentwin.kernels.noise.foliage import crown_raster, crowns_from_states

    if not district.trees:
        return crown_raster(district.grid, [])
    table = district.tree_table()
    st = table.states(date, district.climate)
    crowns = crowns_from_states(
        table.xyz[:, :2],
        st.height_m,
        st.crown_height_m,
        st.crown_diameter_m,
        np.where(st.alive, st.leaf_fraction, 0.0),
        st.present,
    )
    return crown_raster(district.grid, crowns)


def air_roads(district: District, date: dt.date) -> RoadNetwork:
    """The district's roads with each street canyon's SRM1 tree factor from its trees.

    F_b of a road flagged ``canyon`` follows from the crowns along it in mid-July of
    ``date``'s year (the regulation's definitions, applied by
    :func:`greentwin.kernels.air.canyon.tree_factor_from_crowns`; the street width is the
    carriageway width). Other roads keep their own ``tree_factor``.
    """
    from greentwin.kernels.air.canyon import tree_factor_from_crowns

    roads = district.roads
    canyons = [r for r in roads.roads if r.canyon]
    if not canyons:
        return roads
    xy = np.zeros((0, 2))
    radius = np.zeros(0)
    if district.trees:
        table = district.tree_table()
        st = table.states(dt.date(date.year, 7, 15), district.climate)
        xy = table.xyz[st.alive, :2]
        radius = st.crown_diameter_m[st.alive] / 2.0
    out = roads
    for r in canyons:
        fb = tree_factor_from_crowns(r.segments(), r.width_m, xy, radius)
        if fb != r.tree_factor:
            out = out.with_road(dataclasses.replace(r, tree_factor=fb))
    return out


def _road_key(road: Road) -> str:
    """A comparable text of everything about a road that the kernels use."""
    return json.dumps(RoadNetwork((road,)).to_geojson()["features"][0], sort_keys=True)


def _road_changes(old: RoadNetwork, new: RoadNetwork) -> tuple[list[Road], list[Road]]:
    """(old versions, new versions) of the roads that were removed, added or changed."""
    before = {r.id: r for r in old.roads}
    after = {r.id: r for r in new.roads}
    gone = [r for rid, r in before.items() if rid not in after]
    added = [r for rid, r in after.items() if rid not in before]
    changed = [
        rid
        for rid in before.keys() & after.keys()
        if _road_key(before[rid]) != _road_key(after[rid])
    ]
    changed.sort()
    return gone + [before[i] for i in changed], added + [after[i] for i in changed]


def _noise_grids(
    state_noise: Any, grid: Grid, cells: npt.NDArray[np.int64], core: tuple[int, int, int, int]
) -> dict[str, F64]:
    """The noise map's L_den and L_night on ``grid`` (NaN where no receiver), cut to
    ``core`` (row0, row1, col0, col1)."""
    ind = state_noise.indicators()
    r0, r1, c0, c1 = core
    out: dict[str, F64] = {}
    for name, key in (("noise_lden", "L_den"), ("noise_lnight", "L_night")):
        g = np.full(grid.ny * grid.nx, np.nan)
        v = np.asarray(ind[key], dtype=np.float64)
        g[cells] = np.where(np.isfinite(v), v, np.nan)
        full = g.reshape(grid.shape)
        out[name] = full if core == (0, grid.ny, 0, grid.nx) else full[r0:r1, c0:c1].copy()
    return out


def _full_noise(
    district: District,
    buildings: F64,
    heights: F64,
    backend: str,
    crowns: Any = None,
    mode: str = "cnossos",
    core: tuple[int, int, int, int] | None = None,
) -> tuple[Any, Any]:
    """The noise map of one mode (``"cnossos"``, or ``"vegetation"`` with ``crowns``), with
    receivers in the ``core`` cells of the district's grid only (default: all)."""
    from greentwin.kernels.noise.compute import (
        NoiseMap,
        NoiseParams,
        NoiseScene,
        Receivers,
        grid_receivers,
    )

    grid = district.grid
    receivers, cells = grid_receivers(NoiseScene(grid, buildings), district.receiver_height_m)
    if core is not None and core != (0, grid.ny, 0, grid.nx):
        r0, r1, c0, c1 = core
        row, col = cells // grid.nx, cells % grid.nx
        sel = (row >= r0) & (row < r1) & (col >= c0) & (col < c1)
        receivers = Receivers(receivers.xyz[sel], receivers.skip_m[sel], receivers.facade_n[sel])
        cells = cells[sel]
    params = NoiseParams.for_mode(mode, receiver_height_m=district.receiver_height_m)
    scene = NoiseScene(grid, heights, crowns=crowns if mode == "vegetation" else None)
    nm = NoiseMap.compute(district.roads, district.coefficients, scene, receivers, params, backend)
    return nm, cells


def _noise_modes(
    district: District,
    buildings: F64,
    heights: F64,
    backend: str,
    crowns: Any,
    core: tuple[int, int, int, int] | None = None,
) -> tuple[Any, Any, Any]:
    """(vegetation map, cnossos map, receiver cells), both computed in full."""
    nm, cells = _full_noise(district, buildings, heights, backend, crowns, "vegetation", core)
    nm_c, _ = _full_noise(district, buildings, heights, backend, core=core)
    return nm, nm_c, cells


def _crowns_differ(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is not b
    return not all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("base", "top", "density"))


def _same_items(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """The same objects in the same order."""
    return a is b or (len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True)))


_FULL_COMPUTATIONS = [0]
_FULL_LOCK = threading.Lock()


def full_computations() -> int:
    """How many times this process computed the noise, air and heat maps from scratch
    (:func:`overlay_layers` without a usable ``previous``; incremental updates do not
    count)."""
    with _FULL_LOCK:
        return _FULL_COMPUTATIONS[0]


def _cut(a: F64, w: tuple[int, int, int, int]) -> F64:
    """``a[..., r0:r1, c0:c1]`` (``a`` itself when the window is all of it)."""
    r0, r1, c0, c1 = w
    if (r0, c0) == (0, 0) and (r1, c1) == a.shape[-2:]:
        return a
    return a[..., r0:r1, c0:c1]


def _rel(
    inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    return (inner[0] - outer[0], inner[1] - outer[0], inner[2] - outer[2], inner[3] - outer[2])


@dataclass(frozen=True, slots=True)
class _BlockChanges:
    """What changed since a block's previous maps (None: compute it from scratch)."""

    old_roads: tuple[Road, ...] = ()
    new_roads: tuple[Road, ...] = ()
    old_air: tuple[Road, ...] = ()
    new_air: tuple[Road, ...] = ()


def _block_maps(
    sub: District,
    block: Block,
    roads_air: RoadNetwork,
    when: dt.date,
    day: Any,
    backend: str,
    previous: BlockMaps | None = None,
    changes: _BlockChanges | None = None,
    timings: dict[str, float] | None = None,
) -> BlockMaps:
    """One block's maps: computed, or ``previous`` (same block) updated by ``changes``.

    ``sub`` is the block's inputs (:func:`greentwin.twin.blocks.block_district`: grid =
    the window), ``roads_air`` the air map's roads near the core, ``day`` the heat
    design day of the whole grid.
    """
    from greentwin.kernels.air.compute import AirMap
    from greentwin.kernels.noise.compute import NoiseScene
    from greentwin.twin.blocks import sub_grid
    from greentwin.twin.district_heat import HEAT_SUBDIVISION, heat_map, heat_values

    tm = timings if timings is not None else {}

    def tick(name: str, since: float) -> float:
        now = time.perf_counter()
        tm[name] = tm.get(name, 0.0) + now - since
        return now

    t = time.perf_counter()
    grid = sub.grid
    core = block.core_in(block.window)
    reuse = previous is not None and changes is not None and previous.noise is not None
    same_date = reuse and previous is not None and previous.date == when
    if (
        same_date
        and previous is not None
        and _same_items(previous.district.footprints, sub.footprints)
        and _same_items(previous.district.barriers, sub.barriers)
    ):
        buildings, heights = previous.buildings, previous.heights
    else:
        buildings, heights = obstacle_heights(sub)
    if same_date and previous is not None and _same_items(previous.district.trees, sub.trees):
        lai, crowns = previous.lai, previous.crowns
    else:
        lai = _cut(canopy_lai_course(sub, when.year), core)
        crowns = noise_crowns(sub, when)
    t = tick("rasters", t)
    if reuse:
        assert previous is not None and changes is not None
        nm, nm_c, am = previous.noise, previous.noise_cnossos, previous.air
        cells = previous.receiver_cells
        if not np.array_equal(previous.buildings, buildings):
            # A building changed: the receiver set changes with it; recompute the noise map.
            nm, nm_c, cells = _noise_modes(sub, buildings, heights, backend, crowns, core)
        else:
            if changes.old_roads or changes.new_roads:
                nm.update_roads(list(changes.old_roads), list(changes.new_roads))
                nm_c.update_roads(list(changes.old_roads), list(changes.new_roads))
            if not np.array_equal(previous.heights, heights):
                nm_c.update_scene(NoiseScene(grid, heights))
                nm.update_scene(NoiseScene(grid, heights, crowns=crowns))
            elif _crowns_differ(previous.crowns, crowns):
                # planted, removed, pruned, grown or another season: crossed paths only
                nm.update_scene(NoiseScene(grid, heights, crowns=crowns))
        t = tick("noise", t)
        if changes.old_air or changes.new_air:
            am.update_roads(list(changes.old_air), list(changes.new_air))
        if not np.array_equal(previous.lai, lai):
            am.set_lai(lai)
        t = tick("air", t)
    else:
        nm, nm_c, cells = _noise_modes(sub, buildings, heights, backend, crowns, core)
        t = tick("noise", t)
        core_grid = sub_grid(grid, core)
        am = AirMap(
            core_grid,
            roads_air,
            air_config(sub),
            lai=lai,
            backend="numpy" if backend == "numpy" else "auto",
        )
        am.compute()
        t = tick("air", t)
    values = _noise_grids(nm, grid, cells, core)
    values.update({f"{k}_cnossos": v for k, v in _noise_grids(nm_c, grid, cells, core).items()})
    air = am.maps()
    values["no2"] = air["no2"]
    values["pm10"] = air["pm10"]
    # the heat kernel's NumPy engine is a test reference (seconds per hour of sun on the
    # demo grid): without a GPU the compiled CPU engine runs
    heat_backend = "numba" if backend == "numpy" else backend
    hw = _rel(block.heat_window, block.window)
    heat_sub = sub if block.heat_window == block.window else sub.replace(grid=sub_grid(grid, hw))
    heat_core = _rel(block.core, block.heat_window)
    k = HEAT_SUBDIVISION
    r0, r1, c0, c1 = heat_core
    fine_core = None if block.whole else (r0 * k, r1 * k, c0 * k, c1 * k)
    heat_prev = previous.heat if reuse and previous is not None else None
    if (
        heat_prev is not None
        and previous is not None
        and heat_prev.day.date == day.date
        and _same_items(previous.district.footprints, sub.footprints)
        and _same_items(previous.district.trees, sub.trees)
    ):
        hm = heat_prev  # nothing the heat map reads changed
        hv = {n: previous.values[n] for n in ("shade_hours", "tmrt", "utci")}
    else:
        hm = heat_map(heat_sub, heat_prev, heat_backend, day=day, window=fine_core)
        hv = {n: _cut(v, heat_core) for n, v in heat_values(hm).items()}
    values.update(hv)
    tick("heat", t)
    return BlockMaps(
        block=block,
        district=sub,
        values=values,
        noise=nm,
        noise_cnossos=nm_c,
        air=am,
        heat=hm,
        buildings=buildings,
        heights=heights,
        receiver_cells=cells,
        lai=lai,
        crowns=crowns,
        air_roads=roads_air,
        date=when,
    )


def block_job(
    sub: District, block: Block, roads_air: RoadNetwork, when: dt.date, day: Any, backend: str
) -> tuple[dict[str, F64], dict[str, float]]:
    """One block's values and timings, computed from scratch (a job for a
    :class:`~greentwin.core.executor.JobExecutor`: picklable in and out)."""
    timings: dict[str, float] = {}
    maps = _block_maps(sub, block, roads_air, when, day, backend, timings=timings)
    return maps.values, timings


def _assemble(grid: Grid, parts: Sequence[tuple[Block, Mapping[str, F64]]]) -> dict[str, F64]:
    """The blocks' core values put together into whole-grid arrays."""
    if len(parts) == 1 and parts[0][0].whole:
        return dict(parts[0][1])
    out: dict[str, F64] = {}
    for block, values in parts:
        r0, r1, c0, c1 = block.core
        for name, v in values.items():
            if name not in out:
                out[name] = np.full(grid.shape, np.nan)
            out[name][r0:r1, c0:c1] = v
    return out


#: Footprint, tree and barrier boxes of the last districts' inputs (by the tuples' identity).
_BOXES: list[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], dict[str, F64]]] = []
_BOXES_LOCK = threading.Lock()


def _input_boxes(district: District) -> dict[str, F64]:
    from greentwin.twin.blocks import input_boxes

    key = (district.footprints, district.trees, district.barriers)
    with _BOXES_LOCK:
        for fp, tr, ba, boxes in _BOXES:
            if fp is key[0] and tr is key[1] and ba is key[2]:
                return boxes
    boxes = input_boxes(district)
    with _BOXES_LOCK:
        _BOXES.insert(0, (*key, boxes))
        del _BOXES[4:]
    return boxes


def _changed_boxes(old: Sequence[Any], new: Sequence[Any], boxes_of: Any) -> list[Any]:
    """Boxes of the items in one sequence and not the other (by identity)."""
    if _same_items(old, new):
        return []
    a, b = {id(x) for x in old}, {id(x) for x in new}
    diff = [x for x in old if id(x) not in b] + [x for x in new if id(x) not in a]
    return list(boxes_of(diff)) if diff else []


def overlay_layers(
    district: District,
    out_root: Path | None,
    *,
    previous: OverlayState | None = None,
    baseline: OverlayState | None = None,
    backend: str = "auto",
    date: dt.date | None = None,
    jobs: int | None = 1,
    scheduler: str | None = None,
    keep: bool = False,
    cache: Any = None,
    stop: Any = None,
) -> OverlayState:
    """Compute (or update) the noise, air and heat maps and write their tiles.

    Parameters
    ----------
    district : the inputs.
    out_root : folder that receives ``<indicator>/`` per layer (``{z}/{x}/{y}.png``,
        ``legend.json``, ``meta.json``, ``values.npy``); None computes without writing.
    previous : the state of an earlier call for this scenario on the same grid: roads
        that changed (by id and content), barriers and canopy are applied incrementally,
        in the blocks they can reach only, and unchanged tiles are reused. Its kernel
        objects are updated in place and move to the returned state (do not use
        ``previous`` afterwards).
    baseline : the baseline's state: also writes ``diff_<indicator>`` layers.
    backend : noise kernel backend (``"auto"``: CUDA where usable, else compiled CPU).
    date : the date the maps are for (default: the survey date): the trees' crowns and
        leaves on that date shape the "vegetation" noise map (``noise_*``; the
        ``noise_*_cnossos`` maps have no foliage), and the air maps are annual means of
        that date's year (leaf area over the year's seasonal course, street canyons'
        tree factors from the trees of that year). With ``previous`` of another date only
        what changed is recomputed (crowns: the pairs whose paths cross them).
    jobs, scheduler : where the blocks (:mod:`greentwin.twin.blocks`, of
        ``district.block_m``) are computed: ``jobs=1`` and no scheduler (the default) in
        this process, keeping every block's kernel objects for incremental updates;
        otherwise through a :class:`~greentwin.core.executor.JobExecutor` (``jobs``
        local processes, None: one per core up to 8, or the Dask ``scheduler``), each
        block's values coming back and no kernel objects kept (a build).
    keep : with ``jobs``/``scheduler``: the blocks' kernel objects come back from the
        workers (pickled) and are kept, as in this process (a server's baseline).
    cache : a :class:`~greentwin.twin.blocks.BlockCache`: with kernel objects kept, each
        block's are loaded from it when stored under the key of the block's inputs, and
        stored there once computed (its other keys are deleted).
    stop : a :class:`~greentwin.twin.blocks.PoolStop` that stops the computation from
        another thread (worker processes terminated; raises ``BlocksStopped``).

    Returns
    -------
    The new :class:`OverlayState`.
    """
    from greentwin.tiles.overlay import default_zoom_range
    from greentwin.twin.blocks import (
        AIR_REACH_M,
        OBSTACLE_MARGIN_M,
        barrier_boxes,
        block_district,
        footprint_boxes,
        heat_reach_m,
        plan_blocks,
        roads_near,
        tree_boxes,
        window_bounds,
    )
    from greentwin.twin.district_heat import district_day

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    grid = district.grid
    when = date or district.survey_date
    roads_air = air_roads(district, when)
    day = district_day(district, when.year)
    reuse = (
        previous is not None
        and bool(previous.blocks)
        and previous.grid == grid
        and all(b.noise is not None for b in previous.blocks)
    )
    if reuse:
        assert previous is not None
        plan = previous.plan
    else:
        heat_m = heat_reach_m(district, day)
        plan = plan_blocks(grid, district.block_m, OBSTACLE_MARGIN_M, heat_m)
    boxes = _input_boxes(district) if len(plan) > 1 else None
    timings["rasters"] = time.perf_counter() - t0

    def sub_of(block: Block) -> tuple[District, RoadNetwork]:
        if block.whole:
            return district, roads_air
        core = window_bounds(grid, block.core)
        return block_district(district, block, boxes), roads_near(roads_air, core, AIR_REACH_M)

    parts: list[tuple[Block, Mapping[str, F64]]] = []
    kept: list[BlockMaps] = []
    borrowed: frozenset[int] = frozenset()
    if reuse:
        assert previous is not None
        old_roads, new_roads = _road_changes(previous.district.roads, district.roads)
        prev_air = previous.air_roads if previous.air_roads is not None else previous.district.roads
        old_air, new_air = _road_changes(prev_air, roads_air)
        road_boxes = [r.bounds() for r in (*old_roads, *new_roads, *old_air, *new_air)]
        obstacle_boxes = [
            *_changed_boxes(previous.district.footprints, district.footprints, footprint_boxes),
            *_changed_boxes(previous.district.barriers, district.barriers, barrier_boxes),
            *_changed_boxes(previous.district.trees, district.trees, tree_boxes),
        ]
        every = previous.date != when
        updated: set[int] = set()
        for bm in previous.blocks:
            b = bm.block
            core = window_bounds(grid, b.core)
            win = window_bounds(grid, b.window)
            hit = every or any(_near(box, core, AIR_REACH_M) for box in road_boxes)
            hit = hit or any(_near(box, win, 0.0) for box in obstacle_boxes)
            if not hit:
                kept.append(bm)
                parts.append((b, bm.values))
                continue
            if b.index in previous.borrowed:
                bm = _copy_block(bm)
            sub, sub_air = sub_of(b)
            ids = {r.id for r in sub.roads.roads}
            prev_ids = {r.id for r in bm.district.roads.roads}
            air_ids = {r.id for r in sub_air.roads}
            prev_air_ids = {r.id for r in bm.air_roads.roads}
            changes = _BlockChanges(
                tuple(r for r in old_roads if r.id in prev_ids),
                tuple(r for r in new_roads if r.id in ids),
                tuple(r for r in old_air if r.id in prev_air_ids),
                tuple(r for r in new_air if r.id in air_ids),
            )
            new = _block_maps(sub, b, sub_air, when, day, backend, bm, changes, timings)
            kept.append(new)
            parts.append((b, new.values))
            updated.add(b.index)
        timings["blocks"] = float(len(updated))
        borrowed = previous.borrowed - updated
        zoom, bounds = previous.zoom, previous.bounds
    else:
        with _FULL_LOCK:
            _FULL_COMPUTATIONS[0] += 1
            count = _FULL_COMPUTATIONS[0]
        log.info(
            "overlays: computing every map from scratch in %d blocks (%d in this process)",
            len(plan),
            count,
        )
        if keep or (jobs == 1 and not scheduler):
            t_run = time.perf_counter()
            kept = _kept_blocks(
                plan, sub_of, when, day, backend, jobs, scheduler, cache, stop, timings
            )
            parts = [(bm.block, bm.values) for bm in kept]
            timings["blocks_wall"] = time.perf_counter() - t_run
        else:
            t_run = time.perf_counter()
            parts = _run_blocks(plan, sub_of, when, day, backend, jobs, scheduler, timings)
            timings["blocks_wall"] = time.perf_counter() - t_run
        timings["blocks"] = float(len(plan))
        zoom = default_zoom_range(grid)
        bounds = district.bounds_lonlat()
    values = _assemble(grid, parts)
    if baseline is not None:
        if baseline.grid != grid:
            raise ServerError("the baseline's overlays use another grid; cannot difference them")
        for ind in INDICATORS:
            values[f"diff_{ind}"] = values[ind] - baseline.values[ind]
    state = OverlayState(
        district=district,
        grid=grid,
        values=values,
        zoom=zoom,
        bounds=bounds,
        plan=plan,
        blocks=kept,
        date=when,
        air_roads=roads_air,
        timings=timings,
        borrowed=borrowed,
    )
    t3 = time.perf_counter()
    _render(state, previous if reuse else None)
    timings["render"] = time.perf_counter() - t3
    if out_root is not None:
        t4 = time.perf_counter()
        write_overlays(state, Path(out_root))
        timings["write"] = time.perf_counter() - t4
    log.info(
        "overlays: %s (%s); %d of %d blocks computed",
        ", ".join(sorted(values)),
        ", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if k != "blocks"),
        int(timings["blocks"]),
        len(plan),
    )
    return state


def _copy_block(bm: BlockMaps) -> BlockMaps:
    """An independent copy of a block's kernel objects (inputs and rasters shared: they
    are not changed in place). The kernel objects refer to array-namespace modules, which
    cannot be copied: every loaded module is put in the memo so the copy shares them."""
    import copy
    import sys

    memo: dict[int, Any] = {id(m): m for m in list(sys.modules.values()) if m is not None}
    shared: list[Any] = [bm.district, bm.buildings, bm.heights, bm.lai, bm.crowns, bm.air_roads]
    for nm in (bm.noise, bm.noise_cnossos):
        if nm is not None:
            shared += [nm.network, nm.coeffs, nm.scene, nm.receivers, nm.params, nm.backend]
    if bm.heat is not None:
        shared += [bm.heat.scene, bm.heat.day, bm.heat.params]
    for obj in shared:
        memo[id(obj)] = obj
    kernels = copy.deepcopy((bm.noise, bm.noise_cnossos, bm.air, bm.heat), memo)
    return dataclasses.replace(
        bm,
        values=dict(bm.values),
        noise=kernels[0],
        noise_cnossos=kernels[1],
        air=kernels[2],
        heat=kernels[3],
    )


def _near(box: tuple[float, ...], bounds: tuple[float, float, float, float], reach: float) -> bool:
    return (
        box[0] <= bounds[2] + reach
        and box[2] >= bounds[0] - reach
        and box[1] <= bounds[3] + reach
        and box[3] >= bounds[1] - reach
    )


def block_maps_job(
    sub: District, block: Block, roads_air: RoadNetwork, when: dt.date, day: Any, backend: str
) -> tuple[BlockMaps, dict[str, float]]:
    """One block's :class:`BlockMaps` (kernel objects included) and timings, computed
    from scratch (a job for a worker process: picklable in and out)."""
    timings: dict[str, float] = {}
    maps = _block_maps(sub, block, roads_air, when, day, backend, timings=timings)
    return maps, timings


#: BlockMaps fields stored in the block cache (the block, its District and air roads are
#: the caller's: identical objects let the updates compare inputs by identity).
_CACHED_FIELDS = (
    "values",
    "noise",
    "noise_cnossos",
    "air",
    "heat",
    "buildings",
    "heights",
    "receiver_cells",
    "lai",
    "crowns",
    "date",
)


def _from_cache(data: Any, block: Block, sub: District, sub_air: RoadNetwork) -> BlockMaps | None:
    if not isinstance(data, dict) or set(data) != set(_CACHED_FIELDS):
        return None
    if not isinstance(data["values"], dict) or data["noise"] is None or data["heat"] is None:
        return None
    return BlockMaps(block=block, district=sub, air_roads=sub_air, **data)


def _kept_blocks(
    plan: Sequence[Block],
    sub_of: Any,
    when: dt.date,
    day: Any,
    backend: str,
    jobs: int | None,
    scheduler: str | None,
    cache: Any,
    stop: Any,
    timings: dict[str, float],
) -> list[BlockMaps]:
    """Every block's :class:`BlockMaps`: from ``cache`` where stored, the others computed
    in this process (one job, or one block) or in worker processes (their kernel objects
    pickled back; at most ``workers + 1`` in flight), then stored in ``cache``."""
    from concurrent.futures import FIRST_COMPLETED, Future, wait

    from greentwin.twin.blocks import open_block_executor

    out: dict[int, BlockMaps] = {}
    keys: dict[int, str] = {}
    todo: list[Block] = []
    t0 = time.perf_counter()
    for b in plan:
        if stop is not None:
            stop.check()
        if cache is None:
            todo.append(b)
            continue
        sub, sub_air = sub_of(b)
        keys[b.index] = key = cache.key(sub, sub_air, b, when, day, backend)
        bm = _from_cache(cache.load(key), b, sub, sub_air)
        if bm is None:
            todo.append(b)
        else:
            out[b.index] = bm
    if cache is not None:
        timings["cache_load"] = time.perf_counter() - t0
        timings["blocks_cached"] = float(len(out))
        log.info("overlays: %d of %d blocks from the block cache", len(out), len(plan))

    def done(b: Block, bm: BlockMaps) -> None:
        out[b.index] = bm
        if cache is not None:
            t = time.perf_counter()
            cache.save(keys[b.index], {name: getattr(bm, name) for name in _CACHED_FIELDS})
            timings["cache_save"] = timings.get("cache_save", 0.0) + time.perf_counter() - t

    if todo:
        n = 1 if (jobs == 1 and not scheduler) else len(todo)
        executor = open_block_executor(jobs, scheduler, n)
        if stop is not None:
            stop.attach(executor)
        try:
            if executor.shares_process:
                for b in todo:
                    if stop is not None:
                        stop.check()
                    sub, sub_air = sub_of(b)
                    done(b, _block_maps(sub, b, sub_air, when, day, backend, timings=timings))
            else:
                pending: dict[Future[Any], tuple[Block, District, RoadNetwork]] = {}
                queue = list(todo)
                while queue or pending:
                    while queue and len(pending) <= executor.workers:
                        b = queue.pop(0)
                        sub, sub_air = sub_of(b)
                        fut = executor.submit(block_maps_job, sub, b, sub_air, when, day, backend)
                        pending[fut] = (b, sub, sub_air)
                    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in finished:
                        b, sub, sub_air = pending.pop(fut)
                        if stop is not None:
                            stop.check()
                        bm, tm = fut.result()
                        # the parent's inputs: the updates compare them by identity
                        done(b, dataclasses.replace(bm, district=sub, air_roads=sub_air))
                        for k, v in tm.items():
                            timings[k] = timings.get(k, 0.0) + v
        except Exception as exc:
            if stop is not None and stop.stopped:  # the pool was shut down under us
                stop.check()
            raise exc
        finally:
            if stop is not None:
                stop.detach(executor)
            executor.close()
    if cache is not None:
        cache.prune(keys.values())
    return [out[b.index] for b in plan]


def _run_blocks(
    plan: Sequence[Block],
    sub_of: Any,
    when: dt.date,
    day: Any,
    backend: str,
    jobs: int | None,
    scheduler: str | None,
    timings: dict[str, float],
) -> list[tuple[Block, Mapping[str, F64]]]:
    """Every block's values through an executor (at most ``workers + 1`` in flight, so
    the parent holds few blocks' inputs at once)."""
    from concurrent.futures import FIRST_COMPLETED, Future, wait

    from greentwin.twin.blocks import open_block_executor

    executor = open_block_executor(jobs, scheduler, len(plan))
    out: dict[int, Mapping[str, F64]] = {}
    try:
        pending: dict[Future[Any], Block] = {}
        todo = list(plan)
        while todo or pending:
            while todo and len(pending) <= executor.workers:
                b = todo.pop(0)
                sub, sub_air = sub_of(b)
                pending[executor.submit(block_job, sub, b, sub_air, when, day, backend)] = b
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                b = pending.pop(fut)
                values, tm = fut.result()
                out[b.index] = values
                for k, v in tm.items():
                    timings[k] = timings.get(k, 0.0) + v
    finally:
        executor.close()
    return [(b, out[b.index]) for b in plan]


def _render(state: OverlayState, previous: OverlayState | None) -> None:
    """Render every indicator's tiles (:func:`greentwin.tiles.overlay.render_indexed`,
    nearest cell, as palette PNGs); reuse the previous tiles where no pixel's colour changed.

    A pixel's colour is its cell's colour class, so a tile is rendered and encoded again
    only when a cell under one of its pixels changed class; the others keep their bytes.
    """
    from greentwin.tiles.colormaps import get_scale
    from greentwin.tiles.overlay import (
        encode_png_indexed,
        render_indexed,
        tiles_for_grid,
        tiles_touching,
    )

    zmin, zmax = state.zoom
    grid = state.grid
    all_tiles = list(tiles_for_grid(grid, zmin, zmax))
    for name, v in state.values.items():
        base = name.removeprefix("diff_")
        scale = get_scale(_SCALES[base] if base == name else f"diff_{_SCALES[base]}")
        palette = scale.palette(200)
        todo: list[tuple[int, int, int]] = all_tiles
        old_tiles = previous.tiles.get(name) if previous is not None else None
        if previous is not None and old_tiles is not None and name in previous.values:
            recoloured = scale.classify(previous.values[name]) != scale.classify(v)
            if not recoloured.any():
                state.tiles[name] = dict(old_tiles)
                continue
            todo = tiles_touching(grid, recoloured, all_tiles)
            tiles = dict(old_tiles)
        else:
            tiles = {}
        for key in todo:
            tiles[key] = encode_png_indexed(render_indexed(grid, v, *key, scale), palette)
        state.tiles[name] = tiles


def overlay_files(state: OverlayState, name: str) -> dict[str, bytes]:
    """One indicator's layer as files (relative path -> content): the tiles
    ``{z}/{x}/{y}.png``, ``meta.json``, ``legend.json`` and ``values.npy`` (float32, row 0
    south)."""
    import io

    out = {f"{z}/{x}/{y}.png": png for (z, x, y), png in state.tiles[name].items()}
    meta = state.meta(name)
    out["meta.json"] = json.dumps(meta, indent=1).encode()
    out["legend.json"] = json.dumps(meta["legend"], indent=1).encode()
    buf = io.BytesIO()
    np.save(buf, state.values[name].astype(np.float32), allow_pickle=False)
    out["values.npy"] = buf.getvalue()
    return out


def write_overlays(state: OverlayState, out_root: Path) -> None:
    """Write every indicator's files (:func:`overlay_files`) into ``out_root/<indicator>/``
    (what :func:`overlay_layers` writes)."""
    for name in state.tiles:
        folder = out_root / name
        for rel, data in overlay_files(state, name).items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
                if rel == "values.npy":
                    fh.flush()
                    os.fsync(fh.fileno())


def probe(state: OverlayState, lon: float, lat: float) -> dict[str, float | None]:
    """Every indicator's value (and difference, where computed) in the cell at a point.

    Returns
    -------
    indicator -> value (dB(A) or ug/m3, rounded to 0.001), None outside the grid or in a
    building (noise).

    Raises
    ------
    ScenarioError
        lon/lat outside WGS84 ranges.
    """
    from greentwin.core import TilingError
    from greentwin.tiles.overlay import probe as grid_probe

    try:
        result = grid_probe(state.grid, state.values, lon=lon, lat=lat)
    except TilingError as exc:
        raise ScenarioError(str(exc)) from exc
    return dict(result["values"])


def values_at(values: Mapping[str, F64], grid: Grid, x: float, y: float) -> dict[str, float | None]:
    """Values of several grids in the cell holding (x, y) metres (None outside / NaN)."""
    col = math.floor((x - grid.x0) / grid.cell)
    row = math.floor((y - grid.y0) / grid.cell)
    inside = 0 <= col < grid.nx and 0 <= row < grid.ny
    out: dict[str, float | None] = {}
    for name, v in values.items():
        val = float(v[row, col]) if inside else math.nan
        out[name] = None if math.isnan(val) else round(val, 3)
    return out


def indicator_names(values: Sequence[str]) -> list[str]:
    """Indicators first in :data:`INDICATORS` order, then difference layers."""
    order = {n: i for i, n in enumerate(INDICATORS)}
    return sorted(
        values, key=lambda n: (n.startswith("diff_"), order.get(n.removeprefix("diff_"), 99), n)
    )
