"""The hub's participants, comments and votes in PostgreSQL (``database_url`` set).

The same tables, rules and durability as :class:`greentwin.server.hub.HubStore`: one
vote per (scenario, participant) as an upsert, ``UNIQUE (participant, client_key)``
making a replayed comment return the stored one, every write committed (and flushed,
``synchronous_commit = on``) before the method returns. Schema steps are versioned
(component ``hub``, :func:`greentwin.server.pg.migrate`). A vote takes a
transaction-scoped advisory lock on (scenario, participant), so two processes answering
the same participant at once report ``changed`` consistently.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

from greentwin.server.hub import (
    Comment,
    HubInputError,
    Participant,
    VoteCounts,
    comment_from_row,
    hash_token,
)
from greentwin.server.pg import PooledStore, create_pool, migrate

__all__ = ["MIGRATIONS", "PgHubStore"]

#: Schema steps of component ``hub``.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE participants (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        nickname TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE comments (
        id BIGSERIAL PRIMARY KEY,
        scenario TEXT NOT NULL,
        participant TEXT NOT NULL REFERENCES participants(id),
        nickname TEXT NOT NULL,
        text TEXT NOT NULL,
        client_key TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        hidden BOOLEAN NOT NULL DEFAULT FALSE,
        hidden_reason TEXT,
        hidden_by TEXT,
        hidden_at DOUBLE PRECISION,
        verified BOOLEAN NOT NULL DEFAULT FALSE,
        UNIQUE (participant, client_key)
    );
    CREATE INDEX comments_by_scenario ON comments (scenario, id);
    CREATE TABLE votes (
        scenario TEXT NOT NULL,
        participant TEXT NOT NULL REFERENCES participants(id),
        value INTEGER NOT NULL CHECK (value IN (-1, 1)),
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scenario, participant)
    );
    """,
)


class PgHubStore(PooledStore):
    """Participants, comments and votes in PostgreSQL (see the module docstring)."""

    what = "hub store"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    async def open(self) -> None:
        self._pool = await create_pool(self.url)
        await migrate(self._pool, "hub", MIGRATIONS)

    async def new_participant(self, nickname: str) -> tuple[Participant, str]:
        token = secrets.token_urlsafe(32)
        pid = f"p-{secrets.token_hex(8)}"
        async with self.pool.acquire() as c:
            await c.execute(
                "INSERT INTO participants VALUES ($1,$2,$3,$4)",
                pid,
                hash_token(token),
                nickname,
                time.time(),
            )
        return Participant(pid, nickname), token

    async def participant(self, token: str) -> Participant | None:
        async with self.pool.acquire() as c:
            row = await c.fetchrow(
                "SELECT id, nickname FROM participants WHERE token_hash=$1", hash_token(token)
            )
        return Participant(row["id"], row["nickname"]) if row else None

    async def add_comment(
        self, scenario: str, who: Participant, text: str, client_key: str, *, verified: bool = False
    ) -> tuple[Comment, bool]:
        async with self.pool.acquire() as c, c.transaction():
            row = await c.fetchrow(
                "INSERT INTO comments (scenario, participant, nickname, text, client_key,"
                " created, verified) VALUES ($1,$2,$3,$4,$5,$6,$7)"
                " ON CONFLICT (participant, client_key) DO NOTHING RETURNING *",
                scenario,
                who.id,
                who.nickname,
                text,
                client_key,
                time.time(),
                verified,
            )
            if row is not None:
                return comment_from_row(row), True
            old = comment_from_row(
                await c.fetchrow(
                    "SELECT * FROM comments WHERE participant=$1 AND client_key=$2",
                    who.id,
                    client_key,
                )
            )
        if old.scenario != scenario or old.text != text:
            raise HubInputError(409, "conflict", "client_key was already used for another comment")
        return old, False

    async def find_comment(self, who: Participant, client_key: str) -> Comment | None:
        async with self.pool.acquire() as c:
            row = await c.fetchrow(
                "SELECT * FROM comments WHERE participant=$1 AND client_key=$2",
                who.id,
                client_key,
            )
        return comment_from_row(row) if row else None

    async def comments(self, scenario: str, *, after: int = 0, limit: int = 200) -> list[Comment]:
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                "SELECT * FROM comments WHERE scenario=$1 AND id>$2 ORDER BY id LIMIT $3",
                scenario,
                after,
                limit,
            )
        return [comment_from_row(r) for r in rows]

    async def hide_comment(self, scenario: str, cid: int, reason: str, by: str) -> Comment:
        async with self.pool.acquire() as c:
            row = await c.fetchrow(
                "UPDATE comments SET hidden=TRUE, hidden_reason=$1, hidden_by=$2, hidden_at=$3"
                " WHERE id=$4 AND scenario=$5 RETURNING *",
                reason,
                by,
                time.time(),
                cid,
                scenario,
            )
        if row is None:
            raise HubInputError(404, "unknown_comment", f"no comment {cid} on {scenario}")
        return comment_from_row(row)

    async def comment_counts(self, scenarios: list[str]) -> dict[str, int]:
        out = dict.fromkeys(scenarios, 0)
        async with self.pool.acquire() as c:
            for row in await c.fetch(
                "SELECT scenario, COUNT(*) AS n FROM comments WHERE NOT hidden"
                " AND scenario = ANY($1::text[]) GROUP BY scenario",
                scenarios,
            ):
                out[row["scenario"]] = int(row["n"])
        return out

    async def vote(
        self, scenario: str, who: Participant, value: Literal[-1, 0, 1]
    ) -> tuple[VoteCounts, bool]:
        async with self.pool.acquire() as c, c.transaction():
            await c.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", scenario, who.id
            )
            before = await c.fetchval(
                "SELECT value FROM votes WHERE scenario=$1 AND participant=$2", scenario, who.id
            )
            if value == 0:
                await c.execute(
                    "DELETE FROM votes WHERE scenario=$1 AND participant=$2", scenario, who.id
                )
            else:
                await c.execute(
                    "INSERT INTO votes VALUES ($1,$2,$3,$4) ON CONFLICT (scenario, participant)"
                    " DO UPDATE SET value=EXCLUDED.value, updated=EXCLUDED.updated",
                    scenario,
                    who.id,
                    value,
                    time.time(),
                )
            counts = await self._counts(c, scenario, who.id)
        return counts, int(before or 0) != value

    async def _counts(self, c: Any, scenario: str, participant: str | None) -> VoteCounts:
        up = down = mine = 0
        for row in await c.fetch(
            "SELECT value, COUNT(*) AS n FROM votes WHERE scenario=$1 GROUP BY value", scenario
        ):
            if row["value"] == 1:
                up = int(row["n"])
            elif row["value"] == -1:
                down = int(row["n"])
        if participant is not None:
            got = await c.fetchval(
                "SELECT value FROM votes WHERE scenario=$1 AND participant=$2",
                scenario,
                participant,
            )
            mine = int(got or 0)
        return {"up": up, "down": down, "mine": mine}

    async def counts(self, scenario: str, participant: str | None = None) -> VoteCounts:
        async with self.pool.acquire() as c:
            return await self._counts(c, scenario, participant)

    async def stats(self) -> dict[str, Any]:
        async with self.pool.acquire() as c:
            return {
                table: int(await c.fetchval(f"SELECT COUNT(*) FROM {table}"))
                for table in ("participants", "comments", "votes")
            }
