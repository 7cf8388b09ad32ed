"""The green layer over HTTP: trees, area totals, vegetation tilesets per date.

Routes (JSON, ``Cache-Control: no-cache``; errors are JSON):

- ``GET /api/green/trees/{id}?scenario=&date=``: one tree's state (species, age, size,
  leaf phase) and ecosystem services on a date (default: the scenario's display date).
- ``GET /api/green/trees?row=&scenario=&date=``: the same by row of the tree table (the
  ``tree`` property of the vegetation tiles).
- ``POST /api/green/area`` ``{"scenario", "date", "polygon": [[lon, lat], ...] | null}``:
  totals of the trees whose stems stand inside the polygon (null: the whole district).
- ``GET /api/vegetation?scenario=&date=&variant=``: the vegetation tileset of the date's
  half-month bucket (:func:`greentwin.twin.district.date_bucket`), built on first request
  in a process pool and cached on disk by content key; returns its immutable URL. Each
  scenario keeps at most ``vegetation_cache_size`` tilesets (configuration): the least
  recently requested one beyond that is deleted (:class:`~greentwin.server.folder_lru.FolderLru`).
  ``variant``: ``instanced`` (default; ``EXT_mesh_gpu_instancing``) or ``baked`` (every
  tree's mesh in its tile, for engines without the extension, e.g. Cesium for Unity).
- ``GET /vegetation/{scenario}/{key}/{path}``: the files of those tilesets (immutable).

Each scenario's inputs come from :class:`DistrictRegistry` (``app[DISTRICTS]``): the
baseline is the demo district; a scenario without its own registered district uses the
baseline's until one is registered with :meth:`DistrictRegistry.set`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import multiprocessing
import re
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from greentwin.core import ScenarioError, ServerError
from greentwin.server.access import readable
from greentwin.server.folder_lru import FolderLrus
from greentwin.server.keys import CONFIG, FILES, IO_POOL, STORE
from greentwin.server.routes_api import json_response, read_json_body
from greentwin.server.routes_tiles import IMMUTABLE, split_segments
from greentwin.server.store import ID_RE
from greentwin.twin.district import District, cached_vegetation_layer, date_bucket

__all__ = [
    "DISTRICTS",
    "MAX_POLYGON_VERTICES",
    "DistrictRegistry",
    "parse_date",
    "parse_lonlat",
    "routes",
    "setup_green",
]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: Most vertices accepted in an area polygon.
MAX_POLYGON_VERTICES = 1000
_MAX_BODY = 64 * 1024
_KEY_RE = re.compile(r"[0-9a-f]{32}")
_TREE_ID_MAX = 256
#: ``variant`` values of ``/api/vegetation`` -> whether the tiles are instanced.
VEGETATION_VARIANTS = {"instanced": True, "baked": False}


class DistrictRegistry:
    """The :class:`District` of each scenario.

    Parameters
    ----------
    input_dir : the demo's input folder (the baseline district is loaded from it).
    baseline : the baseline scenario id.
    """

    def __init__(self, input_dir: Path, baseline: str) -> None:
        self.input_dir = input_dir
        self.baseline = baseline
        self._districts: dict[str, District] = {}
        self._lock = threading.Lock()

    def set(self, scenario: str, district: District) -> None:
        """Register (or replace) a scenario's district."""
        with self._lock:
            self._districts[scenario] = district

    def discard(self, scenario: str) -> None:
        """Forget a scenario's district (it falls back to the baseline's)."""
        with self._lock:
            self._districts.pop(scenario, None)

    def get(self, scenario: str) -> District:
        """The scenario's district (blocking: the first call loads the demo inputs).

        Raises
        ------
        ServerError
            The baseline district cannot be loaded.
        """
        with self._lock:
            found = self._districts.get(scenario) or self._districts.get(self.baseline)
        if found is not None:
            return found
        district = District.load_demo(self.input_dir)
        with self._lock:
            return self._districts.setdefault(self.baseline, district)

    async def aget(self, app: web.Application, scenario: str) -> District:
        """:meth:`get` off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(app[IO_POOL], self.get, scenario)


DISTRICTS = web.AppKey("districts", DistrictRegistry)
#: Processes that build vegetation tilesets per date (created on first use).
VEG_POOL: web.AppKey[_PoolHolder] = web.AppKey("veg_pool")


class _PoolHolder:
    """A lazily started one-process pool (spawn) plus the builds in flight."""

    def __init__(self, lrus: FolderLrus) -> None:
        self.pool: Executor | None = None
        self.inflight: dict[tuple[str, str, int, bool], asyncio.Future[tuple[str, Any]]] = {}
        #: The bound on each scenario's tilesets on disk.
        self.lrus = lrus

    def executor(self) -> Executor:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self.pool

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


async def _green_ctx(app: web.Application) -> AsyncIterator[None]:
    holder = _PoolHolder(
        FolderLrus(app[STORE].data_dir / "vegetation", app[CONFIG].vegetation_cache_size)
    )
    app[VEG_POOL] = holder
    try:
        yield
    finally:
        await asyncio.get_running_loop().run_in_executor(None, holder.shutdown)


def setup_green(app: web.Application) -> None:
    """Install the green routes, the district registry and the vegetation build pool."""
    config = app[CONFIG]
    if DISTRICTS not in app:
        app[DISTRICTS] = DistrictRegistry(config.demo_inputs, config.default_scenario)
    app.cleanup_ctx.append(_green_ctx)
    app.add_routes(routes)


# --------------------------------------------------------------------------- parameters
def _scenario(request: web.Request, value: object = None) -> str:
    raw = value if value is not None else request.query.get("scenario")
    scenario = raw or request.app[CONFIG].default_scenario
    if not isinstance(scenario, str) or not ID_RE.fullmatch(scenario):
        raise ScenarioError(f"invalid scenario id {str(scenario)[:64]!r}: use a-z, 0-9, '_', '-'")
    if scenario != request.app[CONFIG].default_scenario:
        if scenario not in request.app[STORE].scenarios():
            raise web.HTTPNotFound(text=f"no scenario {scenario!r}")
    return scenario


def parse_date(value: object) -> dt.date:
    """A ``YYYY-MM-DD`` date within 1900..2200.

    Raises
    ------
    ScenarioError
        Not such a date.
    """
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ScenarioError("date must be written YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ScenarioError(f"date {value!r} is not a calendar date") from exc
    if not 1900 <= date.year <= 2200:
        raise ScenarioError("date must lie in the years 1900..2200")
    return date


def parse_lonlat(lon: object, lat: object) -> tuple[float, float]:
    """WGS84 longitude and latitude from text or numbers, range-checked.

    Raises
    ------
    ScenarioError
        Missing, not a finite number, or out of range.
    """
    try:
        x = float(lon)  # type: ignore[arg-type]
        y = float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ScenarioError("lon and lat must be numbers (WGS84 degrees)") from None
    if (
        isinstance(lon, bool)
        or isinstance(lat, bool)
        or not (math.isfinite(x) and math.isfinite(y))
    ):
        raise ScenarioError("lon and lat must be finite numbers")
    if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
        raise ScenarioError("lon must lie in -180..180 and lat in -90..90")
    return x, y


async def _readable_scenario(request: web.Request, value: object = None) -> str:
    """:func:`_scenario`, and 404 (as for a missing one) when the caller may not read it."""
    scenario = _scenario(request, value)
    if not await readable(request, scenario):
        raise web.HTTPNotFound(text=f"no scenario {scenario!r}")
    return scenario


async def _date(request: web.Request, scenario: str, value: object = None) -> dt.date:
    raw = value if value is not None else request.query.get("date")
    if raw is not None and raw != "":
        return parse_date(raw)
    loop = asyncio.get_running_loop()
    store = request.app[STORE]
    time_ = await loop.run_in_executor(request.app[IO_POOL], store.get_time, scenario)
    return parse_date(time_["date"])


# --------------------------------------------------------------------------- trees
def _tree_payload(district: District, row: int, date: dt.date) -> dict[str, Any]:
    from greentwin.green_model.services import tree_services
    from greentwin.green_model.state import state_row

    table = district.tree_table()
    states = table.states(date, district.climate)
    state = state_row(table, states, row)
    services = tree_services(table, row, date, district.climate)
    species = table.library.species[state.species]
    tree = district.trees[row]
    lon, lat = district.to_lonlat(tree.x, tree.y)
    info = state.to_dict()
    info["colour"] = [round(float(c), 4) for c in info["colour"]]
    return {
        "id": tree.id,
        "row": row,
        "species": state.species,
        "scientific_name": species.scientific_name,
        "common_name": species.common_names.get("en", ""),
        "lon": round(float(lon), 7),
        "lat": round(float(lat), 7),
        "state": info,
        "services": {k: getattr(services, k) for k in services.__slots__},
    }


async def _tree_response(request: web.Request, row_of: Any) -> web.Response:
    scenario = await _readable_scenario(request)
    date = await _date(request, scenario)
    district = await request.app[DISTRICTS].aget(request.app, scenario)
    row = row_of(district)
    loop = asyncio.get_running_loop()
    payload = await loop.run_in_executor(request.app[IO_POOL], _tree_payload, district, row, date)
    return json_response({"scenario": scenario, "date": date.isoformat(), "tree": payload})


@routes.get("/api/green/trees/{id}", name="green_tree")
async def tree_by_id(request: web.Request) -> web.Response:
    """A tree's state and services on a date."""
    tree_id = request.match_info["id"]
    if not 0 < len(tree_id) <= _TREE_ID_MAX:
        raise ScenarioError(f"tree ids have 1-{_TREE_ID_MAX} characters")

    def row_of(district: District) -> int:
        try:
            return district.tree_row(tree_id)
        except KeyError:
            raise web.HTTPNotFound(text=f"no tree {tree_id[:80]!r} in this scenario") from None

    return await _tree_response(request, row_of)


@routes.get("/api/green/trees", name="green_tree_row")
async def tree_by_row(request: web.Request) -> web.Response:
    """A tree by row of the tree table (the ``tree`` property of the vegetation tiles)."""
    raw = request.query.get("row", "")
    if not re.fullmatch(r"\d{1,9}", raw):
        raise ScenarioError("row must be a non-negative integer")
    row = int(raw)

    def row_of(district: District) -> int:
        if row >= len(district.trees):
            raise web.HTTPNotFound(text=f"no tree in row {row}")
        return row

    return await _tree_response(request, row_of)


# --------------------------------------------------------------------------- area
def _parse_polygon(value: object) -> list[tuple[float, float]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ScenarioError("polygon must be a list of [lon, lat] pairs or null")
    if not 3 <= len(value) <= MAX_POLYGON_VERTICES:
        raise ScenarioError(f"polygon must have 3..{MAX_POLYGON_VERTICES} vertices")
    out: list[tuple[float, float]] = []
    for p in value:
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise ScenarioError("each polygon vertex must be [lon, lat]")
        out.append(parse_lonlat(p[0], p[1]))
    return out


def _area_payload(
    district: District, date: dt.date, polygon: list[tuple[float, float]] | None
) -> dict[str, Any]:
    from greentwin.green_model.services import services_for_area

    poly = None
    if polygon is not None:
        arr = np.asarray(polygon, dtype=np.float64)
        x, y = district.to_xy(arr[:, 0], arr[:, 1])
        poly = np.column_stack([x, y])
        if not np.isfinite(poly).all():
            raise ScenarioError("the polygon cannot be placed in the district's CRS")
    area = services_for_area(district.tree_table(), date, poly, district.climate)
    return area.to_dict()


@routes.post("/api/green/area", name="green_area")
async def area(request: web.Request) -> web.Response:
    """Totals of the services of the trees in a polygon (or the whole district)."""
    body = await read_json_body(request, _MAX_BODY)
    if not isinstance(body, dict):
        raise ScenarioError('the body must be an object {"scenario", "date", "polygon"}')
    unknown = set(body) - {"scenario", "date", "polygon"}
    if unknown:
        raise ScenarioError(f"unknown fields: {sorted(unknown)}")
    scenario = await _readable_scenario(request, body.get("scenario"))
    date = await _date(request, scenario, body.get("date"))
    polygon = _parse_polygon(body.get("polygon"))
    district = await request.app[DISTRICTS].aget(request.app, scenario)
    loop = asyncio.get_running_loop()
    totals = await loop.run_in_executor(
        request.app[IO_POOL], _area_payload, district, date, polygon
    )
    return json_response(
        {
            "scenario": scenario,
            "date": date.isoformat(),
            "polygon": polygon is not None,
            "totals": totals,
        }
    )


# --------------------------------------------------------------------------- vegetation
def _veg_root(request: web.Request) -> Path:
    return request.app[STORE].data_dir / "vegetation"


@routes.get("/api/vegetation", name="vegetation")
async def vegetation(request: web.Request) -> web.Response:
    """The vegetation tileset of the date's half-month, built on first request."""
    scenario = await _readable_scenario(request)
    variant = request.query.get("variant", "instanced")
    if variant not in VEGETATION_VARIANTS:
        raise ScenarioError(f"variant must be one of {sorted(VEGETATION_VARIANTS)}")
    instanced = VEGETATION_VARIANTS[variant]
    date = await _date(request, scenario)
    bucket = date_bucket(date)
    district = await request.app[DISTRICTS].aget(request.app, scenario)
    holder = request.app[VEG_POOL]
    cache_dir = _veg_root(request) / scenario
    flight = (scenario, bucket.isoformat(), id(district), instanced)
    t0 = time.perf_counter()
    future = holder.inflight.get(flight)
    if future is None:
        loop = asyncio.get_running_loop()
        future = asyncio.ensure_future(
            loop.run_in_executor(
                holder.executor(),
                cached_vegetation_layer,
                district,
                bucket,
                cache_dir,
                instanced,
            )
        )
        holder.inflight[flight] = future
        future.add_done_callback(lambda _f: holder.inflight.pop(flight, None))
    try:
        key, summary = await asyncio.shield(future)
        loop = asyncio.get_running_loop()
        lru = holder.lrus[scenario]
        await loop.run_in_executor(request.app[IO_POOL], lru.use, key)
        if not (cache_dir / key / "tileset.json").is_file():  # evicted meanwhile: build again
            key, summary = await loop.run_in_executor(
                holder.executor(), cached_vegetation_layer, district, bucket, cache_dir, instanced
            )
            await loop.run_in_executor(request.app[IO_POOL], lru.use, key)
    except ServerError:
        raise
    except Exception as exc:
        log.exception("vegetation tileset of %s on %s failed", scenario, bucket)
        raise ServerError(f"the vegetation tileset could not be built: {exc}") from exc
    return json_response(
        {
            "scenario": scenario,
            "date": date.isoformat(),
            "bucket": bucket.isoformat(),
            "variant": variant,
            "key": key,
            "url": f"/vegetation/{scenario}/{key}/tileset.json",
            "trees": summary["trees"],
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )


@routes.get("/vegetation/{scenario}/{key}/{tail:.*}", name="vegetation_files")
async def vegetation_file(request: web.Request) -> web.StreamResponse:
    """One file of a cached vegetation tileset (content-keyed, so immutable)."""
    scenario = request.match_info["scenario"]
    key = request.match_info["key"]
    tail = request.match_info["tail"]
    if not ID_RE.fullmatch(scenario) or not _KEY_RE.fullmatch(key):
        raise web.HTTPNotFound(text="no such tileset")
    if not await readable(request, scenario):
        raise web.HTTPNotFound(text="no such file")
    parts = split_segments(tail)
    if parts is None:
        raise web.HTTPBadRequest(text="invalid file path")
    root = _veg_root(request)
    return await request.app[FILES].respond(
        request, root.joinpath(scenario, key, *parts), root=root, cache_control=IMMUTABLE
    )
