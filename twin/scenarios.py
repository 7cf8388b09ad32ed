"""Scenarios and their event logs: the records, the rules every scenario store keeps, its interface.

:class:`ScenarioLog` is what the live channel, the routes and the recomputes need of a
scenario store. The server implements it twice: in SQLite (the embedded default) and in
PostgreSQL (shared by several server processes); both build their rows and check their
edits with the functions here, so the two cannot drift apart.

The contract every store keeps: an edit, undo or redo returns only once its transaction
is durable (the caller acknowledges then); a scenario's seqs are 1, 2, 3, ... with no gap
and no duplicate, whichever process appends; an idempotency key is answered with the edit
it first named. Repair on open: an edit whose op holds ``NaN`` or ``Infinity`` (written
before such numbers were refused at the boundary) is withdrawn, and objects holding them
are dropped from a branched scenario's base state (:func:`withdrawn_op`,
:func:`repaired_base_state`).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from greentwin.core import ScenarioError
from greentwin.twin.ops import (
    EditOp,
    Extent,
    OpError,
    ScenarioState,
    op_from_dict,
    op_to_dict,
)
from greentwin.twin.protocol import ScenarioTime

__all__ = [
    "BASELINE",
    "Appended",
    "EventRow",
    "ScenarioInfo",
    "ScenarioLog",
    "Status",
    "Titles",
    "UnknownScenarioError",
]

log = logging.getLogger(__name__)

BASELINE = "baseline"
Status = Literal["draft", "published", "archived"]
EventKind = Literal["edit", "undo", "redo"]
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DEFAULT_TIME: ScenarioTime = {"year": 2025, "date": "06-21"}


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


class ScenarioLog(Protocol):
    """Scenarios, their event logs and their published layer versions."""

    #: Random id of the store, kept across restarts (clients resume with it).
    epoch: str
    #: The city's extent, given to new scenarios that have no parent.
    extent: Extent

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, sid: str) -> ScenarioInfo: ...

    async def state(self, sid: str) -> ScenarioState: ...

    async def list_all(self, status: Status | None = None) -> list[ScenarioInfo]: ...

    async def create(
        self, name: str, *, parent: str = BASELINE, author: str, sid: str | None = None
    ) -> ScenarioInfo: ...

    async def duplicate(self, sid: str, name: str, *, author: str) -> ScenarioInfo: ...

    async def set_status(self, sid: str, status: Status) -> ScenarioInfo: ...

    async def set_time(self, sid: str, value: ScenarioTime) -> ScenarioInfo: ...

    async def set_titles(self, sid: str, titles: object) -> Titles: ...

    async def titles(self, sids: Sequence[str]) -> dict[str, Titles]: ...

    async def append(
        self,
        sid: str,
        op: EditOp,
        *,
        author: str,
        base_seq: int | None = None,
        key: str | None = None,
        digest: str = "",
    ) -> Appended: ...

    async def undo(self, sid: str, *, author: str) -> Appended: ...

    async def redo(self, sid: str, *, author: str) -> Appended: ...

    async def events(self, sid: str, after: int = 0, limit: int = 1000) -> list[EventRow]: ...

    async def set_update(self, sid: str, seq: int, message: str) -> None: ...

    async def updates_after(self, sid: str, after: int, limit: int) -> list[str] | None: ...

    async def put_layer(
        self, sid: str, layer: str, version: int, body: bytes, media_type: str
    ) -> None: ...

    async def get_layer(self, sid: str, layer: str, version: int) -> tuple[bytes, str] | None: ...

    async def latest_layers(self, sid: str) -> dict[str, tuple[int, bytes]]: ...
