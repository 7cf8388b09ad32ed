"""Install the scenario store, the live hub and their routes on an aiohttp application.

``setup_live(app, store_path=..., live_config=...)`` adds a ``cleanup_ctx`` that opens
the SQLite store, builds the recompute and the hub, and on shutdown closes every
WebSocket with 1001 and the store; plus the ``/ws`` route and the scenario API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from aiohttp import web
from greentwin.server.exports import DEFAULT_EXPORTERS, Exporter
from greentwin.server.glb import GlbProducer, default_glb_producer
from greentwin.server.recompute import Recompute, VersionedLayersRecompute
from greentwin.server.routes_scenarios import EXPORTERS_KEY, HUB_KEY, routes
from greentwin.server.scenarios import ScenarioStore
from greentwin.server.ws import Hub, LiveConfig

__all__ = ["HUB_KEY", "RecomputeFactory", "setup_live"]

#: Builds the recompute once the store is open (it usually writes layer versions there).
RecomputeFactory = Callable[[ScenarioStore], Recompute]


def setup_live(
    app: web.Application,
    *,
    store_path: Path | str,
    live_config: LiveConfig | None = None,
    recompute: RecomputeFactory | None = None,
    glb_producer: GlbProducer = default_glb_producer,
    exporters: Mapping[str, Exporter] | None = None,
) -> None:
    """Add the live channel (``/ws``) and the scenario API to ``app``.

    Parameters
    ----------
    app : web.Application
        Not yet started.
    store_path : Path or str
        SQLite file of the scenario store (created if missing).
    live_config : LiveConfig, optional
        Tokens, limits and the city extent; defaults otherwise.
    recompute : callable, optional
        ``store -> Recompute``; default :class:`VersionedLayersRecompute`.
    glb_producer : GlbProducer
        Builds glb models for ``request_glb``.
    exporters : mapping, optional
        Extra export formats (``format`` name -> exporter) beside
        :data:`~greentwin.server.exports.DEFAULT_EXPORTERS`.
    """
    config = live_config or LiveConfig()
    make = recompute or (lambda store: VersionedLayersRecompute(store))
    app[EXPORTERS_KEY] = {**DEFAULT_EXPORTERS, **(exporters or {})}

    async def live_ctx(app: web.Application) -> AsyncIterator[None]:
        store = ScenarioStore(store_path, extent=config.extent)
        await store.open()
        hub = Hub(store, make(store), config, glb_producer)
        app[HUB_KEY] = hub
        try:
            yield
        finally:
            await hub.close_all()
            await store.close()

    app.cleanup_ctx.append(live_ctx)

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        return await request.app[HUB_KEY].handle(request)

    app.router.add_get("/ws", ws_handler)
    app.router.add_routes(routes)
