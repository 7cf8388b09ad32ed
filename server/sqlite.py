"""One way to open the server's SQLite databases (scenario store, hub store).

WAL journal, ``synchronous=FULL`` (a committed transaction survives a crash, which is
what an acknowledgement promises), foreign keys on, a bounded wait on a locked
database, rows as :class:`sqlite3.Row`, autocommit mode (transactions are explicit).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_database"]


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
