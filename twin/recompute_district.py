"""Recompute with the district's real layers: vegetation tiles, noise and air overlays.

:class:`DistrictRecompute` implements :class:`~greentwin.twin.recompute.Recompute`. It
wraps :class:`~greentwin.twin.recompute.VersionedLayersRecompute` (the small GeoJSON
layers of the scenario's own changes stay as they are) and adds, per scenario:

- ``vegetation`` (3D Tiles): a new version after a tree or green-area op, and with it
  ``vegetation_baked``, the same trees without ``EXT_mesh_gpu_instancing`` (every mesh
  baked into its tile) for engines that lack the extension (Cesium for Unity), announced
  as ``vegetation.variants.baked`` (:func:`~greentwin.twin.recompute.fold_variants`);
- ``noise_lden``, ``noise_lnight``, ``no2``, ``pm10`` and their ``diff_*`` layers against
  the baseline (XYZ overlays): new versions of the indicators whose values changed after
  a road, barrier or building op, and after a tree op when the canopy changes the air
  model's PM10 deposition;
- ``road_network`` (GeoJSON): the district's roads with the scenario's traffic, so a
  client can pick a road; a new version after a road op.

The scenario's :class:`~greentwin.twin.ops.ScenarioState` is mapped onto the baseline
:class:`~greentwin.twin.district.District` (:func:`district_for`): planted trees become
green-model trees at the op's position (WGS 84 converted to the district CRS), removed and
replaced trees get a ``Remove`` event, pruned ones a ``Prune`` event; road overrides and
closures replace roads in the network; barriers and building volumes join the obstacles.
Noise and air are updated incrementally (:func:`~greentwin.twin.district.overlay_layers`
with the scenario's previous state: only the changed roads and obstacles are recomputed,
in the grid's blocks they can reach (:mod:`greentwin.twin.blocks`), and only the tiles
over changed cells are rendered again).

Trees and noise: the CNOSSOS-EU method (Directive (EU) 2015/996, Annex II, 2.5) has no
foliage attenuation, so tree ops never change the noise layers; they change the
vegetation tiles and, through the canopy leaf area, the PM10 deposition of the air model.

Concurrency and immutability: the heavy work runs in one worker thread (off the event
loop); each scenario has an :class:`asyncio.Lock` so its edits are applied in log order.
New versions are published (atomically, immutable URLs) before the update names them;
until then clients keep the previous versions, which are never changed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import numpy as np
from greentwin.green_model.api import PlantCover, Tree
from greentwin.green_model.events import Prune, Remove
from greentwin.kernels.raster import BuildingFootprint
from greentwin.kernels.roads import CATEGORIES, PERIODS, Direction, RoadNetwork
from greentwin.twin.blocks import BlockCache, PoolStop, code_digest
from greentwin.twin.district import (
    INDICATORS,
    STOREY_M,
    Barrier,
    BuildingInfo,
    District,
    OverlayState,
    overlay_files,
    overlay_layers,
    vegetation_layer,
)
from greentwin.twin.layers import LayerStore
from greentwin.twin.ops import OP_LAYER, EditOp, ScenarioState
from greentwin.twin.protocol import LayerInfo
from greentwin.twin.recompute import (
    FEATURE_LAYERS,
    LayerChanges,
    VersionedLayersRecompute,
    fold_variants,
)
from greentwin.twin.scenarios import BASELINE, ScenarioLog

__all__ = [
    "OVERLAY_LAYERS",
    "DistrictRecompute",
    "ScenarioView",
    "district_for",
    "road_network_geojson",
]

log = logging.getLogger(__name__)

#: Overlay layers published per scenario: the indicators and their differences.
OVERLAY_LAYERS: Final = (*INDICATORS, *(f"diff_{i}" for i in INDICATORS))
GEOJSON: Final = "application/geo+json"

_TREE_OPS: Final = frozenset({"plant_tree", "remove_tree", "replace_tree", "prune_tree"})
_COVER_OPS: Final = frozenset({"set_green_area", "remove_green_area"})
_ROAD_OPS: Final = frozenset({"set_road_traffic", "close_road", "add_road", "set_oneway"})
#: Road override keys that change the network traffic is assigned on.
_NETWORK_KEYS: Final = frozenset({"closed", "speed_kmh", "lanes", "capacity_vph", "oneway"})
_OBSTACLE_OPS: Final = frozenset(
    {"add_barrier", "remove_barrier", "add_building", "remove_building"}
)

#: Protocol vehicle classes -> CNOSSOS-EU categories (Directive (EU) 2015/996, Annex II,
#: Table 2.2.a): light = 1, medium = 2, heavy = 3, two-wheelers = 4a + 4b (split as in
#: the road's baseline traffic, all to 4b, motorcycles, where it has none).
_CLASS_COLUMNS: Final = {"light": (0,), "medium": (1,), "heavy": (2,), "two_wheeler": (3, 4)}
#: Protocol surfaces -> keys of the CNOSSOS-EU coefficient file (2020 set: DEF = the
#: reference surface, NL01 = one-layer porous asphalt); others have no coefficients here.
_SURFACES: Final = {"reference": "DEF", "dense_asphalt": "DEF", "porous_asphalt": "NL01"}
#: Protocol cover classes -> green-model cover keys.
_COVERS: Final = {
    "grass": "lawn",
    "green_roof": "lawn",
    "meadow": "meadow",
    "wetland": "meadow",
    "perennials": "shrub_bed",
    "shrubs": "shrub_bed",
    "woodland": "shrub_bed",
}


# --------------------------------------------------------------------------- state -> District
def _species_key(name: str) -> str:
    """Protocol species ids may use ``-``; the species library's keys use ``_``."""
    return name.replace("-", "_")


def _prune_diameter_fraction(volume_fraction: float) -> float:
    """Crown-diameter reduction that removes ``volume_fraction`` of the crown volume.

    A crown keeping its shape has volume proportional to d^3, so removing a volume
    fraction v leaves d' = d (1 - v)^(1/3): the diameter reduction is 1 - (1 - v)^(1/3).
    """
    return float(1.0 - (1.0 - volume_fraction) ** (1.0 / 3.0))


def _nearest_z(base: District, x: float, y: float) -> float:
    """Ground height of the nearest baseline tree (same vertical datum as the survey)."""
    if not base.trees:
        return 0.0
    xyz = base.tree_table().xyz
    i = int(np.argmin((xyz[:, 0] - x) ** 2 + (xyz[:, 1] - y) ** 2))
    return float(xyz[i, 2])


def ground_z_near(base: District, xy: np.ndarray) -> float:
    """Ground height under a new volume: that of the nearest baseline building."""
    cx, cy = float(xy[:, 0].mean()), float(xy[:, 1].mean())
    best, ground = math.inf, _nearest_z(base, cx, cy)
    for f in base.footprints:
        d = float(np.min((f.exterior[:, 0] - cx) ** 2 + (f.exterior[:, 1] - cy) ** 2))
        info = base.buildings.get(f.id)
        if d < best and info is not None:
            best, ground = d, info.ground_z
    return ground


def _new_tree(
    base: District, tid: str, t: dict[str, Any], xy: tuple[float, float], when: dt.date
) -> Tree:
    x, y = xy
    species = _species_key(str(t["species"]))
    events: list[Any] = []
    if t.get("crown_reduction"):
        cut = _prune_diameter_fraction(float(t["crown_reduction"]))
        events.append(Prune(when, crown_reduction=cut))
    z = _nearest_z(base, x, y)
    if t.get("age_years") is not None:
        return Tree(
            tid,
            species,
            x,
            y,
            z,
            planted=when,
            age_at=(when, float(t["age_years"])),
            events=tuple(events),
        )
    girth = float(t.get("nursery_size_cm") or 18.0)
    return Tree(
        tid,
        species,
        x,
        y,
        z,
        planted=when,
        girth_class=f"{girth:g}-{girth:g}",
        events=tuple(events),
    )


def lonlat_to_xy(base: District, points: Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = base.to_xy(arr[:, 0], arr[:, 1])
    return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])


def _apply_road(base_road: Any, override: dict[str, Any]) -> tuple[Any, str | None]:
    road = base_road
    problem: str | None = None
    flows = override.get("flows")
    if flows:
        f = np.array(road.flows, dtype=np.float64)
        for period, classes in flows.items():
            p = PERIODS.index(period)
            for cls, value in classes.items():
                cols = _CLASS_COLUMNS[cls]
                if len(cols) == 1:
                    f[p, cols[0]] = float(value)
                else:
                    old = f[p, list(cols)]
                    share = old / old.sum() if old.sum() > 0 else np.array([0.0, 1.0])
                    f[p, list(cols)] = float(value) * share
        road = road.with_flows(f)
    if override.get("speed_kmh") is not None:
        speeds = np.full(len(CATEGORIES), float(override["speed_kmh"]))
        speeds.setflags(write=False)
        road = dataclasses.replace(road, speeds=speeds)
    if override.get("surface") is not None:
        key = _SURFACES.get(str(override["surface"]))
        if key is None:
            problem = f"surface {override['surface']} has no emission coefficients here"
        else:
            road = dataclasses.replace(road, surface=key)
    if "closed" in override:
        road = dataclasses.replace(road, closed=bool(override["closed"]))
    if override.get("lanes") is not None:
        road = dataclasses.replace(road, lanes=int(override["lanes"]))
    if override.get("capacity_vph") is not None:
        road = dataclasses.replace(
            road, extra={**road.extra, "capacity_vph": float(override["capacity_vph"])}
        )
    if override.get("oneway") is not None:  # one-way is the road's driving direction
        road = dataclasses.replace(road, direction=_DIRECTIONS[str(override["oneway"])])
    return road, problem


#: set_oneway / add_road ``oneway`` -> the road's driving direction.
_DIRECTIONS: Final[dict[str, Direction]] = {
    "no": "both",
    "forward": "forward",
    "backward": "backward",
}


def _new_road(base: District, rid: str, spec: dict[str, Any]) -> Any:
    """A road added by ``add_road``: no traffic of its own until traffic is re-assigned."""
    from greentwin.kernels.roads import Road

    speed = float(spec.get("speed_kmh") or 50.0)
    speeds = np.full(len(CATEGORIES), speed)
    speeds.setflags(write=False)
    flows = np.zeros((len(PERIODS), len(CATEGORIES)))
    flows.setflags(write=False)
    extra = {"highway": spec["highway"]} if spec.get("highway") else {}
    lanes = int(spec.get("lanes") or 2)
    return Road(
        rid,
        lonlat_to_xy(base, spec["line"]),
        flows,
        speeds,
        name=str(spec.get("name") or ""),
        lanes=lanes,
        width_m=3.5 * lanes,
        direction=_DIRECTIONS[str(spec.get("oneway") or "no")],
        extra=extra,
    )


def traffic_edits(state: ScenarioState) -> tuple[bool, list[str]]:
    """(whether the state changes the road network, ids of roads with planner-set flows)."""
    network = bool(getattr(state, "added_roads", None)) or any(
        _NETWORK_KEYS & set(o) for o in state.roads.values()
    )
    explicit = sorted(rid for rid, o in state.roads.items() if o.get("flows"))
    return network, explicit


def district_for(base: District, state: ScenarioState) -> tuple[District, list[str]]:
    """The scenario's district: the baseline with the state's changes applied.

    Changes take effect on the district's survey date (the scenario's changes are its
    plan; the time slider then shows them at any later date).

    Returns
    -------
    (district, problems): problems name references that do not exist in the baseline
    (an unknown road or tree id), which are left out.
    """
    when = base.survey_date
    problems: list[str] = []
    # trees: baseline trees get events, scenario trees are added
    gone = set(state.removed_trees)
    trees: list[Tree] = []
    known: dict[str, Tree] = {}
    for tree in base.trees:
        known[tree.id] = tree
        if tree.id in gone:
            tree = tree.with_event(Remove(when, reason=state.removed_trees[tree.id]))
        elif tree.id in state.pruned:
            cut = _prune_diameter_fraction(state.pruned[tree.id])
            tree = tree.with_event(Prune(when, crown_reduction=cut))
        trees.append(tree)
    for tid, planted in state.trees.items():
        pos = planted.get("position")
        if pos is None:  # a replacement at a baseline tree's place
            old = known.get(str(planted.get("replaces")))
            if old is None:
                problems.append(f"tree {planted.get('replaces')!r} is not in the baseline")
                continue
            xy = (old.x, old.y)
        else:
            p = lonlat_to_xy(base, [pos])[0]
            xy = (float(p[0]), float(p[1]))
        trees.append(_new_tree(base, tid, planted, xy, when))
    # plant covers
    covers = [c for c in base.covers if c.id not in set(state.removed_green_areas)]
    for aid, a in state.green_areas.items():
        covers = [c for c in covers if c.id != aid]
        covers.append(
            PlantCover(
                aid,
                _COVERS.get(str(a["cover"]), "lawn"),
                lonlat_to_xy(base, a["polygon"]),
                z=_nearest_z(base, *lonlat_to_xy(base, a["polygon"][:1])[0]),
                planted=when,
            )
        )
    # roads
    roads: RoadNetwork = base.roads
    ids = {r.id for r in base.roads.roads}
    for rid, override in sorted(state.roads.items()):
        if rid not in ids:
            problems.append(f"road {rid!r} is not in the district")
            continue
        road, problem = _apply_road(roads.road(rid), override)
        if problem:
            problems.append(f"road {rid!r}: {problem}")
        roads = roads.with_road(road)
    for rid, spec in sorted(getattr(state, "added_roads", {}).items()):
        if rid in ids:
            problems.append(f"road {rid!r} already exists in the district")
            continue
        road, problem = _apply_road(_new_road(base, rid, spec), state.roads.get(rid, {}))
        roads = roads.with_road(road)
    # obstacles
    barriers = [b for b in base.barriers if b.id not in set(state.removed_barriers)]
    for bid, b in state.barriers.items():
        barriers.append(
            Barrier(bid, lonlat_to_xy(base, b["line"]), min(float(b["height_m"]), 30.0))
        )
    # buildings: a removed id is a baseline Building (all its parts go) or one part
    removed_b = set(state.removed_buildings)
    known_b = set(base.buildings) | {i.building_id for i in base.buildings.values()}
    problems.extend(f"building {b!r} is not in the baseline" for b in sorted(removed_b - known_b))
    info = dict(base.buildings)
    footprints = []
    for f in base.footprints:
        owner = info.get(f.id)
        if f.id in removed_b or (owner is not None and owner.building_id in removed_b):
            info.pop(f.id, None)
            continue
        footprints.append(f)
    for bid, b in state.buildings.items():
        outline = lonlat_to_xy(base, b["footprint"])
        height = float(b["height_m"])
        footprints.append(BuildingFootprint(bid, outline, height))
        use = str(b.get("use") or "other")
        storeys = b.get("storeys")
        info[bid] = BuildingInfo(
            building_id=bid,
            function=use,
            storeys=int(storeys) if storeys else max(1, round(height / STOREY_M)),
            ground_z=ground_z_near(base, outline),
            name=f"scenario volume {bid}",
        )
    district = base.replace(
        trees=tuple(trees),
        covers=tuple(covers),
        roads=roads,
        barriers=tuple(barriers),
        footprints=tuple(footprints),
        buildings=info,
    )
    return district, problems


def road_network_geojson(
    district: District,
    baseline: District | None = None,
    times: dict[str, dict[str, float | None]] | None = None,
) -> dict[str, Any]:
    """The district's roads as RFC 7946 GeoJSON (WGS 84) with their traffic.

    Properties per road: ``name``, ``closed``, ``speed_kmh`` (light vehicles) and
    ``flows`` ``{period: {light, medium, heavy, two_wheeler}}`` in vehicles/h; ``flow_day``
    (all vehicles, day, veh/h) and, given the ``baseline``, ``flow_day_baseline`` and
    ``change_pct`` (null for a road the baseline lacks), for the viewer's traffic layer;
    given ``times`` (road id -> ``time_before_s``, ``time_after_s``, ``speed_before_kmh``,
    ``speed_after_kmh``), those too.
    """
    before = {r.id: r for r in baseline.roads.roads} if baseline is not None else {}
    feats: list[dict[str, Any]] = []
    for r in district.roads.roads:
        lon, lat = district.to_lonlat(r.coords[:, 0], r.coords[:, 1])
        coords = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
        flows = {
            period: {
                "light": round(float(r.flows[p, 0]), 2),
                "medium": round(float(r.flows[p, 1]), 2),
                "heavy": round(float(r.flows[p, 2]), 2),
                "two_wheeler": round(float(r.flows[p, 3] + r.flows[p, 4]), 2),
            }
            for p, period in enumerate(PERIODS)
        }
        feats.append(
            {
                "type": "Feature",
                "id": r.id,
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "name": r.name,
                    "closed": r.closed,
                    "speed_kmh": float(r.speeds[0]),
                    "surface": r.surface,
                    "flows": flows,
                    **_traffic_props(r, before),
                    **((times or {}).get(r.id) or {}),
                },
            }
        )
    return {"type": "FeatureCollection", "name": "road_network", "features": feats}


def _traffic_props(road: Any, before: dict[str, Any]) -> dict[str, Any]:
    day = 0.0 if road.closed else float(np.asarray(road.flows)[0].sum())
    out: dict[str, Any] = {"flow_day": round(day, 1)}
    if before:
        b = before.get(road.id)
        base = float(np.asarray(b.flows)[0].sum()) if b is not None else None
        out["flow_day_baseline"] = None if base is None else round(base, 1)
        out["change_pct"] = (
            round(100.0 * (day / base - 1.0), 1) if base is not None and base > 0 else None
        )
    return out


def _kernel_copy(state: OverlayState) -> OverlayState:
    """An independent deep copy of an overlay state, kernel objects included.

    The kernel objects refer to array-namespace modules, which cannot be copied: every
    loaded module is put in the memo so the copy shares them.
    """
    memo: dict[int, Any] = {id(m): m for m in list(sys.modules.values()) if m is not None}
    result: OverlayState = copy.deepcopy(state, memo)
    return result


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


# --------------------------------------------------------------------------- the recompute
_P = ParamSpec("_P")
_T = TypeVar("_T")


class _Worker(concurrent.futures.Executor):
    """One daemon thread that runs the submitted calls in order.

    Unlike a ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, a
    server stopping (SIGTERM) while the baseline maps are being computed exits at once:
    the computation only fills memory, so nothing is lost by abandoning it.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None
        ] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> concurrent.futures.Future[_T]:
        if self._closed:
            raise RuntimeError("the recompute worker is closed")
        fut: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._queue.put((fut, lambda: fn(*args, **kwargs)))
        return fut

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, call = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        self._queue.put(None)
        if wait:
            self._thread.join()


@dataclass
class _Scenario:
    """What has been published for one scenario (in memory)."""

    layers: dict[str, LayerInfo] = field(default_factory=dict)
    district: District | None = None
    overlays: OverlayState | None = None
    vegetation: Any = None  # the last VegetationSummary
    seq: int = 0
    traffic: list[Any] = field(default_factory=list)  # RoadChange of the last assignment
    assignment: Any = None  # the last traffic Assignment (None: baseline traffic)


@dataclass(frozen=True)
class ScenarioView:
    """A scenario's district and map grids beside the baseline's (see ``view``).

    ``values`` and ``baseline_values``: indicator -> (ny, nx) grid on the district grid
    (row 0 south, NaN = no value); the scenario's include ``diff_<indicator>`` layers
    once it has recomputed maps. ``input_dir``: the district's CityGML inputs.
    """

    scenario: str
    district: District
    values: dict[str, np.ndarray]
    baseline: District
    baseline_values: dict[str, np.ndarray]
    input_dir: Path


@dataclass
class _Base:
    district: District
    overlays: OverlayState  # the baseline's maps
    seed: OverlayState  # the baseline again, with zero difference layers rendered


class DistrictRecompute:
    """The :class:`~greentwin.twin.recompute.Recompute` of the demo district's layers.

    Parameters
    ----------
    store : ScenarioLog
        The open scenario store (GeoJSON layers, scenario states).
    tiles : LayerStore
        Where vegetation and overlay versions are published (per scenario id).
    input_dir : Path
        The demo district's input folder (``District.load_demo``).
    baseline : str
        The baseline scenario id in the tile store.
    backend : str
        Noise kernel backend (``"auto"``).
    on_district : callable, optional
        Called with (scenario, district) after each recompute (e.g. the green API's
        district registry).

    Notes
    -----
    The baseline maps are computed once, in the background, from construction; the first
    edit that needs them waits for them, a snapshot does not (it leaves out what needs
    them; :meth:`wait_ready` tells when they are there). The demo's build hands its
    ``overlays`` layer to :meth:`publish_base`, so the baseline maps are not computed a
    second time in a build process. Memory: one overlay state per edited scenario (a few
    MB for the demo grid).
    """

    def __init__(
        self,
        store: ScenarioLog,
        tiles: LayerStore,
        input_dir: Path,
        *,
        baseline: str = BASELINE,
        backend: str = "auto",
        base_url: str = "/api/scenarios",
        on_district: Callable[[str, District], None] | None = None,
    ) -> None:
        self.store = store
        self.tiles = tiles
        self.input_dir = Path(input_dir)
        self.baseline = baseline
        self.backend = backend
        self.on_district = on_district
        self.inner = VersionedLayersRecompute(store, base_url=base_url)
        self._pool = _Worker("recompute")
        self._locks: dict[str, asyncio.Lock] = {}
        self._scenarios: dict[str, _Scenario] = {}
        self._base: _Base | None = None
        self._base_lock = threading.Lock()
        self._stop = PoolStop()
        self._base_future = self._pool.submit(self._load_base)
        self._pool.submit(self._fit_traffic)  # next on the worker thread
        self.timings: dict[str, float] = {}

    def lock(self, scenario: str) -> asyncio.Lock:
        """The scenario's lock: its recomputes run one at a time, in log order."""
        lk = self._locks.get(scenario)
        if lk is None:
            lk = self._locks[scenario] = asyncio.Lock()
        return lk

    def close(self) -> None:
        """Stop the worker thread (pending work is dropped) and the baseline blocks'
        worker processes."""
        self._stop.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _block_cache(self) -> BlockCache | None:
        """The baseline blocks' cache: ``<data_dir>/cache/blocks/<project>/`` (the
        project by its input path), keyed by the code of the packages that compute the
        maps and each block's inputs."""
        try:
            where = str(self.input_dir.resolve())
            project = hashlib.sha256(where.encode()).hexdigest()[:16]
            code = code_digest()
        except OSError as exc:
            log.warning("recompute: no block cache (%s)", exc)
            return None
        return BlockCache(self.tiles.data_dir / "cache" / "blocks" / project, code)

    # --- baseline ----------------------------------------------------------------------
    def _load_base(self) -> _Base:
        with self._base_lock:
            if self._base is not None:
                return self._base
            t0 = time.perf_counter()
            district = District.load_demo(self.input_dir)
            # the blocks in worker processes (one per core), their kernel objects coming
            # back; from the block cache when this project's inputs were computed before
            overlays = overlay_layers(
                district,
                None,
                backend=self.backend,
                jobs=None,
                keep=True,
                cache=self._block_cache(),
                stop=self._stop,
            )
            seed = overlay_layers(
                district,
                None,
                previous=overlays.borrow(),
                baseline=overlays,
                backend=self.backend,
            )
            self._base = _Base(district, overlays, seed)
            log.info("recompute: baseline maps ready (%.1f s)", time.perf_counter() - t0)
            return self._base

    def _fit_traffic(self) -> None:
        """Fit the traffic model now, not on the first road edit (after the baseline
        maps: on a city it takes tens of seconds the snapshots need not wait for)."""
        try:
            from greentwin.twin.district_traffic import traffic_model

            traffic_model(self.base().district)
        except Exception:
            log.exception("recompute: the traffic model cannot be fitted")

    def base(self) -> _Base:
        """The baseline district and maps (blocking until computed)."""
        return self._base_future.result()

    def ready(self) -> bool:
        """Whether the baseline maps are computed (or failed)."""
        return self._base_future.done()

    async def _base_async(self) -> _Base:
        """The baseline (waiting for it without queueing behind the recomputes running
        on the worker thread: a snapshot never waits for another scenario's edit)."""
        return await asyncio.wrap_future(self._base_future)

    async def wait_ready(self) -> None:
        """Wait until the baseline maps are computed (raises what their computation raised)."""
        await asyncio.wrap_future(self._base_future)

    async def publish_base(self, key: str) -> tuple[bool, str]:
        """Publish the baseline maps as the baseline's overlay layers (source ``key``).

        The demo builder's ``overlays`` layer, built from the maps this object computes
        anyway for the edits instead of a second time in a build process. Returns
        (ok, the versions comma-separated or what failed).
        """
        loop = asyncio.get_running_loop()
        try:
            versions = await loop.run_in_executor(self._pool, self._publish_base, key)
        except Exception as exc:
            log.exception("recompute: the baseline maps cannot be published")
            return False, f"{type(exc).__name__}: {exc}"
        return True, versions

    def _publish_base(self, key: str) -> str:
        base = self.base()
        versions = [
            self.tiles.publish_files(
                self.baseline,
                name,
                overlay_files(base.overlays, name),
                kind="overlay",
                entry="meta.json",
                source=key,
            )
            for name in INDICATORS
        ]
        return ",".join(versions)

    # --- the Recompute protocol ---------------------------------------------------------
    async def apply(
        self, scenario: str, seq: int, ops: Sequence[EditOp], state: ScenarioState
    ) -> LayerChanges:
        """Publish the GeoJSON layers, then the district layers the ops touch."""
        result = await self.inner.apply(scenario, seq, ops, state)
        names: set[str] = {op.op for op in ops}
        loop = asyncio.get_running_loop()
        snapshot = state.copy()  # the worker thread reads its own copy
        async with self.lock(scenario):
            layers, problems, bodies = await loop.run_in_executor(
                self._pool, self._recompute, scenario, seq, snapshot, names
            )
            layers.update(await self._put_geojson(scenario, bodies))
        merged: LayerChanges = {
            "layers": fold_variants({**result["layers"], **layers}),
            "changes": list(result["changes"]),
        }
        known = self._scenarios.get(scenario)
        traffic = [dict(c) for c in known.traffic[:10]] if known is not None else []
        for change in merged["changes"]:
            found = [p for p in problems if change["id"] and repr(change["id"]) in p]
            if found:
                change["error"] = "; ".join(found)[:200]
            for name in layers:
                change["affected"].setdefault(name, 1)
            if traffic and change["op"] in _ROAD_OPS:
                change["traffic"] = traffic
        return merged

    async def snapshot(self, scenario: str, seq: int) -> dict[str, LayerInfo]:
        """GeoJSON layers, then the scenario's own district layers or the baseline's."""
        out = await self.inner.snapshot(scenario, seq)
        loop = asyncio.get_running_loop()
        async with self.lock(scenario):
            known = self._scenarios.get(scenario)
            if known is None and scenario != self.baseline and self.ready():
                state = await self.store.state(scenario)
                if _touches_district(state):
                    # after a restart: rebuild from the log (same content, same versions)
                    _, _, bodies = await loop.run_in_executor(
                        self._pool, self._recompute, scenario, seq, state, set(OP_LAYER)
                    )
                    await self._put_geojson(scenario, bodies)
                    known = self._scenarios.get(scenario)
            base_layers = await loop.run_in_executor(None, self._tile_layers, self.baseline)
            out.update(base_layers)
            if known is not None:
                out.update(known.layers)
            if "road_network" not in out and self.ready():
                out.update(await self._road_layer(scenario))
        return fold_variants(out)

    async def view(self, scenario: str) -> ScenarioView:
        """The scenario's current district and maps beside the baseline's (for exports).

        Waits for the scenario's pending recomputes; a scenario not yet recomputed in
        this process (after a restart) is rebuilt from its log first.
        """
        if scenario != self.baseline and scenario not in self._scenarios:
            info = await self.store.get(scenario)
            await self.snapshot(scenario, info.seq)  # rebuilds it from its log if needed
        base = await self._base_async()
        async with self.lock(scenario):
            sc = self._scenarios.get(scenario) if scenario != self.baseline else None
            district = sc.district if sc is not None and sc.district is not None else None
            maps = sc.overlays if sc is not None and sc.overlays is not None else None
            return ScenarioView(
                scenario=scenario,
                district=district or base.district,
                values=dict((maps or base.overlays).values),
                baseline=base.district,
                baseline_values=dict(base.overlays.values),
                input_dir=self.input_dir,
            )

    # --- work in the worker thread --------------------------------------------------------
    def _tile_layers(self, scenario: str) -> dict[str, LayerInfo]:
        """A scenario's published tile-store layers as protocol layer infos (version 0).

        The city tileset named like a GeoJSON change layer (``buildings``) is left out:
        that name is the scenario's building volumes; clients find the city in
        ``/api/layers``.
        """
        out: dict[str, LayerInfo] = {}
        for name, info in self.tiles.layers(scenario).items():
            if name in FEATURE_LAYERS:
                continue
            if info.kind == "overlay":
                out[name] = self._overlay_info(scenario, name, info.version, 0)
            else:
                out[name] = {"url": info.url, "version": 0, "kind": "3dtiles"}
        return out

    def _overlay_info(self, scenario: str, name: str, version: str, seq: int) -> LayerInfo:
        info: LayerInfo = {
            "url": f"/overlays/{name}/{scenario}/{version}/{{z}}/{{x}}/{{y}}.png",
            "version": seq,
            "kind": "overlay",
        }
        return info

    async def _road_layer(self, scenario: str) -> dict[str, LayerInfo]:
        """The baseline road network as the scenario's ``road_network`` layer (version 0)."""
        base = await self._base_async()

        def encode() -> bytes:
            return json.dumps(road_network_geojson(base.district), separators=(",", ":")).encode()

        # a city's network is megabytes of JSON: encoded off the event loop
        body = await asyncio.to_thread(encode)
        layers = await self._put_geojson(scenario, {"road_network": (0, body)})
        known = self._scenarios.get(scenario)
        if known is not None:
            known.layers.update(layers)
        return layers

    async def _put_geojson(
        self, scenario: str, bodies: dict[str, tuple[int, bytes]]
    ) -> dict[str, LayerInfo]:
        out: dict[str, LayerInfo] = {}
        for layer, (version, body) in bodies.items():
            await self.store.put_layer(scenario, layer, version, body, GEOJSON)
            out[layer] = {
                "url": self.inner.url(scenario, layer, version),
                "version": version,
                "kind": "geojson",
            }
        known = self._scenarios.get(scenario)
        if known is not None:
            known.layers.update(out)
        return out

    def _recompute(
        self, scenario: str, seq: int, state: ScenarioState, names: set[str]
    ) -> tuple[dict[str, LayerInfo], list[str], dict[str, tuple[int, bytes]]]:
        """Map the state onto the district, rebuild what ``names`` touch and publish it.

        Returns the new tile-store layers, the problems of :func:`district_for` and the
        GeoJSON bodies to store (``layer -> (version, body)``, written by the caller).
        """
        t0 = time.perf_counter()
        bodies: dict[str, tuple[int, bytes]] = {}
        base = self.base()
        sc = self._scenarios.setdefault(scenario, _Scenario())
        district, problems = district_for(base.district, state)
        network_edit, explicit = traffic_edits(state)
        if network_edit:
            from greentwin.twin.district_traffic import apply_traffic

            district, sc.traffic, sc.assignment = apply_traffic(
                base.district, district, previous=sc.district, explicit=explicit
            )
        else:
            sc.traffic, sc.assignment = [], None
        layers: dict[str, LayerInfo] = {}
        scratch = Path(tempfile.mkdtemp(prefix=f"recompute-{scenario}-", dir=self._scratch_root()))
        try:
            if names & (_TREE_OPS | _COVER_OPS) or (
                sc.district is None and (state.trees or state.removed_trees or state.green_areas)
            ):
                for name, instanced in (("vegetation", True), ("vegetation_baked", False)):
                    summary = vegetation_layer(
                        district, district.survey_date, scratch / name, instanced=instanced
                    )
                    if instanced:
                        sc.vegetation = summary
                    version = self.tiles.publish(
                        scenario, name, scratch / name, source=f"seq {seq}"
                    )
                    url = f"/tiles/{scenario}/{version}/{name}/tileset.json"
                    layers[name] = {"url": url, "version": seq, "kind": "3dtiles"}
            t1 = time.perf_counter()
            needs_maps = bool(names & (_ROAD_OPS | _OBSTACLE_OPS | _TREE_OPS))
            map_timings: dict[str, float] = {}
            if needs_maps:
                previous = sc.overlays if sc.overlays is not None else base.seed.borrow()
                before = dict(previous.values)  # the kernel objects move on; the grids stay
                maps = overlay_layers(
                    district, None, previous=previous, baseline=base.overlays, backend=self.backend
                )
                map_timings = dict(maps.timings)
                changed = [
                    n
                    for n in OVERLAY_LAYERS
                    if n not in before or not _same(before[n], maps.values[n])
                ]
                if changed:
                    # only the layers whose values changed get a new version
                    # publishing is mostly fsync-bound: the layers go in parallel
                    def publish(name: str) -> str:
                        return self.tiles.publish_files(
                            scenario,
                            name,
                            overlay_files(maps, name),
                            kind="overlay",
                            entry="meta.json",
                            source=f"seq {seq}",
                        )

                    t_pub = time.perf_counter()
                    with ThreadPoolExecutor(4, thread_name_prefix="publish") as pub:
                        versions = list(pub.map(publish, changed))
                    map_timings["publish"] = time.perf_counter() - t_pub
                    for n, version in zip(changed, versions, strict=True):
                        layers[n] = self._overlay_info(scenario, n, version, seq)
                sc.overlays = maps
            t2 = time.perf_counter()
            if names & _ROAD_OPS:
                from greentwin.twin.district_traffic import road_times

                times = road_times(base.district, sc.assignment)
                body = json.dumps(
                    road_network_geojson(district, base.district, times), separators=(",", ":")
                ).encode()
                bodies["road_network"] = (seq, body)
            self.timings = {
                "vegetation": t1 - t0,
                "overlays": t2 - t1,
                "total": time.perf_counter() - t0,
                **{f"overlays.{k}": v for k, v in map_timings.items()},
            }
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        sc.district = district
        if self.on_district is not None:
            self.on_district(scenario, district)
        sc.layers.update(layers)
        sc.seq = seq
        log.info(
            "recompute %s seq %d: %s (%.2f s)",
            scenario,
            seq,
            ", ".join(sorted(layers)) or "no district layer",
            time.perf_counter() - t0,
        )
        return layers, problems, bodies

    def _scratch_root(self) -> Path:
        root = self.tiles.data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root


def _touches_district(state: ScenarioState) -> bool:
    return bool(
        state.trees
        or state.removed_trees
        or state.pruned
        or state.green_areas
        or state.removed_green_areas
        or state.roads
        or state.barriers
        or state.buildings
        or state.removed_buildings
    )
