"""The scenario store: scenarios, their edit event logs and published layer versions, in SQLite.

One SQLite file in WAL mode. Every write runs on one connection in a single-thread
executor, so the event loop never blocks on disk and writes are serialised.
An edit's transaction commits with ``synchronous=FULL`` (the WAL is fsynced) before
:meth:`ScenarioStore.append` returns, so an acknowledged edit survives a crash or
power cut. Derived data (layer versions, the broadcast update of each event) is
written with ``synchronous=NORMAL``: it can be rebuilt from the log.

Tables
------
``meta``: ``epoch`` (random id of this store, kept across restarts: clients resume
with it). ``scenarios``: id, parent, base_seq, name, status (draft / published /
archived), created, author, seq (last event), base_state and state (JSON of
:class:`~greentwin.twin.ops.ScenarioState`), extent, time. ``events``: scenario,
seq, kind (edit / undo / redo), op (JSON), target (the seq an undo/redo acts on),
author, ts, undone flag, update_msg (the JSON broadcast for it), idem_key and
idem_digest (the client's idempotency key of an edit and a digest of its op; unique per
scenario), repaired (why the store withdrew the edit on load, see below). ``layer_versions``:
scenario, layer, version, seq, media_type, body (immutable rows).

Repair on open: a store written before non-finite numbers were refused at the boundary
may hold an edit with ``NaN`` or ``Infinity`` in its op; every recompute of its scenario
would fail. Opening the store withdraws such edits (marked undone, never redone, the
numbers replaced by ``null``, the reason in ``repaired``), drops objects with such numbers
from branched scenarios' base states, rebuilds the states from the log and logs a warning
for each: the scenario stays usable and its other edits stay.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from greentwin.server.sqlite import SqliteWorker
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

__all__ = ["ScenarioStore"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scenarios (
    id TEXT PRIMARY KEY,
    parent TEXT REFERENCES scenarios(id),
    base_seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    created REAL NOT NULL,
    author TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    base_state TEXT NOT NULL,
    state TEXT NOT NULL,
    extent TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    scenario TEXT NOT NULL REFERENCES scenarios(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('edit', 'undo', 'redo')),
    op TEXT,
    target INTEGER,
    author TEXT NOT NULL,
    ts REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    update_msg TEXT,
    idem_key TEXT,
    idem_digest TEXT,
    repaired TEXT,
    PRIMARY KEY (scenario, seq)
);
CREATE TABLE IF NOT EXISTS layer_versions (
    scenario TEXT NOT NULL REFERENCES scenarios(id),
    layer TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (scenario, layer, version)
);
"""


class ScenarioStore(SqliteWorker):
    """SQLite-backed scenarios and event logs (see the module docstring).

    Parameters
    ----------
    path : Path
        The database file (created if missing).
    extent : Extent
        The city's extent, given to new scenarios that have no parent.

    Use ``await store.open()`` / ``await store.close()``, or ``async with``.
    """

    def __init__(self, path: Path | str, *, extent: Extent = WORLD) -> None:
        super().__init__(path, _SCHEMA, "scenario store")
        self.extent = extent
        self.epoch = ""
        self._states: dict[str, ScenarioState] = {}

    # --- plumbing ---------------------------------------------------------------

    def _write(self, durable: bool) -> _Tx:
        return _Tx(self.db, durable)

    async def __aenter__(self) -> ScenarioStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _opened(self, db: sqlite3.Connection) -> None:
        """Read or create the epoch and the baseline (on the worker thread)."""
        columns = {r[1] for r in db.execute("PRAGMA table_info(events)")}
        for name in ("idem_key", "idem_digest", "repaired"):
            if name not in columns:  # a store from before these columns
                db.execute(f"ALTER TABLE events ADD COLUMN {name} TEXT")
        db.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS events_idem_key ON events (scenario, idem_key)"
            " WHERE idem_key IS NOT NULL"
        )
        with self._write(durable=True):
            self._repair_non_finite()
        with self._write(durable=True):
            row = db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
            if row is None:
                self.epoch = secrets.token_hex(8)
                db.execute("INSERT INTO meta VALUES ('epoch', ?)", (self.epoch,))
            else:
                self.epoch = row[0]
            if db.execute("SELECT 1 FROM scenarios WHERE id=?", (BASELINE,)).fetchone() is None:
                self._insert(baseline_row_values(self.extent))
        log.info("scenario store %s open (epoch %s)", self.path.name, self.epoch)

    def _repair_non_finite(self) -> None:
        """Withdraw logged edits that hold NaN or Infinity (see the module docstring)."""
        db = self.db
        touched: set[str] = set()
        suspects = db.execute(
            "SELECT scenario, seq, op FROM events WHERE kind='edit' AND repaired IS NULL"
            " AND (op LIKE '%NaN%' OR op LIKE '%Infinity%')"
        ).fetchall()
        for r in suspects:
            cleaned = withdrawn_op(r["scenario"], r["seq"], r["op"])
            if cleaned is None:
                continue
            db.execute(
                "UPDATE events SET op=?, undone=1, repaired=? WHERE scenario=? AND seq=?",
                (cleaned, WITHDRAWN_ON_LOAD, r["scenario"], r["seq"]),
            )
            touched.add(r["scenario"])
        for r in db.execute(
            "SELECT id, base_state, state FROM scenarios WHERE base_state LIKE '%NaN%'"
            " OR base_state LIKE '%Infinity%' OR state LIKE '%NaN%' OR state LIKE '%Infinity%'"
        ).fetchall():
            base, rebuild = repaired_base_state(r["id"], r["base_state"], r["state"])
            if base is not None:
                db.execute("UPDATE scenarios SET base_state=? WHERE id=?", (base, r["id"]))
            if rebuild:
                touched.add(r["id"])
        for sid in touched:
            state = self._replay(self._row(sid))
            db.execute("UPDATE scenarios SET state=? WHERE id=?", (state.to_json(), sid))
            self._states.pop(sid, None)

    def _insert(self, values: tuple[Any, ...]) -> None:
        """Insert a scenario row (``values`` from :func:`scenario_row_values`)."""
        self.db.execute(
            f"INSERT INTO scenarios ({INSERT_SCENARIO_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            values,
        )

    def _row(self, sid: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM scenarios WHERE id=?", (sid,)).fetchone()
        if row is None:
            raise UnknownScenarioError(sid)
        result: sqlite3.Row = row
        return result

    def _state(self, sid: str) -> ScenarioState:
        state = self._states.get(sid)
        if state is None:
            state = ScenarioState.from_json(self._row(sid)["state"])
            self._states[sid] = state
        return state

    # --- scenarios ----------------------------------------------------------------

    async def get(self, sid: str) -> ScenarioInfo:
        """A scenario's row; raises :class:`UnknownScenarioError`."""
        return await self._run(lambda: scenario_info(self._row(sid)))

    async def state(self, sid: str) -> ScenarioState:
        """A copy of the scenario's current state."""
        return await self._run(lambda: self._state(sid).copy())

    async def list_all(self, status: Status | None = None) -> list[ScenarioInfo]:
        """All scenarios (optionally of one status), oldest first."""

        def q() -> list[ScenarioInfo]:
            if status is None:
                rows = self.db.execute("SELECT * FROM scenarios ORDER BY created, id")
            else:
                rows = self.db.execute(
                    "SELECT * FROM scenarios WHERE status=? ORDER BY created, id", (status,)
                )
            return [scenario_info(r) for r in rows]

        return await self._run(q)

    async def create(
        self,
        name: str,
        *,
        parent: str = BASELINE,
        author: str,
        sid: str | None = None,
    ) -> ScenarioInfo:
        """Branch a new draft scenario from ``parent`` at its current seq."""
        new_id, name = new_scenario_id(sid, name)

        def tx() -> ScenarioInfo:
            with self._write(durable=True):
                prow = self._row(parent)
                if self.db.execute("SELECT 1 FROM scenarios WHERE id=?", (new_id,)).fetchone():
                    raise OpError("conflict", f"scenario {new_id!r} already exists")
                self._insert(branch_row_values(new_id, prow, name, author, self._state(parent)))
            return scenario_info(self._row(new_id))

        return await self._run(tx)

    async def duplicate(self, sid: str, name: str, *, author: str) -> ScenarioInfo:
        """Copy a scenario with its whole event log (undo history included) as a new draft."""

        def tx() -> ScenarioInfo:
            new_id = f"s-{uuid.uuid4().hex[:10]}"
            with self._write(durable=True):
                r = self._row(sid)
                self.db.execute(
                    "INSERT INTO scenarios (id, parent, base_seq, name, status, created, author,"
                    " seq, base_state, state, extent, time)"
                    " SELECT ?, parent, base_seq, ?, 'draft', ?, ?, seq, base_state, state,"
                    " extent, time FROM scenarios WHERE id=?",
                    (new_id, name.strip() or r["name"], time.time(), author, sid),
                )
                self.db.execute(
                    "INSERT INTO events (scenario, seq, kind, op, target, author, ts, undone)"
                    " SELECT ?, seq, kind, op, target, author, ts, undone FROM events"
                    " WHERE scenario=?",
                    (new_id, sid),
                )
            return scenario_info(self._row(new_id))

        return await self._run(tx)

    async def set_status(self, sid: str, status: Status) -> ScenarioInfo:
        """Publish or archive a scenario (the baseline cannot change)."""

        def tx() -> ScenarioInfo:
            with self._write(durable=True):
                check_status_change(self._row(sid), status)
                self.db.execute("UPDATE scenarios SET status=? WHERE id=?", (status, sid))
            return scenario_info(self._row(sid))

        return await self._run(tx)

    async def set_time(self, sid: str, value: ScenarioTime) -> ScenarioInfo:
        """Store the scenario's shared time of year."""

        def tx() -> ScenarioInfo:
            with self._write(durable=False):
                self._row(sid)
                self.db.execute("UPDATE scenarios SET time=? WHERE id=?", (json.dumps(value), sid))
            return scenario_info(self._row(sid))

        return await self._run(tx)

    async def set_titles(self, sid: str, titles: object) -> Titles:
        """Store a scenario's titles per language (:func:`clean_titles`), replacing any."""
        clean = clean_titles(titles)

        def tx() -> None:
            with self._write(durable=True):
                self._row(sid)
                self.db.execute(
                    "INSERT INTO meta VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (TITLES_KEY + sid, json.dumps(clean, ensure_ascii=False)),
                )

        await self._run(tx)
        return clean

    async def titles(self, sids: Sequence[str]) -> dict[str, Titles]:
        """The titles per language of those scenarios that have any."""

        def q() -> dict[str, Titles]:
            out: dict[str, Titles] = {}
            for sid in sids:
                row = self.db.execute(
                    "SELECT value FROM meta WHERE key=?", (TITLES_KEY + sid,)
                ).fetchone()
                if row is not None:
                    out[sid] = json.loads(row[0])
            return out

        return await self._run(q)

    # --- the event log -------------------------------------------------------------

    def _commit_event(
        self,
        r: sqlite3.Row,
        kind: EventKind,
        op: EditOp | None,
        target: int | None,
        author: str,
        state: ScenarioState,
        key: tuple[str, str] | None = None,
    ) -> int:
        seq, values = event_values(r, kind, op, target, author, key)
        self.db.execute(
            f"INSERT INTO events ({INSERT_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", values
        )
        self.db.execute(
            "UPDATE scenarios SET seq=?, state=? WHERE id=?",
            (seq, state.to_json(), r["id"]),
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
        """Check ``op`` against the state and append it; returns once the commit is durable.

        ``key`` (the client's idempotency key) and ``digest`` (of the op as sent, see
        :func:`~greentwin.twin.ops.op_digest`) are stored with the event. When the
        scenario already logged an edit with ``key`` and the same digest, nothing is
        appended and the result is that edit (``duplicate=True``); this check comes
        before every other, so a resend is recognised whatever happened since.

        Raises
        ------
        UnknownScenarioError, OpError
            ``conflict`` when the scenario is not an editable draft, when ``base_seq``
            is given and is not the current seq, when the op contradicts the state, or
            when ``key`` was used for a different op.
        """

        def tx() -> Appended:
            try:
                with self._write(durable=True):
                    r = self._row(sid)
                    if key is not None:
                        seen = self.db.execute(
                            "SELECT seq, op, idem_digest, author FROM events"
                            " WHERE scenario=? AND idem_key=?",
                            (sid, key),
                        ).fetchone()
                        done = repeated_edit(sid, key, digest, seen, self._state(sid))
                        if done is not None:
                            return done
                    check_editable(r)
                    check_base_seq(r, base_seq)
                    state = self._state(sid)
                    state.check(op)  # raises before any change
                    state.apply(op)
                    seq = self._commit_event(
                        r, "edit", op, None, author, state, (key, digest) if key else None
                    )
            except BaseException:
                self._states.pop(sid, None)  # reload from the database next time
                raise
            return Appended(sid, seq, "edit", (op,), state, author)

        return await self._run(tx)

    def _replay(self, r: sqlite3.Row) -> ScenarioState:
        rows = self.db.execute(
            "SELECT op FROM events WHERE scenario=? AND kind='edit' AND undone=0 ORDER BY seq",
            (r["id"],),
        )
        return replay(r["base_state"], (op_json for (op_json,) in rows))

    def _repaired(self, sid: str, seq: int) -> str | None:
        row = self.db.execute(
            "SELECT repaired FROM events WHERE scenario=? AND seq=?", (sid, seq)
        ).fetchone()
        return None if row is None else row[0]

    def _redo_target(self, sid: str) -> int | None:
        last_edit = self.db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE scenario=? AND kind='edit'", (sid,)
        ).fetchone()[0]
        return redo_target(
            self.db.execute(
                "SELECT kind, target FROM events WHERE scenario=? AND seq>? ORDER BY seq",
                (sid, last_edit),
            )
        )

    async def undo(self, sid: str, *, author: str) -> Appended:
        """Undo the scenario's latest effective edit (a new event with its own seq)."""
        return await self._run(self._undo_redo, sid, "undo", author)

    async def redo(self, sid: str, *, author: str) -> Appended:
        """Redo the most recently undone edit, unless a new edit came since."""
        return await self._run(self._undo_redo, sid, "redo", author)

    def _undo_redo(self, sid: str, kind: Literal["undo", "redo"], author: str) -> Appended:
        try:
            with self._write(durable=True):
                r = self._row(sid)
                check_editable(r)
                if kind == "undo":
                    target = self.db.execute(
                        "SELECT MAX(seq) FROM events WHERE scenario=? AND kind='edit' AND undone=0",
                        (sid,),
                    ).fetchone()[0]
                else:
                    target = self._redo_target(sid)
                repaired = None if target is None else self._repaired(sid, target)
                target = check_undo_target(sid, kind, target, repaired)
                self.db.execute(
                    "UPDATE events SET undone=? WHERE scenario=? AND seq=?",
                    (1 if kind == "undo" else 0, sid, target),
                )
                (op_json,) = self.db.execute(
                    "SELECT op FROM events WHERE scenario=? AND seq=?", (sid, target)
                ).fetchone()
                state = self._replay(r)
                seq = self._commit_event(r, kind, None, target, author, state)
        except BaseException:
            self._states.pop(sid, None)
            raise
        self._states[sid] = state
        op = op_from_dict(json.loads(op_json))
        return Appended(sid, seq, kind, (op,), state, author)

    async def events(self, sid: str, after: int = 0, limit: int = 1000) -> list[EventRow]:
        """Events with ``seq > after``, in order (at most ``limit``)."""

        def q() -> list[EventRow]:
            self._row(sid)
            rows = self.db.execute(
                "SELECT * FROM events WHERE scenario=? AND seq>? ORDER BY seq LIMIT ?",
                (sid, after, limit),
            )
            return [event_row(r) for r in rows]

        return await self._run(q)

    async def set_update(self, sid: str, seq: int, message: str) -> None:
        """Keep the broadcast ``update`` of an event, for resumes after a restart."""

        def tx() -> None:
            with self._write(durable=False):
                self.db.execute(
                    "UPDATE events SET update_msg=? WHERE scenario=? AND seq=?", (message, sid, seq)
                )

        await self._run(tx)

    async def updates_after(self, sid: str, after: int, limit: int) -> list[str] | None:
        """The stored update messages after ``after``, or ``None`` if any is missing."""

        def q() -> list[str] | None:
            cur = int(self._row(sid)["seq"])
            if cur - after > limit:
                return None
            msgs = [
                m
                for (m,) in self.db.execute(
                    "SELECT update_msg FROM events WHERE scenario=? AND seq>? ORDER BY seq",
                    (sid, after),
                )
            ]
            return complete_updates(msgs, cur, after)

        return await self._run(q)

    # --- layer versions ---------------------------------------------------------------

    async def put_layer(
        self, sid: str, layer: str, version: int, body: bytes, media_type: str
    ) -> None:
        """Publish an immutable layer version (a second write of the same version is a no-op)."""

        def tx() -> None:
            with self._write(durable=False):
                self.db.execute(
                    "INSERT OR IGNORE INTO layer_versions VALUES (?,?,?,?,?,?,?)",
                    (sid, layer, version, version, media_type, body, time.time()),
                )

        await self._run(tx)

    async def get_layer(self, sid: str, layer: str, version: int) -> tuple[bytes, str] | None:
        """A layer version's body and media type, or ``None``."""

        def q() -> tuple[bytes, str] | None:
            row = self.db.execute(
                "SELECT body, media_type FROM layer_versions WHERE scenario=? AND layer=?"
                " AND version=?",
                (sid, layer, version),
            ).fetchone()
            return (bytes(row[0]), str(row[1])) if row else None

        return await self._run(q)

    async def latest_layers(self, sid: str) -> dict[str, tuple[int, bytes]]:
        """Each layer's newest version and body."""

        def q() -> dict[str, tuple[int, bytes]]:
            rows = self.db.execute(
                "SELECT l.layer, l.version, l.body FROM layer_versions l JOIN"
                " (SELECT layer, MAX(version) AS v FROM layer_versions WHERE scenario=?"
                "  GROUP BY layer) m ON l.layer=m.layer AND l.version=m.v WHERE l.scenario=?",
                (sid, sid),
            )
            return {r[0]: (int(r[1]), bytes(r[2])) for r in rows}

        return await self._run(q)


class _Tx:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (or ``ROLLBACK``) with the chosen durability."""

    def __init__(self, db: sqlite3.Connection, durable: bool) -> None:
        self.db = db
        self.durable = durable

    def __enter__(self) -> None:
        self.db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
