"""Fan-out benchmark of the live hub: N WebSocket clients on loopback follow one scenario.

The server runs in a subprocess (its CPU time is read with psutil); the clients are
spread over worker processes; this process is the editor. For each edit it records

- edit->all: from sending the edit to the moment the last client received its update
  (includes validation, the durable SQLite commit and the default recompute);
- fan-out: from the editor receiving the ack (commit done) to the last client
  receiving the update: the hub's broadcast, plus the clients' own receiving (they
  share the CPU with the server);
- fan-out in the server: from the broadcast to every subscriber's queue written to
  its socket, timed inside the server process (``GET /bench/fanout``).

Clock: ``time.monotonic_ns`` (system-wide on Linux, comparable across processes).

With ``--edit-to-overlay`` it measures instead the time from a road traffic change on
the demo district (``set_road_traffic`` on the main street, a different flow each time)
to the ``update`` that announces the new noise and air overlay versions, with the real
recompute (:class:`~greentwin.twin.recompute_district.DistrictRecompute`). The first
edit of a scenario also copies the baseline maps; it is reported apart.

Usage: ``python bench/live.py [--clients 1000] [--edits 50] [--workers 2]``
       ``python bench/live.py --edit-to-overlay [--edits 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import websockets

TOKEN = "bench-planner"
SERVER = """
import asyncio, logging, sys, time
from aiohttp import web
from greentwin.server.live import setup_live
from greentwin.server.ws import LiveHub, LiveConfig
logging.basicConfig(level=logging.WARNING)
FAN = []
_fanout = LiveHub.fanout
def fanout(self, scenario, text):
    # server side: from the broadcast to every subscriber's queue written out
    t0 = time.perf_counter()
    _fanout(self, scenario, text)
    subs = list(self.subscribers.get(scenario, ()))
    if '"type":"update"' not in text[:20] or len(subs) < 2:
        return
    async def drained():
        deadline = t0 + 60.0  # bounded: a stuck client ends the wait, not the bench
        while any(s.out for s in subs) and time.perf_counter() < deadline:
            await asyncio.sleep(0)
        FAN.append(time.perf_counter() - t0)
    asyncio.get_running_loop().create_task(drained())
LiveHub.fanout = fanout

async def fan_stats(request):
    return web.json_response(FAN)
async def main():
    app = web.Application()
    app.router.add_get("/bench/fanout", fan_stats)
    cfg = LiveConfig(tokens={"TOKEN": "planner"}, rate_per_s=1000.0, burst=1000)
    made = []
    factory = None
    if sys.argv[2] == "district":
        from pathlib import Path
        from greentwin.twin.recompute_district import DistrictRecompute
        from greentwin.server.store import TileStore
        def factory(store):
            tiles = TileStore(Path(sys.argv[1]).parent / "var")
            tiles.ensure()
            made.append(DistrictRecompute(store, tiles, Path(sys.argv[3])))
            return made[-1]
    setup_live(app, store_path=sys.argv[1], live_config=cfg, recompute=factory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if made:
        await asyncio.to_thread(made[0].base)  # the baseline maps, computed once
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
""".replace("TOKEN", TOKEN)


async def recv(ws: Any, timeout: float = 60.0) -> Any:
    """One message, or TimeoutError: every wait of the benchmark is bounded."""
    return await asyncio.wait_for(ws.recv(), timeout)


def worker(url: str, scenario: str, n: int, edits: int, ready: Any, out: Any) -> None:
    """Open ``n`` subscribed clients; report per seq the latest receive time of all of them."""

    async def main() -> None:
        latest: dict[int, int] = {}
        counts: dict[int, int] = {}
        sem = asyncio.Semaphore(64)
        conns: list[Any] = []

        async def open_one() -> None:
            async with sem:
                ws = await websockets.connect(
                    url, max_queue=None, compression=None, open_timeout=60
                )
                await ws.send(
                    json.dumps({"type": "hello", "protocol": "greentwin/1", "token": TOKEN})
                )
                await ws.send(json.dumps({"type": "subscribe", "scenario": scenario}))
                while json.loads(await recv(ws))["type"] != "snapshot":
                    pass
                conns.append(ws)

        await asyncio.gather(*(open_one() for _ in range(n)))
        ready.put(len(conns))

        async def follow(ws: Any) -> None:
            async for raw in ws:
                now = time.monotonic_ns()
                if '"type":"update"' not in raw[:20]:
                    continue
                seq = json.loads(raw)["seq"]
                latest[seq] = max(latest.get(seq, 0), now)
                counts[seq] = counts.get(seq, 0) + 1
                if counts[seq] == n:
                    out.put((seq, latest[seq]))
                    if seq >= edits:
                        return

        await asyncio.wait_for(asyncio.gather(*(follow(ws) for ws in conns)), 300)
        for ws in conns:
            await ws.close()

    asyncio.run(main())


async def editor(
    url: str, scenario: str, edits: int, workers: int, out: Any, server: psutil.Process
) -> dict[str, Any]:
    ws = await websockets.connect(url, compression=None)
    await ws.send(json.dumps({"type": "hello", "protocol": "greentwin/1", "token": TOKEN}))
    await recv(ws)
    e2all: list[float] = []
    fan: list[float] = []
    cpu0 = server.cpu_times()
    t_start = time.perf_counter()
    for i in range(1, edits + 1):
        op = {
            "op": "plant_tree",
            "species": "tilia-cordata",
            "age_years": 6,
            "position": [24.93 + i * 1e-5, 60.16],
            "id": f"bench-{i}",
        }
        t0 = time.monotonic_ns()
        await ws.send(json.dumps({"type": "edit", "ref": str(i), "scenario": scenario, "op": op}))
        ack = json.loads(await recv(ws))
        t_ack = time.monotonic_ns()
        assert ack["type"] == "ack" and ack["seq"] == i, ack
        last = 0
        for _ in range(workers):
            seq, t = await asyncio.to_thread(out.get, True, 60)
            assert seq == i
            last = max(last, t)
        e2all.append((last - t0) / 1e6)
        fan.append((last - t_ack) / 1e6)
    wall = time.perf_counter() - t_start
    cpu1 = server.cpu_times()
    await ws.close()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"edit_to_all_ms": e2all, "fanout_ms": fan, "server_cpu_s": cpu, "wall_s": wall}


async def edit_to_overlay(url: str, scenario: str, edits: int) -> list[float]:
    """Seconds from each road edit to the update naming the new overlay versions."""
    ws = await websockets.connect(url, compression=None, max_size=2**24)
    await ws.send(json.dumps({"type": "hello", "protocol": "greentwin/1", "token": TOKEN}))
    await recv(ws)
    await ws.send(json.dumps({"type": "subscribe", "scenario": scenario}))
    while json.loads(await recv(ws))["type"] != "snapshot":
        pass
    times: list[float] = []
    for i in range(1, edits + 1):
        flows = {"day": {"light": 900.0 + 150.0 * i, "heavy": 30.0 + 5.0 * i}}
        op = {"op": "set_road_traffic", "id": "main-ew", "flows": flows}
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "edit", "ref": str(i), "scenario": scenario, "op": op}))
        while True:
            msg = json.loads(await recv(ws, 120))
            if msg["type"] == "error":
                raise RuntimeError(msg)
            if msg["type"] == "update" and msg["seq"] == i:
                break
        times.append(time.perf_counter() - t0)
        assert {"noise_lden", "no2"} <= set(msg["layers"]), msg["layers"].keys()
    await ws.close()
    return times


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--edit-to-overlay",
        action="store_true",
        help="time road edits on the demo district until the new overlays are announced",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gt-bench-"))
    mode = "district" if args.edit_to_overlay else "default"
    citygml = Path(__file__).resolve().parents[1] / "data" / "citygml"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp / "bench.sqlite"), mode, str(citygml)],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs: list[mp.Process] = []
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        url = f"ws://127.0.0.1:{port}/ws"
        import urllib.request

        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/scenarios", data=b'{"name": "bench"}', method="POST"
        )
        req.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            scenario = json.loads(resp.read())["id"]
        if args.edit_to_overlay:
            times = asyncio.run(edit_to_overlay(url, scenario, args.edits))
            rest = times[1:] or times
            print(f"edit -> overlay update, demo district, {args.edits} road edits:")
            print(f"  first edit of the scenario: {times[0]:.2f} s")
            print(
                f"  later edits: p50 {pct(rest, 0.5):.2f} s, max {max(rest):.2f} s,"
                f" mean {statistics.fmean(rest):.2f} s"
            )
            return 0
        ready: Any = mp.Queue()
        out: Any = mp.Queue()
        per = [
            args.clients // args.workers + (k < args.clients % args.workers)
            for k in range(args.workers)
        ]
        t0 = time.perf_counter()
        for n in per:
            p = mp.Process(
                target=worker, args=(url, scenario, n, args.edits, ready, out), daemon=True
            )
            p.start()
            procs.append(p)
        connected = sum(ready.get(timeout=300) for _ in procs)
        print(f"{connected} clients connected and subscribed in {time.perf_counter() - t0:.1f} s")
        res = asyncio.run(
            editor(url, scenario, args.edits, args.workers, out, psutil.Process(proc.pid))
        )
        e, f = res["edit_to_all_ms"], res["fanout_ms"]
        print(f"edits: {args.edits}, clients: {connected}, server cores: {os.cpu_count()}")
        print(
            f"edit -> update at all clients: p50 {pct(e, 0.5):.1f} ms, p99 {pct(e, 0.99):.1f} ms,"
            f" max {max(e):.1f} ms"
        )
        print(
            f"fan-out (ack -> all clients):  p50 {pct(f, 0.5):.1f} ms, p99 {pct(f, 0.99):.1f} ms,"
            f" mean {statistics.fmean(f):.1f} ms"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/fanout", timeout=30) as r:
            server_fan = [v * 1000.0 for v in json.loads(r.read())]
        if server_fan:
            print(
                f"fan-out in the server (broadcast -> every queue written to its socket):"
                f" p50 {pct(server_fan, 0.5):.1f} ms, p99 {pct(server_fan, 0.99):.1f} ms"
            )
        print(
            f"server CPU during the edit stream: {res['server_cpu_s']:.2f} s"
            f" over {res['wall_s']:.1f} s wall"
            f" ({res['server_cpu_s'] / args.edits * 1000:.1f} ms per edit)"
        )
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
