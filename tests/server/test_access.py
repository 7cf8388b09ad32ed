"""Who may read and change what: every scenario route x every kind of credential.

A draft is for planners and admins; the baseline and published scenarios are for
anyone. A caller that may not read a draft gets exactly the answer of a scenario that
does not exist; an unknown token is a 401 everywhere. Tokens travel only in the
``Authorization`` header.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.hub_setup import LIVE_CONFIG_KEY
from greentwin.server.keys import STORE
from greentwin.server.ws import LiveConfig
from gt_testing import CITYGML

Client = TestClient[web.Request, web.Application]

TOKENS: dict[str, Any] = {
    "tok-viewer-0123456789": "viewer",
    "tok-citizen-012345678": "citizen",
    "tok-planner-012345678": "planner",
    "tok-admin-0123456789a": "admin",
}
#: Credential kind -> the request headers that carry it.
CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "bad": {"Authorization": "Bearer not-a-known-token-at-all"},
    **{role: {"Authorization": f"Bearer {tok}"} for tok, role in TOKENS.items()},
}
PLANNER = CREDENTIALS["planner"]
ADMIN = CREDENTIALS["admin"]
TREE = "berlin_testarea_trees_veg_1"
#: Near the Berlin test area (WGS84 degrees), where the fixture tileset stands.
LON, LAT = 13.4806, 52.5163
VEG_KEY = "0123456789abcdef0123456789abcdef"


def _overlay_dir(root: Path) -> Path:
    """A one-cell no2 overlay around the fixture point (meta, values, one tile)."""
    out = root / "no2"
    (out / "0" / "0").mkdir(parents=True)
    meta = {
        "unit": "ug/m3",
        "zoom": [0, 0],
        "bounds": [LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01],
        "legend": {"indicator": "no2", "classes": []},
        "grid": {"crs": "EPSG:4326", "x0": LON - 0.01, "y0": LAT - 0.01, "cell": 0.02}
        | {"nx": 1, "ny": 1},
    }
    (out / "meta.json").write_text(json.dumps(meta))
    np.save(out / "values.npy", np.full((1, 1), 21.5, dtype=np.float32))
    (out / "0" / "0" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return out


@pytest_asyncio.fixture
async def world(
    aiohttp_client: Any, tmp_path: Path, fixture_tileset: Path
) -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    """An app with a draft (``draft-x``) and a published scenario (``pub-x``), each with
    its own buildings tiles, a no2 overlay, a vegetation file and a planted tree."""
    config = Config(data_dir=tmp_path / "var", access_log=False, demo_inputs=CITYGML)
    app = create_app(config)
    app[LIVE_CONFIG_KEY] = LiveConfig(tokens=TOKENS)
    client: Client = await aiohttp_client(app)
    store = app[STORE]
    tiles = fixture_tileset
    overlay = _overlay_dir(tmp_path / "overlay")
    info: dict[str, Any] = {}
    for sid in ("draft-x", "pub-x"):
        r = await client.post("/api/scenarios", json={"name": sid, "id": sid}, headers=PLANNER)
        assert r.status == 201, await r.text()
        op: dict[str, Any] = {"op": "plant_tree", "id": "t1", "species": "tilia-cordata"}
        op |= {"position": [LON, LAT], "age_years": 8}
        r = await client.post(f"/api/scenarios/{sid}/edits", json={"op": op}, headers=PLANNER)
        assert r.status == 200, await r.text()
    r = await client.post("/api/scenarios/pub-x/publish", headers=PLANNER)
    assert r.status == 200, await r.text()
    for sid in ("baseline", "draft-x", "pub-x"):
        version = store.publish(sid, "buildings", tiles)
        over = store.publish(sid, "no2", overlay, kind="overlay", entry="meta.json")
        veg = store.data_dir / "vegetation" / sid / VEG_KEY
        veg.mkdir(parents=True)
        shutil.copy(tiles / "tileset.json", veg / "tileset.json")
        snap = await (await client.get(f"/api/scenarios/{sid}", headers=PLANNER)).json()
        geojson = next((v["url"] for v in snap["layers"].values() if "url" in v), None)
        info[sid] = {"tiles": version, "overlay": over, "geojson": geojson}
    yield client, info


def _routes(sid: str, info: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every route that takes a scenario: (method, path, JSON body)."""
    v = info[sid]
    q = f"scenario={sid}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", f"/api/layers?{q}", None),
        ("GET", f"/api/time?{q}", None),
        ("GET", f"/tiles/{sid}/{v['tiles']}/buildings/tileset.json", None),
        ("GET", f"/overlays/no2/{sid}/{v['overlay']}/0/0/0.png", None),
        ("GET", f"/api/probe?{q}&lon={LON}&lat={LAT}", None),
        ("GET", f"/api/green/trees?row=0&{q}&date=2030-07-01", None),
        ("GET", f"/api/green/trees/{TREE}?{q}&date=2030-07-01", None),
        ("POST", "/api/green/area", {"scenario": sid, "date": "2030-07-01", "polygon": None}),
        ("GET", f"/vegetation/{sid}/{VEG_KEY}/tileset.json", None),
        ("GET", f"/api/scenarios/{sid}", None),
        ("GET", f"/api/scenarios/{sid}/export?format=json", None),
        ("GET", f"/api/scenarios/{sid}/comments", None),
        ("GET", f"/api/scenarios/{sid}/votes", None),
    ]
    if sid != "baseline":  # the hub lists proposals, never the baseline itself
        routes += [
            ("GET", f"/api/hub/proposals/{sid}", None),
            ("GET", f"/api/hub/proposals/{sid}/here?lon={LON}&lat={LAT}", None),
            ("GET", f"/api/hub/proposals/{sid}/trees?years=5", None),
        ]
    if v["geojson"] is not None:
        routes.append(("GET", v["geojson"], None))
    return routes


def _expected(credential: str, sid: str) -> int:
    if credential == "bad":
        return 401
    if sid == "draft-x" and credential not in ("planner", "admin"):
        return 404
    return 200


async def _call(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.asyncio
async def test_every_route_every_credential(world: tuple[Client, dict[str, Any]]) -> None:
    client, info = world
    assert all(v["geojson"] for v in info.values() if v is not info["baseline"])
    wrong: list[str] = []
    for sid in ("baseline", "pub-x", "draft-x"):
        for method, path, body in _routes(sid, info):
            for credential, headers in CREDENTIALS.items():
                r = await _call(client, method, path, body, headers)
                want = _expected(credential, sid)
                if r.status != want:
                    wrong.append(f"{credential:8} {method} {path}: {r.status}, expected {want}")
                if credential == "none" and sid == "draft-x":
                    # exactly the answer for a scenario that does not exist
                    other = json.loads(json.dumps(body).replace("draft-x", "nosuch-x"))
                    missing = await _call(
                        client, method, path.replace("draft-x", "nosuch-x"), other, headers
                    )
                    a = (await r.text()).replace("draft-x", "nosuch-x")
                    b = await missing.text()
                    if (missing.status, b) != (r.status, a):
                        wrong.append(f"draft answered unlike a missing scenario: {path}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.asyncio
async def test_tokens_in_the_url_are_not_credentials(world: tuple[Client, dict[str, Any]]) -> None:
    client, _ = world
    token = next(t for t, r in TOKENS.items() if r == "planner")
    for param in ("token", "access_token"):
        r = await client.get(f"/api/layers?scenario=draft-x&{param}={token}")
        assert r.status == 404
        r = await client.get(f"/api/scenarios/draft-x?{param}={token}")
        assert r.status == 404


@pytest.mark.asyncio
async def test_shared_display_time_needs_a_planner(world: tuple[Client, dict[str, Any]]) -> None:
    client, _ = world
    before = await (await client.get("/api/time?scenario=baseline")).json()
    want = {"none": 401, "bad": 401, "viewer": 403, "citizen": 403, "planner": 200, "admin": 200}
    for credential, headers in CREDENTIALS.items():
        year = 2030 + len(credential)
        body = {"year": year, "date": f"{year}-10-01"}
        r = await client.put("/api/time?scenario=baseline", json=body, headers=headers)
        assert r.status == want[credential], credential
        now = await (await client.get("/api/time?scenario=baseline")).json()
        if want[credential] == 200:
            assert now["time"]["year"] == year
            before = now
        else:
            assert now == before, f"{credential} changed the shared time"
        if credential == "none":
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await client.put("/api/time?scenario=draft-x", json=body, headers=CREDENTIALS["viewer"])
    assert r.status == 403


@pytest.mark.asyncio
async def test_archiving_needs_an_admin(world: tuple[Client, dict[str, Any]]) -> None:
    client, _ = world
    for credential in ("none", "viewer", "citizen", "planner"):
        r = await client.post("/api/scenarios/pub-x/archive", headers=CREDENTIALS[credential])
        assert r.status == 403, credential
    r = await client.post("/api/scenarios/pub-x/archive", headers=CREDENTIALS["bad"])
    assert r.status == 401
    r = await client.post("/api/scenarios/pub-x/archive", headers=ADMIN)
    assert r.status == 200 and (await r.json())["status"] == "archived"
    # archived: out of public view, like a draft
    assert (await client.get("/api/layers?scenario=pub-x")).status == 404
    assert (await client.get("/api/layers?scenario=pub-x", headers=PLANNER)).status == 200


@pytest.mark.asyncio
async def test_a_published_child_of_a_draft_does_not_name_it(
    world: tuple[Client, dict[str, Any]],
) -> None:
    client, _ = world
    body = {"name": "child", "id": "child-x", "parent": "draft-x"}
    assert (await client.post("/api/scenarios", json=body, headers=PLANNER)).status == 201
    assert (await client.post("/api/scenarios/child-x/publish", headers=PLANNER)).status == 200
    for headers, want in (
        (CREDENTIALS["none"], None),
        (CREDENTIALS["citizen"], None),
        (PLANNER, "draft-x"),
    ):
        one = await (await client.get("/api/scenarios/child-x", headers=headers)).json()
        assert one["parent"] == want
        rows = (await (await client.get("/api/scenarios", headers=headers)).json())["scenarios"]
        assert {r["id"]: r["parent"] for r in rows}["child-x"] == want
        hub = await (await client.get("/api/hub/proposals/child-x", headers=headers)).json()
        assert hub["parent"] == want
        listed = await (await client.get("/api/hub/proposals", headers=headers)).json()
        assert {p["id"]: p["parent"] for p in listed["proposals"]}["child-x"] == want
    for token, want in ((None, None), ("tok-planner-012345678", "draft-x")):
        async with client.ws_connect("/ws") as ws:
            hello: dict[str, Any] = {"type": "hello", "protocol": "greentwin/1"}
            if token:
                hello["token"] = token
            await ws.send_json(hello)
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            await ws.send_json({"type": "subscribe", "scenario": "child-x"})
            snap = await ws.receive_json(timeout=5)
            assert snap["type"] == "snapshot" and snap["parent"] == want


@pytest.mark.asyncio
async def test_a_draft_without_layers_exists_for_planners_only(
    world: tuple[Client, dict[str, Any]],
) -> None:
    client, _ = world
    body = {"name": "bare", "id": "bare-x"}
    assert (await client.post("/api/scenarios", json=body, headers=PLANNER)).status == 201
    r = await client.get("/api/layers?scenario=bare-x", headers=PLANNER)
    assert r.status == 200 and (await r.json())["layers"] == {}
    hidden = await client.get("/api/layers?scenario=bare-x")
    missing = await client.get("/api/layers?scenario=nosuch-x")
    assert hidden.status == missing.status == 404
    assert (await hidden.text()).replace("bare-x", "nosuch-x") == await missing.text()
