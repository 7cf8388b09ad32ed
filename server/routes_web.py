"""Static web apps: ``/viewer/`` from ``web/viewer``, ``/hub/`` from ``web/hub``, and
``/cesium/`` from the CesiumJS build.

Everything is served from the local disk (no CDN, no internet). Viewer files are
revalidated on every load (``no-cache`` + ETag, so an edit shows at once); CesiumJS files
change only when the npm package does and are cached for a week.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from greentwin.server.keys import CONFIG, FILES
from greentwin.server.routes_tiles import split_segments

__all__ = ["CESIUM_CACHE", "VIEWER_CACHE", "routes"]

routes = web.RouteTableDef()

VIEWER_CACHE = "no-cache"
CESIUM_CACHE = "public, max-age=604800"


async def _serve(request: web.Request, root: Path, tail: str, cache: str) -> web.StreamResponse:
    if tail == "" or tail.endswith("/"):
        tail += "index.html"
    parts = split_segments(tail)
    if parts is None:
        raise web.HTTPBadRequest(text="invalid file path")
    return await request.app[FILES].respond(
        request, root.joinpath(*parts), root=root, cache_control=cache
    )


@routes.get("/")
async def root(request: web.Request) -> web.StreamResponse:
    """The planners' viewer is the home page."""
    raise web.HTTPFound("/viewer/")


@routes.get("/viewer")
async def viewer_slash(request: web.Request) -> web.StreamResponse:
    """Relative URLs in the viewer need the trailing slash."""
    raise web.HTTPFound("/viewer/")


@routes.get("/viewer/{tail:.*}", name="viewer")
async def viewer(request: web.Request) -> web.StreamResponse:
    """The planners' viewer (``web/viewer``)."""
    root = request.app[CONFIG].web_dir / "viewer"
    return await _serve(request, root, request.match_info["tail"], VIEWER_CACHE)


@routes.get("/hub")
async def hub_slash(request: web.Request) -> web.StreamResponse:
    """Relative URLs in the citizens' hub need the trailing slash."""
    raise web.HTTPFound("/hub/")


@routes.get("/hub/{tail:.*}", name="hub")
async def hub(request: web.Request) -> web.StreamResponse:
    """The citizens' planning hub (``web/hub``)."""
    root = request.app[CONFIG].web_dir / "hub"
    return await _serve(request, root, request.match_info["tail"], VIEWER_CACHE)


@routes.get("/cesium/{tail:.*}", name="cesium")
async def cesium(request: web.Request) -> web.StreamResponse:
    """CesiumJS (``node_modules/cesium/Build/Cesium``), installed from the npm registry."""
    root = request.app[CONFIG].cesium_dir
    return await _serve(request, root, request.match_info["tail"], CESIUM_CACHE)
