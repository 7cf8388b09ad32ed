"""Scenario exports over HTTP: CityGML with vegetation, GeoTIFF maps, indicator summary."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pyproj
import pytest
import pytest_asyncio
import tifffile
from aiohttp import web
from greentwin.citygml.reader import CityGMLReader
from greentwin.server.live import HUB_KEY, setup_live
from greentwin.server.store import TileStore
from greentwin.server.ws import LiveConfig
from greentwin.twin.district import District
from greentwin.twin.ops import Extent
from greentwin.twin.recompute_district import DistrictRecompute
from gt_live import run_server
from gt_testing import CITYGML, assert_valid_gltf
from lxml import etree
from rasterio.io import MemoryFile

pytestmark = [pytest.mark.timeout(300)]

PLANNER = {"Authorization": "Bearer tok-planner"}
#: A Building with three BuildingParts in the demo district.
PARTED = "DEBE11YYI00006s3"


class Server:
    def __init__(self, base: str, district: District, rc: DistrictRecompute) -> None:
        self.base = base
        self.district = district
        self.rc = rc

    def lonlat(self, x: float, y: float) -> list[float]:
        lon, lat = self.district.to_lonlat(x, y)
        return [round(float(lon), 8), round(float(lat), 8)]

    def ring(self, x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
        return [self.lonlat(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    district = District.load_demo(CITYGML)
    tiles = TileStore(tmp_path / "var")
    tiles.ensure()
    made: list[DistrictRecompute] = []

    def recompute(store: Any) -> DistrictRecompute:
        made.append(DistrictRecompute(store, tiles, CITYGML))
        return made[0]

    w, s, e, n = district.bounds_lonlat()
    config = LiveConfig(tokens={"tok-planner": "planner"}, extent=Extent.bbox(w, s, e, n))
    app = web.Application()
    setup_live(app, store_path=tmp_path / "s.sqlite", live_config=config, recompute=recompute)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        assert runner.app[HUB_KEY] is not None
        yield Server(f"http://127.0.0.1:{port}", district, made[0])
    finally:
        await runner.cleanup()
        for rc in made:
            rc.close()


async def _create(http: aiohttp.ClientSession, srv: Server, name: str) -> str:
    async with http.post(f"{srv.base}/api/scenarios", json={"name": name}, headers=PLANNER) as r:
        assert r.status == 201, await r.text()
        sid: str = (await r.json())["id"]
    return sid


async def _edit(http: aiohttp.ClientSession, srv: Server, sid: str, op: dict[str, Any]) -> None:
    url = f"{srv.base}/api/scenarios/{sid}/edits"
    async with http.post(url, json={"op": op}, headers=PLANNER) as r:
        assert r.status == 200, await r.text()


async def _export(
    http: aiohttp.ClientSession, srv: Server, sid: str, **query: str
) -> tuple[int, bytes, Any]:
    url = f"{srv.base}/api/scenarios/{sid}/export"
    async with http.get(url, params=query, headers=PLANNER) as r:
        return r.status, await r.read(), r.headers


def _tiff(data: bytes) -> tuple[np.ndarray, dict[str, Any], Any]:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.is_geotiff
        page = tif.pages[0]
        return page.asarray(), dict(tif.geotiff_metadata or {}), page


@pytest.mark.asyncio
async def test_exports_follow_the_scenario(server: Server, tmp_path: Path) -> None:
    srv = server
    async with aiohttp.ClientSession() as http:
        untouched = await _create(http, srv, "Untouched")
        sid = await _create(http, srv, "Calmer main street")
        # the main street closed, a residential block, a barrier, one building gone,
        # five new trees and a meadow
        await _edit(http, srv, sid, {"op": "close_road", "id": "main-ew"})
        block = srv.ring(396770.0, 5819490.0, 396790.0, 5819505.0)
        await _edit(
            http,
            srv,
            sid,
            {
                "op": "add_building",
                "id": "new-block",
                "footprint": block,
                "height_m": 15.0,
                "use": "residential",
                "storeys": 5,
            },
        )
        line = [srv.lonlat(396850.0, 5819470.0), srv.lonlat(396950.0, 5819470.0)]
        await _edit(
            http, srv, sid, {"op": "add_barrier", "id": "wall-1", "line": line, "height_m": 4.0}
        )
        await _edit(http, srv, sid, {"op": "remove_building", "id": PARTED})
        for k in range(5):
            pos = srv.lonlat(396760.0 + 6.0 * k, 5819470.0)
            await _edit(
                http,
                srv,
                sid,
                {
                    "op": "plant_tree",
                    "id": f"new-tree-{k}",
                    "species": "acer-platanoides",
                    "position": pos,
                    "nursery_size_cm": 18,
                },
            )
        meadow = srv.ring(396700.0, 5819440.0, 396740.0, 5819460.0)
        await _edit(
            http,
            srv,
            sid,
            {"op": "set_green_area", "id": "meadow-1", "polygon": meadow, "cover": "meadow"},
        )

        # ---- summary: the untouched scenario equals the baseline
        status, body, _ = await _export(http, srv, untouched, format="summary")
        assert status == 200, body
        same = json.loads(body)
        assert same["buildings"]["count"]["change"] == 0
        for band in ("lden", "lnight"):
            assert not any(same["noise"][band]["dwellings"]["change"])
            assert not any(same["noise"][band]["buildings"]["change"])
        assert all(t["change"] == 0 for t in same["green"]["2023-07-01"].values())

        status, body, headers = await _export(http, srv, sid, format="summary", years="0,30")
        assert status == 200, body
        assert "attachment" in headers["Content-Disposition"]
        doc = json.loads(body)
        base = same  # the baseline block of any scenario is the same
        assert doc["buildings"]["count"]["baseline"] == base["buildings"]["count"]["scenario"]
        assert doc["buildings"]["count"]["change"] == 0  # one block in, one building out
        per = {b["id"]: b for b in doc["per_building"]}
        assert "new-block" in per and PARTED not in per
        # 20 x 15 m x 5 storeys x 0.75 / 73 m2 = 15.4 -> 15 dwellings
        assert per["new-block"]["dwellings"] == 15
        removed_dw = next(b for b in base["per_building"] if b["id"] == PARTED)["dwellings"]
        assert doc["buildings"]["dwellings"]["change"] == 15 - removed_dw
        lden = doc["noise"]["lden"]
        assert lden["classes"] == ["<55", "55-59", "60-64", "65-69", "70-74", ">=75"]
        n_buildings = doc["buildings"]["count"]["scenario"]
        assert sum(lden["buildings"]["scenario"]) + lden["unassessed_buildings"]["scenario"] == (
            n_buildings
        )
        assert sum(lden["dwellings"]["scenario"]) == doc["buildings"]["dwellings"]["scenario"]
        # closing the main street moves dwellings out of the loudest classes
        assert sum(lden["dwellings"]["scenario"][4:]) < sum(lden["dwellings"]["baseline"][4:])
        assert doc["air"]["no2"]["mean"]["change"] < 0
        assert doc["air"]["no2"]["dwelling_weighted_mean"]["change"] < 0
        assert set(doc["green"]) == {"2023-07-01", "2053-07-01"}
        now, later = doc["green"]["2023-07-01"], doc["green"]["2053-07-01"]
        assert now["trees"]["change"] == 5
        assert now["plant_cover_m2"]["change"] == pytest.approx(800.0, rel=0.02)
        assert later["carbon_kg"]["change"] > now["carbon_kg"]["change"] > 0
        assert later["canopy_cover_m2"]["change"] > 0
        # the per-building levels are the facade maxima of the published scenario maps
        view = await srv.rc.view(sid)
        assert np.nanmax(view.values["noise_lden"]) >= max(
            b["levels"]["noise_lden"] for b in doc["per_building"] if b["levels"]["noise_lden"]
        )

        # ---- the same as CSV
        status, body, headers = await _export(http, srv, sid, format="summary_csv", years="0,30")
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        got = {(r["section"], r["indicator"], r["class_or_date"]): r for r in rows}
        row = got[("noise_lden", "dwellings", ">=75")]
        assert int(row["scenario"]) == lden["dwellings"]["scenario"][5]
        assert float(got[("no2", "mean", "")]["change"]) == doc["air"]["no2"]["mean"]["change"]

        # ---- CityGML 2.0 and 3.0 with the vegetation
        for version in ("2.0", "3.0"):
            status, body, _ = await _export(http, srv, sid, format="citygml", version=version)
            assert status == 200, body
            path = tmp_path / f"city{version}.gml"
            path.write_bytes(body)
            reader = CityGMLReader(path)
            assert reader.version == version
            feats = list(reader.features())
            by_cls: dict[str, list[Any]] = {}
            for f in feats:
                by_cls.setdefault(f.cls, []).append(f)
            ids = {f.id for f in by_cls["Building"]}
            assert "new-block" in ids and PARTED not in ids
            assert len(ids) == doc["buildings"]["count"]["scenario"]
            new = next(f for f in by_cls["Building"] if f.id == "new-block")
            kinds = {p.surface_type for p in new.lods[2]}
            assert kinds == {"GroundSurface", "WallSurface", "RoofSurface"}
            z = np.concatenate([p.exterior[:, 2] for p in new.lods[2]])
            assert float(z.max() - z.min()) == pytest.approx(15.0)
            trees = {f.id for f in by_cls["SolitaryVegetationObject"]}
            assert {f"new-tree-{k}" for k in range(5)} <= trees
            assert len(trees) == now["trees"]["scenario"]
            assert [f.id for f in by_cls["PlantCover"]] == ["meadow-1"]
            root = etree.parse(str(path)).getroot()
            furniture = [el for el in root.iter() if etree.QName(el).localname == "CityFurniture"]
            assert len(furniture) == 1
            gml_id = "{" + root.nsmap["gml"] + "}id"
            assert furniture[0].get(gml_id) == "wall-1"

        # the export converts to 3D Tiles: the new block is real geometry
        from greentwin.tiles.convert import convert

        out = tmp_path / "tiles"
        summary = await asyncio.to_thread(convert, [tmp_path / "city2.0.gml"], out)
        # the buildings and the trees (library objects urn:greentwin:plant:*, drawn with
        # their plant mesh) at LoD2; the meadow and the barrier (LoD1)
        n_trees = now["trees"]["scenario"]
        assert summary.lods_used == {2: doc["buildings"]["count"]["scenario"] + n_trees, 1: 2}
        assert not [s for s in summary.skipped if "geometry" in s.reason]
        assert_valid_gltf(sorted(out.rglob("*.glb")))

        # ---- GeoTIFF maps
        status, body, _ = await _export(http, srv, sid, format="geotiff")
        assert status == 200, body
        files = zipfile.ZipFile(io.BytesIO(body))
        names = set(files.namelist())
        for name in ("noise_lden", "noise_lnight", "no2", "pm10"):
            assert {f"{name}.tif", f"diff_{name}.tif"} <= names
        index = json.loads(files.read("overlays.json"))
        assert index["crs"] == "EPSG:25833"
        grid = srv.district.grid
        data, geo, page = _tiff(files.read("noise_lden.tif"))
        assert data.dtype == np.float32 and data.shape == (grid.ny, grid.nx)
        assert geo["ProjectedCSTypeGeoKey"] == 25833
        assert geo["ModelPixelScale"][:2] == [grid.cell, grid.cell]
        assert geo["ModelTiepoint"][3:5] == [grid.x0, grid.y0 + grid.ny * grid.cell]
        assert page.tags[42113].value == "nan"
        expected = view.values["noise_lden"][::-1].astype(np.float32)
        np.testing.assert_array_equal(data, expected)  # north up, NaN where NaN
        with MemoryFile(files.read("noise_lden.tif")) as mem, mem.open() as src:  # GDAL reads it
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert pyproj.CRS.from_wkt(src.crs.to_wkt()).equals(pyproj.CRS(srv.district.crs))
            top = grid.y0 + grid.ny * grid.cell
            assert tuple(src.transform)[:6] == (grid.cell, 0.0, grid.x0, 0.0, -grid.cell, top)
            assert np.isnan(src.nodata)
            np.testing.assert_array_equal(src.read(1), expected)
        diff, _, _ = _tiff(files.read("diff_no2.tif"))
        want = (view.values["no2"] - view.baseline_values["no2"])[::-1].astype(np.float32)
        np.testing.assert_allclose(diff, want, atol=1e-4, equal_nan=True)
        assert np.nanmin(diff) < 0  # the closed street

        status, body, headers = await _export(
            http, srv, sid, format="geotiff", indicator="diff_noise_lden"
        )
        assert status == 200 and headers["Content-Type"] == "image/tiff"
        one, _, _ = _tiff(body)
        assert np.nanmin(one) < -3.0  # several dB quieter by the closed street

        # ---- everything in one archive
        status, body, _ = await _export(http, srv, sid, format="zip")
        assert status == 200
        names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
        assert {
            "scenario.json",
            "city-citygml2.0.gml",
            "summary.json",
            "summary.csv",
            "overlays/noise_lden.tif",
        } <= names

        # ---- bad parameters answer 400 with the protocol's error body
        for query in (
            {"format": "nope"},
            {"format": "citygml", "version": "4.0"},
            {"format": "citygml", "date": "someday"},
            {"format": "summary", "years": "ten"},
            {"format": "geotiff", "indicator": "noise"},
        ):
            status, body, _ = await _export(http, srv, sid, **query)
            assert status == 400, query
            assert json.loads(body)["error"]["code"] == "schema"


@pytest.mark.asyncio
async def test_district_exports_need_a_district(tmp_path: Path) -> None:
    """Without the district model the JSON export works and the others say why not."""
    async with run_server(tmp_path / "s.sqlite") as srv, aiohttp.ClientSession() as http:
        async with http.post(f"{srv.http}/api/scenarios", json={"name": "x"}, headers=PLANNER) as r:
            sid = (await r.json())["id"]
        url = f"{srv.http}/api/scenarios/{sid}/export"
        async with http.get(url, params={"format": "json"}, headers=PLANNER) as r:
            assert r.status == 200
            assert (await r.json())["scenario"]["id"] == sid
        for fmt in ("citygml", "geotiff", "summary", "zip"):
            async with http.get(url, params={"format": fmt}, headers=PLANNER) as r:
                assert r.status == 409
                err = (await r.json())["error"]
                assert err["code"] == "unavailable" and "district" in err["message"]
        async with http.get(url, params={"format": "json"}) as r:  # a draft: planners only
            assert r.status == 404
