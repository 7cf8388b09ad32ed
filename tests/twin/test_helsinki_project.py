"""The bundled Helsinki project builds (a small extent of it, to keep the test short):
buildings, trees, roads with traffic, noise and air overlays; a second build is cached;
a bad manifest is one error line and publishes nothing."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from greentwin.server.store import TileStore
from greentwin.twin import ManifestError
from greentwin.twin.district import District
from greentwin.twin.project import build_project
from gt_testing import district_recompute, published_values

REPO = Path(__file__).resolve().parents[2]
HELSINKI = REPO / "data" / "projects" / "helsinki"

#: Kaivokatu by the railway station (its count point at 24.9410 E, 60.1704 N): about
#: 220 m x 240 m.
SMALL_EXTENT = "[24.9395, 60.1690, 24.9435, 60.1712]"


def _small_project(folder: Path) -> Path:
    for name in ("helsinki_centre.osm.pbf", "helsinki_aadt_2023.geojson"):
        shutil.copy(HELSINKI / name, folder / name)
    text = (HELSINKI / "project.toml").read_text(encoding="utf-8")
    text = re.sub(r"extent = \[[^\]]*\]", f"extent = {SMALL_EXTENT}", text)
    text = text.replace("margin_m = 60.0", "margin_m = 30.0")
    path = folder / "project.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """The small Helsinki project, built once for this module: (manifest, data, progress)."""
    folder = tmp_path_factory.mktemp("helsinki")
    manifest = _small_project(folder)
    lines: list[str] = []
    build_project(manifest, TileStore(folder / "var"), progress=lines.append)
    return manifest, folder / "var", lines


def test_helsinki_builds_every_layer_and_is_cached(built: tuple[Path, Path, list[str]]) -> None:
    manifest, data, lines = built
    layers = TileStore(data).layers("baseline")
    for name in ("buildings", "vegetation", "vegetation_baked", "noise_lden", "no2", "pm10"):
        assert name in layers, (name, lines)
    # the city tiles hold the OSM blocks
    tilesets = [p for p in data.rglob("tileset.json") if layers["buildings"].version in str(p)]
    assert tilesets and "root" in json.loads(tilesets[0].read_text(encoding="utf-8"))
    district = District.load_demo(manifest)  # the server's District, from the manifest
    assert len(district.footprints) > 10
    assert len(district.trees) > 5
    assert district.roads.roads and all(r.flows.sum() > 0 for r in district.roads.roads)
    assert any(r.extra.get("traffic_source") == "count" for r in district.roads.roads)
    meta_dir = next(p for p in data.rglob("noise_lden") if (p / "values.npy").exists())
    values = np.load(meta_dir / "values.npy")
    assert np.nanmax(values) > 55.0  # a counted street with ~7,000 vehicles/day is loud
    assert any("[4/4] overlays: built" in line for line in lines)
    again: list[str] = []
    build_project(manifest, TileStore(data), progress=again.append)
    assert sum("up to date" in line for line in again) == 4, again


def test_bad_manifest_publishes_nothing(tmp_path: Path) -> None:
    manifest = _small_project(tmp_path)
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace('osm = "helsinki', 'osm = "missing'),
        encoding="utf-8",
    )
    data = tmp_path / "var"
    with pytest.raises(ManifestError, match=r"buildings\.osm: file 'missing_centre\.osm\.pbf'"):
        build_project(manifest, TileStore(data), progress=lambda _line: None)
    assert not data.exists() or TileStore(data).layers("baseline") == {}


def test_cli_reports_a_bad_manifest_in_one_line(tmp_path: Path) -> None:
    manifest = _small_project(tmp_path)
    manifest.write_text(manifest.read_text(encoding="utf-8") + "\nspeed = 3\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "greentwin.cli", "build", str(manifest), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert "project.toml: roads.traffic.speed: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.asyncio
async def test_serve_project_finds_its_layers_and_district(
    built: tuple[Path, Path, list[str]], aiohttp_client: Any
) -> None:
    """``greentwin serve PROJECT.toml``: the app's builder finds every layer cached, the
    layers API lists city, vegetation and overlays, and the live district is the project's."""
    from greentwin.server.app import create_app
    from greentwin.server.config import Config

    manifest, data, _ = built
    config = Config(data_dir=data, demo=True, demo_inputs=manifest, demo_example=False)
    client = await aiohttp_client(create_app(config))
    health: dict[str, Any] = {}
    for _ in range(100):  # bounded: 20 s
        health = await (await client.get("/api/health")).json()
        if health["demo"]["state"] != "building":
            break
        await asyncio.sleep(0.2)
    assert health["demo"]["state"] == "ready", health
    assert set(health["demo"]["layers"].values()) == {"cached"}, health
    listing = await (await client.get("/api/layers")).json()
    for name in ("buildings", "vegetation", "noise_lden", "no2"):
        assert name in listing["layers"], listing


@pytest.mark.asyncio
@pytest.mark.timeout(240)
async def test_live_edit_on_the_project_recomputes_its_overlays(
    built: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    """A scenario of the project: more traffic on counted Kaivokatu -> louder next to it."""
    from greentwin.twin.district import values_at
    from greentwin.twin.ops import parse_op

    manifest, _, _ = built
    async with district_recompute(tmp_path, manifest) as (store, tiles, rc):
        sid = (await store.create("Busier Kaivokatu", author="test")).id
        base = await asyncio.to_thread(rc.base)
        road = next(
            r for r in base.district.roads.roads if r.extra.get("traffic_source") == "count"
        )
        day = {"light": float(road.flows[0, 0]) * 4, "heavy": float(road.flows[0, 2]) * 4}
        op = {"op": "set_road_traffic", "id": road.id, "flows": {"day": day}}
        appended = await store.append(sid, parse_op(op), author="test")
        res = await rc.apply(sid, appended.seq, appended.ops, appended.state)
        _, lden = published_values(tiles, sid, res["layers"]["noise_lden"], "noise_lden")
        mid = road.coords[len(road.coords) // 2]
        x, y = float(mid[0]), float(mid[1]) + 8.0
        grid = base.overlays.grid
        before = values_at(base.overlays.values, grid, x, y)["noise_lden"]
        after = values_at({"noise_lden": lden}, grid, x, y)["noise_lden"]
        assert before is not None and after is not None
        # x4 day flow: +6 dB by day (10 lg 4); over L_den, with evening and night and the
        # other streets unchanged, less: at least 10 lg(1 + 3 f) for the road's day share f
        # of the level there; f > 0.1 gives more than 1.1 dB
        assert after > before + 1.1
        # the scenario's CityGML export holds the project's (OSM) buildings
        from greentwin.twin.exports import _write_citygml

        view = await rc.view(sid)
        gml = await asyncio.to_thread(
            _write_citygml, view, appended.state, base.district.survey_date, "2.0"
        )
        assert gml.count(b"<bldg:Building ") == len(base.district.footprints)
        await store.close()
