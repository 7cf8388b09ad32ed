"""The hub store's contract (participants, comments, votes) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from greentwin.server.hub import HubInputError
from greentwin.server.stores import HubLog, hub_store

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_database")) if request.param == "postgresql" else ""


@pytest_asyncio.fixture
async def store(url: str, tmp_path: Path) -> AsyncIterator[HubLog]:
    s = hub_store(tmp_path / "hub.sqlite", database_url=url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_participants_and_comments(store: HubLog) -> None:
    ana, token = await store.new_participant("Ana")
    assert await store.participant(token) == ana
    assert await store.participant("not-a-token") is None
    first, new = await store.add_comment("plan", ana, "More trees here", "key-00000001")
    assert new and (first.scenario, first.text, first.nickname) == (
        "plan",
        "More trees here",
        "Ana",
    )
    again, new = await store.add_comment("plan", ana, "More trees here", "key-00000001")
    assert (again, new) == (first, False)  # a replay returns the stored comment
    with pytest.raises(HubInputError) as err:
        await store.add_comment("plan", ana, "Something else", "key-00000001")
    assert err.value.status == 409
    assert await store.find_comment(ana, "key-00000001") == first
    second, _ = await store.add_comment("plan", ana, "And a bench", "key-00000002", verified=True)
    assert second.id > first.id and second.verified
    assert [c.id for c in await store.comments("plan")] == [first.id, second.id]
    assert [c.id for c in await store.comments("plan", after=first.id)] == [second.id]
    hidden = await store.hide_comment("plan", first.id, "off topic", "admin#1")
    assert hidden.hidden and hidden.hidden_reason == "off topic"
    with pytest.raises(HubInputError) as err:
        await store.hide_comment("other", second.id, "x", "admin#1")
    assert err.value.status == 404
    assert await store.comment_counts(["plan", "none"]) == {"plan": 1, "none": 0}
    assert await store.stats() == {"participants": 1, "comments": 2, "votes": 0}


async def test_votes_are_one_per_participant(store: HubLog) -> None:
    people = [(await store.new_participant(f"p{i}"))[0] for i in range(3)]
    counts, changed = await store.vote("plan", people[0], 1)
    assert (counts, changed) == ({"up": 1, "down": 0, "mine": 1}, True)
    counts, changed = await store.vote("plan", people[0], 1)  # a replay
    assert (counts["up"], changed) == (1, False)
    results = await asyncio.gather(*(store.vote("plan", p, -1) for p in people))
    assert [changed for _, changed in results] == [True, True, True]
    assert await store.counts("plan", people[1].id) == {"up": 0, "down": 3, "mine": -1}
    counts, changed = await store.vote("plan", people[2], 0)
    assert (counts, changed) == ({"up": 0, "down": 2, "mine": 0}, True)
    assert await store.counts("plan") == {"up": 0, "down": 2, "mine": 0}
