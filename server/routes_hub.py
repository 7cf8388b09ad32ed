"""HTTP API of the citizens' planning hub.

Reading needs no account. Posting a comment or a vote needs a light identity: a
nickname and a participant token from ``POST /api/hub/identity``, sent back in the
``X-Participant-Token`` header (never in a URL). Moderation (hiding a comment) needs
an admin token in ``Authorization: Bearer``, the same operator-configured
tokens as the live channel and the scenario API.

Routes
------
``POST /api/hub/identity`` ``{nickname}`` -> 201 ``{participant, nickname, token}``
``GET /api/hub/identity`` -> ``{participant, nickname}`` (401 for an unknown token)
``GET /api/hub/proposals`` -> ``{proposals: [...]}`` published scenarios with summaries
``GET /api/hub/proposals/{id}`` -> one proposal with its located changes and layers
``GET /api/hub/proposals/{id}/here?lon=&lat=&radius=[&years=&season=]`` -> what changes
near a point; with a time, before/after from that date's maps
``GET /api/hub/proposals/{id}/trees?years=&season=`` -> the new trees then (green model)
``GET /api/hub/search?q=`` or ``?lon=&lat=`` -> addresses of the district
``GET|POST /api/scenarios/{id}/comments``, ``POST /api/scenarios/{id}/comments/{cid}/hide``
``GET|POST /api/scenarios/{id}/votes``

Errors answer ``{"error": {"status", "code", "message"}}``; 429 carries ``Retry-After``.
New comments, hidden comments and vote counts are broadcast over ``/ws`` to the
scenario's subscribers as ``comment``, ``comment_hidden`` and ``votes`` messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from greentwin.core import GreenModelError
from greentwin.server.access import may_read_status, role_for_header, shown_parent
from greentwin.server.hub import (
    CLIENT_KEY,
    Comment,
    HubInputError,
    HubSettings,
    Participant,
    RateLimiter,
    VoteCounts,
    clean_nickname,
    clean_reason,
    clean_text,
)
from greentwin.server.jsonio import MAX_INT, JsonInputError, error_response, loads
from greentwin.server.keys import STORE
from greentwin.server.routes_scenarios import HUB_KEY
from greentwin.server.stores import HubLog
from greentwin.server.ws import LiveHub, dumps
from greentwin.twin.hub_effects import AreaEffects, area_effects
from greentwin.twin.hub_places import AddressIndex, changes_near, greenery, summarise
from greentwin.twin.ops import ScenarioState
from greentwin.twin.protocol import Role, role_at_least
from greentwin.twin.scenarios import BASELINE, ScenarioInfo, UnknownScenarioError

__all__ = [
    "EFFECTS_KEY",
    "HUB_STATE",
    "PARTICIPANT_HEADER",
    "EffectsProvider",
    "HubState",
    "routes",
]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PARTICIPANT_HEADER = "X-Participant-Token"

#: Point values of an indicator for a scenario: ``(scenario, lon, lat) -> value or None``
#: per indicator (``noise_lden_db``, ``noise_lnight_db``, ``no2_ug_m3``, ``pm10_ug_m3``).
#: Registered by whatever computes the overlays; absent, the hub reports "not computed".
EffectsProvider = Callable[[str, float, float], Awaitable[dict[str, float | None]]]
EFFECTS_KEY: web.AppKey[EffectsProvider] = web.AppKey("greentwin_hub_effects")

#: The indicators shown before/after at an address.
INDICATORS = ("noise_lden_db", "noise_lnight_db", "no2_ug_m3", "pm10_ug_m3")
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(slots=True)
class HubState:
    """The hub's store, limits and address index (one per application).

    The address index is built on first use, in a worker thread (reading the
    district's CityGML takes a moment; an application that never searches never pays).
    """

    store: HubLog
    settings: HubSettings
    index_sources: list[Path]
    comment_limit: RateLimiter = field(init=False)
    address_limit: RateLimiter = field(init=False)
    identity_limit: RateLimiter = field(init=False)
    vote_limit: RateLimiter = field(init=False)
    _index: asyncio.Future[AddressIndex] | None = field(init=False, default=None)
    #: (scenario, seq) -> its area-wide noise and air figures (being) computed.
    _effects: dict[tuple[str, int], asyncio.Future[AreaEffects]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        s = self.settings
        self.comment_limit = RateLimiter(s.comment_rate, s.comment_burst, s.limiter_size)
        self.address_limit = RateLimiter(s.address_rate, s.address_burst, s.limiter_size)
        self.identity_limit = RateLimiter(s.identity_rate, s.identity_burst, s.limiter_size)
        self.vote_limit = RateLimiter(s.vote_rate, s.vote_burst, s.limiter_size)

    def index(self) -> asyncio.Future[AddressIndex]:
        """The address index (a future; the first call starts building it)."""
        if self._index is None:
            loop = asyncio.get_running_loop()
            self._index = asyncio.ensure_future(
                loop.run_in_executor(None, AddressIndex.from_citygml, self.index_sources)
            )
        return self._index

    async def close(self) -> None:
        """Stop waiting for an index still being built."""
        if self._index is not None and not self._index.done():
            self._index.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._index


HUB_STATE = web.AppKey("greentwin_hub_state", HubState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return error_response(status, code, message, headers)


def _json(payload: object, status: int = 200) -> web.Response:
    return web.json_response(
        payload, status=status, headers=_NO_STORE, dumps=lambda o: json.dumps(o, ensure_ascii=False)
    )


def _guarded(fn: Handler) -> Handler:
    """Answer :class:`HubInputError` and unknown scenarios as JSON errors."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except HubInputError as exc:
            headers = {}
            retry = getattr(exc, "retry_after", None)
            if retry is not None:
                headers["Retry-After"] = str(retry)
            return _error(exc.status, exc.code, str(exc), headers)
        except UnknownScenarioError:
            sid = request.match_info.get("id", "")
            return _error(404, "unknown_scenario", f"no published proposal {sid!r}")

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class _RateLimited(HubInputError):
    def __init__(self, what: str, wait: float) -> None:
        super().__init__(429, "rate_limited", f"too many {what}: try again in {math.ceil(wait)} s")
        self.retry_after = max(1, math.ceil(wait))


def _limit(limiter: RateLimiter, key: str, what: str) -> None:
    wait = limiter.take(key)
    if wait > 0:
        raise _RateLimited(what, wait)


# --- request helpers -------------------------------------------------------------------


def _live(request: web.Request) -> LiveHub:
    return request.app[HUB_KEY]


def _state(request: web.Request) -> HubState:
    return request.app[HUB_STATE]


def _role(request: web.Request) -> Role:
    """The caller's role from ``Authorization: Bearer`` (no header: viewer)."""
    role = role_for_header(request) if "Authorization" in request.headers else "viewer"
    if role is None:
        raise HubInputError(401, "forbidden", "unknown bearer token")
    return role


async def _participant(request: web.Request, *, required: bool) -> Participant | None:
    token = request.headers.get(PARTICIPANT_HEADER, "").strip()
    if not token:
        if required:
            raise HubInputError(
                401, "forbidden", "choose a nickname first (POST /api/hub/identity)"
            )
        return None
    if len(token) > 128:
        raise HubInputError(401, "forbidden", "unknown participant token")
    who = await _state(request).store.participant(token)
    if who is None and required:
        raise HubInputError(401, "forbidden", "unknown participant token: choose a nickname again")
    return who


async def _body(request: web.Request) -> dict[str, Any]:
    limit = _state(request).settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HubInputError(413, "too_large", f"request body larger than {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise HubInputError(413, "too_large", f"request body larger than {limit} bytes")
    try:
        data = loads(raw or b"{}")
    except JsonInputError as exc:
        raise HubInputError(400, exc.code, str(exc)) from None
    if not isinstance(data, dict):
        raise HubInputError(400, "schema", "the body must be a JSON object")
    return data


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


async def _proposal(request: web.Request, role: Role) -> ScenarioInfo:
    """The scenario named in the path, if the caller may see it (citizens: published)."""
    sid = request.match_info["id"]
    info = await _live(request).store.get(sid)
    if not may_read_status(role, info.status):
        raise UnknownScenarioError(sid)
    return info


def _float(request: web.Request, name: str, lo: float, hi: float) -> float:
    raw = request.query.get(name)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise HubInputError(400, "schema", f"{name}: a number in {lo}..{hi} is required")
    return value


# --- identity ----------------------------------------------------------------------------


@routes.post("/api/hub/identity")
@_guarded
async def post_identity(request: web.Request) -> web.StreamResponse:
    """Create a light identity: a nickname and a participant token (shown once)."""
    state = _state(request)
    body = await _body(request)
    nickname = clean_nickname(body.get("nickname"), state.settings.nickname_chars)
    _limit(state.identity_limit, _address(request), "new nicknames from this address")
    who, token = await state.store.new_participant(nickname)
    return _json({"participant": who.id, "nickname": who.nickname, "token": token}, 201)


@routes.get("/api/hub/identity")
@_guarded
async def get_identity(request: web.Request) -> web.StreamResponse:
    """Who the participant token belongs to."""
    who = await _participant(request, required=True)
    assert who is not None
    return _json({"participant": who.id, "nickname": who.nickname})


# --- proposals -----------------------------------------------------------------------------


def _tile_layers(request: web.Request, scenario: str) -> dict[str, Any]:
    store = request.app.get(STORE)
    if store is None:
        return {}
    try:
        return {
            name: {"url": info.url, "kind": info.kind, "version": info.version}
            for name, info in store.layers(scenario).items()
        }
    except Exception:
        log.warning("hub: cannot read the tile layers of %s", scenario, exc_info=True)
        return {}


async def _effects(
    request: web.Request, scenario: str, parent: str | None, lon: float, lat: float
) -> dict[str, dict[str, float | None]]:
    """Before (parent) and after (scenario) values of each indicator at a point (None:
    not computed)."""
    provider = request.app.get(EFFECTS_KEY)
    before: dict[str, float | None] = {}
    after: dict[str, float | None] = {}
    if provider is not None:
        try:
            before = await provider(parent or BASELINE, lon, lat)
            after = await provider(scenario, lon, lat)
        except Exception:
            log.exception("hub: effects provider failed for %s", scenario)
            before, after = {}, {}
    return {k: {"before": before.get(k), "after": after.get(k)} for k in INDICATORS}


async def _trees_20y(state: ScenarioState) -> dict[str, float | None]:
    """Carbon stored by and crown area of the new trees in 20 years (summer)."""
    today = dt.datetime.now(dt.UTC).date()
    loop = asyncio.get_running_loop()
    try:
        g = await loop.run_in_executor(
            None, greenery, state, dt.date(today.year + 20, 7, 15), dt.date(today.year, 1, 1)
        )
    except GreenModelError:
        log.warning("hub: the new trees cannot be modelled", exc_info=True)
        return {"carbon_kg_20y": None, "canopy_m2_20y": None}
    return {"carbon_kg_20y": g["carbon_kg"], "canopy_m2_20y": g["canopy_m2"]}


#: How long a page waits for a proposal's area figures (they are computed once per seq;
#: a page that asks before they are ready says "not computed yet").
AREA_WAIT_S = 20.0
_NOT_COMPUTED: AreaEffects = {
    "noise_lden_db": None,
    "noise_lden_db_today": None,
    "no2_ug_m3": None,
    "no2_ug_m3_today": None,
}


async def _compute_area(request: web.Request, scenario: str) -> AreaEffects:
    from greentwin.twin.indicators import district_indicators
    from greentwin.twin.recompute_district import DistrictRecompute

    recompute = _live(request).recompute
    if not isinstance(recompute, DistrictRecompute):
        return _NOT_COMPUTED  # no district model: no maps, no figures
    view = await recompute.view(scenario)

    def work() -> AreaEffects:
        return area_effects(
            district_indicators(view.district, view.values, []),
            district_indicators(view.baseline, view.baseline_values, []),
        )

    return await asyncio.get_running_loop().run_in_executor(None, work)


async def _area(request: web.Request, info: ScenarioInfo) -> AreaEffects:
    """The proposal's area-wide noise and NO2 figures from its indicator summary
    (:mod:`greentwin.twin.hub_effects`), computed once per (scenario, seq)."""
    cache = _state(request)._effects
    key = (info.id, info.seq)
    future = cache.get(key)
    if future is None or (future.done() and (future.cancelled() or future.exception())):
        for old in [k for k in cache if k[0] == info.id]:
            del cache[old]
        future = cache[key] = asyncio.ensure_future(_compute_area(request, info.id))
    try:
        return await asyncio.wait_for(asyncio.shield(future), AREA_WAIT_S)
    except TimeoutError:
        log.info("hub: the figures of %s are not ready yet", info.id)
    except Exception:
        log.exception("hub: the figures of %s cannot be computed", info.id)
    return _NOT_COMPUTED


async def _summary_json(
    request: web.Request, info: ScenarioInfo, comments: int, votes: VoteCounts
) -> dict[str, Any]:
    live = _live(request)
    state = await live.store.state(info.id)
    return {
        "id": info.id,
        "name": info.name,
        "titles": (await live.store.titles([info.id])).get(info.id, {}),
        "created": info.created,
        "seq": info.seq,
        "parent": await shown_parent(live.store, _role(request), info.parent),
        "time": dict(info.time),
        "summary": summarise(state),
        "effects": {**await _area(request, info), **await _trees_20y(state)},
        "comments": comments,
        "votes": {"up": votes["up"], "down": votes["down"]},
    }


@routes.get("/api/hub/proposals")
@_guarded
async def list_proposals(request: web.Request) -> web.StreamResponse:
    """Published proposals (the baseline excluded), newest first, with summaries."""
    live = _live(request)
    state = _state(request)
    rows = [r for r in await live.store.list_all("published") if r.id != BASELINE]
    rows.sort(key=lambda r: r.created, reverse=True)
    counts = await state.store.comment_counts([r.id for r in rows])
    out = []
    for info in rows:
        votes = await state.store.counts(info.id)
        out.append(await _summary_json(request, info, counts.get(info.id, 0), votes))
    return _json({"proposals": out})


@routes.get("/api/hub/proposals/{id}")
@_guarded
async def get_proposal(request: web.Request) -> web.StreamResponse:
    """One proposal: summary, located changes, its layers and the baseline's."""
    role = _role(request)
    info = await _proposal(request, role)
    live = _live(request)
    state = _state(request)
    who = await _participant(request, required=False)
    counts = await state.store.comment_counts([info.id])
    votes = await state.store.counts(info.id, who.id if who else None)
    doc = await _summary_json(request, info, counts.get(info.id, 0), votes)
    doc["votes"] = votes
    scen_state = await live.store.state(info.id)
    located = changes_near(scen_state, 0.0, 0.0, math.inf)
    doc["changes"] = [{k: v for k, v in c.items() if k != "distance_m"} for c in located]
    if located:
        lons = [c["lon"] for c in located]
        lats = [c["lat"] for c in located]
        doc["bbox"] = [min(lons), min(lats), max(lons), max(lats)]
    else:
        doc["bbox"] = None
    doc["layers"] = {
        "changes": dict(await live.recompute.snapshot(info.id, info.seq)),
        "tiles": _tile_layers(request, info.id),
        "baseline_tiles": _tile_layers(request, doc["parent"] or BASELINE),
    }
    return _json(doc)


@routes.get("/api/hub/proposals/{id}/here")
@_guarded
async def get_here(request: web.Request) -> web.StreamResponse:
    """What changes near a point: the changes within ``radius`` metres (default 150),
    the nearest address and the indicators before/after (None: not computed)."""
    role = _role(request)
    info = await _proposal(request, role)
    lon = _float(request, "lon", -180.0, 180.0)
    lat = _float(request, "lat", -90.0, 90.0)
    radius = _float(request, "radius", 1.0, 2000.0) if "radius" in request.query else 150.0
    scen_state = await _live(request).store.state(info.id)
    place = None
    try:  # the index is built at start-up; a slow build does not hold the answer long
        index = await asyncio.wait_for(asyncio.shield(_state(request).index()), 5.0)
        place = index.nearest(lon, lat)
    except TimeoutError:
        log.info("hub: the address index is not ready yet")
    parent = await shown_parent(_live(request).store, role, info.parent)
    when = _when(request)
    if when is None:
        effects = await _effects(request, info.id, parent, lon, lat)
    else:
        effects = await _dated_effects(request, info.id, parent, when[2], lon, lat)
    computed = any(v["before"] is not None or v["after"] is not None for v in effects.values())
    doc: dict[str, Any] = {
        "scenario": info.id,
        "point": {"lon": lon, "lat": lat},
        "radius_m": radius,
        "place": place,
        "changes": changes_near(scen_state, lon, lat, radius),
        "effects": effects,
        "effects_status": "computed" if computed else "not_computed",
    }
    if when is not None:
        doc["time"] = {"years": when[0], "season": when[1], "date": when[2].isoformat()}
    return _json(doc)


#: The hub's time choices ("now", "in 5/10/20 years"): the dated before/after at an
#: address is offered for these only, so a proposal has at most 4 x 4 dated map sets.
HUB_YEARS = (0, 5, 10, 20)
#: A date's map indicator -> the name the hub reports it under (noise "with vegetation").
DATED_INDICATORS = {
    "noise_lden": "noise_lden_db",
    "noise_lnight": "noise_lnight_db",
    "no2": "no2_ug_m3",
    "pm10": "pm10_ug_m3",
    "utci": "utci_c",
    "shade_hours": "shade_h",
}


def _when(request: web.Request) -> tuple[int, str, dt.date] | None:
    """``years`` and ``season`` of the query as (years, season, date), None without them."""
    if "years" not in request.query and "season" not in request.query:
        return None
    raw = request.query.get("years", "0")
    if not raw.isdigit() or int(raw) not in HUB_YEARS:
        raise HubInputError(400, "schema", f"years: one of {list(HUB_YEARS)}")
    season = request.query.get("season", "summer")
    if season not in SEASON_DAYS:
        raise HubInputError(400, "schema", f"season: one of {sorted(SEASON_DAYS)}")
    month, day = SEASON_DAYS[season]
    year = dt.datetime.now(dt.UTC).date().year + int(raw)
    return int(raw), season, dt.date(year, month, day)


async def _dated_effects(
    request: web.Request,
    scenario: str,
    parent: str | None,
    date: dt.date,
    lon: float,
    lat: float,
) -> dict[str, dict[str, float | None]]:
    """Before (parent, else the baseline) and after (the proposal) at a point, both on
    ``date``: read from that date's maps (``/api/maps``' cache, computed once per
    proposal state and half-month bucket)."""
    from greentwin.server.routes_time import TIME, dated_values

    if TIME not in request.app:
        return {k: {"before": None, "after": None} for k in DATED_INDICATORS.values()}
    try:
        ours = await dated_values(request.app, scenario, date, lon, lat)
        theirs = (
            None
            if parent in (None, BASELINE)
            else await dated_values(request.app, str(parent), date, lon, lat)
        )
    except web.HTTPServiceUnavailable as exc:
        busy = HubInputError(503, "busy", "many maps are being computed: try again shortly")
        busy.retry_after = int(exc.headers.get("Retry-After", "10"))  # type: ignore[attr-defined]
        raise busy from None
    except Exception:
        log.exception("hub: dated effects failed for %s on %s", scenario, date)
        return {k: {"before": None, "after": None} for k in DATED_INDICATORS.values()}
    out: dict[str, dict[str, float | None]] = {}
    for name, hub_name in DATED_INDICATORS.items():
        after = ours[name]["value"]
        before = ours[name]["baseline"] if theirs is None else theirs[name]["value"]
        out[hub_name] = {"before": before, "after": after}
    return out


#: The day shown for each season (northern hemisphere, mid-season).
SEASON_DAYS = {"spring": (4, 20), "summer": (7, 15), "autumn": (10, 15), "winter": (1, 15)}


@routes.get("/api/hub/proposals/{id}/trees")
@_guarded
async def get_trees(request: web.Request) -> web.StreamResponse:
    """The proposal's new trees ``years`` (0..50) from now in a ``season``: sizes, foliage
    colour, stored carbon and crown area, from the green model. The trees are taken as
    planted on 1 January of the current year."""
    info = await _proposal(request, _role(request))
    years = int(_float(request, "years", 0, 50)) if "years" in request.query else 0
    season = request.query.get("season", "summer")
    if season not in SEASON_DAYS:
        raise HubInputError(400, "schema", f"season: one of {sorted(SEASON_DAYS)}")
    now = dt.datetime.now(dt.UTC).date()
    month, day = SEASON_DAYS[season]
    date = dt.date(now.year + years, month, day)
    scen_state = await _live(request).store.state(info.id)
    loop = asyncio.get_running_loop()
    try:
        doc = await loop.run_in_executor(None, greenery, scen_state, date, dt.date(now.year, 1, 1))
    except GreenModelError as exc:
        raise HubInputError(422, "invalid_op", f"the trees cannot be modelled: {exc}") from None
    return _json({"scenario": info.id, "years": years, "season": season, **doc})


@routes.get("/api/hub/search")
@_guarded
async def search(request: web.Request) -> web.StreamResponse:
    """Addresses of the district: ``?q=`` text search, or ``?lon=&lat=`` nearest one."""
    state = _state(request)
    index = await asyncio.shield(state.index())
    if "lon" in request.query or "lat" in request.query:
        lon = _float(request, "lon", -180.0, 180.0)
        lat = _float(request, "lat", -90.0, 90.0)
        place = index.nearest(lon, lat, 150.0)
        results = [place] if place else []
    else:
        q = request.query.get("q", "")[:200]
        results = index.search(q, 10)
    return _json({"results": results, "indexed": len(index), "sources": index.sources})


# --- comments --------------------------------------------------------------------------------


def _moderator(role: Role) -> bool:
    """Moderation (hiding comments, reading hidden ones) is the admin's."""
    return role_at_least(role, "admin")


@routes.get("/api/scenarios/{id}/comments")
@_guarded
async def get_comments(request: web.Request) -> web.StreamResponse:
    """A proposal's comments, oldest first (``?after=<id>`` pages on). Hidden comments
    are placeholders (no text, no nickname) for all but admins, who see them complete."""
    role = _role(request)
    info = await _proposal(request, role)
    try:
        after = int(request.query.get("after", "0"))
        limit = min(500, max(1, int(request.query.get("limit", "200"))))
    except ValueError:
        raise HubInputError(400, "schema", "after and limit must be integers") from None
    if not 0 <= after <= MAX_INT:  # an id SQLite can compare (64-bit integers)
        raise HubInputError(400, "schema", f"after must be from 0 to {MAX_INT}")
    who = await _participant(request, required=False)
    rows = await _state(request).store.comments(info.id, after=after, limit=limit)
    mod = _moderator(role)
    viewer = who.id if who else None
    return _json(
        {
            "scenario": info.id,
            "comments": [c.to_json(moderator=mod, viewer=viewer) for c in rows],
            "moderator": mod,
        }
    )


def _broadcast(request: web.Request, info: ScenarioInfo, msg: dict[str, Any]) -> None:
    live = _live(request)
    live.fanout(info.id, dumps({"scenario": info.id, "seq": info.seq, **msg}))


@routes.post("/api/scenarios/{id}/comments")
@_guarded
async def post_comment(request: web.Request) -> web.StreamResponse:
    """Post a comment ``{text, client_key}`` as a participant.

    201 with the new comment; 200 with the stored one when ``client_key`` was already
    used (a replay); 413 for a body over the limit, 422 for text over the limit,
    429 when flooding. With a citizen's (or higher) token in ``Authorization: Bearer``
    beside the participant token, the comment is marked ``verified`` (a resident whom the
    operator identified); an unknown bearer token is a 401.
    """
    state = _state(request)
    verified = role_at_least(_role(request), "citizen")
    info = await _proposal(request, "viewer")
    body = await _body(request)
    who = await _participant(request, required=True)
    assert who is not None
    key = body.get("client_key")
    if not isinstance(key, str) or not CLIENT_KEY.match(key):
        raise HubInputError(422, "schema", "client_key: 8 to 64 characters A-Z a-z 0-9 _ -")
    text = clean_text(body.get("text"), state.settings.max_comment_chars)
    old = await state.store.find_comment(who, key)
    if old is None:
        _limit(state.address_limit, _address(request), "posts from this address")
        _limit(state.comment_limit, who.id, "comments: please wait a little")
    comment, created = await state.store.add_comment(info.id, who, text, key, verified=verified)
    out = comment.to_json(moderator=False, viewer=who.id)
    if created:
        public = comment.to_json(moderator=False)
        _broadcast(request, info, {"type": "comment", "comment": public})
    return _json(out, 201 if created else 200)


@routes.post(r"/api/scenarios/{id}/comments/{cid:\d{1,18}}/hide")
@_guarded
async def hide_comment(request: web.Request) -> web.StreamResponse:
    """Hide a comment with a reason ``{reason}`` (admin)."""
    role = _role(request)
    if not _moderator(role):
        raise HubInputError(403, "forbidden", f"moderation needs the admin role (you are {role})")
    info = await _proposal(request, role)
    state = _state(request)
    body = await _body(request)
    reason = clean_reason(body.get("reason"), state.settings.max_reason_chars)
    comment: Comment = await state.store.hide_comment(
        info.id, int(request.match_info["cid"]), reason, role
    )
    _broadcast(request, info, {"type": "comment_hidden", "id": comment.id, "reason": reason})
    return _json(comment.to_json(moderator=True))


# --- votes ------------------------------------------------------------------------------------

_VOTES: dict[object, Literal[-1, 0, 1]] = {
    "up": 1,
    "for": 1,
    1: 1,
    "down": -1,
    "against": -1,
    -1: -1,
    "none": 0,
    0: 0,
}


@routes.get("/api/scenarios/{id}/votes")
@_guarded
async def get_votes(request: web.Request) -> web.StreamResponse:
    """Vote counts; ``mine`` is the participant's own vote (1, -1 or 0)."""
    info = await _proposal(request, _role(request))
    who = await _participant(request, required=False)
    return _json(await _state(request).store.counts(info.id, who.id if who else None))


@routes.post("/api/scenarios/{id}/votes")
@_guarded
async def post_vote(request: web.Request) -> web.StreamResponse:
    """Vote ``{value: "up" | "down" | "none"}`` (or 1, -1, 0): one vote per participant
    and proposal, changeable; replaying it changes nothing."""
    state = _state(request)
    info = await _proposal(request, "viewer")
    body = await _body(request)
    who = await _participant(request, required=True)
    assert who is not None
    raw = body.get("value")
    value = _VOTES.get(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None
    if value is None:
        raise HubInputError(422, "schema", 'value: one of "up", "down", "none"')
    _limit(state.address_limit, _address(request), "posts from this address")
    _limit(state.vote_limit, who.id, "votes")
    counts, changed = await state.store.vote(info.id, who, value)
    if changed:
        _broadcast(request, info, {"type": "votes", "up": counts["up"], "down": counts["down"]})
    return _json(counts)
