"""Make the live-test helpers (``gt_live``) importable from the test modules; the
``backend`` fixture runs a live test in one process (SQLite, in-process fan-out) and on
the scale-out engines (PostgreSQL + Redis)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(params=["in-process", "redis+postgresql"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Keyword arguments of ``gt_live.run_server``: none, or a database and a Redis."""
    if request.param == "in-process":
        return {}
    return {
        "database_url": str(request.getfixturevalue("pg_database")),
        "redis_url": str(request.getfixturevalue("redis_server")),
    }
