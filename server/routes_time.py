"""Time drives the maps: the district's overlays on a date, and indicators over the years.

Routes (JSON, ``Cache-Control: no-cache``; errors are JSON):

- ``GET /api/maps?scenario=&date=``: the scenario's overlays (noise with foliage and the
  CNOSSOS-EU noise, air, heat, and their differences to the baseline on the same date)
  for the date's half-month bucket (:func:`greentwin.twin.district.date_bucket`, as
  the vegetation tilesets): trees grown to that date and in the leaf state of the date;
  air annual means of that year; heat on that year's design day. Computed on first
  request in one worker thread, then kept on disk (at most :data:`MAX_BUCKETS` buckets
  per scenario; the oldest is deleted; with :data:`MAX_PENDING` other computations
  waiting, 503 with ``Retry-After``). Answers the layers as ``/api/layers`` does
  (url template, unit, legend, zoom, bounds). :func:`dated_values` reads a point of
  those maps (the hub's before/after at an address on a chosen date).
- ``GET /timemaps/{scenario}/{key}/{indicator}/{z}/{x}/{y}.png`` (and ``meta.json``):
  the files of those overlays (keyed per computation, so immutable).
- ``GET /api/course?scenario=&offsets=0,5,10,20,30``: the indicators over the years
  (:func:`greentwin.twin.time_course.course`; default offsets now, +5, +10, +20, +30
  years, at most six offsets of 0..50) for the scenario and the baseline.

A scenario's district is built from its state in the scenario store
(:func:`greentwin.twin.recompute_district.district_for` over the baseline district of
the green routes' registry), once per sequence number. A computation is keyed by the
district object, so an edit starts new ones and the old results are dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import web
from greentwin.core import GreentwinError, ScenarioError, ServerError
from greentwin.server.keys import CONFIG, FILES, IO_POOL, STORE
from greentwin.server.routes_api import json_response
from greentwin.server.routes_green import DISTRICTS, parse_date
from greentwin.server.routes_tiles import IMMUTABLE, split_segments
from greentwin.server.store import ID_RE
from greentwin.twin.district import District, OverlayState, date_bucket, overlay_layers
from greentwin.twin.time_course import YEAR_OFFSETS, Course, course

__all__ = [
    "MAX_BUCKETS",
    "MAX_PENDING",
    "POINT_INDICATORS",
    "TIME",
    "TimeMaps",
    "dated_maps",
    "dated_values",
    "routes",
    "setup_time",
]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: Date buckets kept on disk per scenario (and baseline states in memory per baseline):
#: the hub's 4 x 4 time choices fit.
MAX_BUCKETS = 16
#: Distinct computations waiting for the worker at once; more are refused (503) so that
#: anonymous requests for many dates cannot queue unbounded work.
MAX_PENDING = 6
#: Seconds a refused client is asked to wait.
RETRY_AFTER_S = 10
#: Metres around a point whose ground cells give the heat values where the point's own
#: cell has none (a point inside a building: the ground around it).
HEAT_RADIUS_M = 20.0
#: The indicators read at a point from a date's maps.
POINT_INDICATORS = ("noise_lden", "noise_lnight", "no2", "pm10", "utci", "shade_hours")


class TimeMaps:
    """The overlays per (district, date bucket) and the courses per district.

    Work runs in one thread (``pool``); results are kept per District object (weakly),
    so a scenario's edit (a new District) starts afresh.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="time-maps")
        self._lock = threading.Lock()
        self._keys: weakref.WeakKeyDictionary[District, dict[dt.date, str]] = (
            weakref.WeakKeyDictionary()
        )
        self._base: weakref.WeakKeyDictionary[District, OrderedDict[dt.date, OverlayState]] = (
            weakref.WeakKeyDictionary()
        )
        self._courses: weakref.WeakKeyDictionary[District, dict[tuple[int, ...], Course]] = (
            weakref.WeakKeyDictionary()
        )
        self._order: dict[str, OrderedDict[str, None]] = {}
        self.inflight: dict[tuple[str, int, str], asyncio.Future[Any]] = {}
        #: scenario -> (seq, district) built from the scenario's state
        self.districts: dict[str, tuple[int, District]] = {}

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # --- in the worker thread ----------------------------------------------------------
    def baseline_maps(self, base: District, bucket: dt.date) -> OverlayState:
        """The baseline's maps on ``bucket`` (values only; the last :data:`MAX_BUCKETS`
        buckets kept per baseline district)."""
        with self._lock:
            kept = self._base.get(base)
            found = None if kept is None else kept.get(bucket)
            if found is not None and kept is not None:
                kept.move_to_end(bucket)
        if found is not None:
            return found
        state = overlay_layers(base, None, date=bucket).portable()
        with self._lock:
            kept = self._base.setdefault(base, OrderedDict())
            kept[bucket] = state
            while len(kept) > MAX_BUCKETS:
                kept.popitem(last=False)
        return state

    def maps(self, scenario: str, district: District, base: District, bucket: dt.date) -> str:
        """The key of the folder holding the scenario's overlays on ``bucket``."""
        with self._lock:
            key = self._keys.get(district, {}).get(bucket)
        if key is not None and (self.root / scenario / key / "noise_lden" / "meta.json").is_file():
            self._touch(scenario, key)
            return key
        t0 = time.perf_counter()
        baseline = None if district is base else self.baseline_maps(base, bucket)
        key = uuid.uuid4().hex
        tmp = self.root / scenario / f".tmp-{key}"
        try:
            overlay_layers(district, tmp, baseline=baseline, date=bucket)
            tmp.rename(self.root / scenario / key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; else a failure
        with self._lock:
            self._keys.setdefault(district, {})[bucket] = key
        self._touch(scenario, key)
        log.info("maps of %s on %s: %.1f s", scenario, bucket, time.perf_counter() - t0)
        return key

    def _touch(self, scenario: str, key: str) -> None:
        with self._lock:
            order = self._order.setdefault(scenario, OrderedDict())
            order[key] = None
            order.move_to_end(key)
            drop = []
            while len(order) > MAX_BUCKETS:
                old, _ = order.popitem(last=False)
                drop.append(old)
        for old in drop:
            shutil.rmtree(self.root / scenario / old, ignore_errors=True)

    def course(self, district: District, offsets: tuple[int, ...]) -> Course:
        """The indicators over the years of ``district`` (kept per District object)."""
        with self._lock:
            found = self._courses.get(district, {}).get(offsets)
        if found is not None:
            return found
        result = course(district, offsets)
        with self._lock:
            self._courses.setdefault(district, {})[offsets] = result
        return result


TIME: web.AppKey[TimeMaps] = web.AppKey("greentwin_time_maps")


async def _time_ctx(app: web.Application) -> AsyncIterator[None]:
    maps = TimeMaps(app[STORE].data_dir / "timemaps")
    app[TIME] = maps
    try:
        yield
    finally:
        await asyncio.get_running_loop().run_in_executor(None, maps.shutdown)


def setup_time(app: web.Application) -> None:
    """Install the time routes and their worker (after :func:`setup_green`)."""
    app.cleanup_ctx.append(_time_ctx)
    app.add_routes(routes)


async def _readable_scenario(request: web.Request) -> str:
    """The ``scenario`` query (default: the baseline): a scenario of the scenario store or
    of the tile store that the caller may read; 404 otherwise (as for a missing one)."""
    from greentwin.server.access import readable, request_role, scenario_status

    default = request.app[CONFIG].default_scenario
    scenario = request.query.get("scenario") or default
    if not ID_RE.fullmatch(scenario):
        raise ScenarioError(f"invalid scenario id {scenario[:64]!r}: use a-z, 0-9, '_' or '-'")
    request_role(request)  # an unknown token is a 401 whatever the scenario
    if scenario != default:
        managed = await scenario_status(request.app, scenario) is not None
        loop = asyncio.get_running_loop()
        tiles = await loop.run_in_executor(request.app[IO_POOL], request.app[STORE].scenarios)
        if not (managed or scenario in tiles) or not await readable(request, scenario):
            raise web.HTTPNotFound(text=f"no scenario {scenario!r}")
    return scenario


async def _date(request: web.Request, scenario: str) -> dt.date:
    """The ``date`` query, else the scenario's display time."""
    raw = request.query.get("date")
    if raw:
        return parse_date(raw)
    loop = asyncio.get_running_loop()
    value = await loop.run_in_executor(request.app[IO_POOL], request.app[STORE].get_time, scenario)
    return parse_date(value["date"])


async def _districts(app: web.Application, scenario: str) -> tuple[District, District]:
    """(the scenario's district, the baseline's): the scenario's is built from its state
    in the scenario store at its current sequence number (kept until the next edit)."""
    from greentwin.server.keys import LIVE_HUB
    from greentwin.twin.recompute_district import district_for

    registry = app[DISTRICTS]
    default = app[CONFIG].default_scenario
    base = await registry.aget(app, default)
    hub = app.get(LIVE_HUB)
    if scenario == default or hub is None:
        return await registry.aget(app, scenario), base
    try:
        info = await hub.store.get(scenario)
    except GreentwinError:  # a tile-store scenario without a log: its registered district
        return await registry.aget(app, scenario), base
    tm = app[TIME]
    known = tm.districts.get(scenario)
    if known is not None and known[0] == info.seq:
        return known[1], base
    state = await hub.store.state(scenario)
    loop = asyncio.get_running_loop()
    district, _ = await loop.run_in_executor(app[IO_POOL], district_for, base, state)
    tm.districts[scenario] = (info.seq, district)
    return district, base


async def _run(app: web.Application, flight: tuple[str, int, str], fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in the worker thread; concurrent requests for the same work share it.
    With :data:`MAX_PENDING` other computations waiting, new work is refused (503)."""
    tm = app[TIME]
    future = tm.inflight.get(flight)
    if future is None:
        if len(tm.inflight) >= MAX_PENDING:
            raise web.HTTPServiceUnavailable(
                headers={"Retry-After": str(RETRY_AFTER_S)},
                text=f"busy computing maps: try again in {RETRY_AFTER_S} s",
            )
        loop = asyncio.get_running_loop()
        future = asyncio.ensure_future(loop.run_in_executor(tm.pool, fn, *args))
        tm.inflight[flight] = future
        future.add_done_callback(lambda _f: tm.inflight.pop(flight, None))
    try:
        return await asyncio.shield(future)
    except ServerError:
        raise
    except Exception as exc:
        log.exception("time work %s failed", flight)
        raise ServerError(f"the maps could not be computed: {exc}") from exc


async def dated_maps(app: web.Application, scenario: str, date: dt.date) -> tuple[str, District]:
    """(the key of the folder holding ``scenario``'s overlays on ``date``'s bucket, the
    scenario's district): computed once per scenario state and bucket, shared by every
    caller (``/api/maps``, the hub's before/after at an address)."""
    bucket = date_bucket(date)
    district, base = await _districts(app, scenario)
    tm = app[TIME]
    flight = (scenario, id(district), bucket.isoformat())
    key: str = await _run(app, flight, tm.maps, scenario, district, base, bucket)
    return key, district


def _read_layer(folder: Path, name: str) -> tuple[dict[str, Any], npt.NDArray[np.float64]] | None:
    import json

    try:
        meta = json.loads((folder / name / "meta.json").read_text(encoding="utf-8"))
        values = np.load(folder / name / "values.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    return meta, np.asarray(values, dtype=np.float64)


def _cell(meta: dict[str, Any], lon: float, lat: float) -> tuple[float, float, int, int] | None:
    """(grid x, grid y, column, row) of a WGS 84 point, None outside the grid."""
    from greentwin.twin.district import _transformer

    g = meta["grid"]
    gx, gy = _transformer("EPSG:4326", g["crs"]).transform(lon, lat)
    if not (math.isfinite(gx) and math.isfinite(gy)):
        return None
    col = math.floor((gx - g["x0"]) / g["cell"])
    row = math.floor((gy - g["y0"]) / g["cell"])
    if not (0 <= col < g["nx"] and 0 <= row < g["ny"]):
        return None
    return gx, gy, col, row


def _sample(
    name: str,
    meta: dict[str, Any],
    values: npt.NDArray[np.float64],
    district: District,
    lon: float,
    lat: float,
) -> float | None:
    """The value of one indicator at a point. Where the point's cell has none (inside a
    building): for noise the building's most exposed facade level (as the END counts a
    building's exposure, like the probe); for heat the mean of the ground cells within
    :data:`HEAT_RADIUS_M`."""
    from greentwin.server.routes_overlays import _Layer, _roof_level

    found = _cell(meta, lon, lat)
    if found is None:
        return None
    _, _, col, row = found
    v = float(values[row, col])
    if math.isfinite(v):
        return round(v, 2)
    if name.startswith("noise_"):
        roof = _roof_level(_Layer(meta, values.astype(np.float32)), district, lon, lat)
        return None if roof is None else round(roof[0], 2)
    if name in ("utci", "shade_hours", "tmrt"):
        g = meta["grid"]
        r = max(1, math.ceil(HEAT_RADIUS_M / g["cell"]))
        rows = np.arange(max(0, row - r), min(g["ny"], row + r + 1))
        cols = np.arange(max(0, col - r), min(g["nx"], col + r + 1))
        block = values[np.ix_(rows, cols)]
        dist = np.hypot(*np.meshgrid(rows - row, cols - col, indexing="ij")) * g["cell"]
        near = block[(dist <= HEAT_RADIUS_M) & np.isfinite(block)]
        return round(float(near.mean()), 2) if near.size else None
    return None


async def dated_values(
    app: web.Application, scenario: str, date: dt.date, lon: float, lat: float
) -> dict[str, dict[str, float | None]]:
    """Each of :data:`POINT_INDICATORS` at a point on ``date``'s bucket: ``{"value": the
    scenario's, "baseline": the baseline's on the same date}`` (the baseline's read as
    the scenario's value minus its ``diff_`` layer: no second computation). Reads the
    files :func:`dated_maps` keeps; computes nothing beyond them."""
    key, district = await dated_maps(app, scenario, date)
    base_district = await app[DISTRICTS].aget(app, app[CONFIG].default_scenario)
    folder = app[TIME].root / scenario / key

    def read() -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for name in POINT_INDICATORS:
            layer = _read_layer(folder, name)
            if layer is None:
                out[name] = {"value": None, "baseline": None}
                continue
            meta, values = layer
            value = _sample(name, meta, values, district, lon, lat)
            diff = _read_layer(folder, f"diff_{name}")
            if diff is None:  # the baseline itself: its own baseline
                out[name] = {"value": value, "baseline": value}
                continue
            base_values = values - diff[1]
            base = _sample(name, meta, base_values, base_district, lon, lat)
            out[name] = {"value": value, "baseline": base}
        return out

    loop = asyncio.get_running_loop()
    result: dict[str, dict[str, float | None]] = await loop.run_in_executor(app[IO_POOL], read)
    return result


@routes.get("/api/maps", name="time_maps")
async def maps(request: web.Request) -> web.Response:
    """The scenario's overlays on the date's half-month bucket."""
    scenario = await _readable_scenario(request)
    date = await _date(request, scenario)
    bucket = date_bucket(date)
    tm = request.app[TIME]
    t0 = time.perf_counter()
    key, _ = await dated_maps(request.app, scenario, date)
    folder = tm.root / scenario / key
    loop = asyncio.get_running_loop()

    def read() -> dict[str, Any]:
        import json

        layers: dict[str, Any] = {}
        for meta_path in sorted(folder.glob("*/meta.json")):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            name = meta_path.parent.name
            layers[name] = {
                "url": f"/timemaps/{scenario}/{key}/{name}/{{z}}/{{x}}/{{y}}.png",
                "kind": "overlay",
                "unit": meta["unit"],
                "legend": meta["legend"],
                "zoom": meta["zoom"],
                "bounds": meta["bounds"],
            }
        return layers

    layers = await loop.run_in_executor(request.app[IO_POOL], read)
    return json_response(
        {
            "scenario": scenario,
            "date": date.isoformat(),
            "bucket": bucket.isoformat(),
            "key": key,
            "layers": layers,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )


@routes.get("/timemaps/{scenario}/{key}/{tail:.*}", name="time_map_files")
async def time_map_file(request: web.Request) -> web.StreamResponse:
    """One file of a date's overlays (a tile PNG or ``meta.json``; immutable)."""
    scenario = request.match_info["scenario"]
    key = request.match_info["key"]
    if (
        not ID_RE.fullmatch(scenario)
        or len(key) != 32
        or not all(c in "0123456789abcdef" for c in key)
    ):
        raise web.HTTPNotFound(text="no such map")
    from greentwin.server.access import readable

    if not await readable(request, scenario):
        raise web.HTTPNotFound(text="no such file")
    parts = split_segments(request.match_info["tail"])
    if parts is None:
        raise web.HTTPBadRequest(text="invalid file path")
    root = request.app[TIME].root
    path = root.joinpath(scenario, key, *parts)
    if len(parts) == 4 and parts[3].endswith(".png") and (root / scenario / key).is_dir():
        # a tile of the layer's pyramid with nothing drawn on it is not written: answer a
        # transparent one (as /overlays/ does), so map clients get no errors at the edges
        from greentwin.server.routes_overlays import _transparent

        if not path.is_file():
            return _transparent(request)
    return await request.app[FILES].respond(request, path, root=root, cache_control=IMMUTABLE)


def _offsets(raw: str | None) -> tuple[int, ...]:
    """Year offsets from ``"0,5,10"`` (default :data:`YEAR_OFFSETS`)."""
    if raw is None or raw == "":
        return YEAR_OFFSETS
    try:
        values = tuple(sorted({int(v) for v in raw.split(",")}))
    except ValueError:
        raise ScenarioError("offsets must be whole years, e.g. 0,5,10,20,30") from None
    if not 1 <= len(values) <= 6 or values[0] < 0 or values[-1] > 50:
        raise ScenarioError("offsets: one to six whole years between 0 and 50")
    return values


@routes.get("/api/course", name="time_course")
async def indicator_course(request: web.Request) -> web.Response:
    """The indicators over the years for the scenario and the baseline."""
    scenario = await _readable_scenario(request)
    default = request.app[CONFIG].default_scenario
    district, base = await _districts(request.app, scenario)
    offsets = _offsets(request.query.get("offsets"))
    tm = request.app[TIME]
    t0 = time.perf_counter()
    tag = "course " + ",".join(map(str, offsets))
    ours = await _run(request.app, (scenario, id(district), tag), tm.course, district, offsets)
    theirs = (
        ours
        if district is base
        else await _run(request.app, (default, id(base), tag), tm.course, base, offsets)
    )
    return json_response(
        {
            "scenario": scenario,
            "course": ours,
            "baseline": theirs,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
