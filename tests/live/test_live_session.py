"""Every message type of greentwin/1 through a real server and ``websockets`` clients."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from gt_live import EXTENT, plant, run_server
from gt_testing import assert_valid_gltf

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def _http(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    req = urllib.request.Request(url, method="POST" if body is not None else "GET")
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


async def http(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    return await asyncio.to_thread(_http, url, body, token)


async def test_every_message_type(tmp_path: Path, backend: dict[str, str]) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        created = await http(f"{srv.http}/api/scenarios", {"name": "Park street"}, "tok-planner")
        sid = created["id"]
        planner = await srv.connect()
        welcome = await planner.hello("tok-planner", role="planner")
        assert welcome["role"] == "planner" and welcome["epoch"] == srv.hub.store.epoch
        other = await srv.connect()
        await other.hello("tok-admin")

        await planner.send({"type": "subscribe", "scenario": sid, "ref": "s1"})
        snap = await planner.expect("snapshot")
        assert snap["seq"] == 0 and snap["ref"] == "s1" and snap["status"] == "draft"
        assert set(snap["layers"]) == {"trees", "green_areas", "roads", "barriers", "buildings"}
        await other.send({"type": "subscribe", "scenario": sid})
        await other.expect("snapshot")

        # edit -> ack (editor) then update to every subscriber, editor included
        await planner.send({"type": "edit", "ref": "e1", "scenario": sid, "op": plant(id="tree-a")})
        ack = await planner.expect("ack")
        assert ack == {"type": "ack", "ref": "e1", "scenario": sid, "seq": 1}
        upd = await planner.expect("update")
        assert upd["seq"] == 1 and upd["kind"] == "edit"
        assert list(upd["layers"]) == ["trees"]  # only the touched layer gets a new version
        assert upd["changes"] == [{"op": "plant_tree", "id": "tree-a", "affected": {"trees": 1}}]
        assert (await other.expect("update")) == upd
        layer = await http(srv.http + upd["layers"]["trees"]["url"], token="tok-planner")
        assert layer["features"][0]["id"] == "tree-a"
        assert layer["features"][0]["geometry"]["coordinates"] == [24.93, 60.16]
        assert layer["features"][0]["properties"]["species"] == "tilia-cordata"

        # every op kind is accepted
        ops = [
            {"op": "prune_tree", "id": "tree-a", "crown_reduction": 0.2},
            {
                "op": "replace_tree",
                "id": "tree-a",
                "new_id": "tree-b",
                "species": "acer-platanoides",
                "nursery_size_cm": 18,
            },
            {"op": "remove_tree", "id": "baseline-tree-17"},
            {
                "op": "set_green_area",
                "id": "ga1",
                "cover": "meadow",
                "polygon": [[24.91, 60.16], [24.92, 60.16], [24.92, 60.17]],
            },
            {"op": "remove_green_area", "id": "ga1"},
            {
                "op": "set_road_traffic",
                "id": "road-9",
                "speed_kmh": 30,
                "flows": {"night": {"light": 120, "heavy": 4}},
                "surface": "sma",
            },
            {"op": "close_road", "id": "road-10"},
            {
                "op": "add_barrier",
                "id": "b1",
                "line": [[24.93, 60.16], [24.931, 60.161]],
                "height_m": 3,
                "absorptive": True,
            },
            {"op": "remove_barrier", "id": "b1"},
            {
                "op": "add_building",
                "id": "h1",
                "height_m": 12,
                "footprint": [
                    [24.94, 60.17],
                    [24.9402, 60.17],
                    [24.9402, 60.1702],
                    [24.94, 60.1702],
                ],
            },
            {"op": "remove_building", "id": "old-house-3"},
        ]
        for i, op in enumerate(ops, start=2):
            await planner.send({"type": "edit", "ref": f"e{i}", "scenario": sid, "op": op})
            assert (await planner.expect("ack"))["seq"] == i
            u = await planner.expect("update")
            assert u["seq"] == i and u["changes"][0]["op"] == op["op"]
            assert (await other.expect("update"))["seq"] == i

        # undo / redo are messages with their own seq
        await planner.send({"type": "undo", "ref": "u1", "scenario": sid})
        assert (await planner.expect("ack"))["seq"] == 13
        u = await planner.expect("update")
        assert u["kind"] == "undo" and u["changes"][0]["undone"] is True
        assert u["changes"][0]["op"] == "remove_building"
        await planner.send({"type": "redo", "ref": "r1", "scenario": sid})
        assert (await planner.expect("ack"))["seq"] == 14
        assert (await planner.expect("update"))["kind"] == "redo"
        await other.expect("update")
        await other.expect("update")

        # time: shared per scenario (planner) and per session
        t = {"year": 2035, "date": "10-15"}
        await planner.send({"type": "set_time", "scenario": sid, "time": t})
        msg = await planner.expect("time")
        assert msg["time"] == t and msg["seq"] == 14
        assert (await other.expect("time"))["time"] == t
        await other.send({"type": "set_time", "time": {"year": 2040, "date": "01-01"}, "ref": "t"})
        assert (await other.expect("time")) == {
            "type": "time",
            "time": {"year": 2040, "date": "01-01"},
            "ref": "t",
        }

        await planner.send({"type": "ping", "ref": "p"})
        assert (await planner.expect("pong"))["ref"] == "p"

        # glb frames for engines
        await other.send(
            {
                "type": "request_glb",
                "ref": "g1",
                "lod": 1,
                "object": {"kind": "tree", "species": "tilia-cordata", "age_years": 30},
            }
        )
        g1 = await other.expect("glb")
        await other.send(
            {
                "type": "request_glb",
                "ref": "g2",
                "lod": 0,
                "object": {
                    "kind": "building",
                    "height_m": 15,
                    "footprint": [
                        [24.94, 60.17],
                        [24.9403, 60.17],
                        [24.9403, 60.1702],
                        [24.94, 60.1702],
                    ],
                },
            }
        )
        g2 = await other.expect("glb")
        paths = []
        for g in (g1, g2):
            assert g["_body"][:4] == b"glTF" and g["byte_length"] == len(g["_body"])
            paths.append(tmp_path / f"{g['ref']}.glb")
            paths[-1].write_bytes(g["_body"])
        assert_valid_gltf(paths)

        await other.send({"type": "unsubscribe", "scenario": sid, "ref": "x"})
        assert (await other.expect("unsubscribed"))["seq"] == 14
        await planner.send({"type": "edit", "ref": "e99", "scenario": sid, "op": plant()})
        await planner.expect("ack")
        await planner.expect("update")
        await other.send({"type": "ping"})
        assert await other.expect("pong")  # no update reached the unsubscribed client

        # HTTP edits go through the same path and reach WebSocket subscribers
        res = await http(
            f"{srv.http}/api/scenarios/{sid}/edits",
            {"op": plant(24.95, 60.17, id="tree-http")},
            "tok-planner",
        )
        assert res["seq"] == 16
        u = await planner.expect("update")
        assert u["seq"] == 16 and u["changes"][0]["id"] == "tree-http"
        state = await srv.hub.store.state(sid)
        assert {"tree-b", "tree-http"} < set(state.trees) and len(state.trees) == 3
        assert state.trees["tree-b"]["position"] == [24.93, 60.16]  # kept by replace_tree
        assert state.removed_trees == {"baseline-tree-17": "removed"}
        assert state.green_areas == {} and state.barriers == {}
        assert "old-house-3" in state.removed_buildings and "h1" in state.buildings
        assert state.roads == {
            "road-9": {
                "speed_kmh": 30,
                "flows": {"night": {"light": 120, "heavy": 4}},
                "surface": "sma",
            },
            "road-10": {"closed": True},
        }
        assert EXTENT.contains(24.93, 60.16)
        await planner.close()
        await other.close()
