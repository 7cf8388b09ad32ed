"""A published proposal's indicators over the years, as the hub asks for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gt_hub import Client, make_app, publish_proposal
from gt_testing import CITYGML

pytestmark = [pytest.mark.asyncio, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_course_of_a_proposal_beside_the_baseline(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client: Client = await aiohttp_client(make_app(tmp_path / "var", citygml=CITYGML))
    await publish_proposal(client)
    # as a citizen (no token): the proposal is published, so readable
    r = await client.get("/api/course?scenario=green-street&offsets=0,20")
    assert r.status == 200, await r.text()
    body = await r.json()
    ours, base = body["course"]["series"], body["baseline"]["series"]
    # the proposal plants trees (and removes one): more carbon than the baseline in 20 years
    assert ours["carbon_t"]["values"][1] > base["carbon_t"]["values"][1]
    r = await client.get("/hub/")
    assert r.status == 200
    r = await client.get("/viewer/course-chart.js")  # the hub imports the shared chart
    assert r.status == 200
