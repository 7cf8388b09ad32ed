"""HTTP API of scenarios: list, create, read, edit, undo/redo, publish, archive, duplicate.

Authentication is ``Authorization: Bearer <token>`` only (tokens never go in URLs);
no header means an anonymous viewer when the live configuration allows it. Edits
take the same validation and the same path as WebSocket edits, so every change is
broadcast to ``/ws`` subscribers. Errors answer ``{"error": {"status", "code",
"message"}}`` (:class:`~greentwin.server.jsonio.JsonError`) with the protocol's error codes.
An edit may carry an idempotency key (body ``key`` or header ``Idempotency-Key``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from greentwin.server.access import may_read_status, request_role, shown_parent
from greentwin.server.jsonio import JsonError, JsonInputError, loads
from greentwin.server.keys import LIVE_HUB
from greentwin.twin.exports import (
    Exporter,
    ExportParameterError,
    ExportRequest,
    ExportUnavailableError,
)
from greentwin.twin.ops import OpError
from greentwin.twin.protocol import MessageError, Role, role_at_least
from greentwin.twin.scenarios import ScenarioInfo, UnknownScenarioError

__all__ = ["EXPORTERS_KEY", "HUB_KEY", "routes"]

HUB_KEY = LIVE_HUB

EXPORTERS_KEY = web.AppKey("greentwin_exporters", dict[str, Exporter])

routes = web.RouteTableDef()

_STATUS = {
    "bad_json": 400,
    "schema": 400,
    "too_large": 413,
    "rate_limited": 429,
    "forbidden": 403,
    "unknown_scenario": 404,
    "invalid_op": 422,
    "conflict": 409,
    "unavailable": 409,
    "internal": 500,
}
_LAYER = re.compile(r"^[a-z_]{1,32}$")
#: An edit's idempotency key (as ``$defs/idempotency_key`` in the protocol schema).
_IDEM_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
#: The largest sequence or version number a URL may name (SQLite's integers are 64-bit).
_MAX_SEQ = 2**53 - 1


def _seq_number(text: str, what: str) -> int:
    """A non-negative integer from a URL, refused (400) past :data:`_MAX_SEQ`."""
    if not text.isascii() or not text.isdigit() or len(text) > 16 or int(text) > _MAX_SEQ:
        raise _fail("schema", f"{what} must be an integer from 0 to {_MAX_SEQ}")
    return int(text)


def _fail(code: str, message: str) -> JsonError:
    return JsonError(_STATUS.get(code, 400), code, message)


def _role(request: web.Request) -> Role:
    return request_role(request)


def _need(request: web.Request, role: Role) -> Role:
    have = _role(request)
    if not role_at_least(have, role):
        raise _fail("forbidden", f"this needs the {role} role (you are {have})")
    return have


async def _body(request: web.Request) -> dict[str, Any]:
    limit = request.app[HUB_KEY].config.max_frame_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _fail("too_large", f"body larger than {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise _fail("too_large", f"body larger than {limit} bytes")
    try:
        data = loads(raw or b"{}")
    except JsonInputError as exc:
        raise _fail(exc.code, str(exc)) from None
    if not isinstance(data, dict):
        raise _fail("schema", "the body must be a JSON object")
    return data


async def _guard(coro: Awaitable[Any]) -> Any:
    try:
        return await coro
    except MessageError as exc:
        raise _fail(exc.code, str(exc)) from None
    except OpError as exc:
        raise _fail(exc.code, str(exc)) from None
    except UnknownScenarioError as exc:
        raise _fail("unknown_scenario", str(exc)) from None


async def _visible(request: web.Request, sid: str) -> tuple[ScenarioInfo, Role]:
    role = _role(request)
    info: ScenarioInfo = await _guard(request.app[HUB_KEY].store.get(sid))
    if not may_read_status(role, info.status):
        raise _fail("unknown_scenario", str(UnknownScenarioError(sid)))
    return info, role


@routes.get("/api/scenarios")
async def list_scenarios(request: web.Request) -> web.Response:
    role = _role(request)
    rows = await request.app[HUB_KEY].store.list_all()
    readable = {r.id for r in rows if may_read_status(role, r.status)}
    rows = [r for r in rows if r.id in readable]
    status = request.query.get("status")
    if status is not None:
        rows = [r for r in rows if r.status == status]
    # a published scenario branched from a draft does not reveal the draft's id
    out = [r.to_json() | {"parent": r.parent if r.parent in readable else None} for r in rows]
    return web.json_response({"scenarios": out})


@routes.post("/api/scenarios")
async def create_scenario(request: web.Request) -> web.Response:
    role = _need(request, "planner")
    body = await _body(request)
    name, parent, sid = body.get("name"), body.get("parent", "baseline"), body.get("id")
    if not isinstance(name, str) or not isinstance(parent, str):
        raise _fail("schema", "expected {name: string, parent?: string, id?: string}")
    if sid is not None and not isinstance(sid, str):
        raise _fail("schema", "id must be a string")
    hub = request.app[HUB_KEY]
    info = await _guard(hub.store.create(name, parent=parent, author=role, sid=sid))
    return web.json_response(info.to_json(), status=201)


@routes.get("/api/scenarios/{id}")
async def get_scenario(request: web.Request) -> web.Response:
    info, role = await _visible(request, request.match_info["id"])
    hub = request.app[HUB_KEY]
    layers = await hub.recompute.snapshot(info.id, info.seq)
    parent = await shown_parent(hub.store, role, info.parent)
    return web.json_response(
        {**info.to_json(), "parent": parent, "epoch": hub.store.epoch, "layers": layers}
    )


@routes.post("/api/scenarios/{id}/edits")
async def post_edit(request: web.Request) -> web.Response:
    role = _need(request, "planner")
    body = await _body(request)
    base_seq = body.get("base_seq")
    if base_seq is not None and (not isinstance(base_seq, int) or base_seq < 0):
        raise _fail("schema", "base_seq must be a non-negative integer")
    key = body.get("key", request.headers.get("Idempotency-Key"))
    if key is not None and not (isinstance(key, str) and _IDEM_KEY.fullmatch(key)):
        raise _fail("schema", f"key must match {_IDEM_KEY.pattern}")
    hub = request.app[HUB_KEY]
    ack = await _guard(
        hub.apply_edit(
            request.match_info["id"],
            body.get("op"),
            role=role,
            author=f"{role}#http",
            base_seq=base_seq,
            key=key,
        )
    )
    answer: dict[str, Any] = {"scenario": ack["scenario"], "seq": ack["seq"]}
    if ack.get("duplicate"):
        answer["duplicate"] = True
    return web.json_response(answer)


async def _undo_redo(request: web.Request, kind: str) -> web.Response:
    role = _need(request, "planner")
    hub = request.app[HUB_KEY]
    ack = await _guard(
        hub.apply_undo(request.match_info["id"], kind, role=role, author=f"{role}#http")
    )
    return web.json_response({"scenario": ack["scenario"], "seq": ack["seq"]})


@routes.post("/api/scenarios/{id}/undo")
async def post_undo(request: web.Request) -> web.Response:
    return await _undo_redo(request, "undo")


@routes.post("/api/scenarios/{id}/redo")
async def post_redo(request: web.Request) -> web.Response:
    return await _undo_redo(request, "redo")


@routes.post("/api/scenarios/{id}/publish")
async def post_publish(request: web.Request) -> web.Response:
    _need(request, "planner")
    info = await _guard(
        request.app[HUB_KEY].store.set_status(request.match_info["id"], "published")
    )
    return web.json_response(info.to_json())


@routes.post("/api/scenarios/{id}/archive")
async def post_archive(request: web.Request) -> web.Response:
    _need(request, "admin")
    info = await _guard(request.app[HUB_KEY].store.set_status(request.match_info["id"], "archived"))
    return web.json_response(info.to_json())


@routes.post("/api/scenarios/{id}/duplicate")
async def post_duplicate(request: web.Request) -> web.Response:
    role = _need(request, "planner")
    body = await _body(request)
    name = body.get("name", "")
    if not isinstance(name, str):
        raise _fail("schema", "name must be a string")
    info = await _guard(
        request.app[HUB_KEY].store.duplicate(request.match_info["id"], name, author=role)
    )
    return web.json_response(info.to_json(), status=201)


@routes.put("/api/scenarios/{id}/titles")
async def put_titles(request: web.Request) -> web.Response:
    """A scenario's titles and summaries per language (``{titles: {lang: {title,
    summary?}}}``, replacing any; ``{}`` removes them), shown by the citizens' hub."""
    _need(request, "planner")
    sid = request.match_info["id"]
    body = await _body(request)
    await _visible(request, sid)
    titles = await _guard(request.app[HUB_KEY].store.set_titles(sid, body.get("titles")))
    return web.json_response({"scenario": sid, "titles": titles})


@routes.get("/api/scenarios/{id}/events")
async def get_events(request: web.Request) -> web.Response:
    _need(request, "planner")
    after = _seq_number(request.query.get("after", "0"), "after")
    rows = await _guard(request.app[HUB_KEY].store.events(request.match_info["id"], after))
    return web.json_response(
        {
            "events": [
                {
                    "seq": e.seq,
                    "kind": e.kind,
                    "op": e.op,
                    "target": e.target,
                    "author": e.author,
                    "ts": e.ts,
                    "undone": e.undone,
                }
                for e in rows
            ]
        }
    )


@routes.get(r"/api/scenarios/{id}/layers/{layer}/{version:\d+}.geojson")
async def get_layer(request: web.Request) -> web.Response:
    info, _ = await _visible(request, request.match_info["id"])
    layer = request.match_info["layer"]
    if not _LAYER.match(layer):
        raise web.HTTPNotFound()
    version = request.match_info["version"]
    if len(version) > 16 or int(version) > _MAX_SEQ:
        raise web.HTTPNotFound()  # no layer has such a version
    found = await request.app[HUB_KEY].store.get_layer(info.id, layer, int(version))
    if found is None:
        raise web.HTTPNotFound()
    body, media_type = found
    return web.Response(
        body=body,
        content_type=media_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "ETag": f'"{info.id}-{layer}-{request.match_info["version"]}"',
        },
    )


@routes.get("/api/scenarios/{id}/export")
async def get_export(request: web.Request) -> web.Response:
    info, _ = await _visible(request, request.match_info["id"])
    fmt = request.query.get("format", "json")
    exporters: dict[str, Exporter] = request.app[EXPORTERS_KEY]
    exporter = exporters.get(fmt)
    if exporter is None:
        raise _fail("schema", f"unknown export format {fmt!r}; known: {sorted(exporters)}")
    hub = request.app[HUB_KEY]
    state = await hub.store.state(info.id)
    events = await hub.store.events(info.id, 0, limit=1_000_000)
    layers = await hub.recompute.snapshot(info.id, info.seq)
    query = {k: v for k, v in request.query.items() if k != "format"}
    req = ExportRequest(info, state, events, layers, hub.recompute, query)
    try:
        export = await exporter(req)
    except ExportParameterError as exc:
        raise _fail("schema", str(exc)) from None
    except ExportUnavailableError as exc:
        raise _fail("unavailable", str(exc)) from None
    return web.Response(
        body=export.body,
        content_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )
