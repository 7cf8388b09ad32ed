"""The scenario store in PostgreSQL (asyncpg): the same contract as the SQLite store.

Used when ``database_url`` is set, so several server processes share scenarios. Tables
and columns are those of :mod:`greentwin.twin.scenarios` (ops, states and messages
stored as the same JSON text), created by versioned migrations
(:func:`greentwin.server.pg.migrate`, component ``scenarios``).

Ordering across processes: every write to a scenario's log first locks the scenario's
row (``SELECT ... FOR UPDATE``) and takes the next seq from it inside the same
transaction, so concurrent appends from any number of processes get 1, 2, 3, ... with no
gap and no duplicate (the primary key ``(scenario, seq)`` would refuse a duplicate
anyway). The state is read from that locked row, never from a process-local cache, so
an edit made by another process is always seen. An append returns once its commit is
durable (``synchronous_commit = on``); derived writes (update messages, layer
versions, the shared time) commit without waiting for the flush.

The repair of edits holding ``NaN`` or ``Infinity`` (see the SQLite store) runs on open
here too.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from greentwin.server.pg import PooledStore, create_pool, migrate
from greentwin.twin.ops import WORLD, EditOp, Extent, OpError, ScenarioState, op_from_dict
from greentwin.twin.protocol import ScenarioTime
from greentwin.twin.scenarios import (
    BASELINE,
    INSERT_EVENT_COLUMNS,
    INSERT_SCENARIO_COLUMNS,
    TITLES_KEY,
    WITHDRAWN_ON_LOAD,
    Appended,
    EventKind,
    EventRow,
    ScenarioInfo,
    Status,
    Titles,
    UnknownScenarioError,
    baseline_row_values,
    branch_row_values,
    check_base_seq,
    check_editable,
    check_status_change,
    check_undo_target,
    clean_titles,
    complete_updates,
    event_row,
    event_values,
    new_scenario_id,
    redo_target,
    repaired_base_state,
    repeated_edit,
    replay,
    scenario_info,
    withdrawn_op,
)

__all__ = ["MIGRATIONS", "PgScenarioStore"]

log = logging.getLogger(__name__)

#: Schema steps of component ``scenarios`` (version i + 1 is ``MIGRATIONS[i]``).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE scenarios (
        id TEXT PRIMARY KEY,
        parent TEXT REFERENCES scenarios(id),
        base_seq BIGINT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
        created DOUBLE PRECISION NOT NULL,
        author TEXT NOT NULL,
        seq BIGINT NOT NULL DEFAULT 0,
        base_state TEXT NOT NULL,
        state TEXT NOT NULL,
        extent TEXT NOT NULL,
        time TEXT NOT NULL
    );
    CREATE TABLE events (
        scenario TEXT NOT NULL REFERENCES scenarios(id),
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('edit', 'undo', 'redo')),
        op TEXT,
        target BIGINT,
        author TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        undone BOOLEAN NOT NULL DEFAULT FALSE,
        update_msg TEXT,
        idem_key TEXT,
        idem_digest TEXT,
        repaired TEXT,
        PRIMARY KEY (scenario, seq)
    );
    CREATE UNIQUE INDEX events_idem_key ON events (scenario, idem_key)
        WHERE idem_key IS NOT NULL;
    CREATE TABLE layer_versions (
        scenario TEXT NOT NULL REFERENCES scenarios(id),
        layer TEXT NOT NULL,
        version BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        media_type TEXT NOT NULL,
        body BYTEA NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scenario, layer, version)
    );
    """,
)


class PgScenarioStore(PooledStore):
    """PostgreSQL-backed scenarios and event logs (see the module docstring).

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/database``.
    extent : Extent
        The city's extent, given to new scenarios that have no parent.
    pool_size : int
        Most connections this store holds (concurrent transactions).
    """

    what = "scenario store"

    def __init__(self, url: str, *, extent: Extent = WORLD, pool_size: int = 8) -> None:
        super().__init__()
        self.url = url
        self.extent = extent
        self.pool_size = pool_size
        self.epoch = ""

    async def __aenter__(self) -> PgScenarioStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect, migrate, repair, and read or create the epoch and the baseline."""
        self._pool = await create_pool(self.url, max_size=self.pool_size)
        await migrate(self._pool, "scenarios", MIGRATIONS)
        async with self.pool.acquire() as c, c.transaction():
            await c.execute("LOCK TABLE meta IN EXCLUSIVE MODE")  # one opener at a time
            await self._repair_non_finite(c)
            epoch = await c.fetchval("SELECT value FROM meta WHERE key='epoch'")
            if epoch is None:
                epoch = secrets.token_hex(8)
                await c.execute("INSERT INTO meta VALUES ('epoch', $1)", epoch)
            self.epoch = str(epoch)
            if await c.fetchval("SELECT 1 FROM scenarios WHERE id=$1", BASELINE) is None:
                await self._insert(c, baseline_row_values(self.extent))
        log.info("scenario store (PostgreSQL) open (epoch %s)", self.epoch)

    async def _repair_non_finite(self, c: Any) -> None:
        touched: set[str] = set()
        for r in await c.fetch(
            "SELECT scenario, seq, op FROM events WHERE kind='edit' AND repaired IS NULL"
            " AND (op LIKE '%NaN%' OR op LIKE '%Infinity%')"
        ):
            cleaned = withdrawn_op(r["scenario"], r["seq"], r["op"])
            if cleaned is None:
                continue
            await c.execute(
                "UPDATE events SET op=$1, undone=TRUE, repaired=$2 WHERE scenario=$3 AND seq=$4",
                cleaned,
                WITHDRAWN_ON_LOAD,
                r["scenario"],
                r["seq"],
            )
            touched.add(r["scenario"])
        for r in await c.fetch(
            "SELECT id, base_state, state FROM scenarios WHERE base_state LIKE '%NaN%'"
            " OR base_state LIKE '%Infinity%' OR state LIKE '%NaN%' OR state LIKE '%Infinity%'"
        ):
            base, rebuild = repaired_base_state(r["id"], r["base_state"], r["state"])
            if base is not None:
                await c.execute("UPDATE scenarios SET base_state=$1 WHERE id=$2", base, r["id"])
            if rebuild:
                touched.add(r["id"])
        for sid in touched:
            state = await self._replay(c, await self._row(c, sid))
            await c.execute("UPDATE scenarios SET state=$1 WHERE id=$2", state.to_json(), sid)

    async def _insert(self, c: Any, values: tuple[Any, ...]) -> None:
        """Insert a scenario row (``values`` from :func:`scenario_row_values`)."""
        await c.execute(
            f"INSERT INTO scenarios ({INSERT_SCENARIO_COLUMNS})"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            *values,
        )

    async def _row(self, c: Any, sid: str, *, lock: bool = False) -> Any:
        sql = "SELECT * FROM scenarios WHERE id=$1" + (" FOR UPDATE" if lock else "")
        row = await c.fetchrow(sql, sid)
        if row is None:
            raise UnknownScenarioError(sid)
        return row

    # --- scenarios ----------------------------------------------------------------

    async def get(self, sid: str) -> ScenarioInfo:
        async with self.pool.acquire() as c:
            return scenario_info(await self._row(c, sid))

    async def state(self, sid: str) -> ScenarioState:
        async with self.pool.acquire() as c:
            return ScenarioState.from_json((await self._row(c, sid))["state"])

    async def list_all(self, status: Status | None = None) -> list[ScenarioInfo]:
        async with self.pool.acquire() as c:
            if status is None:
                rows = await c.fetch("SELECT * FROM scenarios ORDER BY created, id")
            else:
                rows = await c.fetch(
                    "SELECT * FROM scenarios WHERE status=$1 ORDER BY created, id", status
                )
        return [scenario_info(r) for r in rows]

    async def create(
        self, name: str, *, parent: str = BASELINE, author: str, sid: str | None = None
    ) -> ScenarioInfo:
        new_id, name = new_scenario_id(sid, name)
        async with self.pool.acquire() as c, c.transaction():
            prow = await self._row(c, parent, lock=True)
            if await c.fetchval("SELECT 1 FROM scenarios WHERE id=$1", new_id):
                raise OpError("conflict", f"scenario {new_id!r} already exists")
            state = ScenarioState.from_json(prow["state"])
            await self._insert(c, branch_row_values(new_id, prow, name, author, state))
            return scenario_info(await self._row(c, new_id))

    async def duplicate(self, sid: str, name: str, *, author: str) -> ScenarioInfo:
        new_id = f"s-{uuid.uuid4().hex[:10]}"
        async with self.pool.acquire() as c, c.transaction():
            r = await self._row(c, sid, lock=True)
            await c.execute(
                "INSERT INTO scenarios (id, parent, base_seq, name, status, created, author,"
                " seq, base_state, state, extent, time)"
                " SELECT $1, parent, base_seq, $2, 'draft', $3, $4, seq, base_state, state,"
                " extent, time FROM scenarios WHERE id=$5",
                new_id,
                name.strip() or r["name"],
                time.time(),
                author,
                sid,
            )
            await c.execute(
                "INSERT INTO events (scenario, seq, kind, op, target, author, ts, undone)"
                " SELECT $1, seq, kind, op, target, author, ts, undone FROM events"
                " WHERE scenario=$2",
                new_id,
                sid,
            )
            return scenario_info(await self._row(c, new_id))

    async def set_status(self, sid: str, status: Status) -> ScenarioInfo:
        async with self.pool.acquire() as c, c.transaction():
            check_status_change(await self._row(c, sid, lock=True), status)
            await c.execute("UPDATE scenarios SET status=$1 WHERE id=$2", status, sid)
            return scenario_info(await self._row(c, sid))

    async def set_time(self, sid: str, value: ScenarioTime) -> ScenarioInfo:
        async with self.pool.acquire() as c, c.transaction():
            await c.execute("SET LOCAL synchronous_commit = off")
            await self._row(c, sid, lock=True)
            await c.execute("UPDATE scenarios SET time=$1 WHERE id=$2", json.dumps(value), sid)
            return scenario_info(await self._row(c, sid))

    async def set_titles(self, sid: str, titles: object) -> Titles:
        """Store a scenario's titles per language (``clean_titles``), replacing any."""
        clean = clean_titles(titles)
        async with self.pool.acquire() as c, c.transaction():
            await self._row(c, sid, lock=True)
            await c.execute(
                "INSERT INTO meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                TITLES_KEY + sid,
                json.dumps(clean, ensure_ascii=False),
            )
        return clean

    async def titles(self, sids: Sequence[str]) -> dict[str, Titles]:
        """The titles per language of those scenarios that have any."""
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                "SELECT key, value FROM meta WHERE key = ANY($1::text[])",
                [TITLES_KEY + sid for sid in sids],
            )
        return {r["key"][len(TITLES_KEY) :]: json.loads(r["value"]) for r in rows}

    # --- the event log -------------------------------------------------------------

    async def _commit_event(
        self,
        c: Any,
        r: Any,
        kind: EventKind,
        op: EditOp | None,
        target: int | None,
        author: str,
        state: ScenarioState,
        key: tuple[str, str] | None = None,
    ) -> int:
        seq, values = event_values(r, kind, op, target, author, key)
        await c.execute(
            f"INSERT INTO events ({INSERT_EVENT_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            *values,
        )
        await c.execute(
            "UPDATE scenarios SET seq=$1, state=$2 WHERE id=$3", seq, state.to_json(), r["id"]
        )
        return seq

    async def append(
        self,
        sid: str,
        op: EditOp,
        *,
        author: str,
        base_seq: int | None = None,
        key: str | None = None,
        digest: str = "",
    ) -> Appended:
        """Check ``op`` against the state and append it; returns once the commit is durable
        (see :meth:`greentwin.server.sqlite_scenarios.ScenarioStore.append`)."""
        async with self.pool.acquire() as c, c.transaction():
            r = await self._row(c, sid, lock=True)
            state = ScenarioState.from_json(r["state"])
            if key is not None:
                seen = await c.fetchrow(
                    "SELECT seq, op, idem_digest, author FROM events"
                    " WHERE scenario=$1 AND idem_key=$2",
                    sid,
                    key,
                )
                done = repeated_edit(sid, key, digest, seen, state)
                if done is not None:
                    return done
            check_editable(r)
            check_base_seq(r, base_seq)
            state.check(op)
            state.apply(op)
            seq = await self._commit_event(
                c, r, "edit", op, None, author, state, (key, digest) if key else None
            )
        return Appended(sid, seq, "edit", (op,), state, author)

    async def _replay(self, c: Any, r: Any) -> ScenarioState:
        rows = await c.fetch(
            "SELECT op FROM events WHERE scenario=$1 AND kind='edit' AND NOT undone ORDER BY seq",
            r["id"],
        )
        return replay(r["base_state"], (row["op"] for row in rows))

    async def _redo_target(self, c: Any, sid: str) -> int | None:
        last_edit = await c.fetchval(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE scenario=$1 AND kind='edit'", sid
        )
        rows = await c.fetch(
            "SELECT kind, target FROM events WHERE scenario=$1 AND seq>$2 ORDER BY seq",
            sid,
            last_edit,
        )
        return redo_target((row["kind"], row["target"]) for row in rows)

    async def undo(self, sid: str, *, author: str) -> Appended:
        return await self._undo_redo(sid, "undo", author)

    async def redo(self, sid: str, *, author: str) -> Appended:
        return await self._undo_redo(sid, "redo", author)

    async def _undo_redo(self, sid: str, kind: Literal["undo", "redo"], author: str) -> Appended:
        async with self.pool.acquire() as c, c.transaction():
            r = await self._row(c, sid, lock=True)
            check_editable(r)
            if kind == "undo":
                target = await c.fetchval(
                    "SELECT MAX(seq) FROM events WHERE scenario=$1 AND kind='edit' AND NOT undone",
                    sid,
                )
            else:
                target = await self._redo_target(c, sid)
            repaired = (
                None
                if target is None
                else await c.fetchval(
                    "SELECT repaired FROM events WHERE scenario=$1 AND seq=$2", sid, target
                )
            )
            target = check_undo_target(sid, kind, target, repaired)
            await c.execute(
                "UPDATE events SET undone=$1 WHERE scenario=$2 AND seq=$3",
                kind == "undo",
                sid,
                target,
            )
            op_json = await c.fetchval(
                "SELECT op FROM events WHERE scenario=$1 AND seq=$2", sid, target
            )
            state = await self._replay(c, r)
            seq = await self._commit_event(c, r, kind, None, target, author, state)
        return Appended(sid, seq, kind, (op_from_dict(json.loads(op_json)),), state, author)

    async def events(self, sid: str, after: int = 0, limit: int = 1000) -> list[EventRow]:
        async with self.pool.acquire() as c:
            await self._row(c, sid)
            rows = await c.fetch(
                "SELECT * FROM events WHERE scenario=$1 AND seq>$2 ORDER BY seq LIMIT $3",
                sid,
                after,
                limit,
            )
        return [event_row(r) for r in rows]

    async def set_update(self, sid: str, seq: int, message: str) -> None:
        async with self.pool.acquire() as c, c.transaction():
            await c.execute("SET LOCAL synchronous_commit = off")
            await c.execute(
                "UPDATE events SET update_msg=$1 WHERE scenario=$2 AND seq=$3", message, sid, seq
            )

    async def updates_after(self, sid: str, after: int, limit: int) -> list[str] | None:
        async with self.pool.acquire() as c, c.transaction(isolation="repeatable_read"):
            cur = int((await self._row(c, sid))["seq"])
            if cur - after > limit:
                return None
            msgs = [
                row["update_msg"]
                for row in await c.fetch(
                    "SELECT update_msg FROM events WHERE scenario=$1 AND seq>$2 AND seq<=$3"
                    " ORDER BY seq",
                    sid,
                    after,
                    cur,
                )
            ]
        return complete_updates(msgs, cur, after)

    # --- layer versions ---------------------------------------------------------------

    async def put_layer(
        self, sid: str, layer: str, version: int, body: bytes, media_type: str
    ) -> None:
        async with self.pool.acquire() as c, c.transaction():
            await c.execute("SET LOCAL synchronous_commit = off")
            await c.execute(
                "INSERT INTO layer_versions VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
                sid,
                layer,
                version,
                version,
                media_type,
                body,
                time.time(),
            )

    async def get_layer(self, sid: str, layer: str, version: int) -> tuple[bytes, str] | None:
        async with self.pool.acquire() as c:
            row = await c.fetchrow(
                "SELECT body, media_type FROM layer_versions WHERE scenario=$1 AND layer=$2"
                " AND version=$3",
                sid,
                layer,
                version,
            )
        return (bytes(row["body"]), str(row["media_type"])) if row else None

    async def latest_layers(self, sid: str) -> dict[str, tuple[int, bytes]]:
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                "SELECT DISTINCT ON (layer) layer, version, body FROM layer_versions"
                " WHERE scenario=$1 ORDER BY layer, version DESC",
                sid,
            )
        return {r["layer"]: (int(r["version"]), bytes(r["body"])) for r in rows}
