"""The demo builder: built once off the event loop, cached by input and code hashes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from greentwin.server.store import TileStore
from greentwin.twin.demo import RECIPES, DemoBuilder, LayerRecipe, build_layer, cache_key
from gt_testing import CITYGML

pytestmark = pytest.mark.asyncio

CALLS: list[str] = []


def _copy_fixture(inputs: Sequence[Path], out_dir: Path) -> None:
    CALLS.append(inputs[0].name)
    shutil.copytree(inputs[0].parent, out_dir, dirs_exist_ok=True)


def _broken(inputs: Sequence[Path], out_dir: Path) -> None:
    raise RuntimeError("converter exploded")


async def test_builds_once_then_cached(tmp_path: Path, fixture_tileset: Path) -> None:
    CALLS.clear()
    store = TileStore(tmp_path / "var")
    recipe = LayerRecipe("buildings", (f"{fixture_tileset.name}/tileset.json",), _copy_fixture)
    first = DemoBuilder(store, fixture_tileset.parent, recipes=[recipe], isolate=False)
    first.start()
    status = await asyncio.wait_for(first.wait(), 30)
    assert status["state"] == "ready" and status["layers"] == {"buildings": "built"}
    version = store.layers("baseline")["buildings"].version
    second = DemoBuilder(store, fixture_tileset.parent, recipes=[recipe], isolate=False)
    second.start()
    status = await asyncio.wait_for(second.wait(), 30)
    assert status["layers"] == {"buildings": "cached"} and CALLS == ["tileset.json"]
    assert store.layers("baseline")["buildings"].version == version
    (fixture_tileset / "tileset.json").write_text('{"asset": {"version": "1.1"}, "x": 1}')
    assert cache_key(recipe, fixture_tileset.parent) != store.layers("baseline")["buildings"].source


async def test_failure_keeps_the_good_version_and_is_reported(
    tmp_path: Path, fixture_tileset: Path
) -> None:
    store = TileStore(tmp_path / "var")
    good = store.publish("baseline", "buildings", fixture_tileset, source="old")
    recipe = LayerRecipe("buildings", (f"{fixture_tileset.name}/tileset.json",), _broken)
    builder = DemoBuilder(store, fixture_tileset.parent, recipes=[recipe], isolate=False)
    builder.start()
    status = await asyncio.wait_for(builder.wait(), 30)
    assert status["state"] == "failed" and "converter exploded" in status["message"]
    assert store.layers("baseline")["buildings"].version == good
    assert not any((store.data_dir / "tmp").iterdir())


async def test_missing_module_leaves_the_layer_out(tmp_path: Path, fixture_tileset: Path) -> None:
    store = TileStore(tmp_path / "var")
    recipe = LayerRecipe(
        "x", (f"{fixture_tileset.name}/tileset.json",), _copy_fixture, requires=("nope.nothing",)
    )
    builder = DemoBuilder(store, fixture_tileset.parent, recipes=[recipe], isolate=False)
    builder.start()
    status = await asyncio.wait_for(builder.wait(), 30)
    assert status["layers"] == {"x": "unavailable"} and status["state"] == "failed"
    assert store.layers("baseline") == {}


@pytest.mark.slow
async def test_real_district_in_a_child_process(tmp_path: Path) -> None:
    """The bundled Berlin district, converted in a spawned process, then cached."""
    store = TileStore(tmp_path / "var")
    builder = DemoBuilder(store, CITYGML)
    builder.start()
    status = await asyncio.wait_for(builder.wait(), 240)
    expected = {r.layer: "built" for r in RECIPES if r.missing() is None}
    assert status["layers"] == expected, status
    published = {name for r in RECIPES if r.missing() is None for name in r.publishes or (r.layer,)}
    assert set(store.layers("baseline")) == published
    again = DemoBuilder(store, CITYGML)
    again.start()
    status = await asyncio.wait_for(again.wait(), 60)
    assert set(status["layers"].values()) == {"cached"}


async def test_stop_terminates_a_running_build(tmp_path: Path) -> None:
    store = TileStore(tmp_path / "var")
    builder = DemoBuilder(store, CITYGML, recipes=RECIPES[:1])
    builder.start()
    for _ in range(400):  # wait (bounded) until the child process runs
        if builder._job.process is not None:
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(builder.stop(), 30)
    assert builder._job.process is None or not builder._job.process.is_alive()
    assert store.layers("baseline") == {} or builder.state != "building"


async def test_build_layer_cleans_scratch(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        build_layer(_broken, [], TileStore(tmp_path), "baseline", "buildings", "k")
    assert list((tmp_path / "tmp").iterdir()) == []
