"""Fixtures of the planning-hub tests (helpers in ``gt_hub``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from greentwin.server.hub import HubSettings
from gt_hub import Client, ClientFactory, make_app


@pytest.fixture(params=["sqlite", "postgresql+redis"])
def services(request: pytest.FixtureRequest) -> dict[str, str]:
    """The hub on the embedded store, and on PostgreSQL with live updates through Redis."""
    if request.param == "sqlite":
        return {}
    return {
        "database_url": str(request.getfixturevalue("pg_database")),
        "redis_url": str(request.getfixturevalue("redis_server")),
    }


@pytest.fixture
def hub_client(aiohttp_client: Any, tmp_path: Path, services: dict[str, str]) -> ClientFactory:
    """Start the app on ``tmp_path/var`` (again on the same folder and database for
    restart tests), once per store backend."""

    async def make(settings: HubSettings | None = None, citygml: Path | None = None) -> Client:
        empty = tmp_path / "no-citygml"
        empty.mkdir(exist_ok=True)
        app = make_app(
            tmp_path / "var", settings=settings, citygml=citygml or empty, services=services
        )
        client: Client = await aiohttp_client(app)
        return client

    return make
