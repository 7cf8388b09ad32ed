"""One way to open the server's PostgreSQL databases and migrate their schemas.

asyncpg is imported here only, lazily (the ``scale`` extra). Schemas are versioned per
component (``scenarios``, ``hub``): :func:`migrate` applies, in one transaction each, the
numbered steps a database has not seen and records the version in
``greentwin_schema``; a transaction-scoped advisory lock keeps two processes that
start together from applying the same step twice. Steps are never edited once
released: a change is a new step.

Durability: PostgreSQL's default ``synchronous_commit = on`` flushes the commit record
to disk before ``COMMIT`` returns, what an acknowledgement promises. Writes of derived
data (rebuilt from the log if lost) run with ``SET LOCAL synchronous_commit = off``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from greentwin.core import ScenarioError

__all__ = ["MIGRATION_LOCK", "PooledStore", "create_pool", "migrate"]

log = logging.getLogger(__name__)

#: Advisory lock key held while migrating (any constant shared by every process).
MIGRATION_LOCK = 0x6772_6E74_7769_6E  # "grntwin"


async def create_pool(url: str, *, max_size: int = 8) -> Any:
    """An asyncpg pool on ``url`` (``postgresql://user@host:port/db``)."""
    try:
        import asyncpg
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ScenarioError(
            "database_url is set but asyncpg is missing: pip install 'greentwin[scale]'"
        ) from exc
    try:
        return await asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=30)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ScenarioError(f"cannot connect to the database at database_url: {exc}") from exc


class PooledStore:
    """A store holding an asyncpg pool between ``open`` and :meth:`close`."""

    #: What the store is called in the error for use before ``open``.
    what = "store"

    def __init__(self) -> None:
        self._pool: Any = None

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise ScenarioError(f"the {self.what} is not open: call `await store.open()`")
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def migrate(pool: Any, component: str, steps: Sequence[str]) -> int:
    """Bring ``component``'s schema to version ``len(steps)``; returns that version.

    ``steps[i]`` is the SQL of version ``i + 1``.
    """
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS greentwin_schema"
                " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        for version, sql in enumerate(steps, start=1):
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                have = await conn.fetchval(
                    "SELECT version FROM greentwin_schema WHERE component=$1", component
                )
                if have is not None and have >= version:
                    continue
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO greentwin_schema VALUES ($1, $2) ON CONFLICT (component)"
                    " DO UPDATE SET version=EXCLUDED.version",
                    component,
                    version,
                )
                log.info("database schema %s: migrated to version %d", component, version)
    return len(steps)
