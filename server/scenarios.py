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
:class:`~greentwin.server.ops.ScenarioState`), extent, time. ``events``: scenario,
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
import re
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from greentwin.core import ScenarioError
from greentwin.server.ops import (
    WORLD,
    EditOp,
    Extent,
    OpError,
    ScenarioState,
    op_from_dict,
    op_to_dict,
)
from greentwin.server.protocol import ScenarioTime
from greentwin.server.sqlite import SqliteWorker

__all__ = [
    "BASELINE",
    "Appended",
    "EventRow",
    "ScenarioInfo",
    "ScenarioStore",
    "Status",
    "UnknownScenarioError",
]

log = logging.getLogger(__name__)

BASELINE = "baseline"
Status = Literal["draft", "published", "archived"]
EventKind = Literal["edit", "undo", "redo"]
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DEFAULT_TIME: ScenarioTime = {"year": 2025, "date": "06-21"}


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


class UnknownScenarioError(ScenarioError, KeyError):
    """No scenario has this id."""

    def __init__(self, scenario: str) -> None:
        super().__init__(f"unknown scenario {scenario!r}; list them with GET /api/scenarios")
        self.scenario = scenario

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """One scenario's row (without its state)."""

    id: str
    parent: str | None
    base_seq: int
    name: str
    status: Status
    created: float
    author: str
    seq: int
    extent: Extent
    time: ScenarioTime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "base_seq": self.base_seq,
            "name": self.name,
            "status": self.status,
            "created": self.created,
            "author": self.author,
            "seq": self.seq,
            "extent": self.extent.to_json(),
            "time": dict(self.time),
        }


@dataclass(frozen=True, slots=True)
class Appended:
    """The result of one durable log append (edit, undo or redo).

    ``ops`` are the ops whose effect changed (the new op, or the op undone/redone);
    ``state`` is the scenario's state after the step: the store's live object, to be
    read (not changed) while the scenario's lock is held, i.e. before the next step.
    """

    scenario: str
    seq: int
    kind: EventKind
    ops: tuple[EditOp, ...]
    state: ScenarioState
    author: str
    #: True when the edit's idempotency key was logged before: nothing new was appended
    #: (``seq`` is the original edit's).
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class EventRow:
    scenario: str
    seq: int
    kind: EventKind
    op: dict[str, Any] | None
    target: int | None
    author: str
    ts: float
    undone: bool
    update_msg: str | None


# --- backend-independent rules, shared with the PostgreSQL store ------------------------
# ``row`` arguments are a scenario or event row of either backend (``sqlite3.Row`` or an
# asyncpg ``Record``): both are read by column name.

#: Why the store withdrew an edit on load (stored in ``events.repaired``).
WITHDRAWN_ON_LOAD = "withdrawn on load: a non-finite number"


def scenario_info(row: Any) -> ScenarioInfo:
    """A scenario row as :class:`ScenarioInfo`."""
    return ScenarioInfo(
        id=row["id"],
        parent=row["parent"],
        base_seq=int(row["base_seq"]),
        name=row["name"],
        status=row["status"],
        created=float(row["created"]),
        author=row["author"],
        seq=int(row["seq"]),
        extent=Extent.from_json(json.loads(row["extent"])),
        time=json.loads(row["time"]),
    )


def event_row(row: Any) -> EventRow:
    """An event row as :class:`EventRow`."""
    return EventRow(
        row["scenario"],
        int(row["seq"]),
        row["kind"],
        json.loads(row["op"]) if row["op"] else None,
        None if row["target"] is None else int(row["target"]),
        row["author"],
        float(row["ts"]),
        bool(row["undone"]),
        row["update_msg"],
    )


def new_scenario_id(sid: str | None, name: str) -> tuple[str, str]:
    """The id and stripped name of a scenario to create; raises ``invalid_op``."""
    if sid is not None and not SCENARIO_ID.match(sid):
        raise OpError("invalid_op", f"scenario id {sid!r} must match {SCENARIO_ID.pattern}")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise OpError("invalid_op", "scenario name must have 1 to 200 characters")
    return sid or f"s-{uuid.uuid4().hex[:10]}", name


def scenario_row_values(
    sid: str,
    parent: str | None,
    base_seq: int,
    name: str,
    status: Status,
    author: str,
    state: ScenarioState,
    extent: Extent,
    time_: ScenarioTime,
) -> tuple[Any, ...]:
    """The values of a new scenario row, in the order of :data:`INSERT_SCENARIO_COLUMNS`."""
    state_json = state.to_json()
    return (
        sid,
        parent,
        base_seq,
        name,
        status,
        time.time(),
        author,
        state_json,
        state_json,
        json.dumps(extent.to_json()),
        json.dumps(time_),
    )


def baseline_row_values(extent: Extent) -> tuple[Any, ...]:
    """The values of the baseline's scenario row (see :func:`scenario_row_values`)."""
    return scenario_row_values(
        BASELINE, None, 0, "Baseline", "published", "system", ScenarioState(), extent,
        DEFAULT_TIME,
    )  # fmt: skip


def branch_row_values(
    sid: str, parent: Any, name: str, author: str, state: ScenarioState
) -> tuple[Any, ...]:
    """The values of a draft branched from scenario row ``parent`` whose state is ``state``
    (see :func:`scenario_row_values`)."""
    return scenario_row_values(
        sid, parent["id"], int(parent["seq"]), name, "draft", author, state,
        Extent.from_json(json.loads(parent["extent"])), json.loads(parent["time"]),
    )  # fmt: skip


#: Columns filled by :func:`scenario_row_values` (``seq`` starts at 0).
INSERT_SCENARIO_COLUMNS = (
    "id, parent, base_seq, name, status, created, author, base_state, state, extent, time"
)


def event_values(
    r: Any,
    kind: EventKind,
    op: EditOp | None,
    target: int | None,
    author: str,
    key: tuple[str, str] | None,
) -> tuple[int, tuple[Any, ...]]:
    """The next seq of scenario row ``r`` and the values of its event row, in the order of
    :data:`INSERT_EVENT_COLUMNS`."""
    seq = int(r["seq"]) + 1
    values = (
        r["id"],
        seq,
        kind,
        json.dumps(op_to_dict(op)) if op else None,
        target,
        author,
        time.time(),
        key[0] if key else None,
        key[1] if key else None,
    )
    return seq, values


#: Columns filled by :func:`event_values`.
INSERT_EVENT_COLUMNS = "scenario, seq, kind, op, target, author, ts, idem_key, idem_digest"


#: ``meta`` key (plus the scenario id) of a scenario's titles per language.
TITLES_KEY = "titles:"
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
#: Longest title and summary a language may have (characters).
TITLE_CHARS = 200
SUMMARY_CHARS = 1000
Titles = dict[str, dict[str, str]]


def clean_titles(raw: object) -> Titles:
    """A scenario's titles per language, checked: ``{lang: {"title", "summary"?}}`` with
    BCP 47 language tags like ``fi`` or ``pt-BR``, a title of 1..200 characters and an
    optional summary of at most 1000.

    Raises
    ------
    OpError
        ``invalid_op`` when the map does not have that shape.
    """
    if not isinstance(raw, dict) or len(raw) > 32:
        raise OpError("invalid_op", "titles: an object of at most 32 languages is required")
    out: Titles = {}
    for lang, entry in raw.items():
        if not isinstance(lang, str) or not _LANG.match(lang):
            raise OpError("invalid_op", f"titles: {str(lang)[:16]!r} is not a language tag")
        if not isinstance(entry, dict) or not set(entry) <= {"title", "summary"}:
            raise OpError("invalid_op", f"titles.{lang}: an object {{title, summary?}} is required")
        title = entry.get("title")
        summary = entry.get("summary", "")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= TITLE_CHARS:
            raise OpError(
                "invalid_op", f"titles.{lang}.title must have 1 to {TITLE_CHARS} characters"
            )
        if not isinstance(summary, str) or len(summary) > SUMMARY_CHARS:
            raise OpError(
                "invalid_op", f"titles.{lang}.summary must have at most {SUMMARY_CHARS} characters"
            )
        out[lang] = {"title": title.strip()}
        if summary.strip():
            out[lang]["summary"] = summary.strip()
    return out


def check_status_change(r: Any, status: Status) -> None:
    """Refuse publishing or archiving the baseline, and reviving an archived scenario."""
    if r["id"] == BASELINE:
        raise OpError("conflict", "the baseline cannot be published or archived")
    if r["status"] == "archived" and status != "archived":
        raise OpError("conflict", f"scenario {r['id']!r} is archived")


def check_editable(r: Any) -> None:
    """Refuse changes to the baseline and to scenarios that are not drafts."""
    if r["id"] == BASELINE:
        raise OpError("conflict", "the baseline is read-only: branch a scenario to edit")
    if r["status"] != "draft":
        raise OpError("conflict", f"scenario {r['id']!r} is {r['status']}: duplicate it to edit")


def check_base_seq(r: Any, base_seq: int | None) -> None:
    """Refuse an edit made against another seq than the scenario's current one."""
    if base_seq is not None and base_seq != r["seq"]:
        raise OpError(
            "conflict",
            f"scenario {r['id']!r} is at seq {r['seq']}, not {base_seq}: "
            "apply the missed updates and retry",
        )


def repeated_edit(
    sid: str, key: str, digest: str, seen: Any, state: ScenarioState
) -> Appended | None:
    """The answer to an edit whose idempotency ``key`` was logged as event row ``seen``.

    ``None`` when the key is new (``seen`` is ``None``); the first edit, marked
    ``duplicate``, when the digests agree; ``conflict`` when they differ.
    """
    if seen is None:
        return None
    if seen["idem_digest"] != digest:
        raise OpError(
            "conflict",
            f"key {key!r} was used for a different edit "
            f"(seq {seen['seq']}): make a new key for a new edit",
        )
    first = op_from_dict(json.loads(seen["op"]))
    return Appended(
        sid, int(seen["seq"]), "edit", (first,), state, str(seen["author"]), duplicate=True
    )


def replay(base_state: str, ops: Iterable[str]) -> ScenarioState:
    """The state from a stored base state and the stored ops of its effective edits."""
    state = ScenarioState.from_json(base_state)
    for op_json in ops:
        state.apply(op_from_dict(json.loads(op_json)))
    return state


def redo_target(after_last_edit: Iterable[tuple[str, Any]]) -> int | None:
    """The edit a redo restores, from the (kind, target) of the events after the last edit."""
    stack: list[int] = []
    for kind, target in after_last_edit:
        if kind == "undo":
            stack.append(int(target))
        elif stack:
            stack.pop()
    return stack[-1] if stack else None


def check_undo_target(
    sid: str, kind: Literal["undo", "redo"], target: int | None, repaired: str | None
) -> int:
    """The seq an undo or redo acts on; ``conflict`` when there is none or it was withdrawn."""
    if target is None:
        raise OpError("conflict", f"nothing to {kind} in scenario {sid!r}")
    if kind == "redo" and repaired is not None:
        raise OpError("conflict", f"nothing to redo: edit {target} was withdrawn as invalid")
    return int(target)


def complete_updates(msgs: list[Any], cur: int, after: int) -> list[str] | None:
    """The update messages of seqs ``after + 1 .. cur``, or ``None`` when any is missing."""
    if len(msgs) != cur - after or any(m is None for m in msgs):
        return None
    return [str(m) for m in msgs]


def withdrawn_op(scenario: str, seq: int, op: str) -> str | None:
    """The op to store for a logged edit that holds NaN or Infinity (the numbers as
    ``null``), with a warning; ``None`` when it holds none (a species or id that spells
    it)."""
    if not _has_non_finite(op):
        return None
    log.warning(
        "scenario %s: edit seq %d withdrawn: its op holds NaN or Infinity, which no "
        "model can use (it was accepted before such numbers were refused)",
        scenario,
        seq,
    )
    return json.dumps(json.loads(op, parse_constant=lambda _name: None))


def repaired_base_state(scenario: str, base_state: str, state: str) -> tuple[str | None, bool]:
    """A scenario's base state without objects holding NaN or Infinity (``None`` when it
    needs no change), and whether its state must be rebuilt from the log."""
    if _has_non_finite(base_state):
        log.warning(
            "scenario %s: objects with NaN or Infinity dropped from the state it was branched from",
            scenario,
        )
        return _without_non_finite(base_state), True
    return None, _has_non_finite(state)


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
        :func:`~greentwin.server.ops.op_digest`) are stored with the event. When the
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


def _has_non_finite(text: str) -> bool:
    """Whether stored JSON holds ``NaN``, ``Infinity`` or ``-Infinity``."""
    found = False

    def constant(_name: str) -> None:
        nonlocal found
        found = True

    json.loads(text, parse_constant=constant)
    return found


_BAD: Any = object()


def _holds_bad(value: Any) -> bool:
    if value is _BAD:
        return True
    if isinstance(value, dict):
        return any(_holds_bad(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_bad(v) for v in value)
    return False


def _without_non_finite(state_json: str) -> str:
    """A stored state without the objects (trees, roads, ...) that hold a non-finite number."""
    doc = json.loads(state_json, parse_constant=lambda _name: _BAD)
    for name, items in doc.items():
        if isinstance(items, dict):
            doc[name] = {k: v for k, v in items.items() if not _holds_bad(v)}
    return ScenarioState.from_dict(doc).to_json()


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
