"""Start-up and shutdown of the demo server: the baseline maps are computed once, a
subscribe during the first build answers at once (the rest follows as a fresh snapshot),
and SIGTERM during a build stops the server within ``shutdown_timeout``."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from greentwin.server.config import Config
from greentwin.twin import demo as demo_module
from greentwin.twin import district

pytestmark = [pytest.mark.timeout(300)]


async def _next(ws: Any, kind: str, deadline: float) -> dict[str, Any]:
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} message in time"
        msg = json.loads((await ws.receive(timeout=left)).data)
        if msg["type"] == kind:
            return msg


@pytest.mark.asyncio
async def test_first_start_subscribe_at_once_and_baseline_maps_once(
    tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from greentwin.server.app import create_app
    from greentwin.server.keys import DEMO
    from greentwin.server.routes_scenarios import HUB_KEY

    # only the overlays layer, built in this process if the builder builds it itself:
    # then every computation of the maps is counted here
    overlays = tuple(r for r in demo_module.RECIPES if r.layer == "overlays")
    monkeypatch.setattr(demo_module, "recipes_for", lambda inputs: overlays)
    monkeypatch.setattr(
        demo_module, "DemoBuilder", functools.partial(demo_module.DemoBuilder, isolate=False)
    )
    before = district.full_computations()
    key = demo_module.cache_key(overlays[0], Config().demo_inputs)
    app = create_app(Config(data_dir=tmp_path / "var", demo=True, demo_example=False))
    client = await aiohttp_client(app)
    rc = app[HUB_KEY].recompute
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "protocol": "greentwin/1"})
    await _next(ws, "welcome", time.monotonic() + 10)
    assert not rc.ready()  # the baseline maps are still being computed

    t0 = time.monotonic()
    await ws.send_json({"type": "subscribe", "scenario": "baseline", "ref": "s1"})
    first = await _next(ws, "snapshot", time.monotonic() + 10)
    assert time.monotonic() - t0 < 1.0
    assert first["ref"] == "s1"

    # what was not ready follows as a fresh snapshot: the road network, then the overlays
    deadline = time.monotonic() + 240
    layers: dict[str, Any] = {}
    while not {"road_network", "noise_lden", "no2"} <= set(layers):
        layers = (await _next(ws, "snapshot", deadline))["layers"]
    status = await asyncio.wait_for(app[DEMO].wait(), 60)
    assert status["layers"] == {"overlays": "built"}, status
    published = app[DEMO].store.layers("baseline")
    # the key the builder used (code hashed at its start: compared before and after)
    keys = {key, demo_module.cache_key(overlays[0], app[DEMO].input_dir)}
    assert {published[name].source for name in district.INDICATORS} <= keys
    assert district.full_computations() - before == 1  # not again in a build
    await ws.close()


def test_sigterm_during_the_first_build_stops_within_the_timeout(tmp_path: Path) -> None:
    timeout = 2.0
    env = {
        **os.environ,
        "GREENTWIN_SHUTDOWN_TIMEOUT": str(timeout),
        "GREENTWIN_DEMO_EXAMPLE": "false",
    }
    cmd = [sys.executable, "-m", "greentwin.cli", "demo", "--port", "0"]
    proc = subprocess.Popen(
        [*cmd, "--data", str(tmp_path / "var")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the test's timeout
        assert "greentwin is running" in line, line
        time.sleep(1.5)  # the buildings' conversion and the baseline maps are under way
        assert proc.poll() is None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout + 30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0
    assert took < timeout + 2.0, f"stopped after {took:.1f} s"
