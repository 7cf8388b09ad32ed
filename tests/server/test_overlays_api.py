"""Overlay tiles and probes over HTTP, on the demo district's real noise and air maps."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient
from greentwin.server.app import create_app
from greentwin.server.config import Config
from greentwin.server.store import TileStore
from greentwin.twin.demo import build_layer
from greentwin.twin.district import (
    INDICATORS,
    District,
    OverlayState,
    overlay_layers,
    probe,
)
from gt_testing import CITYGML
from PIL import Image

#: On the main street's centreline (x 396735-397065 at y ~5819531.5), and 150 m south-west
#: of the buildings, far from every road.
NEAR_MAIN = (396900.0, 5819533.0)
FAR = (396640.0, 5819300.0)


@dataclass(frozen=True)
class Published:
    data_dir: Path
    district: District
    baseline: OverlayState
    scenario: OverlayState


def _publish(store: TileStore, scenario: str, out: Path, names: Sequence[str]) -> None:
    for name in names:
        store.publish(scenario, name, out / name, kind="overlay", entry="meta.json")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Baseline overlays, and a scenario with the main street's traffic halved."""
    root = tmp_path_factory.mktemp("overlays")
    data_dir = root / "var"
    store = TileStore(data_dir)
    district = District.load_demo(CITYGML)
    base = overlay_layers(district, root / "base")
    _publish(store, "baseline", root / "base", INDICATORS)
    baseline = base.portable()
    main = district.roads.road("main-ew")
    calmer = district.replace(roads=district.roads.with_road(main.with_flows(main.flows * 0.5)))
    scen = overlay_layers(calmer, root / "calm", previous=base, baseline=baseline)
    _publish(store, "calm", root / "calm", [*INDICATORS, *(f"diff_{i}" for i in INDICATORS)])
    return Published(data_dir, district, baseline, scen)


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, published: Published) -> TestClient[Any, Any]:
    app = create_app(Config(data_dir=published.data_dir, access_log=False))
    c: TestClient[Any, Any] = await aiohttp_client(app)
    return c


def _lonlat(district: District, xy: tuple[float, float]) -> tuple[float, float]:
    lon, lat = district.to_lonlat(*xy)
    return float(lon), float(lat)


@pytest.mark.asyncio
async def test_layers_list_overlays(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/layers")
    assert resp.status == 200
    layers = (await resp.json())["layers"]
    for name in INDICATORS:
        entry = layers[name]
        assert entry["kind"] == "overlay"
        assert entry["url"] == f"/overlays/{name}/baseline/{entry['version']}/{{z}}/{{x}}/{{y}}.png"
        assert entry["zoom"] == [14, 17]
        w, s, e, n = entry["bounds"]
        assert 13.0 < w < e < 14.0 and 52.0 < s < n < 53.0
        assert entry["legend"]["classes"] and entry["unit"] in ("dB(A)", "ug/m3", "h", "degC")
    lden = layers["noise_lden"]["legend"]
    limits = [c["min"] for c in lden["classes"][1:]]
    assert np.allclose(np.diff(limits), 5.0)  # standard 5 dB classes


@pytest.mark.asyncio
async def test_tile_immutable_etag_and_outside(
    client: TestClient[Any, Any], published: Published
) -> None:
    layers = (await (await client.get("/api/layers")).json())["layers"]
    version = layers["noise_lden"]["version"]
    (z, x, y), png = max(published.baseline.tiles["noise_lden"].items(), key=lambda kv: len(kv[1]))
    url = f"/overlays/noise_lden/baseline/{version}/{z}/{x}/{y}.png"
    resp = await client.get(url)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert "immutable" in resp.headers["Cache-Control"]
    body = await resp.read()
    assert body == png
    img = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert img.shape == (256, 256, 4) and (img[..., 3] > 0).sum() > 1000
    again = await client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    # A tile far outside the grid: one shared transparent PNG, also immutable.
    out = await client.get(f"/overlays/noise_lden/baseline/{version}/15/0/0.png")
    assert out.status == 200 and "immutable" in out.headers["Cache-Control"]
    blank = np.asarray(Image.open(io.BytesIO(await out.read())).convert("RGBA"))
    assert blank.shape == (256, 256, 4) and not blank[..., 3].any()
    cond = await client.get(
        f"/overlays/no2/baseline/{layers['no2']['version']}/15/1/1.png",
        headers={"If-None-Match": out.headers["ETag"]},
    )
    assert cond.status == 304


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/overlays/noise_lden/baseline/0123456789abcdef/16/1/1.png", 404),  # no such version
        ("/overlays/traffic/baseline/0123456789abcdef/16/1/1.png", 404),  # unknown indicator
        ("/overlays/noise_lden/BASE/0123456789abcdef/16/1/1.png", 400),
        ("/overlays/noise_lden/baseline/0123456789abcdef/25/1/1.png", 400),
        ("/overlays/noise_lden/baseline/0123456789abcdef/3/8/1.png", 400),
        ("/api/probe?lon=abc&lat=52.5", 400),
        ("/api/probe?lon=13.4&lat=95", 400),
        ("/api/probe?lon=13.4", 400),
        ("/api/probe?lon=nan&lat=52.5", 400),
        ("/api/probe?scenario=../x&lon=13.4&lat=52.5", 400),
        ("/api/probe?scenario=nope&lon=13.4&lat=52.5", 404),
    ],
)
async def test_bad_requests_are_json(client: TestClient[Any, Any], path: str, status: int) -> None:
    resp = await client.get(path)
    assert resp.status == status
    body = await resp.json()
    assert body["error"]["status"] == status and body["error"]["message"]


@pytest.mark.asyncio
async def test_probe_noise_and_air(client: TestClient[Any, Any], published: Published) -> None:
    d = published.district
    results: list[dict[str, Any]] = []
    for xy in (NEAR_MAIN, FAR):
        lon, lat = _lonlat(d, xy)
        resp = await client.get("/api/probe", params={"lon": str(lon), "lat": str(lat)})
        assert resp.status == 200
        results.append(await resp.json())
    near, far = (r["values"] for r in results)
    assert set(near) == set(INDICATORS)
    assert near["noise_lden"]["unit"] == "dB(A)" and near["no2"]["unit"] == "ug/m3"
    assert near["noise_lden"]["value"] > far["noise_lden"]["value"] + 10.0
    assert near["noise_lnight"]["value"] < near["noise_lden"]["value"]
    assert near["no2"]["value"] > far["no2"]["value"] >= 20.0  # background NO2 is 20 ug/m3
    assert near["pm10"]["value"] > far["pm10"]["value"]
    assert near["noise_lden"]["class"]["label"].endswith("dB(A)")
    # The HTTP probe reads exactly the values the library probe sees.
    lib = probe(published.baseline, *_lonlat(d, NEAR_MAIN))
    assert lib["noise_lden"] == pytest.approx(near["noise_lden"]["value"], abs=0.01)
    # Outside the grid: no values, still 200.
    resp = await client.get("/api/probe", params={"lon": "0", "lat": "0"})
    assert (await resp.json())["inside"] is False


@pytest.mark.asyncio
async def test_probe_scenario_difference(
    client: TestClient[Any, Any], published: Published
) -> None:
    lon, lat = _lonlat(published.district, NEAR_MAIN)
    resp = await client.get("/api/probe", params={"scenario": "calm", "lon": lon, "lat": lat})
    assert resp.status == 200
    v = (await resp.json())["values"]["noise_lden"]
    # Half the traffic on the main street: about -3 dB next to it (10 lg 0.5).
    assert -3.2 < v["difference"] < -2.0
    assert v["value"] == pytest.approx(v["baseline"] + v["difference"], abs=0.02)
    diff = published.scenario.values["diff_noise_lden"]
    assert np.nanmin(diff) < -2.0 and np.nanmax(diff) <= 1e-6
    layers = (await (await client.get("/api/layers?scenario=calm")).json())["layers"]
    assert layers["diff_noise_lden"]["legend"]["kind"] == "diverging"


def test_incremental_equals_full(published: Published) -> None:
    """The incremental update (one road's traffic) matches a full recomputation."""
    full = overlay_layers(published.scenario.district, None)
    for name in INDICATORS:
        a, b = full.values[name], published.scenario.values[name]
        assert np.allclose(a, b, atol=0.01, equal_nan=True), name
    for key, png in full.tiles["no2"].items():
        assert published.scenario.tiles["no2"][key] == png


def test_build_layer_publishes_several_layers(tmp_path: Path) -> None:
    """A builder writing ``layers.json`` publishes each named folder as its own layer."""

    def build(inputs: Sequence[Path], out_dir: Path) -> None:
        for name in ("no2", "pm10"):
            (out_dir / name).mkdir()
            (out_dir / name / "meta.json").write_text(json.dumps({"indicator": name}))
        layers = [{"layer": n, "kind": "overlay", "entry": "meta.json"} for n in ("no2", "pm10")]
        (out_dir / "layers.json").write_text(json.dumps(layers))

    versions = build_layer(build, [], TileStore(tmp_path), "baseline", "overlays", "sha256:x")
    layers = TileStore(tmp_path).layers("baseline")
    assert versions.split(",") == [layers["no2"].version, layers["pm10"].version]
    assert {layers["no2"].kind, layers["pm10"].kind} == {"overlay"}
    assert "overlays" not in layers and layers["no2"].source == "sha256:x"


def _facade_max(d: District, values: np.ndarray, building: str) -> float:
    """The END's most exposed facade, from the footprints: the highest value among the
    cells whose centre lies outside the building but next to (8 neighbours) a cell whose
    centre lies inside it."""
    import shapely

    parts = [
        f
        for f in d.footprints
        if (d.buildings.get(f.id).building_id if d.buildings.get(f.id) else f.id) == building
    ]
    shape = shapely.union_all([shapely.Polygon(f.exterior[:, :2], f.interiors) for f in parts])
    g = d.grid
    gx, gy = np.meshgrid(g.xs(), g.ys())
    inside = shapely.contains_xy(shape, gx, gy)
    near = np.zeros_like(inside)
    rows, cols = np.nonzero(inside)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < g.ny) & (c >= 0) & (c < g.nx)
            near[r[ok], c[ok]] = True
    ring = near & ~inside
    return float(np.nanmax(values[ring]))


@pytest.mark.asyncio
async def test_probe_on_a_roof_gives_the_most_exposed_facade(
    client: TestClient[Any, Any], published: Published
) -> None:
    """On a roof the noise grid has no value; the probe answers the building's most exposed
    facade level (END, Annex VI), the rule the indicators count dwellings by."""
    import shapely

    d = published.district
    values = published.baseline.values["noise_lden"]
    g = d.grid
    for f in d.footprints:  # a roof point whose cell holds no noise value
        p = shapely.Polygon(f.exterior[:, :2], f.interiors).point_on_surface()
        col, row = int((p.x - g.x0) // g.cell), int((p.y - g.y0) // g.cell)
        if np.isnan(values[row, col]):
            break
    else:
        pytest.fail("no footprint covers a cell without a noise value")
    info = d.buildings.get(f.id)
    building = info.building_id if info else f.id
    expected = _facade_max(d, values, building)
    lon, lat = _lonlat(d, (p.x, p.y))
    resp = await client.get("/api/probe", params={"lon": str(lon), "lat": str(lat)})
    assert resp.status == 200
    noise = (await resp.json())["values"]["noise_lden"]
    assert noise["value"] == pytest.approx(expected, abs=0.01)
    assert noise["facade"] == {"building": building}
    assert noise["class"] is not None
    # A scenario's probe on the same roof: its own facade level and the baseline's.
    resp = await client.get(
        "/api/probe", params={"scenario": "calm", "lon": str(lon), "lat": str(lat)}
    )
    calm = (await resp.json())["values"]["noise_lden"]
    assert calm["baseline"] == pytest.approx(expected, abs=0.01)
    assert calm["value"] == pytest.approx(
        _facade_max(d, published.scenario.values["noise_lden"], building), abs=0.01
    )
