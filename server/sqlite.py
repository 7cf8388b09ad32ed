"""One way to open and serve the server's SQLite databases (scenario store, hub store).

WAL journal, ``synchronous=FULL`` (a committed transaction survives a crash, which is
what an acknowledgement promises), foreign keys on, a bounded wait on a locked
database, rows as :class:`sqlite3.Row`, autocommit mode (transactions are explicit).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from greentwin.core import ScenarioError

__all__ = ["SqliteWorker", "open_database"]

log = logging.getLogger(__name__)


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """Open (or create) the database at ``path`` and apply ``schema`` (idempotent DDL).

    The connection may be used from one worker thread other than its creator's
    (``check_same_thread=False``); callers serialise access on that thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db


P = ParamSpec("P")
T = TypeVar("T")


class SqliteWorker:
    """A SQLite database served by one worker thread (the stores build on it).

    Every statement runs on that thread (``await self._run(fn, ...)``), so the event loop
    never waits on the disk and the connection is used from one thread only.
    ``await open()`` opens the database and calls :meth:`_opened` on the worker thread
    (subclasses read or seed their rows there); ``await close()`` closes it and stops
    the thread.
    """

    def __init__(self, path: Path | str, schema: str, what: str) -> None:
        self.path = Path(path)
        self._schema = schema
        self._what = what
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=what.replace(" ", "-"))
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise ScenarioError(f"the {self._what} is not open: call `await store.open()`")
        return self._db

    async def open(self) -> None:
        """Open (or create) the database."""
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        self._db = open_database(self.path, self._schema)
        self._opened(self._db)

    def _opened(self, db: sqlite3.Connection) -> None:
        """Called on the worker thread once the database is open."""
        log.info("%s %s open", self._what, self.path.name)

    async def close(self) -> None:
        """Close the database and stop the worker thread."""
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._pool.shutdown(wait=True)
