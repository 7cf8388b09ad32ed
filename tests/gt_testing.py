"""Test helpers importable from any test module: ``from gt_testing import ...``."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pytest

if TYPE_CHECKING:
    from greentwin.server.sqlite_scenarios import ScenarioStore
    from greentwin.server.store import TileStore
    from greentwin.twin.recompute_district import DistrictRecompute

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
CITYGML = DATA / "citygml"


def validate_gltf(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Run the Khronos glTF validator (npm ``gltf-validator``) over files.

    Returns one summary per file: ``{"file", "errors", "warnings", "messages"}``.
    """
    node = shutil.which("node")
    script = ROOT / "scripts" / "validate-gltf.mjs"
    if node is None or not (ROOT / "node_modules" / "gltf-validator").is_dir():
        pytest.fail("glTF validator missing: run `make setup` (npm ci) first")
    results: list[dict[str, Any]] = []
    files = [str(p) for p in paths]
    for start in range(0, len(files), 200):
        proc = subprocess.run(
            [node, str(script), *files[start : start + 200]],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        results.extend(json.loads(line) for line in proc.stdout.splitlines() if line.strip())
        if proc.returncode not in (0, 1):
            pytest.fail(f"glTF validator crashed: {proc.stderr}")
    return results


def assert_valid_gltf(paths: Sequence[Path]) -> None:
    """Fail unless every file passes the Khronos validator with no errors."""
    assert paths, "no glTF files to validate"
    reports = validate_gltf(paths)
    assert len(reports) == len(paths)
    bad = [r for r in reports if r["errors"]]
    assert not bad, f"glTF validator errors: {bad[:3]}"


def chromium_path() -> str | None:
    """The system Chromium (Debian package), never a downloaded browser."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


class ServerThread:
    """A web application on a random loopback port, in its own thread and event loop.

    ``make_app`` builds the application inside the server's loop. Use as a context
    manager: entering waits (bounded) until the port is bound, leaving stops the loop
    and joins the thread.
    """

    def __init__(self, make_app: Callable[[], Any], name: str = "greentwin-test-server") -> None:
        self.make_app = make_app
        self.port = 0
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced in __enter__
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.make_app(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._started.wait(30), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "server did not stop"


@asynccontextmanager
async def district_recompute(
    tmp_path: Path, root: Path = CITYGML
) -> AsyncIterator[tuple[ScenarioStore, TileStore, DistrictRecompute]]:
    """A SQLite scenario store and a tile store under ``tmp_path``, with the
    :class:`DistrictRecompute` of ``root`` (a CityGML folder or a project manifest)."""
    from greentwin.server.sqlite_scenarios import ScenarioStore
    from greentwin.server.store import TileStore
    from greentwin.twin.recompute_district import DistrictRecompute

    store = ScenarioStore(tmp_path / "s.sqlite")
    await store.open()
    tiles = TileStore(tmp_path / "var")
    tiles.ensure()
    rc = DistrictRecompute(store, tiles, root)
    try:
        yield store, tiles, rc
    finally:
        rc.close()
        await store.close()


def published_values(
    tiles: TileStore, scenario: str, info: dict[str, Any], name: str
) -> tuple[dict[str, Any], Any]:
    """The meta.json and values.npy of indicator ``name`` in an overlay layer version
    (``info`` from a recompute result; its url is
    ``/overlays/{name}/{scenario}/{version}/{z}/{x}/{y}.png``)."""
    import numpy as np

    version = info["url"].split("/")[4]
    meta = tiles.lookup(scenario, version, f"{name}/meta.json")
    vals = tiles.lookup(scenario, version, f"{name}/values.npy")
    assert meta is not None and vals is not None
    return json.loads(meta.path.read_bytes()), np.load(vals.path)


def app_server(data_dir: Path, **config: Any) -> ServerThread:
    """A :class:`ServerThread` of the app on ``data_dir`` (no access log; more
    :class:`~greentwin.server.config.Config` fields in ``config``)."""
    from greentwin.server.app import create_app
    from greentwin.server.config import Config

    cfg = Config(data_dir=data_dir, access_log=False, **config)
    return ServerThread(lambda: create_app(cfg))


def publish_fixture_buildings(data_dir: Path) -> Any:
    """Publish the server tests' fixture tileset (``tests/server/conftest.py``) as the
    baseline's buildings layer under ``data_dir``; returns that module (its ``LON``,
    ``LAT`` and ``FIXTURE_IDS``)."""
    import importlib.util

    from greentwin.server.store import TileStore

    spec = importlib.util.spec_from_file_location(
        "server_fixtures", ROOT / "tests" / "server" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    src = data_dir.parent / "src"
    mod.write_fixture_tileset(src)
    TileStore(data_dir).publish("baseline", "buildings", src)
    return mod


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium with the test arguments (:data:`CHROMIUM_ARGS`)."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
    )


def collect_errors(
    page: Any, errors: list[str], *, console: bool = True, failed: bool = False, label: str = "page"
) -> Any:
    """Append a page's uncaught errors (and console errors, failed requests) to ``errors``."""
    if console:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{label} error: {e}"))
    if failed:
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    return page
