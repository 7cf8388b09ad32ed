"""Two ``greentwin serve`` processes on one PostgreSQL database and one Redis.

Clients on both; edits made through one arrive at the other's clients in order; one
process is killed with SIGKILL while edits stream through it, and its clients resume
on the other with every acknowledged edit present exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from gt_live import Checked, plant
from gt_services import free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(120)]

TOKEN = "tok-planner-two-processes"


def _spawn(data: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "greentwin.cli", "serve", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data.parent / f"serve-{port}.log", "wb"),
    )  # fmt: skip


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"greentwin serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"greentwin serve on port {port} not ready within {timeout} s")


def _post(port: int, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Authorization", f"Bearer {TOKEN}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


async def _client(port: int) -> tuple[Checked, dict[str, Any]]:
    import websockets

    ws = await asyncio.wait_for(websockets.connect(f"ws://127.0.0.1:{port}/ws"), 10)
    c = Checked(ws)
    welcome = await c.hello(TOKEN)
    return c, welcome


async def _drain(c: Checked, quiet: float = 0.5) -> None:
    """Read until nothing arrives for ``quiet`` seconds (or the connection ends)."""
    while True:
        try:
            await c.recv(timeout=quiet)
        except Exception:
            return


def _updates(c: Checked) -> list[int]:
    return [int(m["seq"]) for m in c.received if m["type"] == "update"]


async def test_two_serve_processes_share_edits_and_survive_a_kill(
    tmp_path: Path, pg_database: str, redis_server: str
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"planner {TOKEN}\n")
    env = {
        **os.environ,
        "GREENTWIN_DATABASE_URL": pg_database,
        "GREENTWIN_REDIS_URL": redis_server,
        "GREENTWIN_TOKENS_FILE": str(tokens),
        "GREENTWIN_ACCESS_LOG": "false",
        "GREENTWIN_DEMO": "false",
    }
    port_a, port_b = free_port(), free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    proc_a = _spawn(tmp_path / "a" / "data", port_a, env)
    proc_b = _spawn(tmp_path / "b" / "data", port_b, env)
    clients: list[Checked] = []
    try:
        await asyncio.gather(
            asyncio.to_thread(_wait_ready, proc_a, port_a),
            asyncio.to_thread(_wait_ready, proc_b, port_b),
        )
        sid = (await asyncio.to_thread(_post, port_a, "/api/scenarios", {"name": "two"}))["id"]
        editor, welcome = await _client(port_a)
        watch_a, _ = await _client(port_a)
        watch_b, _ = await _client(port_b)
        clients += [editor, watch_a, watch_b]
        for c in (editor, watch_a, watch_b):
            await c.send({"type": "subscribe", "scenario": sid})
            assert (await c.expect("snapshot"))["seq"] == 0

        # edits through A reach B's client in order
        acked: dict[int, str] = {}
        refs: dict[str, str] = {}
        for i in range(1, 6):
            refs[f"e{i}"] = f"t{i}"
            await editor.send(
                {"type": "edit", "ref": f"e{i}", "scenario": sid, "op": plant(id=f"t{i}")}
            )
        while len(acked) < 5:
            msg = await editor.recv()
            if msg["type"] == "ack":
                acked[int(msg["seq"])] = refs[msg["ref"]]
        while len(_updates(watch_b)) < 5:
            await watch_b.recv()
        assert _updates(watch_b) == [1, 2, 3, 4, 5]

        # a stream of edits through A; A is killed in the middle of it
        for i in range(6, 60):
            refs[f"e{i}"] = f"t{i}"
            await editor.send(
                {"type": "edit", "ref": f"e{i}", "scenario": sid, "op": plant(id=f"t{i}")}
            )
        while len(acked) < 15:
            msg = await editor.recv()
            if msg["type"] == "ack":
                acked[int(msg["seq"])] = refs[msg["ref"]]
        proc_a.send_signal(signal.SIGKILL)
        proc_a.wait(10)
        for c in (editor, watch_a):  # what reached A's clients before it died
            while True:
                try:
                    msg = await c.recv(timeout=1.0)
                except Exception:
                    break
                if msg["type"] == "ack":
                    acked[int(msg["seq"])] = refs[msg["ref"]]
        assert len(acked) >= 15

        # A's clients resume on B, each from what it has
        last_a = max([0, *_updates(watch_a)])
        resumed, _ = await _client_resume(port_b, sid, welcome["epoch"], last_a)
        clients.append(resumed)
        await _drain(resumed)
        await _drain(watch_b, 1.5)
        seen = _updates(watch_a) + _updates(resumed)
        snaps = [m["seq"] for m in resumed.received if m["type"] == "snapshot"]
        assert seen == sorted(set(seen)), "an update arrived twice or out of order"
        top = max(acked)
        if snaps:  # A died before storing an update: a fresh snapshot covers it
            assert snaps[-1] >= top
        else:
            assert seen == list(range(1, max(seen) + 1)) and max(seen) >= top
        b_seen = _updates(watch_b)
        assert b_seen == sorted(set(b_seen)), "B's client got an update twice or out of order"

        # every acknowledged edit is in the shared log exactly once
        import asyncpg

        conn = await asyncpg.connect(pg_database)
        try:
            rows = await conn.fetch(
                "SELECT seq, op FROM events WHERE scenario=$1 ORDER BY seq", sid
            )
        finally:
            await conn.close()
        logged = [json.loads(r["op"])["id"] for r in rows]
        assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
        assert len(logged) == len(set(logged))
        for seq, tid in acked.items():
            assert logged[seq - 1] == tid, f"acknowledged edit {seq} ({tid}) lost"

        # editing goes on through B; both remaining clients follow in order
        n = len(rows)
        await resumed.send({"type": "edit", "ref": "after", "scenario": sid, "op": plant(id="z")})
        while not any(m["type"] == "ack" for m in resumed.received):
            await resumed.recv()

        def caught_up(c: Checked) -> bool:  # the update, or a resync's snapshot holding it
            snap = [m["seq"] for m in c.received if m["type"] == "snapshot"]
            return n + 1 in _updates(c) or bool(snap and snap[-1] >= n + 1)

        while not caught_up(watch_b):
            await watch_b.recv()
        assert next(m for m in resumed.received if m["type"] == "ack")["seq"] == n + 1
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), 2)
            except Exception:
                pass
        for p in (proc_a, proc_b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (proc_a, proc_b):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


async def _client_resume(
    port: int, sid: str, epoch: str, seq: int
) -> tuple[Checked, dict[str, Any]]:
    import websockets

    ws = await asyncio.wait_for(websockets.connect(f"ws://127.0.0.1:{port}/ws"), 10)
    c = Checked(ws)
    welcome = await c.hello(TOKEN, resume={"scenario": sid, "epoch": epoch, "seq": seq})
    return c, welcome
