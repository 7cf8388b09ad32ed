"""The JSON API: ``/api/health``, ``/api/layers``, ``/api/time``.

Responses are ``application/json`` with ``Cache-Control: no-cache``; errors are JSON too
(see :func:`greentwin.server.app.json_errors`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from greentwin.core import ScenarioError, __version__
from greentwin.server.access import readable, request_role, require_role, scenario_status
from greentwin.server.jsonio import loads
from greentwin.server.keys import CONFIG, DEMO, IO_POOL, STARTED, STORE
from greentwin.server.store import ID_RE

__all__ = ["json_response", "read_json_body", "routes"]

routes = web.RouteTableDef()

_NO_CACHE = {"Cache-Control": "no-cache"}
_MAX_BODY = 16 * 1024


def json_response(payload: object, *, status: int = 200) -> web.Response:
    """A compact JSON response that must be revalidated before reuse."""
    return web.json_response(
        payload,
        status=status,
        headers=_NO_CACHE,
        dumps=lambda o: json.dumps(o, separators=(",", ":")),
    )


async def read_json_body(request: web.Request, max_bytes: int) -> Any:
    """The request body parsed as JSON, read with a size limit.

    Raises
    ------
    web.HTTPRequestEntityTooLarge
        The declared or actual body is larger than ``max_bytes``.
    JsonInputError
        The body is not acceptable JSON (:func:`greentwin.server.jsonio.loads`; answered
        as a 400 ``bad_json`` error).
    """
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=len(raw))
    return loads(raw)


def _scenario(request: web.Request) -> str:
    scenario = request.query.get("scenario") or request.app[CONFIG].default_scenario
    if not ID_RE.fullmatch(scenario):
        raise ScenarioError(f"invalid scenario id {scenario[:64]!r}: use a-z, 0-9, '_' or '-'")
    return scenario


async def _known(request: web.Request, scenario: str) -> None:
    """404 for a scenario that does not exist or that the caller may not read (a draft
    without a planner token: answered the same, so its existence does not show)."""
    request_role(request)  # an unknown token is a 401 whatever the scenario
    if scenario == request.app[CONFIG].default_scenario:
        return  # the default scenario always exists, even before anything is published
    exists = scenario in request.app[STORE].scenarios()  # published layers, or
    exists = exists or await scenario_status(request.app, scenario) is not None  # a scenario
    if not exists or not await readable(request, scenario):
        raise web.HTTPNotFound(text=f"no scenario {scenario!r}")


@routes.get("/api/health", name="health")
async def health(request: web.Request) -> web.Response:
    """Liveness and readiness: version, uptime, whether the data dir is writable, demo state."""
    app = request.app
    loop = asyncio.get_running_loop()
    writable = await loop.run_in_executor(app[IO_POOL], app[STORE].writable)
    demo = app.get(DEMO)
    payload: dict[str, Any] = {
        "status": "ok" if writable else "degraded",
        "version": __version__,
        "uptime_s": round(time.monotonic() - app[STARTED], 3),
        "data_dir_writable": writable,
        "demo": demo.status() if demo is not None else {"state": "off", "message": ""},
    }
    return json_response(payload)


@routes.get("/api/layers", name="layers")
async def layers(request: web.Request) -> web.Response:
    """Every layer of a scenario with the URL of its current version."""
    scenario = _scenario(request)
    await _known(request, scenario)
    store = request.app[STORE]
    loop = asyncio.get_running_loop()

    def read() -> dict[str, Any]:
        from greentwin.server.routes_overlays import overlay_entry
        from greentwin.twin.recompute import fold_variants

        layers: dict[str, Any] = {
            name: (
                overlay_entry(store, scenario, info)
                if info.kind == "overlay"
                else {"url": info.url, "kind": info.kind, "version": info.version}
            )
            for name, info in store.layers(scenario).items()
        }
        return {
            "scenario": scenario,
            "version": store.revision(scenario),
            "time": store.get_time(scenario),
            "layers": fold_variants(layers),  # vegetation_baked inside vegetation's entry
        }

    return json_response(await loop.run_in_executor(request.app[IO_POOL], read))


@routes.get("/api/time", name="time")
async def get_time(request: web.Request) -> web.Response:
    """The scenario's display time: ``{"scenario", "time": {"year", "date"}}``."""
    scenario = _scenario(request)
    await _known(request, scenario)
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    value = await loop.run_in_executor(request.app[IO_POOL], store.get_time, scenario)
    return json_response({"scenario": scenario, "time": value})


@routes.put("/api/time")
async def put_time(request: web.Request) -> web.Response:
    """Set the display time from a JSON body ``{"year": 2030, "date": "2030-06-21"}``.

    The time is shared by every client that loads the scenario: it needs the planner
    role (401 without a token, 403 below planner). A viewer keeps a time of its own.
    """
    scenario = _scenario(request)
    require_role(request, "planner")
    await _known(request, scenario)
    body = await read_json_body(request, _MAX_BODY)
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    value = await loop.run_in_executor(request.app[IO_POOL], store.set_time, scenario, body)
    return json_response({"scenario": scenario, "time": value})
