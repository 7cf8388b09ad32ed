"""Benchmark: cached tile requests over loopback, the default greentwin server vs others.

Usage::

    python bench/serve.py [--seconds 5] [--concurrency 32] [--rounds 3] [--data DIR]
                          [--client auto|wrk|python] [--only greentwin,no-log,nginx,...]
                          [--distinct-heads]

greentwin runs as a user starts it: ``greentwin serve`` in its own process, with the
default JSON access log on (written to a log file, as with ``2> serve.log``). Every
server gets the same files: those of the published buildings tileset of at most
``--max-kb`` kB (small tiles, served from memory). One invocation runs:

1. greentwin, plain GET (200, ``Accept-Encoding: gzip``);
2. greentwin, ``If-None-Match`` with the current ETag (304);
3. the same server with its tile shortcut off (``serve(..., tile_shortcut=False)``:
   every request through aiohttp's routing, middlewares and handler), GET and 304;
4. nginx (when installed), one worker process, its default access log on, GET and 304
   with nginx's own ETags (``sendfile``, ``open_file_cache``: a static-file setup);
5. two floors of a Python server on this machine, no log, every answer prebuilt in
   memory: a one-handler aiohttp app and a bare ``asyncio.Protocol`` (what any
   answer costs there: the first is greentwin's ceiling without the shortcut, the
   second with it);
6. Python's ``http.server`` (``ThreadingHTTPServer``, HTTP/1.1) and aiohttp's
   ``add_static``, GET.

The load comes from ``wrk`` when installed (``--client auto``; one thread,
``--concurrency`` connections, a Lua script cycling through the files), else from a
bounded aiohttp client in this process. Prints requests per second, p50 and p99 latency
and the ratios greentwin / nginx, and the machine's load average (other work on the
machine lowers every figure alike, but not exactly alike: ``--rounds`` repeats the
whole sequence and reports each server's median run). Each server's CPU time per
request (its process and its children's user + system time during the run, from
``/proc``) is printed too: other work sways it much less than requests per second, so
the ratio of nginx's to greentwin's is the steadier comparison.
The load repeats the same few request heads, as a benchmark does; greentwin keeps its
answers by request head, so ``--distinct-heads`` (a header of its own on every request)
measures the other case, heads never seen before (a browser's first visit to each tile).
The tileset is the demo's (``--data``, default ``./var``) or, when missing, the Berlin
buildings converted into a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    p50: float | None = None
    p99: float | None = None
    cpu_s: float | None = None  # CPU seconds the server used during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU time per request, microseconds (NaN where not measured)."""
        if self.cpu_s is None or not self.requests:
            return float("nan")
        return self.cpu_s / self.requests * 1e6

    def pct(self, q: float) -> float:
        known = {0.5: self.p50, 0.99: self.p99}.get(q)
        if known is not None:
            return known
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


# ------------------------------------------------------------------ servers (child processes)
def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its children (nginx's worker), from
    ``/proc``; None where there is no ``/proc``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    found = False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
        except OSError:
            continue
        # after the command: state, ppid, ..., utime (12th), stime (13th)
        if int(entry) == pid or int(fields[1]) == pid:
            found = True
            total += (int(fields[11]) + int(fields[12])) / tick
    return total if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not answer")


class Process:
    """A server run as a command, stopped with SIGTERM."""

    def __init__(
        self, cmd: list[str], probe: str, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log = open(log, "wb")
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        try:
            _wait_http(probe, self.process)
        except RuntimeError as exc:
            self.log.close()
            tail = log.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError("\n".join([str(exc), "its log ends:", *tail])) from None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def start_greentwin(
    data_dir: Path, log: Path, shortcut: bool = True, access_log: bool = True
) -> tuple[Process, int]:
    """``greentwin serve`` as a user runs it (access log on, logging to ``log``); with
    ``shortcut`` False, the same through ``serve(config, tile_shortcut=False)``; with
    ``access_log`` False, with ``GREENTWIN_ACCESS_LOG=false``."""
    port = _free_port()
    if shortcut:
        cmd = [sys.executable, "-m", "greentwin.cli", "serve", "--data", str(data_dir)]
        cmd += ["--port", str(port)]
    else:
        cmd = [sys.executable, "-c", _NO_SHORTCUT, str(data_dir), str(port)]
    env = None if access_log else dict(os.environ, GREENTWIN_ACCESS_LOG="false")
    return Process(cmd, f"http://127.0.0.1:{port}/api/health", log, env), port


#: ``greentwin serve`` (the command line's logging set-up) with the tile shortcut off.
_NO_SHORTCUT = """
import asyncio, sys
from pathlib import Path
from greentwin.cli.main import configure_logging
from greentwin.server.config import load_config
from greentwin.server.run import serve
configure_logging(0, False)
config = load_config(None, overrides={"data_dir": Path(sys.argv[1]), "port": int(sys.argv[2])})
asyncio.run(serve(config, tile_shortcut=False))
"""


#: nginx in front of the immutable trees (the same settings as docs/deploy.md's).
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=10000 inactive=60s;
    gzip on;
    gzip_types application/json;
    server {{
        listen 127.0.0.1:{port};
        location /tiles/ {{
            root {root};
            types {{ model/gltf-binary glb; application/json json; image/png png; }}
            default_type application/octet-stream;
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header Access-Control-Allow-Origin "*";
        }}
    }}
}}
"""


def start_nginx(data_dir: Path, tmp: Path) -> tuple[Process, int] | None:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        return None
    port = _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=data_dir.absolute()))
    probe = f"http://127.0.0.1:{port}/tiles/"
    proc = Process(
        [exe, "-c", str(conf), "-e", str(tmp / "nginx-error.log")], probe + "x", tmp / "nginx.out"
    )
    return proc, port


def _serve_http_server(conn: multiprocessing.connection.Connection, root: str) -> None:
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the other servers

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    conn.send(int(httpd.server_address[1]))
    httpd.serve_forever()


def _serve_aiohttp_static(conn: multiprocessing.connection.Connection, root: str) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/", root)
    _run_app_forever(app, conn)


def _run_app_forever(app: Any, conn: multiprocessing.connection.Connection) -> None:
    """Serve an aiohttp app on a free loopback port (sent through ``conn``), without log."""
    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(int(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def _responses(root: str) -> dict[bytes, bytes]:
    """Every file under ``root`` as a whole HTTP/1.1 answer, keyed by its URL path."""
    out = {}
    for path in Path(root).rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Cache-Control: public, max-age=31536000, immutable\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            out["/" + path.relative_to(root).as_posix()] = head.encode() + body
    return {k.encode(): v for k, v in out.items()}


def _serve_aiohttp_floor(conn: multiprocessing.connection.Connection, root: str) -> None:
    """One aiohttp handler answering from a dict of bodies: no routing rules, no
    middleware, no log (what an aiohttp answer costs at least)."""
    from aiohttp import web

    bodies = {k.decode(): v.partition(b"\r\n\r\n")[2] for k, v in _responses(root).items()}

    async def handler(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    _run_app_forever(app, conn)


def _serve_asyncio_floor(conn: multiprocessing.connection.Connection, root: str) -> None:
    """A bare ``asyncio.Protocol``: finds the end of each request head, looks the path
    up in a dict of whole answers and writes it (what any Python answer costs at least)."""
    answers = _responses(root)
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer + data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                target = buffer[: buffer.find(b"\r\n")].split(b" ")[1]
                self.transport.write(answers.get(target, missing))
                buffer = buffer[end + 4 :]
            self.buffer = buffer

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Answer, "127.0.0.1", 0)
        conn.send(int(server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


class Child:
    def __init__(self, target: Any, arg: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=target, args=(child, arg), daemon=True)
        self.process.start()
        child.close()
        if not parent.poll(60):
            self.process.kill()
            raise RuntimeError(f"{target.__name__} did not start")
        self.port: int = parent.recv()

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# ------------------------------------------------------------------ load generator
async def load(
    name: str,
    base: str,
    paths: list[str],
    seconds: float,
    concurrency: int,
    etags: dict[str, str] | None = None,
    expect: int = 200,
    distinct: bool = False,
) -> Result:
    latencies: list[float] = []
    errors = 0
    count = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        # warm-up: one pass over every file (fills server caches, opens connections)
        for p in paths:
            async with session.get(base + p) as r:
                await r.read()
        deadline = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            nonlocal errors, count
            i = w
            while time.perf_counter() < deadline:
                p = paths[i % len(paths)]
                i += concurrency
                headers = {"Accept-Encoding": "gzip"}
                if etags is not None:
                    headers["If-None-Match"] = etags[p]
                if distinct:
                    headers["X-Request-Id"] = str(i)
                t0 = time.perf_counter()
                async with session.get(base + p, headers=headers) as r:
                    await r.read()
                    ok = r.status == expect
                latencies.append((time.perf_counter() - t0) * 1000.0)
                count += 1
                errors += 0 if ok else 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return Result(name, count, errors, elapsed, latencies)


async def warm(base: str, paths: list[str]) -> None:
    """One pass over every file (fills server caches)."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for p in paths:
            async with session.get(base + p, headers={"Accept-Encoding": "gzip"}) as r:
                await r.read()


async def fetch_etags(base: str, paths: list[str]) -> dict[str, str]:
    out = {}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for p in paths:
            async with session.get(base + p, headers={"Accept-Encoding": "gzip"}) as r:
                await r.read()
                tag = r.headers.get("ETag")
            if tag is None:  # nginx drops the ETag of what it compresses on the fly
                async with session.get(base + p, headers={"Accept-Encoding": "identity"}) as r:
                    await r.read()
                    tag = r.headers["ETag"]
            out[p] = tag
    return out


_WRK_SCRIPT = r"""
local paths = {paths}
local etags = {etags}
local distinct = {distinct}
local i = 0
request = function()
  i = i + 1
  local k = (i % #paths) + 1
  local h = {{["Accept-Encoding"] = "gzip"}}
  if #etags > 0 then h["If-None-Match"] = etags[k] end
  if distinct then h["X-Request-Id"] = tostring(i) end
  return wrk.format("GET", paths[k], h)
end
done = function(summary, latency, requests)
  io.write(string.format("GTJSON {{\"requests\": %d, \"seconds\": %f, \"p50\": %f, "
    .. "\"p99\": %f, \"errors\": %d, \"status\": %d}}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status))
end
"""


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(x) for x in items) + "}"


def wrk_load(
    name: str,
    base: str,
    paths: list[str],
    seconds: float,
    concurrency: int,
    tmp: Path,
    etags: dict[str, str] | None = None,
    distinct: bool = False,
) -> Result:
    """One ``wrk`` run (1 thread, ``concurrency`` connections) cycling through ``paths``
    (``distinct``: each request with a header of its own, ``X-Request-Id: <n>``)."""
    prefix = "/" + base.split("/", 3)[3]
    script = tmp / f"wrk-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.lua"
    script.write_text(
        _WRK_SCRIPT.format(
            paths=_lua_list([prefix + p for p in paths]),
            etags=_lua_list([etags[p] for p in paths] if etags else []),
            distinct="true" if distinct else "false",
        )
    )
    host = base.split("/", 3)[2]
    cmd = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds:g}s",
        "-s",
        str(script),
        f"http://{host}/",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("GTJSON "))
    got = json.loads(line[len("GTJSON ") :])
    # wrk counts non-2xx/3xx answers as status errors: a 404 is an error, a 304 is not
    res = Result(name, got["requests"], got["errors"] + got["status"], got["seconds"], [])
    res.p50, res.p99 = got["p50"], got["p99"]
    return res


# ------------------------------------------------------------------ tileset
def ensure_tileset(data_dir: Path) -> tuple[Path, str, str]:
    """(data dir, scenario, version) holding a published buildings layer.

    Without one in ``data_dir``, the bundled Potsdam and Berlin samples are converted
    with at most 8 buildings per leaf (many small tiles, as a city's deep leaves are) and
    published into a temporary data directory.
    """
    from greentwin.server.store import TileStore

    if TileStore(data_dir).layers("baseline").get("buildings") is None:
        from greentwin.tiles.convert import convert

        data_dir = Path(tempfile.mkdtemp(prefix="greentwin-bench-")) / "var"
        data_dir.parent.chmod(0o755)  # nginx's worker runs as another user
        inputs = ROOT / "data" / "citygml"
        print(f"no published buildings: converting the samples into {data_dir}")
        out = data_dir.parent / "buildings"
        names = ("3dcitydb_Potsdam_LoD1.gml", "berlin_testarea_lod2_buildings.gml")
        convert([inputs / n for n in names], out, height_mode="ground", max_features_per_tile=8)
        TileStore(data_dir).publish("baseline", "buildings", out)
    info = TileStore(data_dir).layers("baseline")["buildings"]
    return data_dir, "baseline", info.version


#: What ``--only`` chooses from: greentwin as started by ``greentwin serve``, the same
#: with ``access_log = false``, the same without the tile shortcut, nginx, the two Python
#: floors, ``http.server`` and aiohttp's ``add_static``.
GROUPS = ("greentwin", "no-log", "aiohttp-only", "nginx", "floors", "others")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent connections")
    ap.add_argument("--data", type=Path, default=Path("var"), help="data directory (demo cache)")
    ap.add_argument("--max-kb", type=float, default=64.0, help="largest file requested (kB)")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times, interleaved; report each one's median",
    )
    ap.add_argument(
        "--only",
        default=",".join(g for g in GROUPS if g != "no-log"),
        help=f"comma-separated servers to run, of: {', '.join(GROUPS)} (default: all but no-log)",
    )
    ap.add_argument(
        "--distinct-heads",
        action="store_true",
        help="give every request a header of its own (X-Request-Id: <n>), so that no two "
        "request heads are alike (greentwin keeps answers by request head)",
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not only <= set(GROUPS):
        ap.error(f"--only: unknown {', '.join(sorted(only - set(GROUPS)))}")

    from greentwin.server.store import TileStore

    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    data_dir, scenario, version = ensure_tileset(args.data)
    index = TileStore(data_dir).load_index(scenario, version)
    assert index is not None
    rels = sorted(r for r in index if index[r].size <= args.max_kb * 1000)
    sizes = [index[r].size for r in rels]
    print(
        f"tileset: {scenario}/{version}: {len(rels)} of {len(index)} files up to "
        f"{args.max_kb:g} kB, {sum(sizes) / 1e6:.2f} MB (mean {sum(sizes) / len(sizes) / 1e3:.1f} kB); "
        f"{args.concurrency} connections, {args.seconds:g} s per run, "
        f"client: {'wrk' if use_wrk else 'aiohttp (this process)'}",
        flush=True,
    )
    version_dir = str(data_dir / "tiles" / scenario / version)
    runs: dict[str, list[Result]] = {}

    with tempfile.TemporaryDirectory(prefix="greentwin-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)

        def run(name: str, base: str, pid: int, etags: dict[str, str] | None = None) -> None:
            asyncio.run(warm(base, rels))
            cpu0 = cpu_seconds(pid)
            if use_wrk:
                r = wrk_load(
                    name,
                    base,
                    rels,
                    args.seconds,
                    args.concurrency,
                    tmp,
                    etags,
                    args.distinct_heads,
                )
            else:
                expect = 304 if etags else 200
                r = asyncio.run(
                    load(
                        name,
                        base,
                        rels,
                        args.seconds,
                        args.concurrency,
                        etags,
                        expect,
                        args.distinct_heads,
                    )
                )
            cpu1 = cpu_seconds(pid)
            if cpu0 is not None and cpu1 is not None:
                r.cpu_s = cpu1 - cpu0
            runs.setdefault(name, []).append(r)
            load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(
                f"  {name:<18}{r.rps:>9.0f} req/s {r.cpu_us:>6.1f} CPU us/req"
                f"  (load average {load_avg})",
                flush=True,
            )

        for round_no in range(args.rounds):
            if args.rounds > 1:
                print(f"round {round_no + 1} of {args.rounds}", flush=True)
            for group, label, shortcut, access_log in (
                ("greentwin", "greentwin", True, True),
                ("no-log", "gt no access log", True, False),
                ("aiohttp-only", "gt aiohttp-only", False, True),
            ):
                if group not in only:
                    continue
                log = tmp / f"{group}.log"
                gt, port = start_greentwin(data_dir, log, shortcut, access_log)
                try:
                    base = f"http://127.0.0.1:{port}/tiles/{scenario}/{version}/"
                    pid = gt.process.pid
                    run(f"{label} GET", base, pid)
                    run(f"{label} 304", base, pid, asyncio.run(fetch_etags(base, rels)))
                finally:
                    gt.stop()
                logged = sum(1 for _ in open(log, "rb"))
                print(f"  ({label} wrote {logged} log lines)")
            nginx = start_nginx(data_dir, tmp) if "nginx" in only else None
            if nginx is None and "nginx" in only:
                print("  nginx is not installed: no nginx comparison")
            elif nginx is not None:
                proc, port = nginx
                try:
                    base = f"http://127.0.0.1:{port}/tiles/{scenario}/{version}/"
                    pid = proc.process.pid
                    run("nginx GET", base, pid)
                    run("nginx 304", base, pid, asyncio.run(fetch_etags(base, rels)))
                finally:
                    proc.stop()
            for group, label, target in (
                ("floors", "aiohttp floor GET", _serve_aiohttp_floor),
                ("floors", "asyncio floor GET", _serve_asyncio_floor),
                ("others", "http.server GET", _serve_http_server),
                ("others", "aiohttp static GET", _serve_aiohttp_static),
            ):
                if group not in only:
                    continue
                child = Child(target, version_dir)
                try:
                    assert child.process.pid is not None
                    run(label, f"http://127.0.0.1:{child.port}/", child.process.pid)
                finally:
                    child.stop()

    # each server's median run (by req/s) over the rounds
    results = {name: sorted(rs, key=lambda r: r.rps)[len(rs) // 2] for name, rs in runs.items()}
    if args.rounds > 1:
        print(f"\nmedian of {args.rounds} interleaved rounds per server:")
    # and each server's median CPU time per request (less swayed by other work)
    cpu = {name: sorted(r.cpu_us for r in rs)[len(rs) // 2] for name, rs in runs.items()}
    print(
        f"\n{'server':<20}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/req':>12}"
    )
    for r in results.values():
        print(
            f"{r.name:<20}{r.requests:>10}{r.errors:>8}{r.rps:>10.0f}"
            f"{r.pct(0.5):>9.2f}{r.pct(0.99):>9.2f}{cpu[r.name]:>12.1f}"
        )
    if "nginx GET" in results:
        print()
        for label, what in (
            ("greentwin", "greentwin / nginx"),
            ("gt no access log", "greentwin, access log off / nginx"),
            ("gt aiohttp-only", "greentwin without the tile shortcut / nginx"),
        ):
            if f"{label} GET" in results:
                get = results[f"{label} GET"].rps / results["nginx GET"].rps
                nm = results[f"{label} 304"].rps / results["nginx 304"].rps
                aim = " (target 0.5x or better)" if label == "greentwin" else ""
                print(f"{what}: GET {get:.2f}x, 304 {nm:.2f}x{aim}")
                get = cpu["nginx GET"] / cpu[f"{label} GET"]
                nm = cpu["nginx 304"] / cpu[f"{label} 304"]
                print(f"  CPU per request, nginx's / its: GET {get:.2f}x, 304 {nm:.2f}x")
        for floor in ("aiohttp floor GET", "asyncio floor GET"):
            if floor in results:
                ratio = results[floor].rps / results["nginx GET"].rps
                print(f"{floor} / nginx GET: {ratio:.2f}x (a ceiling, not a server)")
    if "greentwin GET" in results and "http.server GET" in results:
        gt_get = results["greentwin GET"].rps
        print(f"greentwin GET / http.server: {gt_get / results['http.server GET'].rps:.2f}x req/s")
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load_avg} on {os.cpu_count()} CPUs")
    return 1 if any(r.errors for rs in runs.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
