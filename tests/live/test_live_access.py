"""Drafts over the live channel: what a session without a planner role may learn of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gt_live import Checked, plant, run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def _same(a: dict[str, Any], b: dict[str, Any], sid: str, other: str) -> bool:
    """The two answers are identical once the scenario ids are swapped."""
    return {k: (str(v).replace(sid, other)) for k, v in a.items()} == {
        k: str(v) for k, v in b.items()
    }


async def _answers(c: Checked, kind: str, sid: str, other: str) -> None:
    await c.send({"type": kind, "scenario": sid, "ref": "r"})
    hidden = await c.recv()
    await c.send({"type": kind, "scenario": other, "ref": "r"})
    missing = await c.recv()
    assert hidden["type"] == "error" and hidden["code"] == "unknown_scenario", hidden
    assert "seq" not in hidden and _same(hidden, missing, sid, other), (hidden, missing)


async def test_a_draft_is_answered_as_a_missing_scenario(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        info = await srv.hub.store.create("secret plan", author="planner", sid="draft-q")
        await srv.hub.apply_edit(info.id, plant(), role="planner", author="planner")
        for token in (None, "tok-citizen"):
            c = await srv.connect()
            await c.hello(token)
            for kind in ("unsubscribe", "subscribe"):
                await _answers(c, kind, "draft-q", "nosuch-q")
            await c.close()
        planner = await srv.connect()
        await planner.hello("tok-planner")
        await planner.send({"type": "unsubscribe", "scenario": "draft-q"})
        assert (await planner.expect("unsubscribed"))["seq"] == 1


async def test_hello_with_a_lower_role_drops_draft_subscriptions(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        info = await srv.hub.store.create("secret plan", author="planner")
        c = await srv.connect()
        await c.hello("tok-planner")
        await c.send({"type": "subscribe", "scenario": info.id})
        assert (await c.expect("snapshot"))["scenario"] == info.id
        await c.send({"type": "subscribe", "scenario": "baseline"})
        await c.expect("snapshot")
        await c.hello()  # again, without a token: a viewer now
        assert srv.hub.subscribers.get(info.id) is None
        editor = await srv.connect()
        await editor.hello("tok-planner")
        await editor.send({"type": "edit", "ref": "e", "scenario": info.id, "op": plant()})
        assert (await editor.expect("ack"))["seq"] == 1
        await c.send({"type": "ping", "ref": "p"})
        # nothing of the draft arrives before the pong (an update would come first)
        assert (await c.expect("pong"))["ref"] == "p"
        await c.send({"type": "unsubscribe", "scenario": info.id, "ref": "u"})
        err = await c.expect("error")
        assert err["code"] == "unknown_scenario" and "seq" not in err
        assert len(srv.hub.subscribers["baseline"]) == 1  # the public one stays
