"""Engine-friendly layers: the baked (non-instanced) vegetation tileset beside the instanced one."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.store import TileStore
from greentwin.twin.demo import RECIPES, build_layer, build_vegetation_baked
from greentwin.twin.district import District, vegetation_layer
from greentwin.twin.recompute import fold_variants
from gt_testing import CITYGML, assert_valid_gltf

INSTANCING = "EXT_mesh_gpu_instancing"


def _glb_json(path: Path) -> dict[str, Any]:
    """The JSON chunk of a glb (glTF 2.0 section 4.4: 12-byte header, then chunks)."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    chunk_len, chunk_type = struct.unpack_from("<I4s", data, 12)
    assert chunk_type == b"JSON"
    doc: dict[str, Any] = json.loads(data[20 : 20 + chunk_len])
    return doc


def _uses_instancing(doc: dict[str, Any]) -> bool:
    used = set(doc.get("extensionsUsed", [])) | set(doc.get("extensionsRequired", []))
    on_nodes = any(INSTANCING in n.get("extensions", {}) for n in doc.get("nodes", []))
    return INSTANCING in used or on_nodes


@pytest.fixture(scope="module")
def district() -> District:
    return District.load_demo(CITYGML)


@pytest.mark.parametrize(
    "date", [dt.date(2023, 7, 8), dt.date(2023, 1, 8)], ids=["summer", "winter"]
)
def test_baked_vegetation_has_no_instancing_and_validates(
    district: District, date: dt.date, tmp_path: Path
) -> None:
    baked = vegetation_layer(district, date, tmp_path / "baked", instanced=False)
    inst = vegetation_layer(district, date, tmp_path / "inst", instanced=True)
    files = sorted((tmp_path / "baked").rglob("*.glb"))
    assert files and not any(_uses_instancing(_glb_json(f)) for f in files)
    # the instanced variant of the same date does use the extension: the check can fail
    assert any(_uses_instancing(_glb_json(f)) for f in (tmp_path / "inst").rglob("*.glb"))
    assert baked["trees"] == inst["trees"] == len(district.trees)
    assert_valid_gltf(files)


def test_demo_publishes_the_baked_layer() -> None:
    recipe = {r.layer: r for r in RECIPES}["vegetation_baked"]
    assert recipe.build is build_vegetation_baked
    assert recipe.inputs == {r.layer: r for r in RECIPES}["vegetation"].inputs


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    """The app over a store holding the demo's two vegetation layers (built by its recipes)."""
    config = Config(data_dir=tmp_path / "var", access_log=False)
    for recipe in RECIPES:
        if recipe.layer in ("vegetation", "vegetation_baked"):
            inputs = [CITYGML / name for name in recipe.inputs]
            build_layer(
                recipe.build, inputs, TileStore(config.data_dir), "baseline", recipe.layer, "test"
            )
    c: TestClient[Any, Any] = await aiohttp_client(create_app(config))
    return c


def test_fold_variants() -> None:
    layers: dict[str, Any] = {
        "vegetation": {"url": "/a/tileset.json", "version": 0, "kind": "3dtiles"},
        "vegetation_baked": {"url": "/b/tileset.json", "version": 0, "kind": "3dtiles"},
        "roads_baked": {"url": "/c.geojson", "version": 2, "kind": "geojson"},
    }
    before = json.dumps(layers, sort_keys=True)
    folded = fold_variants(layers)
    assert folded == {
        "vegetation": {
            "url": "/a/tileset.json",
            "version": 0,
            "kind": "3dtiles",
            "variants": {"baked": {"url": "/b/tileset.json", "version": 0}},
        },
        "roads_baked": {"url": "/c.geojson", "version": 2, "kind": "geojson"},  # no "roads"
    }
    assert json.dumps(layers, sort_keys=True) == before  # the input is left as it was


@pytest.mark.asyncio
async def test_api_layers_and_dates_serve_the_baked_variant(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    listed = await (await client.get("/api/layers")).json()
    assert "vegetation_baked" not in listed["layers"]  # a browser drawing every 3D Tiles layer
    entry = listed["layers"]["vegetation"]["variants"]["baked"]  # draws the trees once
    assert entry["url"].endswith("/vegetation_baked/tileset.json")
    tileset = await client.get(entry["url"])
    assert tileset.status == 200
    uris = [c["content"]["uri"] for c in _contents((await tileset.json())["root"])]
    assert uris
    for uri in uris:  # every content glb of the published layer: no instancing
        base = entry["url"].rsplit("/", 1)[0]
        body = await (await client.get(f"{base}/{uri}")).read()
        (tmp_path / "t.glb").write_bytes(body)
        assert not _uses_instancing(_glb_json(tmp_path / "t.glb"))

    for date in ("2030-01-03", "2030-07-03"):  # any date bucket, both variants
        baked = await (await client.get(f"/api/vegetation?date={date}&variant=baked")).json()
        inst = await (await client.get(f"/api/vegetation?date={date}")).json()
        assert baked["variant"] == "baked" and inst["variant"] == "instanced"
        assert baked["url"] != inst["url"] and baked["trees"] == inst["trees"]
        doc = await (await client.get(baked["url"])).json()
        uri = _contents(doc["root"])[0]["content"]["uri"]
        glb = await (await client.get(baked["url"].rsplit("/", 1)[0] + "/" + uri)).read()
        (tmp_path / "d.glb").write_bytes(glb)
        assert not _uses_instancing(_glb_json(tmp_path / "d.glb"))
    bad = await client.get("/api/vegetation?variant=sprites")
    assert bad.status == 400 and "variant" in (await bad.json())["error"]["message"]


def _contents(tile: dict[str, Any]) -> list[dict[str, Any]]:
    out = [tile] if "content" in tile else []
    for child in tile.get("children", []):
        out.extend(_contents(child))
    return out
