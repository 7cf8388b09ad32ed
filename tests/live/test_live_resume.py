"""Resume after a dropped connection, a server restart, and a crash (SIGKILL) losing nothing acked."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gt_live import ROOT_CLIENTS, plant, run_server

sys.path.insert(0, str(ROOT_CLIENTS))
from greentwin_client import GreentwinClient, ServerError

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def test_reference_client_session_with_resume(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        sid = (await srv.hub.store.create("resume", author="planner")).id
        async with (
            GreentwinClient(srv.url, token="tok-planner") as editor,
            GreentwinClient(srv.url, token="tok-planner") as follower,
        ):
            snap = await follower.subscribe(sid)
            assert snap["seq"] == 0
            await editor.subscribe(sid)
            assert await editor.edit(sid, plant(id="t1")) == 1
            assert (await follower.next_event())["seq"] == 1
            with pytest.raises(ServerError) as err:
                await editor.edit(sid, plant(99.0, 60.16))
            assert err.value.code == "invalid_op"
            await follower.drop()  # network cut: no close handshake
            for i in range(2, 6):
                assert await editor.edit(sid, plant(id=f"t{i}")) == i
            await follower.reconnect()
            got = [await follower.next_event() for _ in range(4)]
            assert [m["type"] for m in got] == ["update"] * 4
            assert [m["seq"] for m in got] == [2, 3, 4, 5]  # none lost, none twice
            assert await editor.undo(sid) == 6
            nxt = await follower.next_event()
            assert (nxt["seq"], nxt["kind"]) == (6, "undo")
            assert follower.layers[sid]["trees"]["version"] == 6
            header, glb = await follower.request_glb(
                {"kind": "tree", "species": "tilia-cordata", "age_years": 12}, lod=0
            )
            assert glb[:4] == b"glTF" and header["byte_length"] == len(glb)
            assert await follower.ping() < 5
            with pytest.raises(asyncio.TimeoutError):
                await follower.next_event(timeout=0.3)  # nothing duplicated afterwards

        # a foreign epoch or a seq beyond the retained window gets a fresh snapshot
        c = await srv.connect()
        await c.hello("tok-planner", resume={"scenario": sid, "epoch": "0123abcd", "seq": 1})
        snap = await c.expect("snapshot")
        assert snap["seq"] == 6
        await c.close()


async def test_restart_keeps_edits_and_resume_spans_it(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    db = tmp_path / "s.sqlite"
    async with run_server(db, **backend) as srv:
        epoch = srv.hub.store.epoch
        sid = (await srv.hub.store.create("restart", author="planner")).id
        async with GreentwinClient(srv.url, token="tok-planner") as c:
            await c.subscribe(sid)
            seqs = [await c.edit(sid, plant(id=f"t{i}")) for i in range(5)]
            for _ in seqs:
                await c.next_event()
    async with run_server(db, **backend) as srv:
        assert srv.hub.store.epoch == epoch  # persisted: resumes survive restarts
        state = await srv.hub.store.state(sid)
        assert sorted(state.trees) == [f"t{i}" for i in range(5)]
        c2 = await srv.connect()
        await c2.hello("tok-planner", resume={"scenario": sid, "epoch": epoch, "seq": 2})
        assert [(await c2.expect("update"))["seq"] for _ in range(3)] == [3, 4, 5]
        await c2.close()


_SERVER = """
import asyncio, sys
from aiohttp import web
from greentwin.server.live import setup_live
from greentwin.server.ws import LiveConfig
async def main():
    app = web.Application()
    setup_live(app, store_path=sys.argv[1],
               live_config=LiveConfig(tokens={"tok-planner": "planner"}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def _spawn(db: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    return proc, int(line)


async def test_crash_loses_no_acknowledged_edit(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    proc, port = await _spawn(db)
    acked: dict[int, str] = {}
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        async with GreentwinClient(url, token="tok-planner") as c:
            await c._request({"type": "ping"})
            create = await asyncio.to_thread(
                _post, f"http://127.0.0.1:{port}/api/scenarios", {"name": "crash"}
            )
            sid = create["id"]

            async def editor(k: int) -> None:
                for i in range(100):
                    tid = f"k{k}-{i}"
                    seq = await c.edit(sid, plant(id=tid))
                    acked[seq] = tid

            tasks = [asyncio.create_task(editor(k)) for k in range(3)]
            while len(acked) < 15:
                await asyncio.sleep(0.005)
            proc.send_signal(signal.SIGKILL)  # crash with edits in flight
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) >= 15
    async with run_server(db) as srv:
        events = await srv.hub.store.events(sid)
        logged = {e.seq: e.op["id"] for e in events if e.op}
        for seq, tid in acked.items():
            assert logged.get(seq) == tid, f"acknowledged edit {seq} ({tid}) lost"
        state = await srv.hub.store.state(sid)
        assert set(acked.values()) <= set(state.trees)


def _post(url: str, body: dict[str, Any]) -> Any:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer tok-planner")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
