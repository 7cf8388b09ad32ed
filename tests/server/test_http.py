"""HTTP API and tile routes through aiohttp's test client: caching, 304s, errors, traversal."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from greentwin.server.app import AccessLogger, create_app, redact_query
from greentwin.server.config import Config
from greentwin.server.hub_setup import LIVE_CONFIG_KEY
from greentwin.server.store import TileStore
from greentwin.server.ws import LiveConfig
from yarl import URL

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

pytestmark = pytest.mark.asyncio

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def published(config: Config, fixture_tileset: Path) -> str:
    return TileStore(config.data_dir).publish("baseline", "buildings", fixture_tileset)


@pytest_asyncio.fixture
async def client(aiohttp_client: MakeClient, config: Config, published: str) -> Client:
    return await aiohttp_client(create_app(config))


async def _raw(client: Client, target: bytes) -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side normalisation)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status, body


async def test_layers_and_versioned_urls(client: Client, published: str) -> None:
    resp = await client.get("/api/layers", params={"scenario": "baseline"})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-cache"
    doc = await resp.json()
    assert doc["scenario"] == "baseline" and doc["version"] == 1
    assert set(doc["time"]) == {"year", "date"}
    url = f"/tiles/baseline/{published}/buildings/tileset.json"
    assert doc["layers"] == {"buildings": {"url": url, "kind": "3dtiles", "version": published}}
    tileset = await client.get(url)
    assert tileset.status == 200
    assert tileset.headers["Cache-Control"] == IMMUTABLE
    assert tileset.headers["Content-Type"].startswith("application/json")
    assert (await tileset.json())["asset"]["version"] == "1.1"
    glb = await client.get(url.replace("tileset.json", "content.glb"))
    assert glb.status == 200
    assert glb.headers["Content-Type"] == "model/gltf-binary"
    assert glb.headers["Cache-Control"] == IMMUTABLE
    body = await glb.read()
    assert body[:4] == b"glTF"
    assert glb.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()[:40]}"'


async def test_etag_and_conditional_get(client: Client, published: str) -> None:
    url = f"/tiles/baseline/{published}/buildings/content.glb"
    first = await client.get(url)
    etag = first.headers["ETag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == IMMUTABLE
    assert await again.read() == b""
    listed = await client.get(url, headers={"If-None-Match": f'"nope", W/{etag}'})
    assert listed.status == 304
    star = await client.get(url, headers={"If-None-Match": "*"})
    assert star.status == 304
    other = await client.get(url, headers={"If-None-Match": '"0000"'})
    assert other.status == 200 and len(await other.read()) > 0
    head = await client.head(url)
    assert head.status == 200 and head.headers["ETag"] == etag


async def test_gzip_for_json(client: Client, published: str) -> None:
    url = f"/tiles/baseline/{published}/buildings/tileset.json"
    plain = await client.get(url, headers={"Accept-Encoding": "identity"}, auto_decompress=False)
    raw = await plain.read()
    assert "Content-Encoding" not in plain.headers
    zipped = await client.get(url, headers={"Accept-Encoding": "gzip, br"}, auto_decompress=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(await zipped.read()) == raw
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    again = await client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}
    )
    assert again.status == 304
    refused = await client.get(url, headers={"Accept-Encoding": "gzip;q=0"}, auto_decompress=False)
    assert "Content-Encoding" not in refused.headers


async def test_unknown_things_are_json_404(client: Client, published: str) -> None:
    for path in (
        f"/tiles/baseline/{published}/buildings/nope.glb",
        f"/tiles/baseline/{'0' * 16}/buildings/tileset.json",
        f"/tiles/other/{published}/buildings/tileset.json",
        "/tiles/baseline/latest/buildings/tileset.json",
        "/api/nothing",
        "/viewer/nothing.js",
        "/cesium/Nothing.js",
    ):
        resp = await client.get(path)
        assert resp.status == 404, path
        doc = await resp.json()
        assert doc["error"]["status"] == 404
    resp = await client.get("/api/layers", params={"scenario": "nosuch"})
    assert resp.status == 404
    resp = await client.get("/api/layers", params={"scenario": "../etc"})
    assert resp.status == 400
    assert "invalid scenario" in (await resp.json())["error"]["message"]
    resp = await client.post("/api/layers")
    assert resp.status == 405
    assert (await resp.json())["error"]["status"] == 405


TRAVERSALS = [
    b"/tiles/baseline/{v}/../manifest.json",
    b"/tiles/baseline/{v}/buildings/../../manifest.json",
    b"/tiles/baseline/{v}/%2e%2e/manifest.json",
    b"/tiles/baseline/{v}/%2E%2E%2Fmanifest.json",
    b"/tiles/baseline/{v}/buildings%2f..%2f..%2fmanifest.json",
    b"/tiles/baseline/{v}/.index.json",
    b"/tiles/baseline/{v}//etc/passwd",
    b"/tiles/baseline/{v}/%2fetc%2fpasswd",
    b"/tiles/baseline/{v}/buildings/tileset.json%00.glb",
    b"/tiles/baseline/{v}/buildings/..%5c..%5cmanifest.json",
    b"/tiles/..%2f..%2f/{v}/buildings/tileset.json",
    b"/cesium/../../pyproject.toml",
    b"/cesium/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    b"/cesium/..%2f..%2f..%2fpyproject.toml",
    b"/viewer/..%2f..%2fpyproject.toml",
    b"/viewer/%2e%2e/%2e%2e/pyproject.toml",
    b"/viewer//etc/passwd",
    b"/cesium/Cesium.js%00",
]


@pytest.mark.parametrize("target", TRAVERSALS)
async def test_traversal_attempts_are_refused(
    client: Client, published: str, target: bytes
) -> None:
    status, body = await _raw(client, target.replace(b"{v}", published.encode()))
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"[project]" not in body and b'"layers"' not in body
    assert json.loads(body)["error"]["status"] == status


async def test_symlink_escaping_the_root_is_refused(
    aiohttp_client: MakeClient, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    web_dir = tmp_path / "web"
    (web_dir / "viewer").mkdir(parents=True)
    (web_dir / "viewer" / "index.html").write_text("<!doctype html><title>t</title>")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, web_dir / "viewer" / "leak.txt")
    client = await aiohttp_client(create_app(make_config(web_dir=web_dir)))
    assert (await client.get("/viewer/")).status == 200
    resp = await client.get("/viewer/leak.txt")
    assert resp.status == 404
    assert "secret" not in await resp.text()


async def test_symlink_planted_in_a_version_is_refused(
    aiohttp_client: MakeClient, config: Config, published: str, tmp_path: Path
) -> None:
    target = config.data_dir / "tiles" / "baseline" / published / "buildings" / "content.glb"
    secret = tmp_path / "secret.glb"
    secret.write_bytes(b"s" * target.stat().st_size)
    target.unlink()
    os.symlink(secret, target)
    client = await aiohttp_client(create_app(config))
    resp = await client.get(f"/tiles/baseline/{published}/buildings/content.glb")
    assert resp.status == 404


async def test_health(client: Client) -> None:
    resp = await client.get("/api/health")
    doc = await resp.json()
    assert resp.status == 200
    assert doc["status"] == "ok" and doc["data_dir_writable"] is True
    assert doc["demo"] == {"state": "off", "message": ""}
    assert doc["uptime_s"] >= 0 and doc["version"]


async def test_time_get_put(aiohttp_client: MakeClient, config: Config, published: str) -> None:
    app = create_app(config)
    app[LIVE_CONFIG_KEY] = LiveConfig(tokens={"planner-token-0123456789": "planner"})
    client = await aiohttp_client(app)
    client.session.headers["Authorization"] = "Bearer planner-token-0123456789"
    resp = await client.put(
        "/api/time", params={"scenario": "baseline"}, json={"year": 2035, "date": "2035-10-01"}
    )
    assert resp.status == 200
    assert (await resp.json())["time"] == {"year": 2035, "date": "2035-10-01"}
    got = await (await client.get("/api/time")).json()
    assert got == {"scenario": "baseline", "time": {"year": 2035, "date": "2035-10-01"}}
    layers = await (await client.get("/api/layers")).json()
    assert layers["time"] == {"year": 2035, "date": "2035-10-01"}
    bad = await client.put("/api/time", data=b"{not json")
    assert bad.status == 400
    bad = await client.put("/api/time", json={"year": 2035, "date": "2036-01-01"})
    assert bad.status == 400
    assert "not in time.year" in (await bad.json())["error"]["message"]
    big = await client.put("/api/time", data=b" " * 20000)
    assert big.status == 413


async def test_viewer_and_cesium_are_served(client: Client) -> None:
    home = await client.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/viewer/"
    page = await client.get("/viewer/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-cache"
    assert "/cesium/Cesium.js" in await page.text()
    again = await client.get("/viewer/", headers={"If-None-Match": page.headers["ETag"]})
    assert again.status == 304
    js = await client.get("/cesium/Cesium.js", headers={"Accept-Encoding": "gzip"})
    assert js.status == 200
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["Cache-Control"] == "public, max-age=604800"
    assert js.headers["Content-Encoding"] == "gzip"
    assert len(await js.read()) > 1_000_000
    tms = await client.get("/cesium/Assets/Textures/NaturalEarthII/tilemapresource.xml")
    assert tms.status == 200


async def test_access_log_is_structured_and_redacts(caplog: pytest.LogCaptureFixture) -> None:
    assert (
        redact_query([("scenario", "baseline"), ("token", "abc")]) == "scenario=baseline&token=***"
    )
    assert redact_query([("x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.s1gn4ture")]) == "x=***"
    assert redact_query([("scenario", "very-long-but-plain-scenario-name")]).endswith("name")

    class Req:
        method = "GET"
        rel_url = URL("/api/layers?scenario=baseline&access_token=s3cr3t&api_key=k")
        remote = "127.0.0.1"

    class Resp:
        status = 200
        body_length = 42

    logger = logging.getLogger("greentwin.access")
    with caplog.at_level(logging.INFO, logger="greentwin.access"):
        AccessLogger(logger, "").log(Req(), Resp(), 0.0123)  # type: ignore[arg-type]
    line: dict[str, Any] = json.loads(caplog.records[-1].getMessage())
    assert line["method"] == "GET" and line["status"] == 200 and line["bytes"] == 42
    assert line["path"] == "/api/layers" and line["ms"] == 12.3
    assert "s3cr3t" not in caplog.text and "api_key=***" in line["query"]
