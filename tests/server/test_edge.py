"""Serving at the edge: byte ranges, 304s from the recorded hash, the access log off the loop."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from greentwin.server.app import JsonLine, create_app
from greentwin.server.config import Config
from greentwin.server.routes_tiles import FileServer
from greentwin.server.run import _LateQueueHandler, serve
from greentwin.server.store import TileStore

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]

pytestmark = pytest.mark.asyncio


@pytest.fixture
def published(config: Config, fixture_tileset: Path) -> str:
    return TileStore(config.data_dir).publish("baseline", "buildings", fixture_tileset)


def _file(config: Config, version: str, name: str) -> bytes:
    return (config.data_dir / "tiles" / "baseline" / version / "buildings" / name).read_bytes()


@pytest.mark.parametrize("cache", [64 * 1024 * 1024, 0], ids=["cached", "streamed"])
async def test_single_ranges_are_206(
    aiohttp_client: MakeClient,
    make_config: Callable[..., Config],
    fixture_tileset: Path,
    cache: int,
) -> None:
    config = make_config(file_cache_bytes=cache)
    version = TileStore(config.data_dir).publish("baseline", "buildings", fixture_tileset)
    client = await aiohttp_client(create_app(config))
    url = f"/tiles/baseline/{version}/buildings/content.glb"
    data = _file(config, version, "content.glb")
    n = len(data)
    full = await client.get(url)
    assert full.status == 200 and full.headers["Accept-Ranges"] == "bytes"
    for spec, start, end in [
        ("bytes=0-11", 0, 12),  # the GLB header
        ("bytes=100-", 100, n),
        ("bytes=-20", n - 20, n),
        (f"bytes=10-{n + 500}", 10, n),  # the end is clipped to the file
        ("bytes=-99999999", 0, n),  # a suffix longer than the file: all of it
    ]:
        resp = await client.get(url, headers={"Range": spec})
        assert resp.status == 206, spec
        assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{n}", spec
        assert await resp.read() == data[start:end], spec
        assert resp.headers["ETag"] == full.headers["ETag"]
    head = await client.head(url, headers={"Range": "bytes=0-11"})
    assert head.status == 206 and head.headers["Content-Length"] == "12"


async def test_unsatisfiable_several_and_bad_ranges(
    aiohttp_client: MakeClient, config: Config, published: str
) -> None:
    client = await aiohttp_client(create_app(config))
    url = f"/tiles/baseline/{published}/buildings/content.glb"
    data = _file(config, published, "content.glb")
    for spec in (f"bytes={len(data)}-", f"bytes={len(data) + 10}-{len(data) + 20}", "bytes=-0"):
        resp = await client.get(url, headers={"Range": spec})
        assert resp.status == 416, spec
        assert resp.headers["Content-Range"] == f"bytes */{len(data)}"
    # several ranges, another unit, bad syntax: the whole file
    for spec in ("bytes=0-1,5-9", "items=0-1", "bytes=abc", "bytes=9-3"):
        resp = await client.get(url, headers={"Range": spec})
        assert resp.status == 200, spec
        assert await resp.read() == data
    # If-Range with another tag: the whole file; with the current one: the range
    etag = (await client.get(url)).headers["ETag"]
    stale = await client.get(url, headers={"Range": "bytes=0-3", "If-Range": '"0000"'})
    assert stale.status == 200 and await stale.read() == data
    fresh = await client.get(url, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert fresh.status == 206 and await fresh.read() == data[:4]


async def test_range_of_json_is_over_the_plain_bytes(
    aiohttp_client: MakeClient, config: Config, published: str
) -> None:
    client = await aiohttp_client(create_app(config))
    url = f"/tiles/baseline/{published}/buildings/tileset.json"
    data = _file(config, published, "tileset.json")
    resp = await client.get(
        url, headers={"Range": "bytes=2-9", "Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert resp.status == 206 and "Content-Encoding" not in resp.headers
    assert await resp.read() == data[2:10]


async def test_304_does_not_touch_the_file_cache(
    aiohttp_client: MakeClient, config: Config, published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await aiohttp_client(create_app(config))
    glb = f"/tiles/baseline/{published}/buildings/content.glb"
    js = f"/tiles/baseline/{published}/buildings/tileset.json"
    tag_glb = (await client.get(glb)).headers["ETag"]
    tag_js = (await client.get(js, headers={"Accept-Encoding": "gzip"})).headers["ETag"]

    def untouchable(*args: object, **kwargs: object) -> None:
        raise AssertionError("a 304 read the file cache or the file")

    for name in ("_get", "_put", "_load", "_hash"):
        monkeypatch.setattr(FileServer, name, untouchable)
    monkeypatch.setattr(Path, "resolve", untouchable)
    for url, tag, enc in ((glb, tag_glb, "identity"), (js, tag_js, "gzip")):
        resp = await client.get(url, headers={"If-None-Match": tag, "Accept-Encoding": enc})
        assert resp.status == 304
        assert resp.headers["ETag"] == tag
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert await resp.read() == b""


async def test_serve_writes_log_records_off_the_event_loop(tmp_path: Path) -> None:
    """The access log line of a request is written by another thread than the loop's."""
    written: list[tuple[str, int]] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append((record.name, threading.get_ident()))

    root = logging.getLogger()
    catch = Catch(logging.INFO)
    level = root.level
    root.addHandler(catch)
    root.setLevel(logging.INFO)
    try:
        loop = asyncio.get_running_loop()
        port: asyncio.Future[int] = loop.create_future()
        stop = asyncio.Event()
        config = Config(data_dir=tmp_path / "var", port=0, access_log=True)
        task = asyncio.create_task(serve(config, stop=stop, ready=port.set_result))
        bound = await asyncio.wait_for(port, 30)
        during = list(root.handlers)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{bound}/api/health") as resp,
        ):
            assert resp.status == 200
        stop.set()
        await asyncio.wait_for(task, 30)
        after = list(root.handlers)
    finally:
        root.removeHandler(catch)
        root.setLevel(level)
    assert catch not in during
    assert any(isinstance(h, logging.handlers.QueueHandler) for h in during)
    assert catch in after and not any(isinstance(h, logging.handlers.QueueHandler) for h in after)
    access = [ident for name, ident in written if name == "greentwin.access"]
    assert access, written
    assert threading.get_ident() not in access


async def test_log_queue_formats_late_only_what_cannot_change() -> None:
    """Immutable arguments (the access log's line) are formatted by the logging thread;
    a mutable one is formatted when logged, so a later change does not reach the log."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = _LateQueueHandler(records)
    items = [1]
    handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (items,), None))
    items.append(2)
    assert records.get_nowait().getMessage() == "[1]"
    line = JsonLine({"status": 200})
    handler.handle(logging.LogRecord("t", logging.INFO, __file__, 1, "%s", (line,), None))
    queued = records.get_nowait()
    assert queued.args == (line,)  # not formatted yet
    assert queued.getMessage() == '{"status":200}'
