"""The Unity and Unreal clients' engine-free cores, compiled here and run against a live server.

Each console program (C# on Mono, C++17 with g++) drives one whole session: hello (the
welcome names the city's extent and origin, so the program plants its trees there), subscribe,
snapshot, edits with acks and updates, undo, a glb frame checked down to its JSON chunk, bad
frames answered with errors, the scenario's shared time set (its broadcast answers, a fresh
snapshot carries it) and the baked vegetation tileset of that date fetched over HTTP, then resume across two server restarts while another client made
edits, and one more edit; both against a live server with the plain layer recompute and
against the demo app (``greentwin demo``: the district's recompute, restarts on the same data
dir). The engine glue is compiled against stub declarations of the engine
APIs it uses (so type and syntax errors are caught without the engines).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from greentwin.server.live import HUB_KEY, setup_live
from greentwin.server.ws import LiveHub
from greentwin.twin.ops import Extent
from gt_live import EXTENT, ROOT_CLIENTS, live_config, plant, run_server

sys.path.insert(0, str(ROOT_CLIENTS))
from greentwin_client import GreentwinClient

pytestmark = [pytest.mark.timeout(120)]

CLIENTS = ROOT_CLIENTS.parent
UNITY = CLIENTS / "unity"
UNREAL = CLIENTS / "unreal" / "Greentwin"
HAVE_MONO = shutil.which("mcs") is not None and shutil.which("mono") is not None
HAVE_GXX = shutil.which("g++") is not None and Path("/usr/include/nlohmann/json.hpp").is_file()
NEEDS_MONO = pytest.mark.skipif(
    not HAVE_MONO, reason="mono-mcs / mono-runtime missing (make system)"
)
NEEDS_GXX = pytest.mark.skipif(
    not HAVE_GXX, reason="g++ / nlohmann-json3-dev missing (make system)"
)
CXXFLAGS = ["-std=c++17", "-O0", "-Wall", "-Wextra", "-Werror", "-pthread"]


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=240, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _unity_core() -> list[str]:
    return sorted(str(p) for p in (UNITY / "Runtime" / "Core").glob("*.cs"))


@pytest.fixture(scope="module")
def csharp_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The C# core's console session and unit checks, compiled once per module with mcs."""
    if not HAVE_MONO:
        pytest.skip("mono-mcs / mono-runtime missing (make system)")
    out = tmp_path_factory.mktemp("csharp")
    programs = {}
    for name, src in (("console", "Console/GreentwinConsole.cs"), ("unit", "Unit/CoreTests.cs")):
        exe = out / f"{name}.exe"
        _run(["mcs", f"-out:{exe}", "-r:System.dll", *_unity_core(), str(UNITY / "Tests~" / src)])
        programs[name] = ["mono", str(exe)]
    return programs


@pytest.fixture(scope="module")
def cpp_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The C++17 core's console session and unit checks, compiled once per module with g++."""
    if not HAVE_GXX:
        pytest.skip("g++ / nlohmann-json3-dev missing (make system)")
    out = tmp_path_factory.mktemp("cpp")
    module = UNREAL / "Source" / "Greentwin"
    core = sorted((module / "Private" / "GreentwinCore").glob("*.cpp"))
    mains = {
        "console": UNREAL / "Tests" / "console" / "greentwin_console.cpp",
        "unit": UNREAL / "Tests" / "unit" / "core_test.cpp",
    }
    sources = [*core, *mains.values()]
    objects = {src: out / f"{src.stem}.o" for src in sources}
    include = f"-I{module / 'Public'}"
    compiles = [  # the translation units in parallel, then the links
        subprocess.Popen(
            ["g++", *CXXFLAGS, include, "-c", str(src), "-o", str(obj)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for src, obj in objects.items()
    ]
    for proc in compiles:
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, output
    programs = {}
    for name, main in mains.items():
        binary = out / name
        _run(
            [
                "g++",
                "-pthread",
                *(str(objects[c]) for c in core),
                str(objects[main]),
                "-o",
                str(binary),
            ]
        )
        programs[name] = [str(binary)]
    return programs


@pytest.mark.parametrize("language", ["csharp", "cpp"])
def test_core_unit_checks(language: str, request: pytest.FixtureRequest) -> None:
    """JSON, seq tracking, glb inspection, heartbeat and back-off, and a session driven by
    hand: an edit unanswered when the connection drops is resent with its key after the
    next welcome, an undo is not (it fails with "disconnected"), the hello resumes."""
    build: dict[str, list[str]] = request.getfixturevalue(f"{language}_build")
    assert _run(build["unit"]).strip().endswith("ok")


@dataclass(frozen=True)
class Place:
    """Where the test server's city is."""

    extent: Extent


@asynccontextmanager
async def _serve(db: Path, place: Place, port: int = 0) -> AsyncIterator[tuple[LiveHub, int]]:
    """A live server on 127.0.0.1:``port`` (0: a free one) with the store at ``db``."""
    app = web.Application()
    setup_live(app, store_path=db, live_config=live_config(heartbeat_s=2.0, extent=place.extent))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield runner.app[HUB_KEY], bound
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _serve_green(data_dir: Path) -> AsyncIterator[str]:
    """The full HTTP app over the demo district on a free port (for ``/api/vegetation``)."""
    from greentwin.server.app import create_app
    from greentwin.server.config import Config
    from gt_testing import CITYGML

    config = Config(data_dir=data_dir, demo_inputs=CITYGML, access_log=False)
    runner = web.AppRunner(create_app(config), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def _line(proc: asyncio.subprocess.Process, timeout: float = 180) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not raw:
        err = await proc.stderr.read() if proc.stderr is not None else b""
        pytest.fail(f"the console program ended early: {err.decode()[-3000:]}")
    msg: dict[str, Any] = json.loads(raw)
    return msg


async def _session(command: list[str], db: Path, place: Place) -> tuple[list[dict[str, Any]], Any]:
    """Run a console program through the whole session; returns its steps and final state."""
    steps: list[dict[str, Any]] = []
    west, south, east, north = place.extent.bounds()
    elsewhere = (west + (east - west) / 3, south + (north - south) / 3)
    async with _serve(db, place) as (hub, port), _serve_green(db.parent / "green") as green:
        sid = (await hub.store.create("engine", author="planner")).id
        proc = await asyncio.create_subprocess_exec(
            *command,
            f"ws://127.0.0.1:{port}/ws",
            "tok-planner",
            sid,
            green,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            while not steps or steps[-1]["step"] != "await_restart":
                steps.append(await _line(proc))
        except BaseException:
            if proc.returncode is None:
                proc.kill()
            raise
    try:
        # restart 1, on another port: someone else edits while the program is away
        async with _serve(db, place) as (_, other):
            url = f"ws://127.0.0.1:{other}/ws"
            async with GreentwinClient(url, token="tok-planner", timeout=120) as c:
                await c.subscribe(sid)
                missed = [await c.edit(sid, plant(*elsewhere, id=f"x{i}")) for i in range(2)]
        # restart 2, on the program's port: it reconnects and resumes
        async with _serve(db, place, port) as (hub, _):
            assert proc.stdin is not None
            proc.stdin.write(f"expect {missed[-1]}\n".encode())
            await proc.stdin.drain()
            steps.append(await _line(proc))
            rc = await asyncio.wait_for(proc.wait(), 120)
            err = await proc.stderr.read() if proc.stderr is not None else b""
            assert rc == 0, err.decode()[-3000:]
            state = await hub.store.state(sid)
            events = await hub.store.events(sid)
    finally:
        if proc.returncode is None:
            proc.kill()
    steps[-1]["missed"] = missed
    steps[-1]["scenario"] = sid
    steps[-1]["event_seqs"] = [e.seq for e in events]
    return steps, state


def _check_session(steps: list[dict[str, Any]], state: Any, place: Place) -> None:
    by: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        by.setdefault(s["step"], []).append(s)
    welcome = by["welcome"][0]
    west, south, east, north = place.extent.bounds()
    assert welcome["role"] == "planner"
    assert welcome["extent"] == {"west": west, "south": south, "east": east, "north": north}
    assert welcome["origin"] == {"lon": (west + east) / 2, "lat": (south + north) / 2, "height": 0}
    assert by["snapshot"][0]["seq"] == 0 and "trees" in by["snapshot"][0]["layers"]
    assert [s["seq"] for s in by["edit"]] == [1, 3] and by["undo"][0]["seq"] == 2
    glb = by["glb"][0]
    assert glb["ref_matches"] and glb["kind"] == "tree"
    assert (glb["version"], glb["length"], glb["asset_version"]) == (2, glb["bytes"], "2.0")
    assert glb["meshes"] >= 1 and glb["bin_chunk"] is True
    bad = by["bad_frames"][0]
    assert (bad["bad_json"], bad["schema"], bad["outside_extent"], bad["pong"]) == (
        "bad_json",
        "schema",
        "invalid_op",
        "pong",
    )
    # set_time: the scenario's broadcast answers it, a fresh snapshot carries the time
    spring = {"year": 2031, "date": "04-20"}
    when = by["time"][0]
    assert when["answer"] == when["snapshot"] == when["known"] == spring
    assert when["answer_scenario"] == by["done"][0]["scenario"]
    # the baked vegetation tileset of that date (its half-month bucket), fetched over HTTP
    veg = by["vegetation"][0]
    assert "/api/vegetation?date=2031-04-20&variant=baked" in veg["request"]
    answer = veg["answer"]
    assert (answer["date"], answer["variant"]) == ("2031-04-20", "baked")
    assert veg["tileset"].startswith("http://127.0.0.1:") and veg["tileset"].endswith(answer["url"])
    assert veg["asset_version"] == "1.1" and veg["has_root"]
    assert veg["extras"]["instanced"] is False and veg["extras"]["date"] == answer["bucket"]
    assert by["await_restart"][0]["seq"] == 3
    done = by["done"][0]
    assert done["ok"] and done["reconnected"] and done["connections"] >= 2
    assert done["missed"] == [4, 5]
    assert done["resumed"] == [4, 5]  # the updates made while away, once each, in order
    assert done["after_resume_seq"] == 6 and done["final_seq"] == 6
    assert done["updates"] == [1, 2, 3, 4, 5, 6]  # nothing lost, nothing twice
    assert done["event_seqs"] == [1, 2, 3, 4, 5, 6]
    assert "trees" in done["layers"]
    # the undone tree is gone; the rest stand where the welcome's origin put them
    assert sorted(state.trees) == ["eng-b", "eng-c", "x0", "x1"]
    assert state.trees["eng-c"]["position"][0] == pytest.approx((west + east) / 2)


TEST_CITY = Place(EXTENT)


@pytest.mark.asyncio
async def test_csharp_core_whole_session(
    csharp_build: dict[str, list[str]], tmp_path: Path
) -> None:
    steps, state = await _session(csharp_build["console"], tmp_path / "s.sqlite", TEST_CITY)
    _check_session(steps, state, TEST_CITY)


@pytest.mark.asyncio
async def test_cpp_core_whole_session(cpp_build: dict[str, list[str]], tmp_path: Path) -> None:
    steps, state = await _session(cpp_build["console"], tmp_path / "s.sqlite", TEST_CITY)
    _check_session(steps, state, TEST_CITY)


# --- the engine glue, compiled against stub declarations of the engine APIs ---------------
UNITY_STUBS = UNITY / "Tests~" / "Stubs" / "EngineStubs.cs"
UNREAL_STUBS = UNREAL / "Tests" / "stubs"


def _unity_glue() -> list[str]:
    glue = sorted(str(p) for p in (UNITY / "Runtime" / "Unity").glob("*.cs"))
    samples = sorted(str(p) for p in (UNITY / "Samples~").rglob("*.cs"))
    return [*_unity_core(), *glue, *samples]


@NEEDS_MONO
@pytest.mark.parametrize("define", [None, "UNITY_WEBGL"], ids=["player", "webgl"])
def test_unity_glue_compiles_against_engine_stubs(define: str | None, tmp_path: Path) -> None:
    flags = ["-target:library", "-warnaserror", "-nowarn:414", f"-out:{tmp_path / 'g.dll'}"]
    if define:
        flags.append(f"-define:{define}")
    _run(["mcs", *flags, "-r:System.dll", *_unity_glue(), str(UNITY_STUBS)])
    # the stubs are strict enough to refuse a glue that misuses the engine API
    wrong = tmp_path / "Wrong.cs"
    wrong.write_text(
        "class Wrong { void F(CesiumForUnity.Cesium3DTileset t) { t.url = 5; "
        "t.RecreateTileset(true); } }"
    )
    proc = subprocess.run(
        ["mcs", "-target:library", f"-out:{tmp_path / 'w.dll'}", str(wrong), str(UNITY_STUBS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "CS0029" in proc.stdout + proc.stderr


@NEEDS_GXX
def test_unreal_glue_compiles_against_engine_stubs(tmp_path: Path) -> None:
    module = UNREAL / "Source" / "Greentwin"
    flags = [*CXXFLAGS, "-Wno-unused-parameter", "-fsyntax-only", f"-I{UNREAL_STUBS}"]
    flags.append(f"-I{module / 'Public'}")
    sources = sorted((module / "Private").rglob("*.cpp"))
    assert {p.name for p in sources} >= {
        "GreentwinSubsystem.cpp",
        "GreentwinLayerComponent.cpp",
        "GreentwinModule.cpp",
        "Protocol.cpp",
    }
    for src in sources:
        _run(["g++", *flags, str(src)])
    wrong = tmp_path / "wrong.cpp"  # a handler whose signature does not fit the delegate
    wrong.write_text(
        '#include "GreentwinSubsystem.h"\n'
        "struct W : UActorComponent { void H(int) {}\n"
        "  void F(UGreentwinSubsystem* s) { s->OnLayerChanged.AddDynamic(this, &W::H); } };\n"
    )
    proc = subprocess.run(["g++", *flags, str(wrong)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0


# --- package and plugin layout ------------------------------------------------------------
def test_unity_package_layout() -> None:
    manifest = json.loads((UNITY / "package.json").read_text())
    assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+){2,}", manifest["name"])  # reverse DNS
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"20\d\d\.\d", manifest["unity"])
    assert {"com.cesium.unity", "com.unity.cloud.gltfast"} <= set(manifest["dependencies"])
    for sample in manifest["samples"]:
        assert (UNITY / sample["path"]).is_dir() and sample["path"].startswith("Samples~/")
    assert (UNITY / "Documentation~" / "index.md").is_file()
    core = json.loads((UNITY / "Runtime" / "Core" / "Greentwin.Core.asmdef").read_text())
    glue = json.loads((UNITY / "Runtime" / "Unity" / "Greentwin.Unity.asmdef").read_text())
    assert core["noEngineReferences"] is True and core["references"] == []
    assert {"Greentwin.Core", "CesiumRuntime", "glTFast"} <= set(glue["references"])
    client = (UNITY / "Runtime" / "Unity" / "GreentwinClient.cs").read_text()
    methods = set(re.findall(r"public async Task<[\w<>, ]+> (\w+)\(", client))
    assert {"SetTime", "LoadVegetationOnDate"} <= methods  # time and dated vegetation
    for src in (UNITY / "Runtime" / "Core").glob("*.cs"):  # the core stays engine free
        engine = re.search(
            r"using (UnityEngine|CesiumForUnity|GLTFast)\b|UnityEngine\.\w", src.read_text()
        )
        assert engine is None, src.name
    # the WebGL bridge: every function the C# side imports is defined by the .jslib
    transport = (UNITY / "Runtime" / "Unity" / "WebGLTransport.cs").read_text()
    imported = set(re.findall(r"static extern \w+ (\w+)\(", transport))
    jslib = (
        UNITY / "Runtime" / "Unity" / "Plugins" / "WebGL" / "GreentwinWebSocket.jslib"
    ).read_text()
    defined = set(re.findall(r"^  (\w+): function", jslib, re.M))
    assert imported and imported == defined
    # every asset and folder Unity imports has a .meta with its own GUID
    guids = []
    for path in UNITY.rglob("*"):
        rel = path.relative_to(UNITY)
        if any(p.endswith("~") for p in rel.parts) or path.suffix == ".meta":
            continue
        meta = path.with_name(path.name + ".meta")
        assert meta.is_file(), f"{rel} has no .meta"
        guids.append(re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M).group(1))  # type: ignore[union-attr]
    assert len(guids) == len(set(guids)) > 15


def test_unreal_plugin_layout() -> None:
    plugin = json.loads((UNREAL / "Greentwin.uplugin").read_text())
    assert plugin["Modules"] == [
        {"Name": "Greentwin", "Type": "Runtime", "LoadingPhase": "Default"}
    ]
    assert {p["Name"] for p in plugin["Plugins"]} == {"CesiumForUnreal", "glTFRuntime"}
    build = (UNREAL / "Source" / "Greentwin" / "Greentwin.Build.cs").read_text()
    for module in ("WebSockets", "HTTP", "CesiumRuntime", "glTFRuntime"):
        assert f'"{module}"' in build
    public = UNREAL / "Source" / "Greentwin" / "Public"
    header = (public / "GreentwinSubsystem.h").read_text()
    callable_ = re.findall(r"UFUNCTION\(BlueprintCallable[^)]*\)\s+\w+ (\w+)\(", header)
    assert {"Connect", "PlantTree", "RemoveTree", "EditJson", "Undo", "Redo"} <= set(callable_)
    assert {"SetTime", "LoadVegetationOnDate"} <= set(callable_)  # time and dated vegetation
    assert "BlueprintAssignable" in header and "OnLayerChanged" in header
    for src in (public / "GreentwinCore").glob("*"):  # the core stays engine free
        assert not re.search(r"CoreMinimal|UObject|FString", src.read_text()), src.name
    for src in (UNREAL / "Source" / "Greentwin" / "Private" / "GreentwinCore").glob("*"):
        assert not re.search(r"CoreMinimal|UObject|FString", src.read_text()), src.name


def test_clients_hard_code_no_coordinates() -> None:
    """Client code takes the city's place from the welcome, never from literals."""
    sources = [
        *UNITY.rglob("*.cs"),
        *(p for p in UNREAL.rglob("*") if p.suffix in {".h", ".hpp", ".cpp"}),
    ]
    assert len(sources) > 10
    degrees = re.compile(r"(?<![\w.])-?\d{1,3}\.\d{3,}(?![\w.])")  # 13.4806, 60.165, ...
    found = {p.name: degrees.findall(p.read_text()) for p in sources}
    assert {k: v for k, v in found.items() if v} == {}


# --- where the city is: the welcome's extent and origin ------------------------------------
@pytest.mark.asyncio
async def test_welcome_names_extent_and_origin(tmp_path: Path) -> None:
    west, south, east, north = EXTENT.bounds()
    async with run_server(tmp_path / "a.sqlite") as srv:
        c = await srv.connect()
        welcome = await c.hello("tok-planner")  # schema-checked by the helper
        await c.close()
    assert welcome["extent"] == {"west": west, "south": south, "east": east, "north": north}
    assert welcome["origin"] == {"lon": (west + east) / 2, "lat": (south + north) / 2, "height": 0}
    # an operator's origin wins over the extent's centre
    async with run_server(tmp_path / "b.sqlite", origin=(24.95, 60.17, 12.5)) as srv:
        c = await srv.connect()
        welcome = await c.hello()
        await c.close()
    assert welcome["origin"] == {"lon": 24.95, "lat": 60.17, "height": 12.5}


def test_demo_live_config_places_the_city_on_the_district(tmp_path: Path) -> None:
    from greentwin.server.auth import live_config_for
    from greentwin.server.config import Config
    from greentwin.twin.district import District
    from gt_testing import CITYGML

    config = Config(data_dir=tmp_path / "var", demo=True, demo_inputs=CITYGML, access_log=False)
    place = live_config_for(config).place()
    west, south, east, north = District.load_demo(CITYGML).bounds_lonlat()
    assert place["extent"] == {"west": west, "south": south, "east": east, "north": north}
    assert place["origin"]["lon"] == pytest.approx((west + east) / 2)
    assert west < place["origin"]["lon"] < east and south < place["origin"]["lat"] < north


# --- the same whole session against the demo district (the app ``greentwin demo`` serves) ---
@asynccontextmanager
async def _serve_demo(data_dir: Path, port: int = 0) -> AsyncIterator[tuple[web.Application, int]]:
    """The full app in demo mode (district recompute, vegetation, hub) on 127.0.0.1:``port``."""
    from greentwin.server.app import create_app
    from greentwin.server.config import Config
    from gt_testing import CITYGML

    config = Config(
        data_dir=data_dir, demo=True, demo_inputs=CITYGML, demo_example=False, access_log=False
    )
    runner = web.AppRunner(create_app(config), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None
    try:
        yield runner.app, server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory where the demo district was built once (shared by both languages;
    every server of the sessions below reuses it, restarts included)."""
    from greentwin.server.keys import DEMO

    data_dir = tmp_path_factory.mktemp("demo")

    async def build() -> None:
        async with _serve_demo(data_dir) as (app, _):
            await asyncio.wait_for(app[DEMO].wait(), 240)

    asyncio.run(build())
    return data_dir


async def _demo_session(command: list[str], data_dir: Path) -> tuple[list[dict[str, Any]], Any]:
    """:func:`_session` against the demo app: same steps, restarts on the same data dir."""
    from greentwin.server.auth import demo_planner_token
    from greentwin.server.hub_setup import LIVE_CONFIG_KEY

    token = demo_planner_token(data_dir)
    steps: list[dict[str, Any]] = []
    async with _serve_demo(data_dir) as (app, port):
        place = Place(app[LIVE_CONFIG_KEY].extent)
        sid = (await app[HUB_KEY].store.create("engine", author="planner")).id
        proc = await asyncio.create_subprocess_exec(
            *command,
            f"ws://127.0.0.1:{port}/ws",
            token,
            sid,
            f"http://127.0.0.1:{port}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            while not steps or steps[-1]["step"] != "await_restart":
                steps.append(await _line(proc))
        except BaseException:
            if proc.returncode is None:
                proc.kill()
            raise
    west, south, east, north = place.extent.bounds()
    elsewhere = (west + (east - west) / 3, south + (north - south) / 3)
    try:
        # restart 1, on another port: someone else edits while the program is away
        async with _serve_demo(data_dir) as (_, other):
            url = f"ws://127.0.0.1:{other}/ws"
            async with GreentwinClient(url, token=token, timeout=120) as c:
                await c.subscribe(sid)
                missed = [await c.edit(sid, plant(*elsewhere, id=f"x{i}")) for i in range(2)]
        # restart 2, on the program's port: it reconnects and resumes
        async with _serve_demo(data_dir, port) as (app, _):
            assert proc.stdin is not None
            proc.stdin.write(f"expect {missed[-1]}\n".encode())
            await proc.stdin.drain()
            steps.append(await _line(proc))
            rc = await asyncio.wait_for(proc.wait(), 120)
            err = await proc.stderr.read() if proc.stderr is not None else b""
            assert rc == 0, err.decode()[-3000:]
            state = await app[HUB_KEY].store.state(sid)
            events = await app[HUB_KEY].store.events(sid)
    finally:
        if proc.returncode is None:
            proc.kill()
    steps[-1]["missed"] = missed
    steps[-1]["scenario"] = sid
    steps[-1]["event_seqs"] = [e.seq for e in events]
    steps[-1]["place"] = place
    return steps, state


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("language", ["csharp", "cpp"])
async def test_console_whole_session_against_the_demo(
    language: str, demo_data: Path, request: pytest.FixtureRequest
) -> None:
    build: dict[str, list[str]] = request.getfixturevalue(f"{language}_build")
    steps, state = await _demo_session(build["console"], demo_data)
    _check_session(steps, state, steps[-1].pop("place"))
