"""The tile shortcut (``TileSite``): the answers aiohttp's routes give, in order, on any
connection; everything else still reaches aiohttp."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from greentwin.server import fastpath
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.fastpath import TileSite
from greentwin.server.run import serve
from greentwin.server.store import TileStore

pytestmark = pytest.mark.asyncio

TILESET = json.dumps({"asset": {"version": "1.1"}, "pad": ["tiles"] * 200}).encode()
GLB = bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(300)


def _publish(data_dir: Path) -> tuple[str, str]:
    """A buildings layer and a no2 overlay layer in the baseline; their versions."""
    src = data_dir.parent / "src"
    (src / "tiles").mkdir(parents=True)
    (src / "tileset.json").write_bytes(TILESET)
    (src / "tiles" / "a.glb").write_bytes(GLB)
    over = data_dir.parent / "over"
    (over / "3" / "1").mkdir(parents=True)
    (over / "meta.json").write_text('{"indicator": "no2"}')
    (over / "3" / "1" / "2.png").write_bytes(PNG)
    store = TileStore(data_dir)
    store.ensure()
    tiles = store.publish("baseline", "buildings", src)
    overlay = store.publish("baseline", "no2", over, kind="overlay", entry="meta.json")
    return tiles, overlay


class Count:
    """Counts the requests the shortcut answered."""

    def __init__(self, site: TileSite) -> None:
        self.shortcut = site.shortcut

    @property
    def n(self) -> int:
        return self.shortcut.answered


@pytest_asyncio.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[int, int, Count, tuple[str, str]]]:
    """(shortcut port, aiohttp-only port, answer counter, versions) over one data dir."""
    data = tmp_path / "var"
    versions = _publish(data)
    config = Config(data_dir=data, access_log=False)
    runners, ports = [], []
    count: Count | None = None
    for shortcut in (True, False):
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        site: web.TCPSite = (
            TileSite(runner, "127.0.0.1", 0, access_log=None)
            if shortcut
            else web.TCPSite(runner, "127.0.0.1", 0)
        )
        await site.start()
        if isinstance(site, TileSite):
            count = Count(site)
        runners.append(runner)
        ports.append(site.port)
    assert count is not None
    try:
        yield ports[0], ports[1], count, versions
    finally:
        for runner in runners:
            await runner.cleanup()


async def _read(
    reader: asyncio.StreamReader, head_only: bool = False
) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = b""
    if not head_only and status not in (204, 304) and length:
        body = await asyncio.wait_for(reader.readexactly(length), 10)
    return status, headers, body


def _request(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _exchange(
    port: int, raw: bytes, heads: list[bool]
) -> list[tuple[int, dict[str, str], bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return [await _read(reader, h) for h in heads]
    finally:
        writer.close()


def _same(a: tuple[int, dict[str, str], bytes], b: tuple[int, dict[str, str], bytes]) -> None:
    drop = {"date", "server"}
    assert a[0] == b[0]
    assert {k: v for k, v in a[1].items() if k not in drop} == {
        k: v for k, v in b[1].items() if k not in drop
    }
    assert a[2] == b[2]


async def test_the_shortcut_answers_as_aiohttp_does(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    fast, slow, count, (tiles, overlay) = servers
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    js = f"/tiles/baseline/{tiles}/buildings/tileset.json"
    png = f"/overlays/no2/baseline/{overlay}/3/1/2.png"
    for port in (fast, slow):  # first reads (aiohttp's confinement check) fill the caches
        for path in (glb, js, png):
            await _exchange(port, _request("GET", path, Accept_Encoding="gzip"), [False])
            await _exchange(port, _request("GET", path), [False])
    ((_, h_glb, body),) = await _exchange(slow, _request("GET", glb), [False])
    assert body == GLB
    ((_, h_js, _),) = await _exchange(slow, _request("GET", js, Accept_Encoding="gzip"), [False])
    tag_glb, tag_js = h_glb["etag"], h_js["etag"]
    assert tag_js.endswith('-gz"')
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("GET", glb, {}),
        ("HEAD", glb, {}),
        ("GET", js, {"Accept_Encoding": "gzip, deflate"}),
        ("GET", js, {"Accept_Encoding": "gzip;q=0"}),
        ("GET", js, {}),
        ("HEAD", js, {"Accept_Encoding": "gzip"}),
        ("GET", png, {}),
        ("GET", glb, {"If_None_Match": tag_glb}),
        ("GET", glb, {"If_None_Match": f'"x", W/{tag_glb}'}),
        ("GET", glb, {"If_None_Match": "*"}),
        ("GET", glb, {"If_None_Match": '"other"'}),
        ("GET", js, {"If_None_Match": tag_js, "Accept_Encoding": "gzip"}),
        ("GET", js, {"If_None_Match": tag_js}),  # the gzip tag, no gzip asked: 200
        ("GET", glb, {"Range": "bytes=10-19"}),
        ("GET", glb, {"Connection": "close"}),
        ("GET", f"/tiles/baseline/{tiles}/buildings/tiles/none.glb", {}),
        ("GET", f"/tiles/baseline/{tiles}/buildings/../a.glb", {}),
        ("GET", f"/tiles/baseline/{'0' * 16}/buildings/tiles/a.glb", {}),
        ("GET", f"/tiles/other/{tiles}/buildings/tiles/a.glb", {}),
        ("GET", glb + "?v=1", {}),
        ("GET", f"/overlays/no2/baseline/{overlay}/3/1/3.png", {}),
        ("GET", f"/overlays/no2/baseline/{overlay}/3/9/3.png", {}),
        ("POST", glb, {"Content_Length": "0"}),
    ]
    before = count.n
    for _ in range(2):  # the second time, from the answers kept by request head
        for method, path, headers in cases:
            raw = _request(method, path, **headers)
            got = [(await _exchange(port, raw, [method == "HEAD"]))[0] for port in (fast, slow)]
            _same(*got)
    # 200s and 304s of cached files came from the shortcut; none of the others did
    assert count.n - before == 2 * 14
    assert len(count.shortcut.answers) >= 14


async def test_a_kept_answer_is_dated_afresh(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    fast, _, count, (tiles, _) = servers
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    raw = _request("GET", glb)
    await _exchange(fast, raw, [False])  # fills the file cache
    ((_, first, body),) = await _exchange(fast, raw, [False])
    kept = count.shortcut.answers[raw[:-4]]
    old = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    line = kept.response[kept.date_at : kept.date_at + kept.date_len]
    assert line.startswith(b"Date: ") and len(line) == len(old)
    kept.response = kept.response.replace(line, old)  # as if kept since 1970
    kept.second = 0
    ((_, again, body_again),) = await _exchange(fast, raw, [False])
    assert body_again == body == GLB
    assert again["date"] != "Thu, 01 Jan 1970 00:00:00 GMT"
    assert again["date"].endswith(" GMT") and again["date"][:4] == first["date"][:4]
    assert {k: v for k, v in again.items() if k != "date"} == {
        k: v for k, v in first.items() if k != "date"
    }
    assert kept.second == count.shortcut._date_second


async def test_the_kept_answers_are_bounded(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    fast, slow, count, (tiles, _) = servers
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    await _exchange(fast, _request("GET", glb), [False])  # fills the file cache
    shortcut = count.shortcut
    for i in range(fastpath._ANSWERS + 10):  # heads that differ in a plain header
        shortcut.remember(
            f"GET {glb} HTTP/1.1\r\nUser-Agent: {i}".encode(),
            (False, glb, None, None, False),
            200,
            b"HTTP/1.1 200 OK\r\n" + shortcut._date_line() + b"\r\n",
        )
        assert len(shortcut.answers) <= fastpath._ANSWERS
    raw = _request("GET", glb, User_Agent="test")
    for _ in range(2):
        got = [(await _exchange(port, raw, [False]))[0] for port in (fast, slow)]
        _same(*got)


async def test_pipelined_answers_keep_their_order(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    fast, _, count, (tiles, _) = servers
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    await _exchange(fast, _request("GET", glb), [False])  # fills the file cache
    before = count.n
    raw = b"".join(
        [
            _request("GET", glb),
            _request("GET", "/api/health"),
            _request("GET", glb + "?x"),
            _request("HEAD", glb),
            _request("GET", "/no/such/page"),
            _request("GET", glb),
            _request("GET", glb, Connection="close"),
        ]
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", fast)
    writer.write(raw)
    got = [await _read(reader, h) for h in (False, False, False, True, False, False, False)]
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed after the last
    writer.close()
    assert [g[0] for g in got] == [200, 200, 200, 200, 404, 200, 200]
    assert got[0][2] == got[2][2] == got[5][2] == got[6][2] == GLB
    assert got[3][2] == b"" and got[3][1]["content-length"] == str(len(GLB))
    assert got[1][1]["content-type"].startswith("application/json")
    assert count.n > before  # the first one at least


async def test_a_client_that_does_not_read_is_not_buffered_without_end(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    """Many pipelined requests, read only after all were sent: reading pauses while the
    answers wait, and every answer comes, in order."""
    fast, _, _, (tiles, _) = servers
    paths = [f"/tiles/baseline/{tiles}/buildings/tiles/a.glb", "/api/health"]
    await _exchange(fast, _request("GET", paths[0]), [False])
    n = 1000
    reader, writer = await asyncio.open_connection("127.0.0.1", fast)
    try:
        writer.write(b"".join(_request("GET", paths[i % 7 == 6]) for i in range(n)))
        await asyncio.wait_for(writer.drain(), 30)
        for i in range(n):
            status, _, body = await _read(reader)
            assert status == 200
            assert (body == GLB) == (i % 7 != 6)
    finally:
        writer.close()


async def test_the_shortcut_resumes_after_aiohttp_and_gives_up_at_a_body(
    servers: tuple[int, int, Count, tuple[str, str]],
) -> None:
    fast, _, count, (tiles, _) = servers
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    await _exchange(fast, _request("GET", glb), [False])
    reader, writer = await asyncio.open_connection("127.0.0.1", fast)
    try:
        for path in ("/api/health", glb):
            writer.write(_request("GET", path))
            assert (await _read(reader))[0] == 200
        before = count.n
        writer.write(_request("GET", glb))
        assert (await _read(reader))[2] == GLB
        assert count.n == before + 1  # answered here again after aiohttp's answer
        body = b'{"x": 1}'
        writer.write(
            _request("POST", "/api/health", Content_Length=str(len(body)))
            + body
            + _request("GET", glb)
        )
        assert (await _read(reader))[0] == 405
        assert (await _read(reader))[2] == GLB
        assert count.n == before + 1  # the connection is aiohttp's now
    finally:
        writer.close()


async def test_serve_logs_shortcut_answers_and_closes_idle_connections(tmp_path: Path) -> None:
    data = tmp_path / "var"
    tiles, _ = _publish(data)
    lines: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name == "greentwin.access":
                lines.append(record.getMessage())

    root = logging.getLogger()
    catch = Catch(logging.INFO)
    level = root.level
    root.addHandler(catch)
    root.setLevel(logging.INFO)
    try:
        loop = asyncio.get_running_loop()
        port: asyncio.Future[int] = loop.create_future()
        stop = asyncio.Event()
        config = Config(data_dir=data, port=0, access_log=True)
        task = asyncio.create_task(serve(config, stop=stop, ready=port.set_result))
        bound = await asyncio.wait_for(port, 30)
        glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
        reader, writer = await asyncio.open_connection("127.0.0.1", bound)
        for _ in range(3):  # aiohttp's answer, the shortcut's, its kept answer
            writer.write(_request("GET", glb))
            assert (await _read(reader))[2] == GLB
        stop.set()
        await asyncio.wait_for(task, 30)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the idle connection closed
        writer.close()
    finally:
        root.removeHandler(catch)
        root.setLevel(level)
    assert len(lines) == 3, lines
    first, second, third = (json.loads(x) for x in lines)
    for line in (first, second, third):
        assert set(line) == {"method", "path", "status", "bytes", "ms", "remote"}
        assert isinstance(line["ms"], float) and line["ms"] >= 0
    for line in (second, third):
        assert {k: first[k] for k in ("method", "path", "status", "remote")} == {
            k: line[k] for k in ("method", "path", "status", "remote")
        }
        assert first["bytes"] - len(first["path"]) == line["bytes"] - len(line["path"])


async def test_serve_writes_access_lines_in_batches_in_order(tmp_path: Path) -> None:
    """``greentwin serve``'s log set-up (a stream, the command line's format): every
    access line, shortcut or aiohttp, in request order, one record's text each, all of
    them written before the shutdown's line and before the server returns."""
    data = tmp_path / "var"
    tiles, _ = _publish(data)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    glb = f"/tiles/baseline/{tiles}/buildings/tiles/a.glb"
    sent = [glb, glb, "/api/health", glb, glb + "?x=1", glb, "/nothing", glb]
    try:
        loop = asyncio.get_running_loop()
        port: asyncio.Future[int] = loop.create_future()
        stop = asyncio.Event()
        config = Config(data_dir=data, port=0, access_log=True)
        task = asyncio.create_task(serve(config, stop=stop, ready=port.set_result))
        bound = await asyncio.wait_for(port, 30)
        reader, writer = await asyncio.open_connection("127.0.0.1", bound)
        for path in sent:
            writer.write(_request("GET", path))
            await _read(reader)
        stop.set()  # at once: the lines are still buffered
        await asyncio.wait_for(task, 30)
        writer.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    written = stream.getvalue().splitlines()
    access = [x for x in written if " INFO greentwin.access: " in x]
    assert [json.loads(x.split(": ", 1)[1])["path"] for x in access] == [
        p.partition("?")[0] for p in sent
    ]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d INFO greentwin.access: \{.*\}", x) for x in access)
    shutting = next(i for i, x in enumerate(written) if x.endswith("shutting down"))
    assert written.index(access[-1]) < shutting
