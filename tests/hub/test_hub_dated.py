"""The hub's before/after at an address follows the chosen time (the date's maps)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from gt_hub import HOME, Client, make_app, publish_proposal
from gt_testing import CITYGML


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_before_after_at_an_address_follows_the_years(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client: Client = await aiohttp_client(make_app(tmp_path / "var", citygml=CITYGML))
    await publish_proposal(client)  # plants trees next to HOME
    lon, lat = HOME[0] - 0.0002, HOME[1] + 0.0001  # on the ground where it plants a maple
    base = f"/api/hub/proposals/green-street/here?lon={lon}&lat={lat}"
    docs = {}
    for years in (0, 20):
        r = await client.get(f"{base}&years={years}&season=summer")
        assert r.status == 200, await r.text()
        docs[years] = await r.json()
    now, later = docs[0], docs[20]
    year = dt.datetime.now(dt.UTC).year
    assert now["time"] == {"years": 0, "season": "summer", "date": f"{year}-07-15"}
    assert later["time"]["date"] == f"{year + 20}-07-15"
    assert now["effects_status"] == later["effects_status"] == "computed"
    for doc in (now, later):
        for name in ("noise_lden_db", "no2_ug_m3", "pm10_ug_m3", "utci_c", "shade_h"):
            v = doc["effects"][name]
            assert v["before"] is not None and v["after"] is not None, (name, doc["time"])
    s0, s20 = now["effects"]["shade_h"], later["effects"]["shade_h"]
    # the proposal's trees beside the address have grown: more shade with them in 20 years
    assert s20["after"] > s0["after"]
    # and the proposal's own effect (after - before) on shade is larger than now's
    assert s20["after"] - s20["before"] > s0["after"] - s0["before"] > -0.01
    # the felt temperature at 3 pm follows the shade: cooler with the grown tree
    u0, u20 = now["effects"]["utci_c"], later["effects"]["utci_c"]
    assert u20["after"] - u20["before"] < u0["after"] - u0["before"] < 0.01
    # the same answer again comes from the cache (the maps' keys do not change)
    r = await client.get(f"/api/maps?scenario=green-street&date={year + 20}-07-15")
    key = (await r.json())["key"]
    again = await client.get(f"{base}&years=20&season=summer")
    assert (await again.json())["effects"] == later["effects"]
    r = await client.get(f"/api/maps?scenario=green-street&date={year + 20}-07-15")
    maps = await r.json()
    assert maps["key"] == key
    # a tile of the pyramid with nothing drawn on it: transparent, not an error for maps
    z = maps["layers"]["utci"]["zoom"][1]
    r = await client.get(f"/timemaps/green-street/{key}/utci/{z}/0/0.png")
    assert r.status == 200 and r.headers["Content-Type"] == "image/png"
    assert (await client.get(f"/timemaps/green-street/{'0' * 32}/utci/{z}/0/0.png")).status == 404
    # only the hub's own time choices
    for bad in ("years=7", "years=-5", "years=x", "season=monsoon"):
        assert (await client.get(f"{base}&{bad}")).status == 400, bad
    # without a time: the live (survey-date) values, as before
    plain = await (await client.get(base)).json()
    assert "time" not in plain and "shade_h" not in plain["effects"]


@pytest.mark.asyncio
async def test_many_waiting_computations_are_refused(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anonymous requests for many dates cannot queue unbounded work: past MAX_PENDING
    distinct waiting computations the answer is 503 with Retry-After."""
    from greentwin.server import routes_time

    monkeypatch.setattr(routes_time, "MAX_PENDING", 0)
    client: Client = await aiohttp_client(make_app(tmp_path / "var", citygml=CITYGML))
    r = await client.get("/api/maps?date=2031-07-15")
    assert r.status == 503 and r.headers["Retry-After"] == str(routes_time.RETRY_AFTER_S)
    await publish_proposal(client)
    lon, lat = HOME
    r = await client.get(
        f"/api/hub/proposals/green-street/here?lon={lon}&lat={lat}&years=5&season=winter"
    )
    assert r.status == 503 and "Retry-After" in r.headers
    assert (await r.json())["error"]["code"] == "busy"


def test_baseline_states_in_memory_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greentwin.server import routes_time

    computed: list[dt.date] = []

    class State:
        def portable(self) -> State:
            return self

    class Base:  # weakly referenceable, like a District
        pass

    def fake(district: Any, out: Any, *, date: dt.date, **_: Any) -> State:
        computed.append(date)
        return State()

    monkeypatch.setattr(routes_time, "overlay_layers", fake)
    tm = routes_time.TimeMaps(tmp_path)
    try:
        base = Base()
        days = [dt.date(2030 + i, 7, 8) for i in range(routes_time.MAX_BUCKETS + 4)]
        for day in days:
            tm.baseline_maps(base, day)  # type: ignore[arg-type]
        kept = tm._base[base]  # type: ignore[index]
        assert len(kept) == routes_time.MAX_BUCKETS
        tm.baseline_maps(base, days[-1])  # type: ignore[arg-type]  # kept: not recomputed
        assert len(computed) == len(days)
        tm.baseline_maps(base, days[0])  # type: ignore[arg-type]  # dropped: computed again
        assert len(computed) == len(days) + 1
    finally:
        tm.shutdown()
