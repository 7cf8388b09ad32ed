"""Install the scenario store, the live hub and their routes on an aiohttp application.

``setup_live(app, store_path=..., live_config=...)`` adds a ``cleanup_ctx`` that opens
the scenario store, builds the recompute and the hub, and on shutdown closes every
WebSocket with 1001 and the store; plus the ``/ws`` route and the scenario API. It is
the one way the live channel is installed: the application (:mod:`greentwin.server.hub_setup`,
with the district recompute and its background tasks as hooks) and the tests call it
alike. The store is SQLite at ``store_path``, or PostgreSQL when ``database_url`` is
given; with ``redis_url`` the hub shares updates with other processes through Redis.
Settings left out are read from the application when it starts (:data:`LIVE_CONFIG_KEY`,
the server :class:`~greentwin.server.config.Config`), so a caller may set them after
installing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from greentwin.server.config import Config
from greentwin.server.fanout import live_bus
from greentwin.server.keys import CONFIG
from greentwin.server.routes_scenarios import EXPORTERS_KEY, HUB_KEY, routes
from greentwin.server.stores import scenario_store
from greentwin.server.ws import LiveConfig, LiveHub
from greentwin.twin.exports import DEFAULT_EXPORTERS, Exporter
from greentwin.twin.glb import GlbProducer, default_glb_producer
from greentwin.twin.recompute import Recompute, VersionedLayersRecompute
from greentwin.twin.scenarios import ScenarioLog

__all__ = [
    "HUB_KEY",
    "LIVE_CONFIG_KEY",
    "BackgroundTasks",
    "RecomputeFactory",
    "running_hub",
    "setup_live",
]

#: Builds the recompute once the store is open (it usually writes layer versions there).
RecomputeFactory = Callable[[ScenarioLog], Recompute]
#: Starts the tasks that run beside a started hub; they are cancelled (and awaited) on
#: shutdown before the hub closes.
BackgroundTasks = Callable[[web.Application, LiveHub], Sequence["asyncio.Task[None] | None"]]
#: The live channel's settings, when :func:`setup_live` was not given them.
LIVE_CONFIG_KEY = web.AppKey("greentwin_live_config", LiveConfig)

#: The hub whose :meth:`~LiveHub.steady_gc` runs (the collector is one per process).
_gc_owner: LiveHub | None = None


@asynccontextmanager
async def running_hub(
    *,
    store_path: Path | str,
    config: LiveConfig,
    recompute: RecomputeFactory,
    glb_producer: GlbProducer = default_glb_producer,
    database_url: str = "",
    redis_url: str = "",
) -> AsyncIterator[LiveHub]:
    """Open the scenario store and the bus, yield the hub; close all in reverse order.

    ``store_path`` is the SQLite file, unused when ``database_url`` is given.
    """
    store = scenario_store(store_path, database_url=database_url, extent=config.extent)
    await store.open()
    try:
        bus = live_bus(redis_url)
        hub = LiveHub(store, recompute(store), config, glb_producer, bus=bus)
        if bus is not None:
            await bus.start(hub.receive)
        global _gc_owner
        steady: asyncio.Task[None] | None = None
        if _gc_owner is None:  # one collector schedule per process
            _gc_owner = hub
            steady = asyncio.create_task(hub.steady_gc(), name="live-steady-gc")
        try:
            yield hub
        finally:
            if steady is not None:
                steady.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await steady
                _gc_owner = None
            if bus is not None:
                await bus.close()
            await hub.close_all()
    finally:
        await store.close()


def setup_live(
    app: web.Application,
    *,
    store_path: Path | str,
    live_config: LiveConfig | None = None,
    recompute: RecomputeFactory | None = None,
    glb_producer: GlbProducer = default_glb_producer,
    exporters: Mapping[str, Exporter] | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    background: BackgroundTasks | None = None,
) -> None:
    """Add the live channel (``/ws``) and the scenario API to ``app``.

    Parameters
    ----------
    app : web.Application
        Not yet started.
    store_path : Path or str
        SQLite file of the scenario store (created if missing; unused with
        ``database_url``).
    live_config : LiveConfig, optional
        Tokens, limits and the city extent; else :data:`LIVE_CONFIG_KEY` of the app when
        it starts, else the defaults.
    recompute : callable, optional
        ``store -> Recompute``; default :class:`VersionedLayersRecompute`.
    glb_producer : GlbProducer
        Builds glb models for ``request_glb``.
    exporters : mapping, optional
        Extra export formats (``format`` name -> exporter) beside
        :data:`~greentwin.twin.exports.DEFAULT_EXPORTERS`.
    database_url : str, optional
        ``postgresql://...``: the scenario store in PostgreSQL instead of SQLite; None:
        the server configuration's ``database_url`` (if the app has one).
    redis_url : str, optional
        ``redis://...``: share live updates with other server processes; None: the
        server configuration's.
    background : callable, optional
        ``(app, hub) -> tasks`` started once the hub runs, cancelled on shutdown.
    """
    make = recompute or (lambda store: VersionedLayersRecompute(store))
    app[EXPORTERS_KEY] = {**DEFAULT_EXPORTERS, **(exporters or {})}

    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        server: Config | None = app.get(CONFIG)
        async with running_hub(
            store_path=store_path,
            config=live_config or app.get(LIVE_CONFIG_KEY) or LiveConfig(),
            recompute=make,
            glb_producer=glb_producer,
            database_url=database_url
            if database_url is not None
            else (server.database_url if server is not None else ""),
            redis_url=redis_url
            if redis_url is not None
            else (server.redis_url if server is not None else ""),
        ) as hub:
            app[HUB_KEY] = hub
            tasks = [t for t in (background(app, hub) if background else ()) if t is not None]
            try:
                yield
            finally:
                for task in tasks:  # cancelled first: they may use the hub and its store
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await hub.close_all()
                hub.recompute.close()

    app.cleanup_ctx.append(live_ctx)

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        return await request.app[HUB_KEY].handle(request)

    app.router.add_get("/ws", ws_handler)
    app.router.add_routes(routes)
