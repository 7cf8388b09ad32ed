"""Project benchmark: build a project, build it again (cached), serve it, time road edits.

Drives everything through the ``greentwin`` command and the live protocol (docs/protocol.md),
never through greentwin's modules, so it measures what a user gets:

1. ``greentwin build PROJECT.toml --data DIR`` in a subprocess: the wall time of each stage
   (read from the build's own lines, ``[k/n] layer: built in X s``, and the overlay
   log line that splits the overlays into rasters/noise/air/heat/render/write), the total
   time and the peak RSS of the build's process tree (psutil, every 0.1 s over the process
   and its children). A build still running after ``--build-timeout`` seconds is killed
   (its process group) and reported with the stage it was in.
2. The same build again: every layer should be "up to date" (cached by input hash).
3. ``greentwin serve PROJECT.toml`` on a free loopback port (``--port 0``) with the built
   data directory (or an empty one with ``--fresh-serve``, which makes the server build
   everything itself first). The planner token is the one the server writes into the data
   directory (``planner-token``). A WebSocket client says ``hello`` as planner, subscribes
   to the baseline and waits (bounded) for a snapshot with the noise and air overlays and
   the road network; then it creates a draft scenario (``POST /api/scenarios``), takes the
   road with the largest day flow from the ``road_network`` layer and sends ``--edits``
   ``set_road_traffic`` edits on it (half of its flow, then a quarter, ...), each timed from
   sending the edit to the ``update`` that names new ``noise_lden`` and ``no2`` versions.
   The first edit of a scenario also copies the baseline maps; p50/max are given over all
   edits and over the later ones. The server is stopped with SIGTERM.

Usage::

    python bench/project.py data/projects/helsinki/project.toml [--work DIR] [--json]
    python bench/project.py --synthetic [--size-km 2] [--seed 1] [--edits 3]

Every wait is bounded (``--build-timeout``, ``--ready-timeout``, 180 s per edit). The
targets of the city-scale issue (4 km2 built in under 10 min with peak RSS under 2 GB,
one road edit to new overlays under 3 s) are printed next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_project

TARGET_BUILD_S = 600.0
TARGET_RSS_MB = 2048.0
TARGET_EDIT_S = 3.0
EDIT_TIMEOUT_S = 180.0

_STAGE = re.compile(r"^\[(\d+)/(\d+)\] (\w+): (building \.\.\.|up to date|built in ([0-9.]+) s)")
_SOURCES = re.compile(r"^\[0/\d+\] sources: (.*) \(([0-9.]+) s\)\s*$")
_OVERLAY_PARTS = re.compile(r"overlays: [^(]*\(((?:[a-z_]+ [0-9.]+ s(?:, )?)+)\)")
_NOISE_MAP = re.compile(r"noise map: (\d+) receivers, (\d+) roads, ([0-9.]+) s")
_RUNNING = re.compile(r"greentwin is running: open http://[^/]*:(\d+)/")


# ------------------------------------------------------------------------ processes
def greentwin_command(override: str | None) -> list[str]:
    """The ``greentwin`` command: ``--greentwin``, else beside this Python, else on PATH."""
    if override:
        return override.split()
    beside = Path(sys.executable).with_name("greentwin")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("greentwin")
    if found:
        return [found]
    return [sys.executable, "-m", "greentwin.cli"]


class RssSampler(threading.Thread):
    """Polls the summed RSS of a process and its children every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += p.memory_info().rss
            self.samples.append((time.perf_counter() - self.t0, total))
            self.done.wait(self.period)

    def stop(self) -> None:
        self.done.set()
        self.join(5)

    @property
    def peak_mb(self) -> float:
        return max((r for _, r in self.samples), default=0) / 2**20

    def curve(self, step_s: float = 10.0) -> list[tuple[float, float]]:
        """(time s, peak MB within the step) per ``step_s``: the RSS curve, coarsely."""
        out: dict[int, int] = {}
        for t, r in self.samples:
            k = int(t // step_s)
            out[k] = max(out.get(k, 0), r)
        return [(k * step_s, round(v / 2**20, 1)) for k, v in sorted(out.items())]


class LineReader(threading.Thread):
    """Reads a text stream line by line, stamping each line with the time since start."""

    def __init__(self, stream: Any, t0: float, echo: bool = False) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.t0 = t0
        self.echo = echo
        self.lines: list[tuple[float, str]] = []
        self.queue: queue.SimpleQueue[str] = queue.SimpleQueue()

    def run(self) -> None:
        for raw in self.stream:
            line = raw.rstrip("\n")
            self.lines.append((time.perf_counter() - self.t0, line))
            self.queue.put(line)
            if self.echo:
                sys.stderr.write(f"    | {line}\n")


def _kill_group(proc: subprocess.Popen[str], grace_s: float = 15.0) -> None:
    """SIGTERM the process group started with ``proc``, SIGKILL it after ``grace_s``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# ---------------------------------------------------------------------------- build
@dataclass
class Stage:
    """One stage of ``greentwin build``: what the build said and the wall time between."""

    name: str
    status: str  # built, up to date, running (killed), failed
    reported_s: float | None = None  # the build's own "built in X s"
    wall_s: float | None = None  # from our time stamps


@dataclass
class BuildResult:
    """One ``greentwin build`` run."""

    rc: int | None
    total_s: float
    timed_out: bool
    peak_rss_mb: float
    sources: str = ""
    sources_s: float | None = None
    stages: list[Stage] = field(default_factory=list)
    overlay_parts_s: dict[str, float] = field(default_factory=dict)
    noise_maps: list[str] = field(default_factory=list)
    rss_curve: list[tuple[float, float]] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


def parse_build(lines: list[tuple[float, str]]) -> tuple[list[Stage], dict[str, Any]]:
    """Stages and extras from a build's time-stamped output lines."""
    stages: dict[str, Stage] = {}
    started: dict[str, float] = {}
    extra: dict[str, Any] = {"overlay_parts_s": {}, "noise_maps": []}
    for t, line in lines:
        text = line.strip()
        if m := _SOURCES.match(text):
            extra["sources"], extra["sources_s"] = m.group(1), float(m.group(2))
        elif m := _STAGE.match(text):
            name, what = m.group(3), m.group(4)
            if what.startswith("building"):
                started[name] = t
                stages[name] = Stage(name, "running")
            elif what == "up to date":
                stages[name] = Stage(name, "up to date")
            else:
                st = stages.setdefault(name, Stage(name, "built"))
                st.status = "built"
                st.reported_s = float(m.group(5))
                if name in started:
                    st.wall_s = round(t - started[name], 2)
        if m := _OVERLAY_PARTS.search(text):
            for part in m.group(1).split(", "):
                k, v, _ = part.split()
                extra["overlay_parts_s"][k] = float(v)
        if m := _NOISE_MAP.search(text):
            extra["noise_maps"].append(m.group(0))
    end = lines[-1][0] if lines else 0.0
    for name, st in stages.items():
        if st.status == "running" and name in started:
            st.wall_s = round(end - started[name], 2)
    return list(stages.values()), extra


def _launch(
    args: list[str], t0: float, echo: bool
) -> tuple[subprocess.Popen[str], RssSampler, LineReader]:
    """Start a ``greentwin`` command in its own process group, its RSS sampled and its
    output read line by line."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    sampler = RssSampler(proc.pid)
    sampler.start()
    reader = LineReader(proc.stdout, t0, echo)
    reader.start()
    return proc, sampler, reader


def run_build(
    cmd: list[str], manifest: Path, data: Path, timeout_s: float, echo: bool
) -> BuildResult:
    """Run one build under the RSS sampler; kill its process group after ``timeout_s``."""
    t0 = time.perf_counter()
    proc, sampler, reader = _launch([*cmd, "build", str(manifest), "--data", str(data)], t0, echo)
    timed_out = False
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    total = time.perf_counter() - t0
    sampler.stop()
    reader.join(10)
    stages, extra = parse_build(reader.lines)
    if timed_out:
        for st in stages:
            if st.status == "running":
                st.status = "killed (timeout)"
    elif proc.returncode != 0:
        for st in stages:
            if st.status == "running":
                st.status = "failed"
    return BuildResult(
        rc=proc.returncode,
        total_s=round(total, 2),
        timed_out=timed_out,
        peak_rss_mb=round(sampler.peak_mb, 1),
        sources=extra.get("sources", ""),
        sources_s=extra.get("sources_s"),
        stages=stages,
        overlay_parts_s=extra["overlay_parts_s"],
        noise_maps=extra["noise_maps"],
        rss_curve=sampler.curve(),
        tail=[line for _, line in reader.lines[-15:]],
    )


# ---------------------------------------------------------------------------- serve
@dataclass
class ServeResult:
    """The live part: readiness, the edited road and the edit -> overlay times."""

    port: int | None = None
    ready_s: float | None = None
    road: dict[str, Any] = field(default_factory=dict)
    edit_to_overlay_s: list[float] = field(default_factory=list)
    edit_to_ack_s: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    error: str = ""
    tail: list[str] = field(default_factory=list)


async def _recv(ws: Any, timeout: float) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return msg


def _http_json(
    url: str, token: str, body: dict[str, Any] | None = None, timeout: float = 60.0
) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


OVERLAYS = ("noise_lden", "no2")


async def live_session(
    port: int, token: str, edits: int, ready_timeout: float, res: ServeResult
) -> None:
    """Hello as planner, wait for the baseline overlays, then time the road edits."""
    import websockets

    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws",
        max_size=2**24,
        compression=None,
        open_timeout=30,
        ping_interval=None,  # a server busy recomputing may not answer pings; waits are bounded
    ) as ws:
        await ws.send(json.dumps({"type": "hello", "protocol": "greentwin/1", "token": token}))
        welcome = await _recv(ws, 30)
        if welcome.get("type") != "welcome" or welcome.get("role") != "planner":
            raise RuntimeError(f"hello: {welcome}")
        await ws.send(json.dumps({"type": "subscribe", "scenario": "baseline"}))
        deadline = t0 + ready_timeout
        layers: dict[str, Any] = {}
        while not {*OVERLAYS, "road_network"} <= set(layers):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(
                    f"no baseline snapshot with overlays and road network in {ready_timeout:.0f} s"
                    f" (layers so far: {sorted(layers)})"
                )
            msg = await _recv(ws, left)
            if msg.get("type") == "snapshot" and msg.get("scenario") == "baseline":
                layers = dict(msg.get("layers") or {})
        res.ready_s = round(time.perf_counter() - t0, 2)

        made = await asyncio.to_thread(
            _http_json, f"{base}/api/scenarios", token, {"name": "bench-project"}
        )
        sid = str(made["id"])
        await ws.send(json.dumps({"type": "subscribe", "scenario": sid}))
        while True:
            msg = await _recv(ws, 60)
            if msg.get("type") == "snapshot" and msg.get("scenario") == sid:
                break
        url = str(msg["layers"]["road_network"]["url"])
        net = await asyncio.to_thread(_http_json, base + url if url.startswith("/") else url, token)
        best = max(
            net["features"], key=lambda f: float((f.get("properties") or {}).get("flow_day") or 0)
        )
        props = best["properties"]
        rid = str(best.get("id") or props.get("id"))
        flow = float(props.get("flow_day") or 0.0)
        res.road = {"id": rid, "name": props.get("name"), "flow_day": flow}
        base_flows: dict[str, dict[str, float]] = props.get("flows") or {}
        seq = int(msg.get("seq") or 0)
        for i in range(1, edits + 1):
            # half the road's flows in every period and vehicle category, then a quarter, ...
            flows = {
                period: {cat: round(float(v) * 0.5**i, 2) for cat, v in cats.items()}
                for period, cats in base_flows.items()
            } or {"day": {"light": round(flow * 0.5**i, 1)}}
            op = {"op": "set_road_traffic", "id": rid, "flows": flows}
            t = time.perf_counter()
            await ws.send(json.dumps({"type": "edit", "ref": f"e{i}", "scenario": sid, "op": op}))
            want: int | None = None
            while True:
                msg = await _recv(ws, EDIT_TIMEOUT_S)
                kind = msg.get("type")
                if kind == "error":
                    raise RuntimeError(f"edit {i}: {msg}")
                if kind == "ack" and msg.get("ref") == f"e{i}":
                    want = int(msg["seq"])
                    res.edit_to_ack_s.append(round(time.perf_counter() - t, 3))
                elif kind == "update" and msg.get("scenario") == sid:
                    if want is None and int(msg["seq"]) <= seq:
                        continue
                    if want is None or int(msg["seq"]) == want:
                        break
            elapsed = time.perf_counter() - t
            seq = int(msg["seq"])
            if msg.get("error"):
                raise RuntimeError(f"edit {i}: recompute failed: {msg['error']}")
            missing = [k for k in OVERLAYS if k not in (msg.get("layers") or {})]
            if missing:
                raise RuntimeError(f"edit {i}: update without new {missing}")
            res.edit_to_overlay_s.append(round(elapsed, 3))


def run_serve(
    cmd: list[str], manifest: Path, data: Path, edits: int, ready_timeout: float, echo: bool
) -> ServeResult:
    """Start ``greentwin serve``, run the live session, stop the server with SIGTERM."""
    res = ServeResult()
    t0 = time.perf_counter()
    proc, sampler, reader = _launch(
        [*cmd, "serve", str(manifest), "--data", str(data), "--host", "127.0.0.1", "--port", "0"],
        t0,
        echo,
    )
    try:
        deadline = time.perf_counter() + 180.0
        while res.port is None:
            if proc.poll() is not None:
                raise RuntimeError(f"greentwin serve exited with {proc.returncode}")
            try:
                line = reader.queue.get(timeout=max(0.1, deadline - time.perf_counter()))
            except queue.Empty:
                raise TimeoutError("greentwin serve did not say it runs within 180 s") from None
            if m := _RUNNING.search(line):
                res.port = int(m.group(1))
        token_file = data / "planner-token"
        while not token_file.exists():  # written before the server listens; bounded anyway
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no planner token in {token_file}")
            time.sleep(0.1)
        token = token_file.read_text(encoding="utf-8").strip()
        asyncio.run(live_session(res.port, token, edits, ready_timeout, res))
    except Exception as exc:  # reported, not raised: the other figures still count
        res.error = f"{type(exc).__name__}: {exc}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                _kill_group(proc, 5)
        sampler.stop()
        reader.join(10)
        res.peak_rss_mb = round(sampler.peak_mb, 1)
        res.tail = [line for _, line in reader.lines[-10:]]
    return res


# ---------------------------------------------------------------------------- report
def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _flag(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(report: dict[str, Any]) -> str:
    """The report as a small text table."""
    out = [f"project {report['manifest']}"]
    if report.get("synthetic"):
        out.append(f"  synthetic: {report['synthetic']}")
    for key, title in (("build", "first build"), ("rebuild", "second build (cached)")):
        b = report.get(key)
        if not b:
            continue
        state = "timed out (killed)" if b["timed_out"] else f"exit {b['rc']}"
        out.append(f"{title}: {b['total_s']:.1f} s, peak RSS {b['peak_rss_mb']:.0f} MB, {state}")
        if b["sources"]:
            out.append(f"  {'sources':<18} {b['sources_s'] or 0:>8.1f} s  {b['sources']}")
        for st in b["stages"]:
            t = st["reported_s"] if st["reported_s"] is not None else st["wall_s"]
            shown = f"{t:>8.1f} s" if t is not None else " " * 10
            out.append(f"  {st['name']:<18} {shown}  {st['status']}")
        if b["overlay_parts_s"]:
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in b["overlay_parts_s"].items())
            out.append(f"  overlays split: {parts}")
        for line in b["noise_maps"]:
            out.append(f"  {line}")
        if b["rc"] != 0 or b["timed_out"]:
            out.append("  last lines:")
            out.extend(f"    {line}" for line in b["tail"])
    s = report.get("serve")
    if s:
        out.append(
            f"serve: port {s['port']}, baseline overlays ready after {s['ready_s']} s, "
            f"peak RSS {s['peak_rss_mb']:.0f} MB"
        )
        if s["road"]:
            r = s["road"]
            out.append(f"  edited road {r['id']} ({r['name']}), day flow {r['flow_day']:.0f} veh/h")
        e = s["edit_to_overlay_s"]
        if e:
            later = e[1:] or e
            out.append(
                f"  edit -> new noise/air overlays: {', '.join(f'{v:.2f}' for v in e)} s; "
                f"p50 {_pct(e, 0.5):.2f} s, max {max(e):.2f} s; "
                f"after the first: p50 {_pct(later, 0.5):.2f} s, max {max(later):.2f} s"
            )
        if s["error"]:
            out.append(f"  error: {s['error']}")
            out.extend(f"    {line}" for line in s["tail"])
    t = report["targets"]
    out.append(
        "targets: build < 10 min: {}, peak RSS < 2 GB: {}, edit -> overlay < 3 s: {}".format(
            *(t[k] for k in ("build", "rss", "edit"))
        )
    )
    return "\n".join(out)


def targets(report: dict[str, Any]) -> dict[str, str]:
    """Each issue target: ok, MISSED or n/a."""
    b = report.get("build") or {}
    s = report.get("serve") or {}
    edits = s.get("edit_to_overlay_s") or []
    built = bool(b) and b["rc"] == 0 and not b["timed_out"]
    return {
        "build": _flag(built and b["total_s"] < TARGET_BUILD_S) if b else "n/a",
        "rss": _flag(b["peak_rss_mb"] < TARGET_RSS_MB) if b else "n/a",
        "edit": _flag(_pct(edits, 0.5) < TARGET_EDIT_S) if edits else "n/a",
    }


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("manifest", nargs="?", type=Path, metavar="PROJECT.toml")
    ap.add_argument("--synthetic", action="store_true", help="generate a project (make_project)")
    ap.add_argument("--size-km", type=float, default=2.0, help="synthetic: side of the square")
    ap.add_argument("--seed", type=int, default=1, help="synthetic: random seed")
    ap.add_argument("--work", type=Path, help="work directory (kept; default: a temporary one)")
    ap.add_argument("--edits", type=int, default=3, help="road edits to time (default 3)")
    ap.add_argument("--build-timeout", type=float, default=1200.0, help="seconds (default 1200)")
    ap.add_argument("--ready-timeout", type=float, default=1200.0, help="seconds (default 1200)")
    ap.add_argument("--no-serve", action="store_true", help="build only")
    ap.add_argument("--no-rebuild", action="store_true", help="skip the second (cached) build")
    ap.add_argument(
        "--serve-only",
        action="store_true",
        help="skip both builds: serve what --work DIR already holds (with --synthetic: "
        "its project, regenerated identically)",
    )
    ap.add_argument(
        "--fresh-serve",
        action="store_true",
        help="serve from an empty data directory (the server builds every layer itself)",
    )
    ap.add_argument("--greentwin", help="the greentwin command (default: beside this Python)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the commands' output")
    args = ap.parse_args(argv)
    if (args.manifest is None) == (not args.synthetic):
        ap.error("give PROJECT.toml or --synthetic (one of them)")
    cmd = greentwin_command(args.greentwin)
    work = args.work or Path(tempfile.mkdtemp(prefix="gt-project-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"command": cmd}
    try:
        if args.synthetic:
            t = time.perf_counter()
            s = make_project.make_project(work / "project", size_km=args.size_km, seed=args.seed)
            manifest = s.manifest
            report["synthetic"] = (
                f"{args.size_km:g} km x {args.size_km:g} km, seed {args.seed}: {s.buildings} "
                f"buildings, {s.trees} trees, {s.roads} road segments, {s.green_areas} green "
                f"areas, {s.counts} count points (written in {time.perf_counter() - t:.1f} s)"
            )
        else:
            manifest = args.manifest.resolve()
        report["manifest"] = str(manifest)
        data = work / "data"
        ok = True
        if not args.serve_only:
            build = run_build(cmd, manifest, data, args.build_timeout, args.verbose)
            report["build"] = asdict(build)
            ok = build.rc == 0 and not build.timed_out
        if ok and not args.no_rebuild and not args.serve_only:
            report["rebuild"] = asdict(
                run_build(cmd, manifest, data, args.build_timeout, args.verbose)
            )
        if ok and not args.no_serve:
            serve_data = work / "serve-data" if args.fresh_serve else data
            report["serve"] = asdict(
                run_serve(cmd, manifest, serve_data, args.edits, args.ready_timeout, args.verbose)
            )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    report["targets"] = targets(report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table(report))
    b = report.get("build")
    return 0 if b is None or (b["rc"] == 0 and not b["timed_out"]) else 1


if __name__ == "__main__":
    sys.exit(main())
