"""The live channel over both set-ups: one process (SQLite, in-process fan-out) and
several processes (PostgreSQL + Redis).

With ``redis+postgresql`` the two servers are two hubs on one database and one Redis
(two applications in this process, each with its own pools and Redis connection, as
two server processes would have); with ``in-process`` both names point to one server.
The same assertions hold in both: updates arrive at every subscriber in seq order, once
each, and a client that reconnects (to either server) resumes with what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from greentwin.twin.ops import parse_op
from gt_live import EXTENT, Checked, LiveServer, plant, run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


@contextlib.asynccontextmanager
async def two_servers(
    tmp_path: Path, backend: dict[str, str], **kw: Any
) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    async with run_server(tmp_path / "s.sqlite", **backend, **kw) as a:
        if not backend:
            yield a, a
            return
        async with run_server(tmp_path / "unused.sqlite", **backend, **kw) as b:
            yield a, b


async def planner(srv: LiveServer, sid: str, **hello: Any) -> tuple[Checked, dict[str, Any]]:
    c = await srv.connect()
    welcome = await c.hello("tok-planner", **hello)
    if "resume" not in hello:
        await c.send({"type": "subscribe", "scenario": sid})
        await c.expect("snapshot")
    return c, welcome


async def edit(c: Checked, sid: str, i: int) -> int:
    await c.send({"type": "edit", "ref": f"e{i}", "scenario": sid, "op": plant(id=f"t{i}")})
    while True:
        msg = await c.recv()
        if msg["type"] == "ack":
            assert msg["ref"] == f"e{i}"
            return int(msg["seq"])


_TAKEN: dict[int, int] = {}


async def updates(c: Checked, n: int) -> list[int]:
    """The seqs of the client's next ``n`` updates (counting those read while editing)."""

    def seen() -> list[int]:
        return [int(m["seq"]) for m in c.received if m["type"] == "update"]

    start = _TAKEN.get(id(c), 0)
    while len(seen()) < start + n:
        await c.recv()
    _TAKEN[id(c)] = start + n
    return seen()[start : start + n]


async def test_updates_cross_servers_and_resume_anywhere(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with two_servers(tmp_path, backend) as (a, b):
        assert a.hub.store.epoch == b.hub.store.epoch
        sid = (await a.hub.store.create("shared", author="planner")).id
        editor, _ = await planner(a, sid)
        follower, welcome = await planner(b, sid)
        acked = [await edit(editor, sid, i) for i in range(1, 6)]
        assert acked == [1, 2, 3, 4, 5]
        assert await updates(follower, 5) == [1, 2, 3, 4, 5]
        # the follower's connection drops; edits go on; it resumes on the other server
        await follower.close()
        acked += [await edit(editor, sid, i) for i in range(6, 9)]
        resume = {"scenario": sid, "epoch": welcome["epoch"], "seq": 5}
        back, _ = await planner(a, sid, resume=resume)
        assert await updates(back, 3) == [6, 7, 8]
        # edits from both servers, interleaved: everyone sees 9..14 in order, once
        acked += [await edit(back if i % 2 else editor, sid, i) for i in range(9, 15)]
        assert acked == list(range(1, 15))
        assert await updates(editor, 14) == list(range(1, 15))
        assert await updates(back, 6) == list(range(9, 15))
        for c in (editor, back):
            with pytest.raises(asyncio.TimeoutError):
                await c.recv(timeout=0.3)  # nothing twice
            await c.close()


async def test_concurrent_editors_on_two_servers(tmp_path: Path, backend: dict[str, str]) -> None:
    async with two_servers(tmp_path, backend) as (a, b):
        sid = (await a.hub.store.create("busy", author="planner")).id
        ea, _ = await planner(a, sid)
        eb, _ = await planner(b, sid)
        watch_a, _ = await planner(a, sid)
        watch_b, _ = await planner(b, sid)

        async def run(c: Checked, base: int) -> list[int]:
            return [await edit(c, sid, base + i) for i in range(8)]

        got = await asyncio.gather(run(ea, 100), run(eb, 200))
        assert sorted(got[0] + got[1]) == list(range(1, 17))
        for w in (watch_a, watch_b):
            assert await updates(w, 16) == list(range(1, 17))
        state = await b.hub.store.state(sid)
        assert len(state.trees) == 16
        for c in (ea, eb, watch_a, watch_b):
            await c.close()


async def test_gap_is_filled_from_the_log_or_resynced(
    tmp_path: Path, pg_database: str, redis_server: str
) -> None:
    """Updates another process published out of order, or never (it died first)."""
    backend = {"database_url": pg_database, "redis_url": redis_server}
    async with run_server(tmp_path / "x.sqlite", **backend) as srv:
        hub = srv.hub
        hub.gap_wait_s = 0.2
        store = hub.store
        sid = (await store.create("gaps", author="planner")).id
        watcher, _ = await planner(srv, sid)
        for i in range(1, 5):  # "another process" appends 1..4
            await store.append(sid, parse_op(plant(id=f"g{i}"), EXTENT), author="other")

        def upd(i: int) -> str:
            return (
                f'{{"type":"update","scenario":"{sid}","seq":{i},"kind":"edit",'
                f'"author":"other","changes":[],"layers":{{}}}}'
            )

        await hub.receive(sid, 2, upd(2))  # early: held
        await hub.receive(sid, 1, upd(1))  # 1 then the held 2
        assert await updates(watcher, 2) == [1, 2]
        # 3 is stored in the log but its message never came: filled from the log
        await store.set_update(sid, 3, upd(3))
        await store.set_update(sid, 4, upd(4))
        await hub.receive(sid, 4, upd(4))
        assert await updates(watcher, 2) == [3, 4]
        # 5 was acknowledged by a process that died before storing its update: resync
        await store.append(sid, parse_op(plant(id="g5"), EXTENT), author="other")
        await store.append(sid, parse_op(plant(id="g6"), EXTENT), author="other")
        await store.set_update(sid, 6, upd(6))
        await hub.receive(sid, 6, upd(6))
        err = await watcher.expect("error")
        assert err["code"] == "resync"
        snap = await watcher.expect("snapshot")
        assert snap["seq"] == 6
        await hub.receive(sid, 5, upd(5))  # arrives late: already in the snapshot
        with pytest.raises(asyncio.TimeoutError):
            await watcher.recv(timeout=0.4)
        await watcher.close()


async def test_shared_time_reaches_the_other_server(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with two_servers(tmp_path, backend) as (a, b):
        sid = (await a.hub.store.create("time", author="planner")).id
        setter, _ = await planner(a, sid)
        other, _ = await planner(b, sid)
        value = {"year": 2040, "date": "10-15"}
        await setter.send({"type": "set_time", "scenario": sid, "time": value})
        got = await other.expect("time")
        assert (got["scenario"], got["time"]) == (sid, value)
        assert (await b.hub.store.get(sid)).time == value
        for c in (setter, other):
            await c.close()
