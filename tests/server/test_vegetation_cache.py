"""The per-scenario vegetation tileset cache is bounded: least recently used out first."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.folder_lru import FolderLru


def _folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_least_recently_used_folders_go_first(tmp_path: Path) -> None:
    for i, name in enumerate(("old", "mid", "new", ".build-x")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "tileset.json").write_text("{}")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    lru = FolderLru(tmp_path, size=3)
    assert lru.keys() == ["old", "mid", "new"]  # from the modification times; dot folders aside
    assert lru.use("old") == []  # now the most recent
    (tmp_path / "fresh").mkdir()
    assert lru.use("fresh") == ["mid"]
    assert _folders(tmp_path) == [".build-x", "fresh", "new", "old"]
    assert lru.use("again") == ["new"]  # a name not on disk (yet) counts too
    assert lru.keys() == ["old", "fresh", "again"]
    assert FolderLru(tmp_path, size=1).use("old") == ["fresh"]  # a restart keeps the bound
    assert _folders(tmp_path) == [".build-x", "old"]
    with pytest.raises(ValueError):
        FolderLru(tmp_path, size=0)


@pytest.mark.asyncio
async def test_vegetation_requests_evict_beyond_the_configured_size(
    aiohttp_client: Callable[[Any], Any], make_config: Callable[..., Config]
) -> None:
    config = make_config(vegetation_cache_size=2)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(config))
    root = config.data_dir / "vegetation" / "baseline"
    urls = {}
    for date in ("2030-01-03", "2030-04-03", "2030-07-03"):  # three half-month buckets
        resp = await client.get(f"/api/vegetation?date={date}")
        assert resp.status == 200, await resp.text()
        urls[date] = (await resp.json())["url"]
        assert len([n for n in _folders(root) if not n.startswith(".")]) <= 2
    assert len(set(urls.values())) == 3
    assert (await client.get(urls["2030-01-03"])).status == 404  # evicted
    assert (await client.get(urls["2030-07-03"])).status == 200
    again = await client.get("/api/vegetation?date=2030-01-10")  # built again on request
    assert (await again.json())["url"] == urls["2030-01-03"]
    assert (await client.get(urls["2030-01-03"])).status == 200
    assert (await client.get(urls["2030-04-03"])).status == 404  # the least recent now
