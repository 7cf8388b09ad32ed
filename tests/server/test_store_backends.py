"""The scenario store's contract, run against SQLite (embedded) and PostgreSQL (asyncpg).

Both implement :class:`~greentwin.twin.scenarios.ScenarioLog`; every test here runs on
both. PostgreSQL runs as a real server on loopback (``gt_services``); the tests that are
about several processes sharing one database (concurrent appends through separate
connection pools, migrations, repair on open) run on PostgreSQL only, since SQLite is
one process's store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from greentwin.server.stores import scenario_store
from greentwin.twin.ops import Extent, OpError, op_digest, parse_op
from greentwin.twin.scenarios import ScenarioLog

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

EXTENT = Extent.bbox(24.90, 60.15, 24.96, 60.18)
Opener = Callable[[], ScenarioLog]


def tree(tid: str, lon: float = 24.93) -> dict[str, Any]:
    return {
        "op": "plant_tree",
        "id": tid,
        "species": "tilia-cordata",
        "position": [lon, 60.16],
        "age_years": 8,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Makes (unopened) stores on one database of the parametrised backend."""
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else ""
    return lambda: scenario_store(tmp_path / "s.sqlite", database_url=url, extent=EXTENT)


@pytest_asyncio.fixture
async def store(opener: Opener) -> AsyncIterator[ScenarioLog]:
    s = opener()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_scenarios_and_log(store: ScenarioLog) -> None:
    assert len(store.epoch) == 16
    base = await store.get("baseline")
    assert (base.status, base.seq) == ("published", 0)
    with pytest.raises(OpError, match="read-only"):
        await store.append("baseline", parse_op(tree("t0"), EXTENT), author="a")
    info = await store.create("plan", author="p1", sid="plan-a")
    assert (info.id, info.parent, info.status, info.extent) == (
        "plan-a",
        "baseline",
        "draft",
        EXTENT,
    )
    with pytest.raises(OpError, match="already exists"):
        await store.create("plan", author="p1", sid="plan-a")
    seqs = [
        (await store.append("plan-a", parse_op(tree(f"t{i}"), EXTENT), author="p1")).seq
        for i in range(1, 4)
    ]
    assert seqs == [1, 2, 3]
    with pytest.raises(OpError, match="not 1"):
        await store.append("plan-a", parse_op(tree("t9"), EXTENT), author="p1", base_seq=1)
    undone = await store.undo("plan-a", author="p1")
    assert (undone.seq, undone.kind, undone.ops[0].id) == (4, "undo", "t3")
    assert sorted((await store.state("plan-a")).trees) == ["t1", "t2"]
    redone = await store.redo("plan-a", author="p1")
    assert (redone.seq, redone.kind) == (5, "redo")
    assert sorted((await store.state("plan-a")).trees) == ["t1", "t2", "t3"]
    with pytest.raises(OpError, match="nothing to redo"):
        await store.redo("plan-a", author="p1")
    events = await store.events("plan-a")
    assert [(e.seq, e.kind, e.target) for e in events] == [
        (1, "edit", None),
        (2, "edit", None),
        (3, "edit", None),
        (4, "undo", 3),
        (5, "redo", 3),
    ]
    first = events[0].op
    assert first is not None and first == json.loads(json.dumps(first)) and first["id"] == "t1"
    # branch, duplicate, publish, time
    child = await store.create("child", parent="plan-a", author="p2")
    assert (child.base_seq, child.seq) == (5, 0)
    assert sorted((await store.state(child.id)).trees) == ["t1", "t2", "t3"]
    dup = await store.duplicate("plan-a", "copy", author="p2")
    assert dup.seq == 5 and len(await store.events(dup.id)) == 5
    pub = await store.set_status("plan-a", "published")
    assert pub.status == "published"
    with pytest.raises(OpError, match="published"):
        await store.append("plan-a", parse_op(tree("t8"), EXTENT), author="p1")
    timed = await store.set_time(dup.id, {"year": 2040, "date": "10-01"})
    assert timed.time == {"year": 2040, "date": "10-01"}
    names = [i.id for i in await store.list_all("draft")]
    assert set(names) == {child.id, dup.id}


async def test_idempotency_keys(store: ScenarioLog) -> None:
    await store.create("k", author="p", sid="k")
    raw = tree("t1")
    op = parse_op(raw, EXTENT)
    first = await store.append("k", op, author="p", key="key-1", digest=op_digest(raw))
    again = await store.append("k", op, author="q", key="key-1", digest=op_digest(raw))
    assert (first.seq, first.duplicate) == (1, False)
    assert (again.seq, again.duplicate, again.author) == (1, True, "p")
    other = tree("t2")
    with pytest.raises(OpError, match="different edit"):
        await store.append(
            "k", parse_op(other, EXTENT), author="p", key="key-1", digest=op_digest(other)
        )
    assert (await store.get("k")).seq == 1


async def test_updates_and_layers(store: ScenarioLog) -> None:
    await store.create("u", author="p", sid="u")
    for i in range(1, 4):
        await store.append("u", parse_op(tree(f"t{i}"), EXTENT), author="p")
    await store.set_update("u", 1, '{"seq":1}')
    await store.set_update("u", 2, '{"seq":2}')
    assert await store.updates_after("u", 0, 10) is None  # seq 3's update is missing
    await store.set_update("u", 3, '{"seq":3}')
    assert await store.updates_after("u", 1, 10) == ['{"seq":2}', '{"seq":3}']
    assert await store.updates_after("u", 0, 2) is None  # beyond the window
    assert await store.updates_after("u", 3, 10) == []
    await store.put_layer("u", "trees", 1, b"one", "application/geo+json")
    await store.put_layer("u", "trees", 3, b"three", "application/geo+json")
    await store.put_layer("u", "trees", 3, b"other", "application/geo+json")  # immutable
    assert await store.get_layer("u", "trees", 3) == (b"three", "application/geo+json")
    assert await store.get_layer("u", "trees", 2) is None
    assert await store.latest_layers("u") == {"trees": (3, b"three")}


async def test_concurrent_appends_get_consecutive_seqs(store: ScenarioLog) -> None:
    await store.create("c", author="p", sid="c")
    results = await asyncio.gather(
        *(store.append("c", parse_op(tree(f"t{i}"), EXTENT), author="p") for i in range(20))
    )
    assert sorted(r.seq for r in results) == list(range(1, 21))
    assert len((await store.state("c")).trees) == 20


async def test_reopen_keeps_epoch_and_log(opener: Opener) -> None:
    s = opener()
    await s.open()
    await s.create("r", author="p", sid="r")
    await s.append("r", parse_op(tree("t1"), EXTENT), author="p")
    epoch = s.epoch
    await s.close()
    s = opener()
    await s.open()
    try:
        assert s.epoch == epoch
        assert (await s.get("r")).seq == 1
        assert list((await s.state("r")).trees) == ["t1"]
    finally:
        await s.close()


# --- several processes on one PostgreSQL database ---------------------------------------


async def test_postgres_appends_from_several_stores_are_serialised(pg_database: str) -> None:
    """Four stores (separate pools, as four server processes) edit one scenario at once."""
    stores = [scenario_store("unused", database_url=pg_database, extent=EXTENT) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert len({s.epoch for s in stores}) == 1
        await stores[0].create("shared", author="p", sid="shared")

        async def edits(k: int, s: ScenarioLog) -> list[int]:
            out = []
            for i in range(10):
                op = parse_op(tree(f"p{k}-{i}", 24.91 + 0.001 * i), EXTENT)
                out.append((await s.append("shared", op, author=f"p{k}")).seq)
            return out

        per_store = await asyncio.gather(*(edits(k, s) for k, s in enumerate(stores)))
        for seqs in per_store:
            assert seqs == sorted(seqs)  # each process sees its own edits in order
        every = sorted(q for seqs in per_store for q in seqs)
        assert every == list(range(1, 41))  # no gap, no duplicate
        state = await stores[3].state("shared")
        assert len(state.trees) == 40  # no edit of another process overwritten
        assert [e.seq for e in await stores[1].events("shared")] == list(range(1, 41))
        # an undo in one process sees the edits of the others
        undone = await stores[2].undo("shared", author="p2")
        assert undone.seq == 41 and len((await stores[0].state("shared")).trees) == 39
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_postgres_schema_is_versioned(pg_database: str) -> None:
    import asyncpg
    from greentwin.server.pg_scenarios import MIGRATIONS

    for _ in range(2):  # a second open applies nothing twice
        s = scenario_store("unused", database_url=pg_database)
        await s.open()
        await s.close()
    conn = await asyncpg.connect(pg_database)
    try:
        rows = await conn.fetch("SELECT component, version FROM greentwin_schema")
    finally:
        await conn.close()
    assert {r["component"]: r["version"] for r in rows}["scenarios"] == len(MIGRATIONS)


async def test_postgres_repairs_non_finite_edits_on_open(pg_database: str) -> None:
    import asyncpg

    s = scenario_store("unused", database_url=pg_database, extent=EXTENT)
    await s.open()
    await s.create("n", author="p", sid="n")
    await s.append("n", parse_op(tree("good"), EXTENT), author="p")
    await s.append("n", parse_op(tree("bad"), EXTENT), author="p")
    await s.close()
    conn = await asyncpg.connect(pg_database)
    try:  # what a store from before the boundary refused NaN may hold
        bad = json.dumps({**tree("bad"), "age_years": float("nan")})
        await conn.execute("UPDATE events SET op=$1 WHERE scenario='n' AND seq=2", bad)
    finally:
        await conn.close()
    s = scenario_store("unused", database_url=pg_database, extent=EXTENT)
    await s.open()
    try:
        events = await s.events("n")
        assert [e.undone for e in events] == [False, True]
        assert events[1].op is not None and events[1].op["age_years"] is None
        assert list((await s.state("n")).trees) == ["good"]
        with pytest.raises(OpError, match="nothing to redo"):  # withdrawn is not undone
            await s.redo("n", author="p")
    finally:
        await s.close()


async def test_postgres_acknowledged_edits_survive_a_database_crash() -> None:
    """Edits stream in; PostgreSQL stops at once (no flush, no checkpoint) and restarts:
    every append that returned is in the log (it returned after its commit was flushed;
    with ``synchronous_commit = off`` the last ones would be gone)."""
    from gt_services import running_postgres

    with running_postgres() as pg:
        url = pg.url + "/postgres"
        s = scenario_store("unused", database_url=url, extent=EXTENT)
        await s.open()
        await s.create("d", author="p", sid="d")
        acked: dict[int, str] = {}

        async def writer(k: int) -> None:
            for i in range(200):
                tid = f"k{k}-{i}"
                acked[(await s.append("d", parse_op(tree(tid), EXTENT), author="p")).seq] = tid

        tasks = [asyncio.create_task(writer(k)) for k in range(4)]
        while len(acked) < 40:
            await asyncio.sleep(0.002)
        await asyncio.to_thread(pg.crash)
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(s.close(), 10)
        except Exception:
            pass  # the connections died with the server
        pg.start()
        s = scenario_store("unused", database_url=url, extent=EXTENT)
        await s.open()
        try:
            logged = {e.seq: e.op["id"] for e in await s.events("d", limit=10_000) if e.op}
            assert len(acked) >= 40
            for seq, tid in acked.items():
                assert logged.get(seq) == tid, f"acknowledged edit {seq} ({tid}) lost"
            assert set(acked.values()) <= set((await s.state("d")).trees)
        finally:
            await s.close()
