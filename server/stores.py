"""The stores' interfaces, and opening the stores the configuration names.

:class:`ScenarioLog` is what the live hub, the routes and the recomputes need of a
scenario store; :class:`~greentwin.server.scenarios.ScenarioStore` (SQLite, the embedded
default) and :class:`~greentwin.server.pg_scenarios.PgScenarioStore` (PostgreSQL,
shared by several server processes) both satisfy it, so callers never branch on the
backend. :func:`scenario_store` picks one from ``database_url``. :class:`HubLog` and
:func:`hub_store` do the same for the hub's participants, comments and votes
(:class:`~greentwin.server.hub.HubStore`, :class:`~greentwin.server.pg_hub.PgHubStore`).

The contract both keep: an edit, undo or redo returns only once its transaction is
durable (the caller acknowledges then); a scenario's seqs are 1, 2, 3, ... with no gap
and no duplicate, whichever process appends; an idempotency key is answered with the
edit it first named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from greentwin.server.hub import Comment, HubStore, Participant, VoteCounts
from greentwin.server.ops import WORLD, EditOp, Extent, ScenarioState
from greentwin.server.protocol import ScenarioTime
from greentwin.server.scenarios import (
    BASELINE,
    Appended,
    EventRow,
    ScenarioInfo,
    ScenarioStore,
    Status,
    Titles,
)

__all__ = ["HubLog", "ScenarioLog", "hub_store", "scenario_store"]


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
