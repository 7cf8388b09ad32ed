"""Time drives the maps: overlays on a date bucket, and the indicators over the years."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from gt_testing import CITYGML


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient[Any, Any]:
    c: TestClient[Any, Any] = await aiohttp_client(create_app(config))
    return c


async def _values(client: TestClient[Any, Any], layer: dict[str, Any]) -> np.ndarray:
    url = layer["url"].split("/{z}")[0] + "/values.npy"
    resp = await client.get(url)
    assert resp.status == 200
    return np.asarray(np.load(io.BytesIO(await resp.read())), dtype=np.float64)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_maps_on_a_date_follow_the_years(client: TestClient[Any, Any]) -> None:
    now = await client.get("/api/maps?date=2023-07-20")
    assert now.status == 200
    a = await now.json()
    assert a["bucket"] == "2023-07-23"
    for name in ("noise_lden", "noise_lden_cnossos", "no2", "pm10", "shade_hours", "utci"):
        assert name in a["layers"], name
    utci = a["layers"]["utci"]
    assert utci["unit"] == "degC" and utci["legend"]["classes"]
    z = utci["zoom"][0]
    meta = await client.get(utci["url"].split("/{z}")[0] + "/meta.json")
    assert meta.status == 200
    assert (await meta.json())["indicator"] == "utci"
    # the same bucket again: the same immutable key, computed once
    again = await (await client.get("/api/maps?date=2023-07-16")).json()
    assert again["key"] == a["key"]
    later = await (await client.get("/api/maps?date=2043-07-20")).json()
    assert later["key"] != a["key"] and later["bucket"] == "2043-07-23"
    shade_now = await _values(client, a["layers"]["shade_hours"])
    shade_later = await _values(client, later["layers"]["shade_hours"])
    assert np.nansum(shade_later) > np.nansum(shade_now)  # the trees have grown
    # a key that does not exist, a path that escapes: both refused
    assert (await client.get(f"/timemaps/baseline/{'0' * 32}/utci/{z}/0/0.png")).status == 404
    bad = await client.get(f"/timemaps/baseline/{a['key']}/..%2F..%2Fx")
    assert bad.status in (400, 404)
    assert (await client.get("/api/maps?date=2023-13-01")).status == 400


@pytest.mark.slow
@pytest.mark.asyncio
async def test_course_over_the_years(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/course?offsets=0,20")
    assert resp.status == 200
    body = await resp.json()
    c = body["course"]
    assert c["offsets"] == [0, 20] and c["years"][1] - c["years"][0] == 20
    series = c["series"]
    assert set(series) == {
        "carbon_t",
        "canopy_percent",
        "lden_homes",
        "no2_homes",
        "shade_places",
        "utci_places",
    }
    assert series["carbon_t"]["values"][1] > series["carbon_t"]["values"][0]
    assert series["canopy_percent"]["values"][1] > series["canopy_percent"]["values"][0]
    assert series["shade_places"]["values"][1] >= series["shade_places"]["values"][0]
    assert all(v is not None for s in series.values() for v in s["values"])
    assert body["baseline"] == c  # the baseline is its own baseline
    assert (await client.get("/api/course?offsets=0,99")).status == 400
    assert (await client.get("/api/course?offsets=a")).status == 400


def test_a_failed_computation_leaves_no_scratch_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greentwin.server import routes_time
    from greentwin.twin.district import District

    def fail(district: Any, out: Path, **_: Any) -> None:
        (Path(out) / "noise_lden").mkdir(parents=True)  # half written, then it breaks
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(routes_time, "overlay_layers", fail)
    tm = routes_time.TimeMaps(tmp_path)
    try:
        d = District.load_demo(CITYGML)
        with pytest.raises(RuntimeError):
            tm.maps("s1", d, d, dt.date(2023, 7, 8))
        assert not list((tmp_path / "s1").iterdir())
    finally:
        tm.shutdown()
