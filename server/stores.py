"""Opening the stores the configuration names, and the hub store's interface.

:func:`scenario_store` opens the scenario store (the
:class:`~greentwin.twin.scenarios.ScenarioLog` interface): PostgreSQL at ``database_url``
(:class:`~greentwin.server.pg_scenarios.PgScenarioStore`, shared by several server
processes), else SQLite (:class:`~greentwin.server.sqlite_scenarios.ScenarioStore`, the
embedded default), so callers never branch on the backend. :class:`HubLog` and
:func:`hub_store` do the same for the hub's participants, comments and votes
(:class:`~greentwin.server.hub.HubStore`, :class:`~greentwin.server.pg_hub.PgHubStore`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from greentwin.server.hub import Comment, HubStore, Participant, VoteCounts
from greentwin.server.sqlite_scenarios import ScenarioStore
from greentwin.twin.ops import WORLD, Extent
from greentwin.twin.scenarios import ScenarioLog

__all__ = ["HubLog", "ScenarioLog", "hub_store", "scenario_store"]


def scenario_store(
    sqlite_path: Path | str, *, database_url: str = "", extent: Extent = WORLD
) -> ScenarioLog:
    """The scenario store to open: PostgreSQL at ``database_url`` if given, else SQLite.

    asyncpg is imported only when ``database_url`` is set (the ``scale`` extra).
    """
    if database_url:
        from greentwin.server.pg_scenarios import PgScenarioStore

        return PgScenarioStore(database_url, extent=extent)
    return ScenarioStore(sqlite_path, extent=extent)


class HubLog(Protocol):
    """The hub's participants, comments and votes."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def new_participant(self, nickname: str) -> tuple[Participant, str]: ...

    async def participant(self, token: str) -> Participant | None: ...

    async def add_comment(
        self, scenario: str, who: Participant, text: str, client_key: str, *, verified: bool = False
    ) -> tuple[Comment, bool]: ...

    async def find_comment(self, who: Participant, client_key: str) -> Comment | None: ...

    async def comments(
        self, scenario: str, *, after: int = 0, limit: int = 200
    ) -> list[Comment]: ...

    async def hide_comment(self, scenario: str, cid: int, reason: str, by: str) -> Comment: ...

    async def comment_counts(self, scenarios: list[str]) -> dict[str, int]: ...

    async def vote(
        self, scenario: str, who: Participant, value: Literal[-1, 0, 1]
    ) -> tuple[VoteCounts, bool]: ...

    async def counts(self, scenario: str, participant: str | None = None) -> VoteCounts: ...

    async def stats(self) -> dict[str, Any]: ...


def hub_store(sqlite_path: Path | str, *, database_url: str = "") -> HubLog:
    """The hub store to open: PostgreSQL at ``database_url`` if given, else SQLite."""
    if database_url:
        from greentwin.server.pg_hub import PgHubStore

        return PgHubStore(database_url)
    return HubStore(sqlite_path)
