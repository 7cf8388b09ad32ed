"""The planning hub's HTTP API: proposals, search, comments, votes, moderation, abuse."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from greentwin.server.hub import HubSettings, HubStore, RateLimiter, clean_text
from greentwin.twin.protocol import load_schema
from gt_hub import ADMIN, CITIZEN, HOME, PLANNER, Client, ClientFactory, make_app, publish_proposal
from gt_testing import CITYGML
from jsonschema import Draft202012Validator

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

_SCHEMA = load_schema()


def _check_ws(msg: dict[str, Any]) -> None:
    Draft202012Validator(_SCHEMA).validate(msg)
    Draft202012Validator({"$defs": _SCHEMA["$defs"], "$ref": f"#/$defs/{msg['type']}"}).validate(
        msg
    )


async def _identity(client: Client, nickname: str = "Maija") -> dict[str, str]:
    r = await client.post("/api/hub/identity", json={"nickname": nickname})
    assert r.status == 201, await r.text()
    doc = await r.json()
    assert doc["nickname"] == nickname and len(doc["token"]) >= 40
    return {"X-Participant-Token": doc["token"]}


def _key() -> str:
    return uuid.uuid4().hex


async def test_proposals_summary_and_detail(hub_client: ClientFactory) -> None:
    client = await hub_client()
    r = await client.get("/api/hub/proposals")
    assert (await r.json())["proposals"] == []  # the baseline is no proposal
    # a draft is not listed and not readable by citizens
    r = await client.post(
        "/api/scenarios", json={"name": "Draft", "id": "draft-1"}, headers=PLANNER
    )
    assert r.status == 201
    await publish_proposal(client)
    r = await client.get("/api/hub/proposals")
    props = (await r.json())["proposals"]
    assert [p["id"] for p in props] == ["green-street"]
    s = props[0]["summary"]
    assert s["trees_planted"] == 3 and s["trees_removed"] == 1
    assert s["roads_closed"] == 1 and s["roads_changed"] == 0
    assert s["barriers_added"] == 1 and s["buildings_added"] == 1
    # no indicator computation is wired for scenarios: null, never an invented number
    eff = props[0]["effects"]
    assert eff["noise_lden_db"] is None and eff["no2_ug_m3"] is None
    assert eff["carbon_kg_20y"] > 0 and eff["canopy_m2_20y"] > 0  # from the green model
    assert (await client.get("/api/hub/proposals/draft-1")).status == 404
    assert (await client.get("/api/hub/proposals/draft-1", headers=PLANNER)).status == 200

    r = await client.get("/api/hub/proposals/green-street")
    doc = await r.json()
    assert {c["kind"] for c in doc["changes"]} == {"tree_planted", "barrier", "building_added"}
    west, south, east, north = doc["bbox"]
    assert west < HOME[0] < east and south < HOME[1] < north
    assert "trees" in doc["layers"]["changes"]
    assert doc["layers"]["changes"]["trees"]["url"].endswith(".geojson")


async def test_here_lists_nearby_changes_and_uncomputed_effects(hub_client: ClientFactory) -> None:
    client = await hub_client(citygml=CITYGML)
    await publish_proposal(client)
    lon, lat = HOME
    r = await client.get(f"/api/hub/proposals/green-street/here?lon={lon}&lat={lat}&radius=60")
    assert r.status == 200, await r.text()
    doc = await r.json()
    ids = [c["id"] for c in doc["changes"]]
    assert "t-new-1" in ids and "t-new-2" in ids and "t-far" not in ids
    assert doc["changes"][0]["distance_m"] <= doc["changes"][-1]["distance_m"]
    near = next(c for c in doc["changes"] if c["id"] == "t-new-1")
    assert 12.0 < near["distance_m"] < 15.5  # 0.0002 deg of longitude at 52.5 N is ~13.5 m
    assert doc["effects_status"] == "not_computed"
    assert doc["effects"]["noise_lden_db"] == {"before": None, "after": None}
    assert doc["place"] is not None and "Normannenstraße" in doc["place"]["label"]
    bad = await client.get("/api/hub/proposals/green-street/here?lon=abc&lat=1")
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "schema"


async def test_address_search(hub_client: ClientFactory) -> None:
    client = await hub_client(citygml=CITYGML)
    doc = await (await client.get("/api/hub/search?q=normannenstrasse")).json()
    assert doc["indexed"] > 10 and doc["sources"] == ["berlin_testarea_lod2_buildings.gml"]
    assert doc["results"] and all("Normannenstraße" in p["label"] for p in doc["results"])
    doc = await (await client.get("/api/hub/search?q=rathaus lichtenberg")).json()
    assert [p["name"] for p in doc["results"]] == ["Rathaus Lichtenberg"]
    assert 13.47 < doc["results"][0]["lon"] < 13.49 and 52.51 < doc["results"][0]["lat"] < 52.52
    doc = await (await client.get(f"/api/hub/search?lon={HOME[0]}&lat={HOME[1]}")).json()
    assert doc["results"][0]["building"] == "DEBE11YYI0000I3R"
    doc = await (await client.get("/api/hub/search?lon=0&lat=0")).json()
    assert doc["results"] == []
    assert (await (await client.get("/api/hub/search?q=")).json())["results"] == []


async def test_comments_are_plain_text_and_replay_safe(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client)
    text = '<script>alert("x")</script><img src=x onerror="alert(1)"> & more'
    key = _key()
    r = await client.post(
        "/api/scenarios/green-street/comments", json={"text": text, "client_key": key}, headers=who
    )
    assert r.status == 201, await r.text()
    first = await r.json()
    assert first["text"] == text and first["mine"] is True  # stored as typed, as text
    # a replay (same idempotency key) gives the same comment, no duplicate
    r = await client.post(
        "/api/scenarios/green-street/comments", json={"text": text, "client_key": key}, headers=who
    )
    assert r.status == 200 and (await r.json())["id"] == first["id"]
    # the same key for another text is a conflict, not a silent overwrite
    r = await client.post(
        "/api/scenarios/green-street/comments",
        json={"text": "other", "client_key": key},
        headers=who,
    )
    assert r.status == 409
    r = await client.get("/api/scenarios/green-street/comments")
    comments = (await r.json())["comments"]
    assert len(comments) == 1 and comments[0]["text"] == text and comments[0]["nickname"] == "Maija"
    assert r.headers["Content-Type"].startswith("application/json")
    # no identity: no post
    r = await client.post(
        "/api/scenarios/green-street/comments", json={"text": "hi", "client_key": _key()}
    )
    assert r.status == 401
    r = await client.post(
        "/api/scenarios/green-street/comments",
        json={"text": "hi", "client_key": _key()},
        headers={"X-Participant-Token": "forged"},
    )
    assert r.status == 401
    # comments on drafts or unknown proposals are refused
    r = await client.post(
        "/api/scenarios/nope/comments", json={"text": "hi", "client_key": _key()}, headers=who
    )
    assert r.status == 404
    # control characters are removed, text is NFC
    assert clean_text("a\x00b\u202ec e\u0301", 100) == "abc é"


async def test_oversize_and_malformed_posts_are_refused(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client)
    url = "/api/scenarios/green-street/comments"
    r = await client.post(url, json={"text": "x" * 2001, "client_key": _key()}, headers=who)
    assert r.status == 422 and (await r.json())["error"]["code"] == "too_large"
    r = await client.post(url, json={"text": "x" * 2000, "client_key": _key()}, headers=who)
    assert r.status == 201
    r = await client.post(
        url,
        data=json.dumps({"text": "y" * 40_000, "client_key": _key()}),
        headers={**who, "Content-Type": "application/json"},
    )
    assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"
    r = await client.post(url, data=b"{not json", headers=who)
    assert r.status == 400
    r = await client.post(url, json={"text": "   ", "client_key": _key()}, headers=who)
    assert r.status == 422
    r = await client.post(url, json={"text": "ok", "client_key": "short"}, headers=who)
    assert r.status == 422
    r = await client.post("/api/hub/identity", json={"nickname": "x" * 41})
    assert r.status == 422
    assert (await client.get("/api/scenarios/green-street/comments")).status == 200


async def test_comment_flood_is_rate_limited(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client)
    statuses = []
    for i in range(8):
        r = await client.post(
            "/api/scenarios/green-street/comments",
            json={"text": f"flood {i}", "client_key": _key()},
            headers=who,
        )
        statuses.append(r.status)
        if r.status == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert (await r.json())["error"]["code"] == "rate_limited"
    assert statuses[:3] == [201, 201, 201] and statuses[3:] == [429] * 5
    # many identities from one address are limited too (address bucket)
    statuses = []
    for i in range(8):
        r = await client.post("/api/hub/identity", json={"nickname": f"bot{i}"})
        statuses.append(r.status)
    assert statuses.count(201) == 4 and statuses[-1] == 429  # 5 per address, 1 used above
    rows = (await (await client.get("/api/scenarios/green-street/comments")).json())["comments"]
    assert len(rows) == 3


async def test_address_limit_spans_participants() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, size=2, clock=lambda: 100.0)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(1.0)
    limiter.take("b")
    limiter.take("c")  # LRU drops "a": memory stays bounded
    assert len(limiter._buckets) == 2


async def test_votes_cannot_be_inflated(hub_client: ClientFactory) -> None:
    client = await hub_client(settings=HubSettings(vote_burst=50))
    await publish_proposal(client)
    a = await _identity(client, "Anu")
    b = await _identity(client, "Bert")
    url = "/api/scenarios/green-street/votes"
    for _ in range(5):  # replaying the same request
        r = await client.post(url, json={"value": "up"}, headers=a)
        assert r.status == 200
    assert await r.json() == {"up": 1, "down": 0, "mine": 1}
    many = await asyncio.gather(
        *(client.post(url, json={"value": "up"}, headers=b) for _ in range(6))
    )
    assert all(x.status == 200 for x in many)
    r2 = await client.post(url, json={"value": "down"}, headers=a)  # a changes their mind
    assert await r2.json() == {"up": 1, "down": 1, "mine": -1}
    r2 = await client.post(url, json={"value": "none"}, headers=b)
    assert await r2.json() == {"up": 0, "down": 1, "mine": 0}
    assert (await client.post(url, json={"value": 5}, headers=a)).status == 422
    assert (await client.post(url, json={"value": True}, headers=a)).status == 422
    assert (await client.post(url, json={"value": "up"})).status == 401
    doc = await (await client.get(url)).json()
    assert doc == {"up": 0, "down": 1, "mine": 0}
    props = (await (await client.get("/api/hub/proposals")).json())["proposals"]
    assert props[0]["votes"] == {"up": 0, "down": 1}


async def test_hidden_comment_stays_hidden_for_citizens(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client, "Troll")
    r = await client.post(
        "/api/scenarios/green-street/comments",
        json={"text": "abusive words", "client_key": _key()},
        headers=who,
    )
    cid = (await r.json())["id"]
    url = f"/api/scenarios/green-street/comments/{cid}/hide"
    assert (await client.post(url, json={"reason": "insult"})).status == 403
    assert (await client.post(url, json={"reason": "insult"}, headers=who)).status == 403
    bad = await client.post(url, json={"reason": "x"}, headers={"Authorization": "Bearer wrong"})
    assert bad.status == 401
    # moderation is the admin's: a planner is refused
    r = await client.post(url, json={"reason": "insult"}, headers=PLANNER)
    assert r.status == 403 and "admin" in (await r.json())["error"]["message"]
    r = await client.post(url, json={"reason": "insult"}, headers=ADMIN)
    assert r.status == 200, await r.text()
    assert (
        await client.post(
            "/api/scenarios/green-street/comments/999/hide", json={"reason": "x"}, headers=ADMIN
        )
    ).status == 404
    for headers in ({}, who, PLANNER):  # citizens, the author and planners included
        c = (
            await (await client.get("/api/scenarios/green-street/comments", headers=headers)).json()
        )["comments"][0]
        assert c["hidden"] is True and c["hidden_reason"] == "insult"
        assert c["text"] is None and c["nickname"] is None
        assert "abusive" not in json.dumps(c)
    c = (await (await client.get("/api/scenarios/green-street/comments", headers=ADMIN)).json())[
        "comments"
    ][0]
    assert c["text"] == "abusive words" and c["hidden_reason"] == "insult"
    props = (await (await client.get("/api/hub/proposals")).json())["proposals"]
    assert props[0]["comments"] == 0


async def test_restart_keeps_comments_votes_and_identities(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client)
    r = await client.post(
        "/api/scenarios/green-street/comments",
        json={"text": "keep me", "client_key": "k-restart-1"},
        headers=who,
    )
    assert r.status == 201
    await client.post("/api/scenarios/green-street/votes", json={"value": "up"}, headers=who)
    await client.close()
    client2 = await hub_client()  # a new application on the same data folder
    rows = (await (await client2.get("/api/scenarios/green-street/comments", headers=who)).json())[
        "comments"
    ]
    assert [c["text"] for c in rows] == ["keep me"] and rows[0]["mine"] is True
    assert await (await client2.get("/api/scenarios/green-street/votes", headers=who)).json() == {
        "up": 1,
        "down": 0,
        "mine": 1,
    }
    r = await client2.post(
        "/api/scenarios/green-street/comments",
        json={"text": "keep me", "client_key": "k-restart-1"},
        headers=who,
    )
    assert r.status == 200  # the replay after a restart is still recognised


async def test_live_messages_reach_subscribers(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "protocol": "greentwin/1", "role": "viewer"})
    assert (await ws.receive_json(timeout=5))["type"] == "welcome"
    await ws.send_json({"type": "subscribe", "scenario": "green-street"})
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    who = await _identity(client)
    r = await client.post(
        "/api/scenarios/green-street/comments",
        json={"text": "<b>live</b>", "client_key": _key()},
        headers=who,
    )
    cid = (await r.json())["id"]
    msg = await ws.receive_json(timeout=5)
    _check_ws(msg)
    assert msg["type"] == "comment" and msg["comment"]["text"] == "<b>live</b>"
    assert msg["comment"]["mine"] is False
    await client.post("/api/scenarios/green-street/votes", json={"value": "up"}, headers=who)
    msg = await ws.receive_json(timeout=5)
    _check_ws(msg)
    assert msg["type"] == "votes" and (msg["up"], msg["down"]) == (1, 0)
    await client.post(
        "/api/scenarios/green-street/votes", json={"value": "up"}, headers=who
    )  # replay
    await client.post(
        f"/api/scenarios/green-street/comments/{cid}/hide", json={"reason": "spam"}, headers=ADMIN
    )
    msg = await ws.receive_json(timeout=5)  # no second votes message for the replay
    _check_ws(msg)
    assert msg == {
        "type": "comment_hidden",
        "scenario": "green-street",
        "seq": msg["seq"],
        "id": cid,
        "reason": "spam",
    }
    await ws.close()


async def test_hub_pages_are_served(hub_client: ClientFactory) -> None:
    client = await hub_client()
    r = await client.get("/hub", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/hub/"
    r = await client.get("/hub/")
    assert r.status == 200 and "<main" in await r.text()
    for name in ("app.js", "style.css", "i18n/en.json", "i18n/fi.json", "i18n/et.json"):
        assert (await client.get(f"/hub/{name}")).status == 200, name
    assert (await client.get("/hub/../server/hub.py")).status in (400, 404)


async def test_trees_grow_and_change_with_the_seasons(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    url = "/api/hub/proposals/green-street/trees"
    now = await (await client.get(f"{url}?years=0&season=summer")).json()
    later = await (await client.get(f"{url}?years=20&season=summer")).json()
    winter = await (await client.get(f"{url}?years=10&season=winter")).json()
    assert [t["id"] for t in now["trees"]] == ["t-new-1", "t-new-2", "t-far"]
    for a, b in zip(now["trees"], later["trees"], strict=True):
        assert b["height_m"] > a["height_m"] and b["crown_diameter_m"] > a["crown_diameter_m"]
    assert later["canopy_m2"] > now["canopy_m2"] > 0
    assert later["carbon_kg"] > now["carbon_kg"] > 0
    assert later["co2_kg"] == pytest.approx(later["carbon_kg"] * 3.67, rel=1e-3)
    assert all(t["leaf_fraction"] == 1.0 for t in now["trees"])
    assert all(t["leaf_fraction"] < 0.2 for t in winter["trees"])  # deciduous: bare in January
    assert later["date"].endswith("-07-15") and winter["date"].endswith("-01-15")
    assert (await client.get(f"{url}?season=monsoon")).status == 400


async def test_here_reports_values_from_an_effects_provider(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    from greentwin.server.routes_hub import EFFECTS_KEY

    calls: list[tuple[str, float, float]] = []

    async def provider(scenario: str, lon: float, lat: float) -> dict[str, float | None]:
        calls.append((scenario, lon, lat))
        return {"noise_lden_db": 61.5 if scenario == "baseline" else 58.0, "no2_ug_m3": None}

    app = make_app(tmp_path / "var", citygml=tmp_path)
    app[EFFECTS_KEY] = provider
    client = await aiohttp_client(app)
    await publish_proposal(client)
    doc = await (
        await client.get(f"/api/hub/proposals/green-street/here?lon={HOME[0]}&lat={HOME[1]}")
    ).json()
    assert doc["effects_status"] == "computed"
    assert doc["effects"]["noise_lden_db"] == {"before": 61.5, "after": 58.0}
    assert doc["effects"]["no2_ug_m3"] == {"before": None, "after": None}
    assert [c[0] for c in calls] == ["baseline", "green-street"]


async def test_comments_with_a_citizen_token_are_verified(hub_client: ClientFactory) -> None:
    client = await hub_client()
    await publish_proposal(client)
    who = await _identity(client, "Resident")
    url = "/api/scenarios/green-street/comments"
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"type": "hello", "protocol": "greentwin/1"})
        await ws.receive_json(timeout=5)
        await ws.send_json({"type": "subscribe", "scenario": "green-street"})
        await ws.receive_json(timeout=5)
        plain = await client.post(url, json={"text": "plain", "client_key": _key()}, headers=who)
        assert plain.status == 201 and (await plain.json())["verified"] is False
        _check_ws(await ws.receive_json(timeout=5))
        r = await client.post(
            url, json={"text": "checked", "client_key": _key()}, headers={**who, **CITIZEN}
        )
        assert r.status == 201 and (await r.json())["verified"] is True
        msg = await ws.receive_json(timeout=5)
        _check_ws(msg)
        assert msg["comment"]["verified"] is True
    bad = await client.post(
        url,
        json={"text": "forged", "client_key": _key()},
        headers={**who, "Authorization": "Bearer not-a-token"},
    )
    assert bad.status == 401
    # a citizen token alone is no participant: the nickname identity is still needed
    alone = await client.post(url, json={"text": "x", "client_key": _key()}, headers=CITIZEN)
    assert alone.status == 401
    listed = (await (await client.get(url)).json())["comments"]
    assert [(c["text"], c["verified"]) for c in listed] == [("plain", False), ("checked", True)]


async def test_a_hub_file_from_before_verified_comments_opens(tmp_path: Path) -> None:
    """An older hub.sqlite (comments without the verified column) gets the column."""
    path = tmp_path / "hub.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE participants (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
        " nickname TEXT NOT NULL, created REAL NOT NULL);"
        "CREATE TABLE comments (id INTEGER PRIMARY KEY AUTOINCREMENT, scenario TEXT NOT NULL,"
        " participant TEXT NOT NULL, nickname TEXT NOT NULL, text TEXT NOT NULL,"
        " client_key TEXT NOT NULL, created REAL NOT NULL, hidden INTEGER NOT NULL DEFAULT 0,"
        " hidden_reason TEXT, hidden_by TEXT, hidden_at REAL, UNIQUE (participant, client_key));"
        "INSERT INTO participants VALUES ('p-1', 'h', 'Old', 0);"
        "INSERT INTO comments (scenario, participant, nickname, text, client_key, created)"
        " VALUES ('s', 'p-1', 'Old', 'before', 'key-00000001', 0);"
    )
    db.commit()
    db.close()
    store = HubStore(path)
    await store.open()
    try:
        (old,) = await store.comments("s", after=0, limit=10)
        assert old.text == "before" and old.verified is False
    finally:
        await store.close()
