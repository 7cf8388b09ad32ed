"""The hub's collector schedule (``LiveHub.steady_gc``): long-lived objects are frozen
so automatic collections skip them, and closed connections' cycles are still reclaimed
by a full collection (after enough closes, or after ``gc_full_s``)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from gt_live import run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def _full_collections() -> tuple[list[float], Any]:
    seen: list[float] = []

    def cb(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(asyncio.get_running_loop().time())

    gc.callbacks.append(cb)
    return seen, cb


async def test_objects_are_frozen_and_thawed_when_the_hub_stops(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    async with run_server(tmp_path / "s.db", gc_freeze_s=0.1) as srv:
        c = await srv.connect()
        await c.hello("tok-planner")
        await asyncio.sleep(0.5)
        assert gc.get_freeze_count() > 0  # the session's objects among them
        assert srv.hub.sessions
        await c.close()
    assert gc.get_freeze_count() == 0


async def test_closed_sessions_bring_a_full_collection(tmp_path: Path) -> None:
    seen, cb = _full_collections()
    try:
        async with run_server(tmp_path / "s.db", gc_freeze_s=0.1, gc_full_s=3600) as srv:
            await asyncio.sleep(0.5)
            quiet = len(seen)  # a full pass before any freeze is Python's own
            await asyncio.sleep(0.5)
            assert len(seen) == quiet, "frozen: no full collection without closes"
            for _ in range(3):  # real closes are counted
                c = await srv.connect()
                await c.hello("tok-planner")
                await c.close()
            for _ in range(50):
                if srv.hub.closed_sessions == 3:
                    break
                await asyncio.sleep(0.05)
            assert srv.hub.closed_sessions == 3
            srv.hub.closed_sessions += 97  # as if 100 connections had closed
            await asyncio.sleep(0.5)
            assert len(seen) > quiet
            assert gc.get_freeze_count() > 0  # frozen again after the full pass
    finally:
        gc.callbacks.remove(cb)


async def test_a_full_collection_at_least_every_gc_full_s(tmp_path: Path) -> None:
    seen, cb = _full_collections()
    try:
        async with run_server(tmp_path / "s.db", gc_freeze_s=0.1, gc_full_s=0.3):
            await asyncio.sleep(0.2)
            start = len(seen)
            await asyncio.sleep(1.0)
            assert len(seen) >= start + 2
    finally:
        gc.callbacks.remove(cb)


async def test_off_with_zero(tmp_path: Path) -> None:
    async with run_server(tmp_path / "s.db", gc_freeze_s=0):
        await asyncio.sleep(0.3)
        assert gc.get_freeze_count() == 0
