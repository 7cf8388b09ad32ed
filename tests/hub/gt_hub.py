"""Helpers of the planning-hub tests: the real application with the hub, tokens and a
published proposal in the Berlin test area."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.hub import HubSettings
from greentwin.server.hub_setup import HUB_SETTINGS_KEY, LIVE_CONFIG_KEY, setup_hub
from greentwin.server.ws import LiveConfig
from gt_testing import CITYGML

TOKENS: dict[str, Any] = {"tok-planner": "planner", "tok-admin": "admin", "tok-citizen": "citizen"}
#: The aiohttp test client of the hub application.
Client = TestClient[web.Request, web.Application]
PLANNER = {"Authorization": "Bearer tok-planner"}
ADMIN = {"Authorization": "Bearer tok-admin"}
#: A resident whom the operator identified (comments marked verified).
CITIZEN = {"Authorization": "Bearer tok-citizen"}
#: Near "Normannenstraße, Berlin" (building DEBE11YYI0000I3R) in the Berlin test area.
HOME = (13.480995, 52.516028)


def make_app(
    data_dir: Path,
    *,
    settings: HubSettings | None = None,
    citygml: Path | None = None,
    services: dict[str, str] | None = None,
) -> web.Application:
    """``create_app`` with the hub (installed by create_app, or here before that);
    ``services``: ``database_url`` / ``redis_url`` of the configuration, if any."""
    config = Config(
        data_dir=data_dir, access_log=False, demo_inputs=citygml or CITYGML, **(services or {})
    )
    app = create_app(config)
    setup_hub(app)  # no-op when create_app already installed it
    app[LIVE_CONFIG_KEY] = LiveConfig(tokens=TOKENS)
    if settings is not None:
        app[HUB_SETTINGS_KEY] = settings
    return app


async def publish_proposal(client: Client, sid: str = "green-street") -> dict[str, Any]:
    """Create, edit and publish a proposal through the scenario API; returns its JSON."""
    lon, lat = HOME
    r = await client.post(
        "/api/scenarios", json={"name": "Greener Normannenstraße", "id": sid}, headers=PLANNER
    )
    assert r.status == 201, await r.text()
    ops: list[dict[str, Any]] = [
        {
            "op": "plant_tree",
            "id": "t-new-1",
            "species": "tilia-cordata",
            "position": [lon + 0.0002, lat],
            "age_years": 8,
        },
        {
            "op": "plant_tree",
            "id": "t-new-2",
            "species": "acer-platanoides",
            "position": [lon - 0.0002, lat + 0.0001],
            "age_years": 6,
        },
        {
            "op": "plant_tree",
            "id": "t-far",
            "species": "tilia-cordata",
            "position": [lon + 0.01, lat + 0.01],
            "age_years": 6,
        },
        {"op": "remove_tree", "id": "baseline-tree-17"},
        {"op": "close_road", "id": "road-normannen"},
        {
            "op": "add_barrier",
            "line": [[lon, lat - 0.0003], [lon + 0.0005, lat - 0.0003]],
            "height_m": 3,
        },
        {
            "op": "add_building",
            "footprint": [[lon + 0.001, lat], [lon + 0.0012, lat], [lon + 0.0012, lat + 0.0002]],
            "height_m": 12,
        },
    ]
    for op in ops:
        r = await client.post(f"/api/scenarios/{sid}/edits", json={"op": op}, headers=PLANNER)
        assert r.status == 200, await r.text()
    r = await client.post(f"/api/scenarios/{sid}/publish", headers=PLANNER)
    assert r.status == 200, await r.text()
    doc: dict[str, Any] = await r.json()
    return doc


ClientFactory = Callable[..., Awaitable[Client]]
