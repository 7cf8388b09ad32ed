"""Helpers of the live-protocol tests: a real server on loopback and schema-checked clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import websockets
from aiohttp import web
from greentwin.server.live import HUB_KEY, setup_live
from greentwin.server.ws import LiveConfig, LiveHub
from greentwin.twin.ops import Extent
from greentwin.twin.protocol import decode_glb_frame, load_schema
from jsonschema import Draft202012Validator

ROOT_CLIENTS = Path(__file__).resolve().parents[2] / "clients" / "python"

#: The test city: a 2 km box in Helsinki.
EXTENT = Extent.bbox(24.90, 60.15, 24.96, 60.18)
TOKENS = {"tok-planner": "planner", "tok-admin": "admin", "tok-citizen": "citizen"}
TIMEOUT = 5.0

_SCHEMA = load_schema()
_ROOT = Draft202012Validator(_SCHEMA)
_DEFS = {
    name: Draft202012Validator({"$defs": _SCHEMA["$defs"], "$ref": f"#/$defs/{name}"})
    for name in _SCHEMA["$defs"]
}


def check_server_message(msg: dict[str, Any]) -> None:
    """Validate one server message against the published schema (root and its type)."""
    _ROOT.validate(msg)
    assert msg["type"] in _SCHEMA["$defs"]["server_message"]["properties"]["type"]["enum"]
    _DEFS[msg["type"]].validate(msg)


class Checked:
    """A ``websockets`` client whose every received message is schema-checked."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, msg: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            header, body = decode_glb_frame(raw)
            _DEFS["glb"].validate(header)
            msg = {**header, "_body": body}
        else:
            msg = json.loads(raw)
            check_server_message(msg)
        self.received.append(msg)
        return msg

    async def expect(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        msg = await self.recv(timeout)
        assert msg["type"] == kind, msg
        return msg

    async def hello(self, token: str | None = None, **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "hello", "protocol": "greentwin/1", **extra}
        if token is not None:
            msg["token"] = token
        await self.send(msg)
        return await self.expect("welcome")

    async def close(self) -> None:
        await self.ws.close()


class LiveServer:
    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.http = f"http://127.0.0.1:{port}"

    @property
    def hub(self) -> LiveHub:
        return self.runner.app[HUB_KEY]

    async def connect(self, **kw: Any) -> Checked:
        ws = await asyncio.wait_for(websockets.connect(self.url, **kw), TIMEOUT)
        return Checked(ws)


def live_config(**kw: Any) -> LiveConfig:
    base: dict[str, Any] = {"tokens": TOKENS, "extent": EXTENT, "heartbeat_s": 5.0}
    base.update(kw)
    return LiveConfig(**base)


@asynccontextmanager
async def run_server(
    db: Path, *, database_url: str = "", redis_url: str = "", **kw: Any
) -> AsyncIterator[LiveServer]:
    """A real server on 127.0.0.1 (free port) with the scenario store at ``db`` (or in
    PostgreSQL at ``database_url``), fanning out through Redis if ``redis_url`` is set."""
    app = web.Application()
    setup_live(
        app,
        store_path=db,
        live_config=live_config(**kw),
        database_url=database_url,
        redis_url=redis_url,
    )
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield LiveServer(runner, port)
    finally:
        await runner.cleanup()


def plant(lon: float = 24.93, lat: float = 60.16, **kw: Any) -> dict[str, Any]:
    """A valid plant_tree op inside the test city."""
    return {
        "op": "plant_tree",
        "species": "tilia-cordata",
        "position": [lon, lat],
        "age_years": 8,
        **kw,
    }
