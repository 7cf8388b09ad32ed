"""Time drives the maps: the district's overlays on a date, and indicators over the years.

Routes (JSON, ``Cache-Control: no-cache``; errors are JSON):

- ``GET /api/maps?scenario=&date=``: the scenario's overlays (noise with foliage and the
  CNOSSOS-EU noise, air, heat, and their differences to the baseline on the same date)
  for the date's half-month bucket (:func:`greentwin.server.district.date_bucket`, as
  the vegetation tilesets): trees grown to that date and in the leaf state of the date;
  air annual means of that year; heat on that year's design day. Computed on first
  request in one worker thread, then kept on disk (at most :data:`MAX_BUCKETS` buckets
  per scenario; the oldest is deleted). Answers the layers as ``/api/layers`` does
  (url template, unit, legend, zoom, bounds).
- ``GET /timemaps/{scenario}/{key}/{indicator}/{z}/{x}/{y}.png`` (and ``meta.json``):
  the files of those overlays (keyed per computation, so immutable).
- ``GET /api/course?scenario=&offsets=0,5,10,20,30``: the indicators over the years
  (:func:`greentwin.server.time_course.course`; default offsets now, +5, +10, +20, +30
  years, at most six offsets of 0..50) for the scenario and the baseline.

A scenario's district is built from its state in the scenario store
(:func:`greentwin.server.recompute_district.district_for` over the baseline district of
the green routes' registry), once per sequence number. A computation is keyed by the
district object, so an edit starts new ones and the old results are dropped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
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

from aiohttp import web
from greentwin.core import GreentwinError, ScenarioError, ServerError
from greentwin.server.district import District, OverlayState, date_bucket, overlay_layers
from greentwin.server.keys import CONFIG, FILES, IO_POOL, STORE
from greentwin.server.routes_api import json_response
from greentwin.server.routes_green import DISTRICTS, parse_date
from greentwin.server.routes_tiles import IMMUTABLE, split_segments
from greentwin.server.store import ID_RE
from greentwin.server.time_course import YEAR_OFFSETS, Course, course

__all__ = ["MAX_BUCKETS", "TIME", "TimeMaps", "routes", "setup_time"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: Date buckets kept on disk per scenario.
MAX_BUCKETS = 8


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
        self._base: weakref.WeakKeyDictionary[District, dict[dt.date, OverlayState]] = (
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
        """The baseline's maps on ``bucket`` (values only; kept per baseline district)."""
        with self._lock:
            found = self._base.get(base, {}).get(bucket)
        if found is not None:
            return found
        state = overlay_layers(base, None, date=bucket).portable()
        with self._lock:
            self._base.setdefault(base, {})[bucket] = state
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


async def _districts(request: web.Request, scenario: str) -> tuple[District, District]:
    """(the scenario's district, the baseline's): the scenario's is built from its state
    in the scenario store at its current sequence number (kept until the next edit)."""
    from greentwin.server.keys import LIVE_HUB
    from greentwin.server.recompute_district import district_for

    registry = request.app[DISTRICTS]
    default = request.app[CONFIG].default_scenario
    base = await registry.aget(request.app, default)
    hub = request.app.get(LIVE_HUB)
    if scenario == default or hub is None:
        return await registry.aget(request.app, scenario), base
    try:
        info = await hub.store.get(scenario)
    except GreentwinError:  # a tile-store scenario without a log: its registered district
        return await registry.aget(request.app, scenario), base
    tm = request.app[TIME]
    known = tm.districts.get(scenario)
    if known is not None and known[0] == info.seq:
        return known[1], base
    state = await hub.store.state(scenario)
    loop = asyncio.get_running_loop()
    district, _ = await loop.run_in_executor(request.app[IO_POOL], district_for, base, state)
    tm.districts[scenario] = (info.seq, district)
    return district, base


async def _run(request: web.Request, flight: tuple[str, int, str], fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in the worker thread; concurrent requests for the same work share it."""
    tm = request.app[TIME]
    future = tm.inflight.get(flight)
    if future is None:
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


@routes.get("/api/maps", name="time_maps")
async def maps(request: web.Request) -> web.Response:
    """The scenario's overlays on the date's half-month bucket."""
    scenario = await _readable_scenario(request)
    date = await _date(request, scenario)
    bucket = date_bucket(date)
    district, base = await _districts(request, scenario)
    tm = request.app[TIME]
    t0 = time.perf_counter()
    flight = (scenario, id(district), bucket.isoformat())
    key = await _run(request, flight, tm.maps, scenario, district, base, bucket)
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
    return await request.app[FILES].respond(
        request, root.joinpath(scenario, key, *parts), root=root, cache_control=IMMUTABLE
    )


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
    district, base = await _districts(request, scenario)
    offsets = _offsets(request.query.get("offsets"))
    tm = request.app[TIME]
    t0 = time.perf_counter()
    tag = "course " + ",".join(map(str, offsets))
    ours = await _run(request, (scenario, id(district), tag), tm.course, district, offsets)
    theirs = (
        ours
        if district is base
        else await _run(request, (default, id(base), tag), tm.course, base, offsets)
    )
    return json_response(
        {
            "scenario": scenario,
            "course": ours,
            "baseline": theirs,
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
