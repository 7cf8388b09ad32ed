"""The green layer over HTTP: a tree's state and services, area totals, vegetation per date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.twin.district import District, date_bucket
from gt_testing import CITYGML

TREE = "berlin_testarea_trees_veg_1"


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient[Any, Any]:
    c: TestClient[Any, Any] = await aiohttp_client(create_app(config))
    return c


@pytest.fixture(scope="module")
def district() -> District:
    return District.load_demo(CITYGML)


def test_date_buckets() -> None:
    assert date_bucket(dt.date(2030, 1, 1)) == dt.date(2030, 1, 8)
    assert date_bucket(dt.date(2030, 1, 15)) == dt.date(2030, 1, 8)
    assert date_bucket(dt.date(2030, 1, 16)) == dt.date(2030, 1, 23)
    assert date_bucket(dt.date(2030, 2, 28)) == dt.date(2030, 2, 23)
    assert len({date_bucket(dt.date(2030, 1, 1) + dt.timedelta(d)) for d in range(365)}) == 24


@pytest.mark.asyncio
async def test_tree_state_and_services(client: TestClient[Any, Any], district: District) -> None:
    july = await client.get(f"/api/green/trees/{TREE}?date=2023-07-01")
    assert july.status == 200
    body = await july.json()
    tree = body["tree"]
    assert tree["id"] == TREE and tree["species"] == "tilia_cordata"
    assert tree["scientific_name"] == "Tilia cordata"
    state = tree["state"]
    assert state["height_m"] == pytest.approx(district.tree(TREE).height_m, rel=0.02)
    assert state["leaf_phase"] == "full_leaf" and state["age_years"] > 0
    services = tree["services"]
    assert services["carbon_kg"] > 0 and services["co2_kg"] == pytest.approx(
        3.67 * services["carbon_kg"]
    )
    assert services["pm10_removal_g_per_year"] > 0 and services["leaf_area_m2"] > 0
    jan = await (await client.get(f"/api/green/trees/{TREE}?date=2023-01-10")).json()
    assert jan["tree"]["state"]["leaf_phase"] == "bare"
    later = await (await client.get(f"/api/green/trees/{TREE}?date=2043-07-01")).json()
    assert later["tree"]["state"]["height_m"] > state["height_m"]
    assert later["tree"]["services"]["carbon_kg"] > services["carbon_kg"]
    by_row = await (await client.get("/api/green/trees?row=0&date=2023-07-01")).json()
    assert by_row["tree"] == tree


@pytest.mark.asyncio
async def test_area_totals(client: TestClient[Any, Any], district: District) -> None:
    whole = await client.post("/api/green/area", json={"date": "2023-07-01", "polygon": None})
    assert whole.status == 200
    totals = (await whole.json())["totals"]
    assert totals["trees"] == len(district.trees)
    # A box around the western half of the trees.
    xs = sorted(t.x for t in district.trees)
    mid = xs[len(xs) // 2]
    ys = [t.y for t in district.trees]
    box_xy = [
        (xs[0] - 1, min(ys) - 1),
        (mid, min(ys) - 1),
        (mid, max(ys) + 1),
        (xs[0] - 1, max(ys) + 1),
    ]
    lon, lat = district.to_lonlat([p[0] for p in box_xy], [p[1] for p in box_xy])
    polygon = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    part = await client.post("/api/green/area", json={"date": "2023-07-01", "polygon": polygon})
    assert part.status == 200
    sub = (await part.json())["totals"]
    inside = sum(1 for t in district.trees if t.x < mid)
    assert abs(sub["trees"] - inside) <= 2
    assert 0 < sub["carbon_kg"] < totals["carbon_kg"]
    assert sub["area_m2"] > 0 and 0 < sub["canopy_cover_fraction"] < 1


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/green/trees/nope?date=2023-07-01", None, 404),
        ("GET", "/api/green/trees/x?date=2023-13-01", None, 400),
        ("GET", "/api/green/trees/x?date=yesterday", None, 400),
        ("GET", "/api/green/trees?row=-1", None, 400),
        ("GET", "/api/green/trees?row=99999", None, 404),
        ("GET", "/api/green/trees/x?scenario=Bad!", None, 400),
        ("GET", "/api/vegetation?date=1800-01-01", None, 400),
        ("GET", "/api/vegetation?scenario=nope", None, 404),
        ("POST", "/api/green/area", {"polygon": [[13.4, 52.5], [13.41, 52.5]]}, 400),
        ("POST", "/api/green/area", {"polygon": [[13.4, 52.5]] * 1001}, 400),
        ("POST", "/api/green/area", {"polygon": [[13.4, 52.5], [200, 52.5], [13.4, 52.6]]}, 400),
        ("POST", "/api/green/area", {"polygon": "everything"}, 400),
        ("POST", "/api/green/area", {"polygon": None, "extra": 1}, 400),
        ("POST", "/api/green/area", [1, 2], 400),
        ("GET", "/vegetation/baseline/0123/tileset.json", None, 404),
        ("GET", "/vegetation/baseline/0123456789abcdef0123456789abcdef/..%2Fx", None, 400),
    ],
)
async def test_bad_requests_are_json(
    client: TestClient[Any, Any], method: str, path: str, body: Any, status: int
) -> None:
    resp = await client.request(method, path, json=body)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["status"] == status


@pytest.mark.asyncio
async def test_vegetation_per_date_is_built_once_and_served(client: TestClient[Any, Any]) -> None:
    first = await client.get("/api/vegetation?date=2030-01-03")
    assert first.status == 200, await first.text()
    doc = await first.json()
    assert doc["bucket"] == "2030-01-08" and doc["trees"] > 0
    same_bucket = await (await client.get("/api/vegetation?date=2030-01-12")).json()
    assert same_bucket["url"] == doc["url"]
    july = await (await client.get("/api/vegetation?date=2030-07-03")).json()
    assert july["url"] != doc["url"]
    tileset = await client.get(doc["url"])
    assert tileset.status == 200 and "immutable" in tileset.headers["Cache-Control"]
    assert (await tileset.json())["asset"]["version"] == "1.1"
