"""Who may do what: the caller's role and the one rule on reading a scenario.

Roles grow ``viewer < citizen < planner < admin``; each may do what the roles below it
may (the table is in ``docs/server.md``):

- **viewer** (no token): read the baseline and published scenarios (layers, tiles,
  overlays, probe, green layer, exports, the hub); keep a display time of its own.
- **citizen** (an operator-issued token for a resident whose identity was checked):
  hub comments posted with it are marked as from a verified resident.
- **planner**: read drafts and archived scenarios; create, edit, publish and duplicate
  scenarios; set a scenario's shared time and the served display time (``PUT /api/time``).
- **admin**: moderate the hub (hide comments) and archive scenarios.

Credentials travel only in ``Authorization: Bearer <token>`` (the WebSocket ``hello``
for the live channel), never in a URL. A header naming no known token is a 401, not a
silent downgrade to viewer. A scenario the caller may not read is answered exactly as
one that does not exist, so a draft's existence never shows.
"""

from __future__ import annotations

from aiohttp import web
from greentwin.server.keys import CONFIG, LIVE_HUB
from greentwin.twin.protocol import Role, role_at_least
from greentwin.twin.scenarios import BASELINE, ScenarioLog, UnknownScenarioError

__all__ = [
    "may_read_status",
    "readable",
    "request_role",
    "require_role",
    "role_for_header",
    "scenario_status",
    "shown_parent",
]

#: Status of a scenario the scenario store does not hold (layers published straight to
#: the tile store by the operator, such as the demo district): readable by anyone.
_UNMANAGED = None


def may_read_status(role: str, status: str | None) -> bool:
    """Whether ``role`` may read a scenario in ``status`` (None: not a managed scenario).

    Published scenarios (the baseline is one) and unmanaged tile-store scenarios are
    public; drafts and archived scenarios are for planners and admins.
    """
    return status in ("published", _UNMANAGED) or role_at_least(role, "planner")


def role_for_header(request: web.Request) -> Role | None:
    """The role that the request's ``Authorization`` header grants.

    ``"viewer"`` without a header (when the server allows anonymous clients), ``None``
    for a header that is not a known bearer token (or no header where one is required).
    """
    hub = request.app.get(LIVE_HUB)
    header = request.headers.get("Authorization")
    if header is None:
        return "viewer" if hub is None or hub.config.allow_anonymous else None
    scheme, _, token = header.partition(" ")
    if hub is None or scheme.lower() != "bearer":
        return None
    return hub.config.role_for_token(token.strip())


def request_role(request: web.Request) -> Role:
    """The caller's role; raises 401 (``WWW-Authenticate: Bearer``) for a bad token."""
    role = role_for_header(request)
    if role is None:
        challenge = "Bearer" if "Authorization" not in request.headers else None
        raise web.HTTPUnauthorized(
            text="unknown bearer token" if challenge is None else "this server needs a token",
            headers={"WWW-Authenticate": challenge or 'Bearer error="invalid_token"'},
        )
    return role


def require_role(request: web.Request, needed: Role) -> Role:
    """The caller's role if it is ``needed`` or above.

    Raises
    ------
    web.HTTPUnauthorized
        No token where one is needed, or an unknown token.
    web.HTTPForbidden
        A valid token of a lower role.
    """
    role = request_role(request)
    if role_at_least(role, needed):
        return role
    if "Authorization" not in request.headers:
        raise web.HTTPUnauthorized(
            text=f"this needs the {needed} role: send its token as Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise web.HTTPForbidden(text=f"this needs the {needed} role (you are {role})")


async def scenario_status(app: web.Application, scenario: str) -> str | None:
    """The scenario's status in the scenario store, None when the store does not hold it."""
    config = app.get(CONFIG)
    if scenario == (config.default_scenario if config is not None else BASELINE):
        return "published"  # the baseline: always public, no lookup on the hot tile path
    hub = app.get(LIVE_HUB)
    if hub is None:
        return _UNMANAGED
    try:
        info = await hub.store.get(scenario)
    except UnknownScenarioError:
        return _UNMANAGED
    return info.status


async def shown_parent(store: ScenarioLog, role: str, parent: str | None) -> str | None:
    """The parent id to show ``role``: None when it may not read the parent (a published
    scenario branched from a draft does not reveal the draft)."""
    if parent is None or role_at_least(role, "planner"):
        return parent
    try:
        status = (await store.get(parent)).status
    except UnknownScenarioError:
        return None
    return parent if may_read_status(role, status) else None


async def readable(request: web.Request, scenario: str) -> bool:
    """Whether the caller may read ``scenario`` (raises 401 for an unknown token).

    The route answers False exactly as it answers a scenario that does not exist.
    """
    role = request_role(request)
    if role_at_least(role, "planner"):
        return True
    return may_read_status(role, await scenario_status(request.app, scenario))
