"""Noise and air overlays over HTTP: XYZ PNG tiles and point probes.

Routes:

- ``GET /overlays/{indicator}/{scenario}/{version}/{z}/{x}/{y}.png``: a tile of an
  overlay layer version (``Cache-Control: public, max-age=31536000, immutable``, strong
  ETag, 304 on ``If-None-Match``). A tile the version does not hold (outside the grid or
  its zoom range) is answered with one shared, fully transparent 256 x 256 PNG, also
  immutable: CesiumJS's ``UrlTemplateImageryProvider`` then draws nothing there and logs no
  error (a 404 or a 204 body is an image load failure for it). An unknown version or
  indicator is a JSON 404.
- ``GET /api/probe?scenario=&lon=&lat=``: every indicator at a point with its unit and
  colour class; for a scenario other than the baseline also the baseline's value and the
  difference. Values come from the published layers' ``values.npy`` grids, so they are
  exactly what the tiles show.

Indicators: ``noise_lden``, ``noise_lnight`` (dB(A), "vegetation" noise mode, with
foliage), ``noise_lden_cnossos``, ``noise_lnight_cnossos`` (CNOSSOS-EU mode, no foliage),
``no2``, ``pm10`` (ug/m3) and ``diff_<indicator>``. Overlay layers are store layers of kind ``"overlay"`` whose entry
``meta.json`` holds unit, zoom range, bounds, grid and legend
(:meth:`greentwin.twin.district.OverlayState.meta`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from aiohttp import hdrs, web
from greentwin.core import GreentwinError, ScenarioError
from greentwin.server.access import readable
from greentwin.server.keys import CONFIG, IO_POOL, STORE
from greentwin.server.routes_api import json_response
from greentwin.server.routes_green import DISTRICTS, parse_lonlat
from greentwin.server.routes_tiles import IMMUTABLE, _etag_matches, send_entry, version_index
from greentwin.server.store import ID_RE, VERSION_RE, TileStore
from greentwin.twin.layers import PublishedLayer

__all__ = ["INDICATOR_RE", "TRANSPARENT_PNG", "OverlayCache", "overlay_entry", "routes"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: Overlay layer names served here.
INDICATOR_RE = re.compile(
    r"(diff_)?(noise_lden|noise_lnight|noise_lden_cnossos|noise_lnight_cnossos|no2|pm10)"
)
_MAX_Z = 24


def _transparent_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


#: The shared answer for tiles a version does not hold.
TRANSPARENT_PNG = _transparent_png()
_TRANSPARENT_ETAG = f'"{hashlib.sha256(TRANSPARENT_PNG).hexdigest()[:40]}"'


class _Layer:
    """One overlay layer version in memory: meta.json and its values grid."""

    def __init__(self, meta: dict[str, Any], values: npt.NDArray[np.float32]) -> None:
        self.meta = meta
        self.values = values


class OverlayCache:
    """Meta and value grids of overlay versions (immutable, so cached by version)."""

    def __init__(self, store: TileStore, size: int = 64) -> None:
        self.store = store
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], _Layer | None] = OrderedDict()
        self._lock = threading.Lock()

    def layer(self, scenario: str, version: str, name: str) -> _Layer | None:
        """The layer version (blocking disk read on first use), or None if absent/broken."""
        key = (scenario, version, name)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        index = self.store.load_index(scenario, version)
        found: _Layer | None = None
        if index is not None:
            meta_e, val_e = index.get(f"{name}/meta.json"), index.get(f"{name}/values.npy")
            if meta_e is not None and val_e is not None:
                try:
                    meta = json.loads(meta_e.path.read_bytes())
                    values = np.load(val_e.path, allow_pickle=False)
                    found = _Layer(meta, np.asarray(values, dtype=np.float32))
                except (OSError, ValueError) as exc:
                    log.error("overlay %s/%s/%s unreadable: %s", scenario, version, name, exc)
        with self._lock:
            self._items[key] = found
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found

    def current(self, scenario: str) -> dict[str, tuple[PublishedLayer, _Layer]]:
        """The scenario's current overlay layers with their data (blocking)."""
        out: dict[str, tuple[PublishedLayer, _Layer]] = {}
        for name, info in self.store.layers(scenario).items():
            if info.kind != "overlay":
                continue
            layer = self.layer(scenario, info.version, name)
            if layer is not None:
                out[name] = (info, layer)
        return out


_CACHES: dict[int, OverlayCache] = {}
_CACHES_LOCK = threading.Lock()


def _cache(store: TileStore) -> OverlayCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(id(store))
        if cache is None or cache.store is not store:
            cache = _CACHES[id(store)] = OverlayCache(store)
        return cache


def overlay_entry(store: TileStore, scenario: str, info: PublishedLayer) -> dict[str, Any]:
    """The ``/api/layers`` entry of an overlay layer (blocking: reads its meta once).

    ``{"kind": "overlay", "version", "url": "/overlays/<name>/<scenario>/<version>/{z}/{x}/{y}.png",
    "legend", "zoom": [zmin, zmax], "bounds": [w, s, e, n], "unit"}``.
    """
    entry: dict[str, Any] = {
        "kind": "overlay",
        "version": info.version,
        "url": f"/overlays/{info.name}/{scenario}/{info.version}/{{z}}/{{x}}/{{y}}.png",
    }
    layer = _cache(store).layer(scenario, info.version, info.name)
    if layer is not None:
        for k in ("legend", "zoom", "bounds", "unit"):
            entry[k] = layer.meta.get(k)
    return entry


# --------------------------------------------------------------------------- tiles
def _transparent(request: web.Request) -> web.Response:
    headers = {
        hdrs.CACHE_CONTROL: IMMUTABLE,
        hdrs.ETAG: _TRANSPARENT_ETAG,
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
    }
    inm = request.headers.get(hdrs.IF_NONE_MATCH)
    if inm is not None and _etag_matches(inm, _TRANSPARENT_ETAG):
        return web.Response(status=304, headers=headers)
    headers[hdrs.CONTENT_TYPE] = "image/png"
    return web.Response(body=TRANSPARENT_PNG, headers=headers)


@routes.get(
    r"/overlays/{indicator}/{scenario}/{version}/{z:\d+}/{x:\d+}/{y:\d+}.png", name="overlay_tile"
)
async def overlay_tile(request: web.Request) -> web.StreamResponse:
    """One PNG tile of an overlay layer version."""
    m = request.match_info
    indicator, scenario, version = m["indicator"], m["scenario"], m["version"]
    if not INDICATOR_RE.fullmatch(indicator):
        raise web.HTTPNotFound(text=f"no overlay indicator {indicator[:40]!r}")
    if not ID_RE.fullmatch(scenario):
        raise web.HTTPBadRequest(text=f"invalid scenario id {scenario[:64]!r}")
    if not VERSION_RE.fullmatch(version):
        raise web.HTTPNotFound(text="no such version")
    if any(len(m[k]) > 9 for k in ("z", "x", "y")):
        raise web.HTTPBadRequest(text="tile address out of range")
    z, x, y = int(m["z"]), int(m["x"]), int(m["y"])
    if z > _MAX_Z or x >= 2**z or y >= 2**z:
        raise web.HTTPBadRequest(text=f"tile {z}/{x}/{y} does not exist")
    index = await version_index(request.app, scenario, version)
    if (
        index is None
        or f"{indicator}/meta.json" not in index
        or not await readable(request, scenario)
    ):
        raise web.HTTPNotFound(text=f"no {indicator} overlay version {version} in {scenario}")
    entry = index.get(f"{indicator}/{z}/{x}/{y}.png")
    if entry is None:
        return _transparent(request)
    return await send_entry(request, entry)


# --------------------------------------------------------------------------- probe
def _value_at(layer: _Layer, lon: float, lat: float) -> float | None:
    from greentwin.twin.district import _transformer

    g = layer.meta["grid"]
    gx, gy = _transformer("EPSG:4326", g["crs"]).transform(lon, lat)
    if not (math.isfinite(gx) and math.isfinite(gy)):
        return None
    col = math.floor((gx - g["x0"]) / g["cell"])
    row = math.floor((gy - g["y0"]) / g["cell"])
    if not (0 <= col < g["nx"] and 0 <= row < g["ny"]):
        return None
    v = float(layer.values[row, col])
    return None if math.isnan(v) else round(v, 2)


def _class_of(legend: dict[str, Any] | None, value: float | None) -> dict[str, Any] | None:
    if legend is None or value is None:
        return None
    for c in legend.get("classes", []):
        lo, hi = c.get("min"), c.get("max")
        if (lo is None or value >= lo) and (hi is None or value < hi):
            return {"label": c.get("label"), "color": c.get("color")}
    return None


def _roof_level(layer: _Layer, district: Any, lon: float, lat: float) -> tuple[float, str] | None:
    """On a roof (the noise grid has no value there): the building's most exposed facade
    level, as the END reports a building's exposure, and the building's id."""
    from greentwin.kernels.raster import Grid
    from greentwin.twin.district import _transformer
    from greentwin.twin.indicators import building_at, facade_level

    g = layer.meta["grid"]
    if district is None or district.grid.crs != g["crs"]:
        return None
    x, y = _transformer("EPSG:4326", g["crs"]).transform(lon, lat)
    found = building_at(district, x, y)
    if found is None:
        return None
    grid = Grid(
        float(g["x0"]), float(g["y0"]), float(g["cell"]), int(g["nx"]), int(g["ny"]), g["crs"]
    )
    level = facade_level(grid, layer.values, found[1])
    return None if level is None else (level, found[0])


def _probe(
    store: TileStore,
    scenario: str,
    baseline: str,
    lon: float,
    lat: float,
    district: Any = None,
    base_district: Any = None,
) -> dict[str, Any]:
    cache = _cache(store)
    layers = cache.current(scenario)
    base_layers = cache.current(baseline) if scenario != baseline else {}
    values: dict[str, Any] = {}
    names = {n for n in (*layers, *base_layers) if not n.startswith("diff_")}
    for name in sorted(names):
        # A scenario without its own version of a layer shows the baseline's.
        info, layer = layers.get(name) or base_layers[name]
        value = _value_at(layer, lon, lat)
        on_roof = value is None and name.startswith("noise_")
        roof = _roof_level(layer, district, lon, lat) if on_roof else None
        if roof is not None:
            value = roof[0]
        item: dict[str, Any] = {
            "value": value,
            "unit": layer.meta.get("unit"),
            "indicator": (layer.meta.get("legend") or {}).get("indicator", name),
            "class": _class_of(layer.meta.get("legend"), value),
            "version": info.version,
        }
        if roof is not None:
            item["facade"] = {"building": roof[1]}
        if scenario != baseline:
            base = base_layers.get(name)
            b = _value_at(base[1], lon, lat) if base is not None else None
            if b is None and base is not None and name.startswith("noise_"):
                base_roof = _roof_level(base[1], base_district, lon, lat)
                b = base_roof[0] if base_roof is not None else None
            item["baseline"] = b
            item["difference"] = None if b is None or value is None else round(value - b, 2)
        values[name] = item
    return {
        "scenario": scenario,
        "baseline": baseline,
        "lon": lon,
        "lat": lat,
        "inside": any(v["value"] is not None for v in values.values()),
        "values": values,
    }


@routes.get("/api/probe", name="probe")
async def probe(request: web.Request) -> web.Response:
    """All overlay indicators at a point (with units, classes and baseline differences)."""
    config = request.app[CONFIG]
    scenario = request.query.get("scenario") or config.default_scenario
    if not ID_RE.fullmatch(scenario):
        raise ScenarioError(f"invalid scenario id {scenario[:64]!r}: use a-z, 0-9, '_' or '-'")
    if "lon" not in request.query or "lat" not in request.query:
        raise ScenarioError("give lon and lat (WGS84 degrees)")
    lon, lat = parse_lonlat(request.query["lon"], request.query["lat"])
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    if not await readable(request, scenario):  # a draft without a planner token: as missing
        raise web.HTTPNotFound(text=f"no scenario {scenario!r}")
    if scenario != config.default_scenario:
        known = await loop.run_in_executor(request.app[IO_POOL], store.scenarios)
        if scenario not in known:
            raise web.HTTPNotFound(text=f"no scenario {scenario!r}")
    district = base_district = None
    if DISTRICTS in request.app:  # footprints for the noise on a roof
        try:
            district = await request.app[DISTRICTS].aget(request.app, scenario)
            base_district = await request.app[DISTRICTS].aget(request.app, config.default_scenario)
        except GreentwinError as exc:
            log.info("probe without footprints: %s", exc)
    payload = await loop.run_in_executor(
        request.app[IO_POOL],
        _probe,
        store,
        scenario,
        config.default_scenario,
        lon,
        lat,
        district,
        base_district,
    )
    return json_response(payload)


# --------------------------------------------------------------- hub effects provider
#: Overlay indicator -> the name the citizens' hub reports it under.
HUB_INDICATORS = {
    "noise_lden": "noise_lden_db",
    "noise_lnight": "noise_lnight_db",
    "no2": "no2_ug_m3",
    "pm10": "pm10_ug_m3",
}


def effects_provider(
    app: web.Application,
) -> Callable[[str, float, float], Awaitable[dict[str, float | None]]]:
    """The hub's before/after values at a point, read from the published overlays.

    A scenario with no overlay version of its own shows the baseline's values (the
    same rule as ``/api/probe``); a point outside the analysis grid gives None.
    """

    async def provide(scenario: str, lon: float, lat: float) -> dict[str, float | None]:
        config = app[CONFIG]
        loop = asyncio.get_running_loop()
        payload = await loop.run_in_executor(
            app[IO_POOL], _probe, app[STORE], scenario, config.default_scenario, lon, lat
        )
        values: dict[str, Any] = payload["values"]
        return {hub: (values.get(name) or {}).get("value") for name, hub in HUB_INDICATORS.items()}

    return provide
