"""The citizens' planning hub: participants, comments and votes in SQLite (WAL).

One SQLite file of its own (``hub.sqlite`` beside the scenario store), so the hub's
writes never queue behind scenario edits. Every call runs on one connection in a
single-thread executor (writes serialised, the event loop never blocks on disk), and
every write commits with ``synchronous=FULL`` before the method returns: a comment,
vote or moderation that was answered survives a crash or power cut.

Identity is light: a participant chooses a nickname and gets a random bearer token
(256 bits, ``secrets.token_urlsafe``) that the server keeps only as its SHA-256 hash.
The rules that make counts trustworthy live in the schema, not in the request
handlers:

- ``votes`` has one row per (scenario, participant): a vote is an upsert, so replaying
  the same request, or changing one's mind, never adds a second vote.
- ``comments`` has ``UNIQUE (participant, client_key)``: a POST replayed with the same
  client-generated idempotency key returns the stored comment instead of a copy.

Comment text is stored as plain text (normalised to NFC, control characters other
than newline and tab removed). It is never interpreted as markup: the web app renders
it with ``textContent``.

Tables
------
``participants``: id, token_hash (unique), nickname, created.
``comments``: id, scenario, participant, nickname, text, client_key, created,
hidden, hidden_reason, hidden_by, hidden_at, verified (posted with a citizen's token, see
:mod:`greentwin.server.access`; added to older files when they are opened).
``votes``: scenario, participant, value (-1 or 1), updated; primary key (scenario,
participant).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

from greentwin.core import ScenarioError
from greentwin.server.sqlite import SqliteWorker

__all__ = [
    "CLIENT_KEY",
    "Comment",
    "CommentJSON",
    "HubInputError",
    "HubSettings",
    "HubStore",
    "Participant",
    "RateLimiter",
    "VoteCounts",
    "clean_nickname",
    "clean_reason",
    "clean_text",
    "hash_token",
]

log = logging.getLogger(__name__)


#: A client-generated idempotency key: 8 to 64 URL-safe characters (a UUID fits).
CLIENT_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
#: Control characters removed from user text (newline and tab are kept).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    nickname TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario TEXT NOT NULL,
    participant TEXT NOT NULL REFERENCES participants(id),
    nickname TEXT NOT NULL,
    text TEXT NOT NULL,
    client_key TEXT NOT NULL,
    created REAL NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    hidden_reason TEXT,
    hidden_by TEXT,
    hidden_at REAL,
    verified INTEGER NOT NULL DEFAULT 0,
    UNIQUE (participant, client_key)
);
CREATE INDEX IF NOT EXISTS comments_by_scenario ON comments (scenario, id);
CREATE TABLE IF NOT EXISTS votes (
    scenario TEXT NOT NULL,
    participant TEXT NOT NULL REFERENCES participants(id),
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    updated REAL NOT NULL,
    PRIMARY KEY (scenario, participant)
);
"""


class HubInputError(ScenarioError):
    """A hub request was refused; ``status`` is the HTTP status to answer with.

    ``code`` is one of the protocol's error codes (``schema``, ``too_large``,
    ``rate_limited``, ``forbidden``, ``conflict``, ...).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Limits of the hub (all rates in events per second, bursts in events).

    Attributes
    ----------
    max_comment_chars : longest comment (Unicode code points after normalisation).
    max_body_bytes : largest request body accepted (bytes); larger gets 413.
    nickname_chars : (shortest, longest) nickname.
    max_reason_chars : longest moderation reason.
    comment_rate, comment_burst : comments per participant.
    address_rate, address_burst : comments and votes per client address (all
        participants behind it together).
    identity_rate, identity_burst : new identities per client address.
    vote_rate, vote_burst : votes per participant.
    limiter_size : most rate-limit buckets kept in memory (least recently used dropped).
    """

    max_comment_chars: int = 2000
    max_body_bytes: int = 16 * 1024
    nickname_chars: tuple[int, int] = (2, 40)
    max_reason_chars: int = 300
    comment_rate: float = 1.0 / 15.0
    comment_burst: int = 3
    address_rate: float = 0.5
    address_burst: int = 20
    identity_rate: float = 1.0 / 60.0
    identity_burst: int = 5
    vote_rate: float = 1.0
    vote_burst: int = 10
    limiter_size: int = 10_000


class CommentJSON(TypedDict):
    """A comment as the API returns it (``text`` and ``nickname`` are None when hidden
    from the caller)."""

    id: int
    scenario: str
    nickname: str | None
    text: str | None
    created: float
    hidden: bool
    hidden_reason: str | None
    mine: bool
    verified: bool


class VoteCounts(TypedDict):
    """Votes on one proposal: ``up`` (for), ``down`` (against), the caller's ``mine``."""

    up: int
    down: int
    mine: int


@dataclass(frozen=True, slots=True)
class Participant:
    """A light identity: the public id and nickname (the token is never stored)."""

    id: str
    nickname: str


@dataclass(frozen=True, slots=True)
class Comment:
    """One stored comment."""

    id: int
    scenario: str
    participant: str
    nickname: str
    text: str
    created: float
    hidden: bool
    hidden_reason: str | None
    hidden_by: str | None
    verified: bool = False

    def to_json(self, *, moderator: bool, viewer: str | None = None) -> CommentJSON:
        """The comment for one reader: a citizen never sees a hidden comment's text.

        Parameters
        ----------
        moderator : the reader is an admin (sees hidden text and reason).
        viewer : the reader's participant id, to mark their own comments.
        """
        show = moderator or not self.hidden
        return {
            "id": self.id,
            "scenario": self.scenario,
            "nickname": self.nickname if show else None,
            "text": self.text if show else None,
            "created": self.created,
            "hidden": self.hidden,
            "hidden_reason": self.hidden_reason,
            "mine": viewer is not None and viewer == self.participant,
            "verified": self.verified,
        }


def hash_token(token: str) -> str:
    """SHA-256 hex of a participant token (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _normalise(value: str) -> str:
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def clean_text(value: object, max_chars: int) -> str:
    """A comment's text: plain text, NFC, no control characters, 1..``max_chars`` chars.

    Raises
    ------
    HubInputError
        422 when missing, empty or too long.
    """
    if not isinstance(value, str):
        raise HubInputError(422, "schema", "text: expected a string")
    text = _normalise(value).strip()
    if not text:
        raise HubInputError(422, "schema", "text: the comment is empty")
    if len(text) > max_chars:
        raise HubInputError(
            422, "too_large", f"text: {len(text)} characters, at most {max_chars} allowed"
        )
    return text


def clean_nickname(value: object, limits: tuple[int, int]) -> str:
    """A nickname: one line, whitespace collapsed, ``limits`` characters.

    Raises
    ------
    HubInputError
        422 when missing or of the wrong length.
    """
    if not isinstance(value, str):
        raise HubInputError(422, "schema", "nickname: expected a string")
    name = " ".join(_normalise(value).split())
    lo, hi = limits
    if not lo <= len(name) <= hi:
        raise HubInputError(422, "schema", f"nickname: {lo} to {hi} characters")
    return name


def clean_reason(value: object, max_chars: int) -> str:
    """A moderation reason: one line, 1..``max_chars`` characters.

    Raises
    ------
    HubInputError
        422 when missing or too long.
    """
    if not isinstance(value, str):
        raise HubInputError(422, "schema", "reason: expected a string")
    reason = " ".join(_normalise(value).split())
    if not 1 <= len(reason) <= max_chars:
        raise HubInputError(422, "schema", f"reason: 1 to {max_chars} characters")
    return reason


class RateLimiter:
    """Token buckets by key (``rate`` per second, ``burst`` stored), LRU-bounded.

    Windows are kept in memory only: a restart forgets them (by design; they are a
    flood brake, not an accounting record).
    """

    def __init__(
        self, rate: float, burst: int, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.size = size
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``; returns 0 when allowed, else seconds to wait."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return wait


def comment_from_row(row: Any) -> Comment:
    """A comment row (of either backend) as :class:`Comment`."""
    return Comment(
        id=int(row["id"]),
        scenario=row["scenario"],
        participant=row["participant"],
        nickname=row["nickname"],
        text=row["text"],
        created=float(row["created"]),
        hidden=bool(row["hidden"]),
        hidden_reason=row["hidden_reason"],
        hidden_by=row["hidden_by"],
        verified=bool(row["verified"]),
    )


class HubStore(SqliteWorker):
    """Participants, comments and votes (see the module docstring).

    Parameters
    ----------
    path : Path
        The database file (created if missing).

    Use ``await store.open()`` / ``await store.close()``.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA, "hub store")

    def _opened(self, db: sqlite3.Connection) -> None:
        columns = {row["name"] for row in db.execute("PRAGMA table_info(comments)")}
        if "verified" not in columns:  # a file from before verified comments
            db.execute("ALTER TABLE comments ADD COLUMN verified INTEGER NOT NULL DEFAULT 0")
        super()._opened(db)

    def _tx(self) -> _Tx:
        return _Tx(self.db)

    # --- participants ----------------------------------------------------------------

    async def new_participant(self, nickname: str) -> tuple[Participant, str]:
        """Create a participant; returns it and its token (shown once, stored hashed)."""
        token = secrets.token_urlsafe(32)
        pid = f"p-{secrets.token_hex(8)}"

        def tx() -> None:
            with self._tx():
                self.db.execute(
                    "INSERT INTO participants VALUES (?,?,?,?)",
                    (pid, hash_token(token), nickname, time.time()),
                )

        await self._run(tx)
        return Participant(pid, nickname), token

    async def participant(self, token: str) -> Participant | None:
        """The participant holding ``token``, or None (unknown token)."""

        def q() -> Participant | None:
            row = self.db.execute(
                "SELECT id, nickname FROM participants WHERE token_hash=?", (hash_token(token),)
            ).fetchone()
            return Participant(row[0], row[1]) if row else None

        return await self._run(q)

    # --- comments ----------------------------------------------------------------------

    async def add_comment(
        self, scenario: str, who: Participant, text: str, client_key: str, *, verified: bool = False
    ) -> tuple[Comment, bool]:
        """Store a comment durably; returns it and whether it is new. ``verified``: posted
        with a citizen's (or higher) token, whose holder the operator identified.

        A second call with the same participant and ``client_key`` returns the first
        comment and ``False`` (idempotent replay); with a different text it raises.

        Raises
        ------
        HubInputError
            409 when the key was already used for another text or proposal.
        """

        def tx() -> tuple[Comment, bool]:
            with self._tx():
                row = self.db.execute(
                    "SELECT * FROM comments WHERE participant=? AND client_key=?",
                    (who.id, client_key),
                ).fetchone()
                if row is not None:
                    old = comment_from_row(row)
                    if old.scenario != scenario or old.text != text:
                        raise HubInputError(
                            409, "conflict", "client_key was already used for another comment"
                        )
                    return old, False
                cur = self.db.execute(
                    "INSERT INTO comments (scenario, participant, nickname, text, client_key,"
                    " created, verified) VALUES (?,?,?,?,?,?,?)",
                    (scenario, who.id, who.nickname, text, client_key, time.time(), int(verified)),
                )
                new = self.db.execute(
                    "SELECT * FROM comments WHERE id=?", (cur.lastrowid,)
                ).fetchone()
                return comment_from_row(new), True

        return await self._run(tx)

    async def find_comment(self, who: Participant, client_key: str) -> Comment | None:
        """The comment a participant posted with ``client_key``, if any."""

        def q() -> Comment | None:
            row = self.db.execute(
                "SELECT * FROM comments WHERE participant=? AND client_key=?",
                (who.id, client_key),
            ).fetchone()
            return comment_from_row(row) if row else None

        return await self._run(q)

    async def comments(self, scenario: str, *, after: int = 0, limit: int = 200) -> list[Comment]:
        """A proposal's comments with ``id > after``, oldest first (at most ``limit``)."""

        def q() -> list[Comment]:
            rows = self.db.execute(
                "SELECT * FROM comments WHERE scenario=? AND id>? ORDER BY id LIMIT ?",
                (scenario, after, limit),
            )
            return [comment_from_row(r) for r in rows]

        return await self._run(q)

    async def hide_comment(self, scenario: str, cid: int, reason: str, by: str) -> Comment:
        """Hide a comment with a reason (a second hide updates the reason).

        Raises
        ------
        HubInputError
            404 when the proposal has no such comment.
        """

        def tx() -> Comment:
            with self._tx():
                cur = self.db.execute(
                    "UPDATE comments SET hidden=1, hidden_reason=?, hidden_by=?, hidden_at=?"
                    " WHERE id=? AND scenario=?",
                    (reason, by, time.time(), cid, scenario),
                )
                if cur.rowcount != 1:
                    raise HubInputError(404, "unknown_comment", f"no comment {cid} on {scenario}")
                row = self.db.execute("SELECT * FROM comments WHERE id=?", (cid,)).fetchone()
                return comment_from_row(row)

        return await self._run(tx)

    async def comment_counts(self, scenarios: list[str]) -> dict[str, int]:
        """Visible (not hidden) comments per proposal."""

        def q() -> dict[str, int]:
            out = dict.fromkeys(scenarios, 0)
            for sid, n in self.db.execute(
                "SELECT scenario, COUNT(*) FROM comments WHERE hidden=0 GROUP BY scenario"
            ):
                if sid in out:
                    out[sid] = int(n)
            return out

        return await self._run(q)

    # --- votes -----------------------------------------------------------------------

    async def vote(
        self, scenario: str, who: Participant, value: Literal[-1, 0, 1]
    ) -> tuple[VoteCounts, bool]:
        """Set (1 for, -1 against) or withdraw (0) a participant's vote.

        Returns the counts after the vote and whether anything changed (a replay of
        the same vote changes nothing).
        """

        def tx() -> tuple[VoteCounts, bool]:
            with self._tx():
                row = self.db.execute(
                    "SELECT value FROM votes WHERE scenario=? AND participant=?",
                    (scenario, who.id),
                ).fetchone()
                before = int(row[0]) if row else 0
                if value == 0:
                    self.db.execute(
                        "DELETE FROM votes WHERE scenario=? AND participant=?", (scenario, who.id)
                    )
                else:
                    self.db.execute(
                        "INSERT INTO votes VALUES (?,?,?,?) ON CONFLICT (scenario, participant)"
                        " DO UPDATE SET value=excluded.value, updated=excluded.updated",
                        (scenario, who.id, value, time.time()),
                    )
                return self._counts(scenario, who.id), before != value

        return await self._run(tx)

    def _counts(self, scenario: str, participant: str | None) -> VoteCounts:
        up = down = mine = 0
        for value, n in self.db.execute(
            "SELECT value, COUNT(*) FROM votes WHERE scenario=? GROUP BY value", (scenario,)
        ):
            if value == 1:
                up = int(n)
            elif value == -1:
                down = int(n)
        if participant is not None:
            row = self.db.execute(
                "SELECT value FROM votes WHERE scenario=? AND participant=?",
                (scenario, participant),
            ).fetchone()
            mine = int(row[0]) if row else 0
        return {"up": up, "down": down, "mine": mine}

    async def counts(self, scenario: str, participant: str | None = None) -> VoteCounts:
        """Votes on one proposal (``mine`` is the participant's vote, 0 for none)."""
        return await self._run(self._counts, scenario, participant)

    async def stats(self) -> dict[str, Any]:
        """Row counts (for health checks and tests)."""

        def q() -> dict[str, Any]:
            return {
                table: int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("participants", "comments", "votes")
            }

        return await self._run(q)


class _Tx:
    """``BEGIN IMMEDIATE`` .. ``COMMIT`` (or ``ROLLBACK``), fsynced (``synchronous=FULL``)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
