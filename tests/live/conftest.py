"""Make the live-test helpers (``gt_live``) importable from the test modules; the
``backend`` fixture runs a live test in one process (SQLite, in-process fan-out) and on
the scale-out engines (PostgreSQL + Redis)."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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


@pytest_asyncio.fixture
async def recompute(tmp_path: Path) -> AsyncIterator[Any]:
    """(scenario store, tile store, DistrictRecompute) of the demo district under tmp_path."""
    from gt_testing import district_recompute

    async with district_recompute(tmp_path) as opened:
        yield opened
