"""Bad frames, size and rate limits, roles, and a slow client that must not delay others."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets
from gt_live import plant, run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


async def _draft(srv: Any) -> str:
    info = await srv.hub.store.create("test", author="planner")
    return str(info.id)


async def test_bad_frames_get_errors_and_keep_the_connection(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(
        tmp_path / "s.sqlite", **backend, max_frame_bytes=2048, hard_frame_bytes=16384
    ) as srv:
        sid = await _draft(srv)
        c = await srv.connect()
        await c.send({"type": "subscribe", "scenario": sid})
        assert (await c.expect("error"))["code"] == "forbidden"  # hello first
        await c.hello("tok-planner")
        cases: list[tuple[Any, str]] = [
            ("{not json", "bad_json"),
            ("[1, 2]", "schema"),
            ({"type": "launch"}, "schema"),
            ({"type": "subscribe"}, "schema"),
            ({"type": "ping", "extra": 1}, "schema"),
            (
                {"type": "edit", "ref": "r1", "scenario": sid, "op": {"op": "plant_tree"}},
                "invalid_op",
            ),
            (
                {"type": "edit", "ref": "r2", "scenario": sid, "op": plant(25.5, 60.16)},
                "invalid_op",
            ),
            (
                {"type": "edit", "ref": "r3", "scenario": sid, "op": {**plant(), "age_years": 900}},
                "invalid_op",
            ),
            ({"type": "edit", "ref": "r4", "scenario": "nope", "op": plant()}, "unknown_scenario"),
            ({"type": "edit", "ref": "r5", "scenario": "baseline", "op": plant()}, "conflict"),
            (
                {"type": "edit", "ref": "r6", "scenario": sid, "op": plant(), "base_seq": 7},
                "conflict",
            ),
            ({"type": "undo", "ref": "r7", "scenario": sid}, "conflict"),
            (b"\x00binary", "schema"),
            ("x" * 3000, "too_large"),
            (json.dumps({"type": "ping", "ref": "y" * 40, "pad": "z" * 3000}), "too_large"),
        ]
        for frame, code in cases:
            await c.send(frame)
            err = await c.expect("error")
            assert err["code"] == code, (frame if len(str(frame)) < 200 else "...", err)
            if isinstance(frame, dict) and "ref" in frame:
                assert err["ref"] == frame["ref"]
        by_ref = {m["ref"]: m["message"] for m in c.received if "ref" in m}
        assert "outside the city" in by_ref["r2"]
        assert "species" in by_ref["r1"] and "300" in by_ref["r3"]
        await c.send({"type": "ping", "ref": "alive"})
        assert (await c.expect("pong"))["ref"] == "alive"
        # beyond the hard limit aiohttp refuses the frame while reading it: close 1009
        await c.send("y" * 20000)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await c.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_rate_limit_then_close_on_abuse(tmp_path: Path, backend: dict[str, str]) -> None:
    async with run_server(
        tmp_path / "s.sqlite", **backend, rate_per_s=5.0, burst=5, abuse_limit=30
    ) as srv:
        c = await srv.connect()
        await c.hello()
        for i in range(10):
            await c.send({"type": "ping", "ref": str(i)})
        await asyncio.sleep(0.5)  # tokens come back: the session goes on
        await c.send({"type": "ping", "ref": "later"})
        got = []
        while (m := await c.recv()).get("ref") != "later":
            got.append(m)
        kinds = [m["type"] for m in got]
        assert 4 <= kinds.count("pong") <= 6  # burst 5, one token spent on hello
        assert {m["code"] for m in got if m["type"] == "error"} == {"rate_limited"}
        # persistent abuse: error frame, then close with 1008
        with pytest.raises(websockets.ConnectionClosed) as info:
            for _ in range(200):
                await c.send({"type": "ping"})
            while True:
                await c.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert c.received[-1]["type"] == "error" and "closing" in c.received[-1]["message"]


def _post(url: str, body: dict[str, Any], token: str | None) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_roles_are_enforced(tmp_path: Path, backend: dict[str, str]) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        sid = await _draft(srv)
        viewer = await srv.connect()
        await viewer.send({"type": "hello", "protocol": "greentwin/1", "role": "planner"})
        assert (await viewer.expect("error"))["code"] == "forbidden"  # no token for planner
        await viewer.send({"type": "hello", "protocol": "greentwin/1", "token": "wrong"})
        assert (await viewer.expect("error"))["code"] == "forbidden"
        assert (await viewer.hello())["role"] == "viewer"
        await viewer.send({"type": "edit", "ref": "v1", "scenario": sid, "op": plant()})
        err = await viewer.expect("error")
        assert err["code"] == "forbidden" and err["ref"] == "v1"
        await viewer.send({"type": "subscribe", "scenario": sid})  # drafts: planners only
        assert (await viewer.expect("error"))["code"] == "unknown_scenario"  # as if missing
        await viewer.send({"type": "subscribe", "scenario": "baseline"})
        assert (await viewer.expect("snapshot"))["status"] == "published"
        citizen = await srv.connect()
        await citizen.hello("tok-citizen")
        await citizen.send(
            {
                "type": "set_time",
                "scenario": "baseline",
                "time": {"year": 2030, "date": "05-01"},
                "ref": "t",
            }
        )
        assert (await citizen.expect("error"))["code"] == "forbidden"
        await citizen.send({"type": "undo", "ref": "c1", "scenario": sid})
        assert (await citizen.expect("error"))["code"] == "forbidden"
        planner = await srv.connect()
        await planner.hello("tok-planner", role="viewer")  # a token may act below its role
        await planner.send({"type": "edit", "ref": "p1", "scenario": sid, "op": plant()})
        assert (await planner.expect("error"))["code"] == "forbidden"
        url = f"{srv.http}/api/scenarios/{sid}/edits"
        codes = await asyncio.gather(
            asyncio.to_thread(_post, url, {"op": plant()}, None),
            asyncio.to_thread(_post, url, {"op": plant()}, "tok-citizen"),
            asyncio.to_thread(_post, url, {"op": plant()}, "bogus"),
            asyncio.to_thread(_post, url, {"op": plant(30.0, 60.0)}, "tok-planner"),
        )
        assert codes == [403, 403, 401, 422]
        assert (await srv.hub.store.get(sid)).seq == 0


async def test_slow_client_does_not_delay_others(tmp_path: Path, backend: dict[str, str]) -> None:
    # heartbeat_s is long here: a peer that stops reading also stops answering pings,
    # and the heartbeat would (rightly) close it before it could resync
    async with run_server(
        tmp_path / "s.sqlite",
        **backend,
        send_queue=8,
        send_buffer_bytes=4096,
        heartbeat_s=60.0,
        rate_per_s=1000.0,
        burst=1000,
    ) as srv:
        sid = await _draft(srv)
        # the slow client: tiny receive buffer, never reads until the end
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", srv.port))
        slow = await srv.connect(sock=sock, max_queue=1)
        await slow.hello("tok-planner")
        await slow.send({"type": "subscribe", "scenario": sid})
        await slow.expect("snapshot")
        fast = [await srv.connect() for _ in range(3)]
        for f in fast:
            await f.hello("tok-planner")
            await f.send({"type": "subscribe", "scenario": sid})
            await f.expect("snapshot")
        editor = fast[0]
        n = 120
        worst = 0.0
        pad = "x" * 60
        for i in range(1, n + 1):
            t0 = time.perf_counter()
            await editor.send(
                {
                    "type": "edit",
                    "ref": f"e{i}",
                    "scenario": sid,
                    "op": plant(species=f"sp-{pad}"[:60], id=f"t{i}"),
                }
            )
            assert (await editor.expect("ack"))["seq"] == i
            for f in fast:
                u = await f.expect("update")
                assert u["seq"] == i
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 1.0, f"an update took {worst:.3f} s to reach the fast clients"
        session = next(s for s in srv.hub.sessions if s.pending_resync or s.lagging)
        assert len(session.out) <= 9  # bounded: the backlog was dropped
        # the slow client now reads: old updates, then resync + a fresh snapshot at seq n
        seen: list[dict[str, Any]] = []
        while True:
            m = await slow.recv()
            seen.append(m)
            if m["type"] == "snapshot":
                break
        assert seen[-2]["type"] == "error" and seen[-2]["code"] == "resync"
        assert seen[-1]["seq"] == n
        seqs = [m["seq"] for m in seen if m["type"] == "update"]
        assert seqs == list(range(1, len(seqs) + 1))  # in order, then the gap is resynced
        await editor.send({"type": "edit", "ref": "last", "scenario": sid, "op": plant()})
        await editor.expect("ack")
        assert (await slow.expect("update"))["seq"] == n + 1
