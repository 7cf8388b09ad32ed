"""Typed application keys shared by the route modules (``app[CONFIG]`` and so on)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from aiohttp import web
from greentwin.server.config import Config
from greentwin.server.store import TileStore

if TYPE_CHECKING:
    from greentwin.server.routes_tiles import FileServer
    from greentwin.server.ws import LiveHub
    from greentwin.twin.demo import DemoBuilder

__all__ = ["CONFIG", "DEMO", "FILES", "IO_POOL", "LIVE_HUB", "STARTED", "STORE"]

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", TileStore)
#: ``time.monotonic()`` when the application started (for the uptime in ``/api/health``).
STARTED = web.AppKey("started", float)
#: Threads for blocking disk work (file reads, hashing, publishing).
IO_POOL = web.AppKey("io_pool", ThreadPoolExecutor)
FILES: web.AppKey[FileServer] = web.AppKey("files")
#: Present only when the demo district is enabled.
DEMO: web.AppKey[DemoBuilder] = web.AppKey("demo")
#: The live channel (scenario store, ``/ws`` fan-out, role tokens), set when it starts.
LIVE_HUB: web.AppKey[LiveHub] = web.AppKey("greentwin_live_hub")
