"""A long recompute does not stop the connection from reading: the WebSocket's pings are
answered while an edit's maps are computed, and the frames sent meanwhile keep their order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from greentwin.server.live import setup_live
from greentwin.twin.ops import EditOp, ScenarioState
from greentwin.twin.recompute import LayerChanges, VersionedLayersRecompute
from greentwin.twin.scenarios import ScenarioLog
from gt_live import LiveServer, live_config, plant

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

SLOW_S = 3.0


class SlowRecompute(VersionedLayersRecompute):
    """The default recompute, taking ``SLOW_S`` longer (like a city-scale map update)."""

    async def apply(
        self, scenario: str, seq: int, ops: Sequence[EditOp], state: ScenarioState
    ) -> LayerChanges:
        await asyncio.sleep(SLOW_S)
        return await super().apply(scenario, seq, ops, state)


async def _server(tmp_path: Path) -> tuple[web.AppRunner, LiveServer]:
    app = web.Application()

    def make(store: ScenarioLog) -> SlowRecompute:
        return SlowRecompute(store)

    setup_live(app, store_path=tmp_path / "s.sqlite", live_config=live_config(), recompute=make)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, LiveServer(runner, port)


async def test_pings_are_answered_while_an_edit_recomputes(tmp_path: Path) -> None:
    runner, srv = await _server(tmp_path)
    try:
        c = await srv.connect(ping_interval=None)
        await c.hello("tok-planner")
        sid = (await srv.hub.store.create("slow", author="planner")).id
        await c.send({"type": "subscribe", "scenario": sid, "ref": "s"})
        await c.expect("snapshot")
        await c.send({"type": "edit", "scenario": sid, "op": plant(id="t1"), "ref": "e1"})
        ack = await c.expect("ack")
        assert ack["ref"] == "e1"
        t0 = time.monotonic()
        pong = await c.ws.ping()  # a WebSocket ping frame, answered by the reading loop
        await asyncio.wait_for(pong, 1.5)
        assert time.monotonic() - t0 < 1.5
        # a second edit sent during the recompute is handled after it, in order
        await c.send({"type": "edit", "scenario": sid, "op": plant(id="t2"), "ref": "e2"})
        got: list[dict[str, Any]] = []
        while len([m for m in got if m["type"] == "update"]) < 2:
            got.append(await c.recv(timeout=3 * SLOW_S))
        kinds = [(m["type"], m.get("ref") or m.get("seq")) for m in got]
        assert kinds == [("update", 1), ("ack", "e2"), ("update", 2)], kinds
        await c.close()
    finally:
        await runner.cleanup()


async def test_an_edit_sent_just_before_closing_is_still_applied(tmp_path: Path) -> None:
    runner, srv = await _server(tmp_path)
    try:
        c = await srv.connect()
        await c.hello("tok-planner")
        sid = (await srv.hub.store.create("closing", author="planner")).id
        await c.send({"type": "edit", "scenario": sid, "op": plant(id="t1"), "ref": "e1"})
        await c.send({"type": "edit", "scenario": sid, "op": plant(id="t2"), "ref": "e2"})
        await c.close()
        for _ in range(100):  # bounded: the second edit follows the first's recompute
            if len((await srv.hub.store.state(sid)).trees) == 2:
                break
            await asyncio.sleep(0.1)
        assert len((await srv.hub.store.state(sid)).trees) == 2
    finally:
        await runner.cleanup()
