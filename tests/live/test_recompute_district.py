"""DistrictRecompute on the demo district: real vegetation, noise and air layers per edit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest
from greentwin.server.sqlite_scenarios import ScenarioStore
from greentwin.server.store import TileStore
from greentwin.twin.district import values_at
from greentwin.twin.ops import parse_op
from greentwin.twin.recompute_district import DistrictRecompute, district_for
from gt_testing import CITYGML, published_values

pytestmark = [pytest.mark.timeout(240)]

#: A point 12 m north of the main street's centreline (EPSG:25833 metres).
NEAR_MAIN = (396900.0, 5819543.0)


async def _edit(store: ScenarioStore, rc: DistrictRecompute, sid: str, op: dict[str, Any]) -> Any:
    appended = await store.append(sid, parse_op(op), author="test")
    return appended.seq, await rc.apply(sid, appended.seq, appended.ops, appended.state)


@pytest.mark.asyncio
async def test_road_tree_and_untouched_layers(
    recompute: tuple[ScenarioStore, TileStore, DistrictRecompute],
) -> None:
    store, tiles, rc = recompute
    sid = (await store.create("Busy street", author="test")).id
    for layer in ("buildings", "vegetation"):  # the baseline city and trees, as the demo has
        src = tiles.data_dir / f"src-{layer}"
        src.mkdir()
        (src / "tileset.json").write_text(json.dumps({"asset": {"version": "1.1"}, "x": layer}))
        tiles.publish("baseline", layer, src)
    base = await asyncio.to_thread(rc.base)  # the road network layer needs the baseline
    snap = await rc.snapshot(sid, 0)
    assert {"trees", "roads", "road_network", "vegetation"} <= set(snap)
    assert snap["buildings"]["kind"] == "geojson"  # the scenario's volumes keep the name
    assert snap["vegetation"]["version"] == 0 and "/tiles/baseline/" in snap["vegetation"]["url"]
    main = base.district.roads.road("main-ew")

    # more traffic on the main street: louder and more NO2 next to it
    day = {"light": float(main.flows[0, 0]) * 3, "heavy": float(main.flows[0, 2]) * 3}
    seq1, res = await _edit(
        store, rc, sid, {"op": "set_road_traffic", "id": "main-ew", "flows": {"day": day}}
    )
    layers = res["layers"]
    assert {"roads", "road_network", "noise_lden", "no2", "diff_noise_lden"} <= set(layers)
    assert "vegetation" not in layers and "trees" not in layers
    assert all(layers[n]["version"] == seq1 for n in ("noise_lden", "no2", "road_network"))
    meta, lden = published_values(tiles, sid, layers["noise_lden"], "noise_lden")
    _, no2 = published_values(tiles, sid, layers["no2"], "no2")
    assert meta["indicator"] == "noise_lden" and meta["unit"] == "dB(A)"
    grid = base.overlays.grid
    before = values_at(base.overlays.values, grid, *NEAR_MAIN)
    after = values_at({"noise_lden": lden, "no2": no2}, grid, *NEAR_MAIN)
    assert before["noise_lden"] is not None and after["noise_lden"] is not None
    assert after["noise_lden"] > before["noise_lden"] + 2.0  # x3 flow: about +4.8 dB
    assert after["no2"] is not None and before["no2"] is not None
    assert after["no2"] > before["no2"]
    _, diff = published_values(tiles, sid, layers["diff_noise_lden"], "diff_noise_lden")
    assert values_at({"d": diff}, grid, *NEAR_MAIN)["d"] == pytest.approx(
        after["noise_lden"] - before["noise_lden"], abs=0.01
    )

    # a tree: a new vegetation version that holds it; noise untouched (CNOSSOS-EU has no
    # foliage attenuation), so the noise layers keep their version
    lon, lat = (float(v) for v in base.district.to_lonlat(396950.0, 5819540.0))
    seq2, res2 = await _edit(
        store,
        rc,
        sid,
        {
            "op": "plant_tree",
            "id": "tree-new",
            "species": "tilia-cordata",
            "position": [lon, lat],
            "age_years": 10,
        },
    )
    assert seq2 == seq1 + 1
    assert {"trees", "vegetation"} <= set(res2["layers"])
    assert "noise_lden" not in res2["layers"] and "noise_lnight" not in res2["layers"]
    assert res2["layers"]["vegetation"]["version"] == seq2
    # with it the baked variant for engines without EXT_mesh_gpu_instancing, announced
    # inside the vegetation entry (a browser drawing every 3D Tiles layer draws one)
    assert "vegetation_baked" not in res2["layers"]
    baked = res2["layers"]["vegetation"]["variants"]["baked"]
    assert baked["version"] == seq2 and "/vegetation_baked/" in baked["url"]
    baked_version = baked["url"].split("/")[3]
    index = tiles.load_index(sid, baked_version) or {}
    glbs = [e.path for rel, e in index.items() if rel.startswith("vegetation_baked/")]
    assert [p for p in glbs if p.suffix == ".glb"]
    assert not [p for p in glbs if b"EXT_mesh_gpu_instancing" in p.read_bytes()]
    summary = rc._scenarios[sid].vegetation
    assert summary["trees"] == len(base.district.trees) + 1
    veg_version = res2["layers"]["vegetation"]["url"].split("/")[3]
    assert tiles.lookup(sid, veg_version, "vegetation/tileset.json") is not None
    district = rc._scenarios[sid].district
    assert district is not None
    tree = district.tree("tree-new")
    assert (tree.x, tree.y) == pytest.approx((396950.0, 5819540.0), abs=0.01)

    # the snapshot names the newest version of every layer, untouched ones unchanged
    snap2 = await rc.snapshot(sid, seq2)
    assert snap2["noise_lden"] == layers["noise_lden"]
    assert snap2["vegetation"] == res2["layers"]["vegetation"]
    assert "vegetation_baked" not in snap2
    assert snap2["trees"]["version"] == seq2 and snap2["roads"]["version"] == seq1


@pytest.mark.asyncio
async def test_edits_apply_in_order(
    recompute: tuple[ScenarioStore, TileStore, DistrictRecompute],
) -> None:
    """Two edits started together: the second recompute starts after the first."""
    store, _, rc = recompute
    sid = (await store.create("Order", author="test")).id
    a = await store.append(sid, parse_op({"op": "close_road", "id": "south-ew"}), author="test")
    state_a = a.state.copy()
    b = await store.append(
        sid, parse_op({"op": "close_road", "id": "south-ew", "closed": False}), author="test"
    )
    first, second = await asyncio.gather(
        rc.apply(sid, a.seq, a.ops, state_a), rc.apply(sid, b.seq, b.ops, b.state)
    )
    assert first["layers"]["road_network"]["version"] == a.seq
    assert second["layers"]["road_network"]["version"] == b.seq
    # the last applied state is the reopened road: its layer says so
    body = await store.get_layer(sid, "road_network", b.seq)
    assert body is not None
    roads = {f["id"]: f["properties"] for f in json.loads(body[0])["features"]}
    assert roads["south-ew"]["closed"] is False
    assert rc._scenarios[sid].seq == b.seq
    # and the noise of the reopened road equals the baseline again
    maps = rc._scenarios[sid].overlays
    assert maps is not None
    base = await asyncio.to_thread(rc.base)
    assert np.allclose(
        maps.values["noise_lden"], base.overlays.values["noise_lden"], atol=1e-6, equal_nan=True
    )


def test_district_for_maps_every_kind() -> None:
    from greentwin.twin.district import District
    from greentwin.twin.ops import EditOp, PruneTree, RemoveTree, ReplaceTree, ScenarioState

    base = District.load_demo(CITYGML)
    first = base.trees[0].id
    lon, lat = (float(v) for v in base.to_lonlat(396900.0, 5819500.0))
    state = ScenarioState()
    # the demo's surveyed tree ids hold '#', which the protocol's id pattern refuses:
    # these three ops are built directly
    direct: list[EditOp] = [
        RemoveTree(first),
        PruneTree(base.trees[1].id, 0.3),
        ReplaceTree(base.trees[2].id, "t-r", "acer_platanoides", nursery_size_cm=18),
    ]
    ops = [
        {"op": "add_barrier", "id": "b1", "line": [[lon, lat], [lon + 3e-4, lat]], "height_m": 3},
        {
            "op": "add_building",
            "id": "h1",
            "height_m": 12,
            "footprint": [[lon, lat], [lon + 2e-4, lat], [lon + 2e-4, lat + 1e-4]],
        },
        {"op": "close_road", "id": "north-ew"},
        {"op": "close_road", "id": "no-such-road"},
    ]
    for op in [*direct, *(parse_op(raw) for raw in ops)]:
        state.check(op)
        state.apply(op)
    district, problems = district_for(base, state)
    assert any("no-such-road" in p for p in problems)
    assert any(e.__class__.__name__ == "Remove" for e in district.tree(first).events)
    assert any(e.__class__.__name__ == "Prune" for e in district.tree(base.trees[1].id).events)
    replacement = district.tree("t-r")
    assert (replacement.x, replacement.y) == (base.trees[2].x, base.trees[2].y)
    assert [b.id for b in district.barriers] == ["b1"]
    assert district.footprints[-1].id == "h1" and district.footprints[-1].height_m == 12
    assert district.roads.road("north-ew").closed
    assert len(district.trees) == len(base.trees) + 1
