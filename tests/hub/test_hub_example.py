"""The hub's noise and NO2 figures of a proposal with maps, and the demo's example proposal.

The figures test runs the district model (``DistrictRecompute``: an edit recomputes
the noise and air maps) and checks the hub's figures against the scenario's summary
export, computed here from its per-building rows. The example tests use the plain
recompute: what they check is the edit log, the status and the hub's list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from greentwin.server.hub_setup import setup_hub
from greentwin.server.live import HUB_KEY, setup_live
from greentwin.server.store import TileStore
from greentwin.server.ws import LiveConfig
from greentwin.twin.demo_example import (
    EXAMPLE_ID,
    EXAMPLE_NAME,
    EXAMPLE_TITLES,
    ensure_example,
    example_ops,
)
from greentwin.twin.district import District
from greentwin.twin.ops import Extent, OpError
from greentwin.twin.recompute_district import DistrictRecompute
from gt_hub import ADMIN, CITIZEN, PLANNER, TOKENS, ClientFactory
from gt_testing import CITYGML

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

Client = TestClient[web.Request, web.Application]
Start = Callable[[], Awaitable[Client]]


@pytest.fixture(scope="module")
def district() -> District:
    return District.load_demo(CITYGML)


@pytest_asyncio.fixture
async def with_maps(
    aiohttp_client: Any, tmp_path: Path, district: District
) -> AsyncIterator[Client]:
    """The live channel with the district model, and the hub."""
    tiles = TileStore(tmp_path / "var")
    tiles.ensure()
    made: list[DistrictRecompute] = []

    def recompute(store: Any) -> DistrictRecompute:
        made.append(DistrictRecompute(store, tiles, CITYGML))
        return made[-1]

    config = LiveConfig(tokens=TOKENS, extent=Extent.bbox(*district.bounds_lonlat()))
    app = web.Application()
    setup_live(app, store_path=tmp_path / "s.sqlite", live_config=config, recompute=recompute)
    setup_hub(app, db_path=tmp_path / "hub.sqlite", address_sources=[])
    client: Client = await aiohttp_client(app)
    yield client
    for rc in made:
        rc.close()


def _dwelling_mean(rows: list[dict[str, Any]], key: str) -> float:
    pairs: list[tuple[int, float]] = [
        (int(r["dwellings"]), float(r[key]["noise_lden"]))
        for r in rows
        if r["dwellings"] > 0 and r[key]["noise_lden"] is not None
    ]
    return round(sum(d * v for d, v in pairs) / sum(d for d, _ in pairs), 1)


async def test_a_proposal_with_maps_shows_noise_and_no2(
    with_maps: Client, district: District
) -> None:
    client = with_maps
    sid = "barrier"
    r = await client.post("/api/scenarios", json={"name": "A barrier", "id": sid}, headers=PLANNER)
    assert r.status == 201
    barrier = example_ops(district)[-1]
    r = await client.post(f"/api/scenarios/{sid}/edits", json={"op": barrier}, headers=PLANNER)
    assert r.status == 200, await r.text()
    assert (await client.post(f"/api/scenarios/{sid}/publish", headers=PLANNER)).status == 200
    props = (await (await client.get("/api/hub/proposals")).json())["proposals"]
    effects = props[0]["effects"]
    # the figures are those of the scenario's indicator summary
    r = await client.get(f"/api/scenarios/{sid}/export?format=summary", headers=PLANNER)
    assert r.status == 200, await r.text()
    summary = await r.json()
    rows = summary["per_building"]
    assert effects["noise_lden_db"] == _dwelling_mean(rows, "levels")
    assert effects["noise_lden_db_today"] == _dwelling_mean(rows, "baseline_levels")
    no2 = summary["air"]["no2"]["dwelling_weighted_mean"]
    assert effects["no2_ug_m3"] == round(no2["scenario"], 1)
    assert effects["no2_ug_m3_today"] == round(no2["baseline"], 1)
    assert 30 < effects["noise_lden_db"] < 90 and 0 < effects["no2_ug_m3"] < 200
    # the example's barrier stands where it shields homes: the dwelling mean drops
    assert effects["noise_lden_db"] < effects["noise_lden_db_today"]
    one = await (await client.get(f"/api/hub/proposals/{sid}")).json()
    assert one["effects"]["noise_lden_db"] == effects["noise_lden_db"]


async def test_example_proposal_is_published(hub_client: ClientFactory, district: District) -> None:
    client = await hub_client()
    assert await ensure_example(client.app[HUB_KEY], district) == "published"
    ops = example_ops(district)
    trees = sum(1 for op in ops if op["op"] == "plant_tree")
    assert trees >= 5 and ops[-1]["op"] == "add_barrier"
    lons = [op["position"][0] for op in ops[:-1]]
    assert lons == sorted(lons)  # one after the other along the street
    props = (await (await client.get("/api/hub/proposals")).json())["proposals"]
    assert [p["id"] for p in props] == [EXAMPLE_ID]
    p = props[0]
    assert p["seq"] == len(ops)
    assert p["summary"]["trees_planted"] == trees and p["summary"]["barriers_added"] == 1
    # a title and a summary in each of the hub's languages, each its own
    languages = {
        f.stem for f in (Path(__file__).parents[2] / "web" / "hub" / "i18n").glob("*.json")
    }
    assert set(p["titles"]) == languages == {"en", "fi", "et"}
    assert p["titles"] == EXAMPLE_TITLES and p["titles"]["en"]["title"] == p["name"] == EXAMPLE_NAME
    assert len({t["title"] for t in p["titles"].values()}) == 3
    assert len({t["summary"] for t in p["titles"].values()}) == 3
    one = await (await client.get(f"/api/hub/proposals/{EXAMPLE_ID}")).json()
    assert one["titles"]["fi"] == EXAMPLE_TITLES["fi"]
    events = await client.app[HUB_KEY].store.events(EXAMPLE_ID, 0)
    assert {e.author for e in events} == {"planner#demo"} and len(events) == len(ops)


async def test_example_is_built_once_across_restarts(
    hub_client: ClientFactory, district: District
) -> None:
    ops = example_ops(district)
    client = await hub_client()
    hub = client.app[HUB_KEY]
    # a first start that stopped after two edits
    await hub.store.create("example", author="planner#demo", sid=EXAMPLE_ID)
    for op in ops[:2]:
        await hub.apply_edit(EXAMPLE_ID, op, role="planner", author="planner#demo")
    assert await ensure_example(hub, district) == "published"
    assert (await hub.store.get(EXAMPLE_ID)).seq == len(ops)  # each edit once
    await client.close()
    again = await hub_client()  # a restart on the same files
    hub = again.app[HUB_KEY]
    assert await ensure_example(hub, district) == "published"
    assert (await hub.store.get(EXAMPLE_ID)).seq == len(ops)
    events = await hub.store.events(EXAMPLE_ID, 0)
    planted = [e.op["id"] for e in events if e.op and e.op["op"] == "plant_tree"]
    assert len(planted) == len(set(planted)) == len(ops) - 1
    props = (await (await again.get("/api/hub/proposals")).json())["proposals"]
    assert [p["id"] for p in props] == [EXAMPLE_ID]
    assert props[0]["titles"] == EXAMPLE_TITLES  # also on a store from an interrupted start
    # an admin archives it: later starts leave it archived
    r = await again.post(f"/api/scenarios/{EXAMPLE_ID}/archive", headers=ADMIN)
    assert r.status == 200
    assert await ensure_example(hub, district) == "archived"
    assert (await (await again.get("/api/hub/proposals")).json())["proposals"] == []


async def test_titles_per_language_are_checked(hub_client: ClientFactory) -> None:
    client = await hub_client()
    store = client.app[HUB_KEY].store
    sid = (await store.create("Plain name", author="planner")).id
    other = (await store.create("Other", author="planner")).id
    props = {"fi": {"title": "  Puita  ", "summary": ""}, "pt-BR": {"title": "Árvores"}}
    assert await store.set_titles(sid, props) == {
        "fi": {"title": "Puita"},
        "pt-BR": {"title": "Árvores"},
    }
    assert await store.titles([sid, other]) == {
        sid: {"fi": {"title": "Puita"}, "pt-BR": {"title": "Árvores"}}
    }
    await store.set_titles(sid, {"et": {"title": "Puud"}})  # replaces the map
    assert await store.titles([sid]) == {sid: {"et": {"title": "Puud"}}}
    for bad in (
        [],
        {"finnish": {"title": "x"}},
        {"fi": {"title": ""}},
        {"fi": {"title": "x" * 201}},
        {"fi": {"title": "x", "summary": "y" * 1001}},
        {"fi": {"title": "x", "colour": "red"}},
        {"fi": "x"},
    ):
        with pytest.raises(OpError):
            await store.set_titles(sid, bad)
    assert await store.titles([sid]) == {sid: {"et": {"title": "Puud"}}}
    # over HTTP: planners set them, others may not, bad maps are refused with 422
    url = f"/api/scenarios/{sid}/titles"
    fi = {"titles": {"fi": {"title": "Puita", "summary": "Kolme puuta."}}}
    assert (await client.put(url, json=fi, headers=CITIZEN)).status == 403
    bad = await client.put(url, json={"titles": {"fi": {"title": ""}}}, headers=PLANNER)
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid_op"
    r = await client.put(url, json=fi, headers=PLANNER)
    assert r.status == 200 and (await r.json())["titles"] == fi["titles"]
    assert await store.titles([sid]) == {sid: fi["titles"]}
