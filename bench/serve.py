"""Benchmark: cached tile requests over loopback, greentwin vs plain static servers.

Usage::

    python bench/serve.py [--seconds 5] [--concurrency 32] [--data DIR]

Each server runs in its own process (so the load generator does not share its
interpreter); a bounded aiohttp client load generator (``--concurrency`` workers,
keep-alive, ``--seconds`` per run) requests every file of the published buildings
tileset round-robin. Runs, in one invocation:

1. greentwin, plain GET (200, served from its in-memory cache after a warm-up pass);
2. greentwin, ``If-None-Match`` with the current ETag (304);
3. the same files from Python's ``http.server`` (``ThreadingHTTPServer``, HTTP/1.1);
4. the same files from aiohttp's ``add_static``.

Prints requests per second, p50 and p99 latency for each and the ratios to greentwin.
The tileset is the demo's (``--data``, default ``./var``) or, when missing, the Berlin
buildings converted into a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import tempfile
import time
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

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


# ------------------------------------------------------------------ servers (child processes)
def _serve_greentwin(conn: multiprocessing.connection.Connection, data_dir: str) -> None:
    from aiohttp import web
    from greentwin.server.app import create_app
    from greentwin.server.config import Config

    async def main() -> None:
        runner = web.AppRunner(create_app(Config(data_dir=Path(data_dir))), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(int(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


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

    async def main() -> None:
        app = web.Application()
        app.router.add_static("/", root)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(int(runner.addresses[0][1]))
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


async def fetch_etags(base: str, paths: list[str]) -> dict[str, str]:
    out = {}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for p in paths:
            async with session.get(base + p, headers={"Accept-Encoding": "gzip"}) as r:
                await r.read()
                out[p] = r.headers["ETag"]
    return out


# ------------------------------------------------------------------ tileset
def ensure_tileset(data_dir: Path) -> tuple[Path, str, str]:
    """(data dir, scenario, version) holding a published buildings layer."""
    from greentwin.server.store import TileStore

    if TileStore(data_dir).layers("baseline").get("buildings") is None:
        from greentwin.server.demo import RECIPES, build_layer, cache_key

        data_dir = Path(tempfile.mkdtemp(prefix="greentwin-bench-")) / "var"
        recipe = next(r for r in RECIPES if r.layer == "buildings")
        inputs_dir = ROOT / "data" / "citygml"
        print(f"no demo cache: converting the Berlin buildings into {data_dir}")
        build_layer(
            recipe.build,
            [inputs_dir / n for n in recipe.inputs],
            data_dir,
            "baseline",
            "buildings",
            cache_key(recipe, inputs_dir),
        )
    info = TileStore(data_dir).layers("baseline")["buildings"]
    return data_dir, "baseline", info.version


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each run")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent client workers")
    ap.add_argument("--data", type=Path, default=Path("var"), help="data directory (demo cache)")
    args = ap.parse_args()

    from greentwin.server.store import TileStore

    data_dir, scenario, version = ensure_tileset(args.data)
    index = TileStore(data_dir).load_index(scenario, version)
    assert index is not None
    rels = sorted(index)
    sizes = [index[r].size for r in rels]
    print(
        f"tileset: {scenario}/{version}: {len(rels)} files, {sum(sizes) / 1e6:.2f} MB "
        f"(largest {max(sizes) / 1e3:.0f} kB); {args.concurrency} workers, {args.seconds:g} s per run"
    )
    version_dir = str(data_dir / "tiles" / scenario / version)
    results: list[Result] = []

    gt = Child(_serve_greentwin, str(data_dir))
    try:
        base = f"http://127.0.0.1:{gt.port}/tiles/{scenario}/{version}/"
        results.append(
            asyncio.run(load("greentwin GET", base, rels, args.seconds, args.concurrency))
        )
        etags = asyncio.run(fetch_etags(base, rels))
        results.append(
            asyncio.run(
                load("greentwin 304", base, rels, args.seconds, args.concurrency, etags, expect=304)
            )
        )
    finally:
        gt.stop()
    for label, target in (
        ("http.server", _serve_http_server),
        ("aiohttp static", _serve_aiohttp_static),
    ):
        child = Child(target, version_dir)
        try:
            base = f"http://127.0.0.1:{child.port}/"
            results.append(asyncio.run(load(label, base, rels, args.seconds, args.concurrency)))
        finally:
            child.stop()

    ref = results[0]
    print(
        f"\n{'server':<18}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs greentwin GET':>18}"
    )
    for r in results:
        print(
            f"{r.name:<18}{r.requests:>10}{r.errors:>8}{r.rps:>10.0f}{r.pct(0.5):>9.2f}{r.pct(0.99):>9.2f}"
            f"{ref.rps / r.rps:>17.2f}x"
        )
    print(
        f"\ngreentwin GET / http.server: {ref.rps / results[2].rps:.2f}x req/s; "
        f"greentwin GET / aiohttp static: {ref.rps / results[3].rps:.2f}x req/s "
        f"(p99 {ref.pct(0.99):.2f} ms vs {results[2].pct(0.99):.2f} ms and {results[3].pct(0.99):.2f} ms)"
    )
    print(f"mean latency greentwin GET: {statistics.fmean(ref.latencies_ms):.2f} ms")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
