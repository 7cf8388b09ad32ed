"""The Unity sample's engine-independent protocol code, compiled with mcs and run on mono."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from gt_live import run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

UNITY = Path(__file__).resolve().parents[2] / "clients" / "unity"


@pytest.mark.skipif(
    shutil.which("mcs") is None or shutil.which("mono") is None,
    reason="mono-mcs / mono-runtime not installed (make system)",
)
async def test_csharp_protocol_smoke(tmp_path: Path) -> None:
    exe = tmp_path / "smoke.exe"
    comp = await asyncio.create_subprocess_exec(
        "mcs",
        f"-out:{exe}",
        "-r:System.dll",
        str(UNITY / "GreentwinProtocol.cs"),
        str(UNITY / "ProtocolSmoke.cs"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(comp.communicate(), 60)
    assert comp.returncode == 0, out.decode()
    async with run_server(tmp_path / "s.sqlite") as srv:
        sid = (await srv.hub.store.create("unity", author="planner")).id
        proc = await asyncio.create_subprocess_exec(
            "mono",
            str(exe),
            srv.url,
            "tok-planner",
            sid,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
        assert summary["ok"] is True and summary["role"] == "planner"
        assert (summary["snapshot_seq"], summary["ack_seq"], summary["update_seq"]) == (0, 1, 1)
        assert summary["layers"] == ["trees"] and summary["tracked_seq"] == 1
        assert summary["glb_magic"] == "glTF" and summary["glb_bytes"] > 100
        state = await srv.hub.store.state(sid)
        assert [t["species"] for t in state.trees.values()] == ["tilia-cordata"]
