"""Install the citizens' planning hub on an application: ``setup_hub(app)``.

The hub needs the live channel (scenario store, ``/ws`` fan-out, role tokens). When
:func:`~greentwin.server.live.setup_live` was called before, the hub uses it;
otherwise ``setup_hub`` installs the live channel itself, with the scenario store in
``<data_dir>/scenarios.sqlite`` and the :class:`~greentwin.server.ws.LiveConfig`
found under :data:`LIVE_CONFIG_KEY` when the application starts (so a caller may set
it after :func:`~greentwin.server.app.create_app`), or the defaults.

The hub's own store (comments, votes, participants) is ``<data_dir>/hub.sqlite``.
In demo mode (``demo_example`` on) the example proposal is built in the background on
the first start (:mod:`greentwin.twin.demo_example`).
The address index of the demo district is built on the first search.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import web
from greentwin.server.hub import HubSettings
from greentwin.server.keys import CONFIG, DEMO, STORE
from greentwin.server.live import LIVE_CONFIG_KEY, setup_live
from greentwin.server.routes_green import DISTRICTS
from greentwin.server.routes_hub import HUB_STATE, HubState
from greentwin.server.routes_hub import routes as hub_routes
from greentwin.server.routes_scenarios import EXPORTERS_KEY
from greentwin.server.stores import hub_store
from greentwin.server.ws import LiveHub
from greentwin.twin.recompute import Recompute, VersionedLayersRecompute
from greentwin.twin.recompute_district import DistrictRecompute
from greentwin.twin.scenarios import ScenarioLog

__all__ = ["HUB_SETTINGS_KEY", "LIVE_CONFIG_KEY", "default_address_sources", "setup_hub"]

log = logging.getLogger(__name__)

#: The live channel's configuration used when ``setup_hub`` installs it (read at start-up).
#: The hub's limits, read at start-up (wins over the ``settings`` argument).
HUB_SETTINGS_KEY = web.AppKey("greentwin_hub_settings", HubSettings)
#: Set once ``setup_hub`` ran (a second call does nothing).
_INSTALLED = web.AppKey("greentwin_hub_installed", bool)


def default_address_sources(demo_inputs: Path) -> list[Path]:
    """The CityGML files of the demo district's (or project's) buildings layer."""
    from greentwin.twin.demo import RECIPES

    if demo_inputs.suffix == ".toml":  # a project: its CityGML buildings (OSM has no addresses)
        from greentwin.twin import ManifestError, load_manifest

        try:
            return list(load_manifest(demo_inputs).buildings.citygml)
        except ManifestError:
            return []
    return [demo_inputs / name for r in RECIPES if r.layer == "buildings" for name in r.inputs]


def _install_live(app: web.Application, store_path: Path) -> None:
    setup_live(
        app,
        store_path=store_path,
        recompute=lambda store: recompute_for_app(app, store),  # district layers in demo
        background=lambda app, hub: (_start_example(app, hub), _start_refresh(app, hub)),
    )


def _start_refresh(app: web.Application, hub: LiveHub) -> asyncio.Task[None] | None:
    """With the district recompute: hand it the demo build's ``overlays`` layer (it
    computes the baseline maps anyway), and send the subscribers a fresh snapshot once
    the baseline maps are computed and again once the demo build is done (a subscribe
    never waits for either: it answers with what is published)."""
    rc = hub.recompute
    if not isinstance(rc, DistrictRecompute):
        return None
    builder = app.get(DEMO)
    if builder is not None:
        builder.hand_over(rc.publish_base)

    async def refresh() -> None:
        try:
            await rc.wait_ready()
        except Exception as exc:  # logged with its traceback where it happened
            log.warning("the baseline maps are not available: %s", exc)
        await hub.refresh()
        if builder is not None:
            await builder.wait()
            await hub.refresh()

    return asyncio.get_running_loop().create_task(refresh(), name="snapshot-refresh")


def _start_example(app: web.Application, hub: LiveHub) -> asyncio.Task[None] | None:
    """In demo mode: build the example proposal in the background (once; see
    :func:`greentwin.twin.demo_example.ensure_example`)."""
    config = app.get(CONFIG)
    if config is None or not config.demo or not config.demo_example:
        return None

    async def build() -> None:
        from greentwin.twin.demo_example import ensure_example
        from greentwin.twin.district import District

        try:
            loop = asyncio.get_running_loop()
            district = await loop.run_in_executor(None, District.load_demo, config.demo_inputs)
            await ensure_example(hub, district)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("demo: the example proposal could not be built")

    return asyncio.create_task(build(), name="demo-example")


def setup_hub(
    app: web.Application,
    *,
    db_path: Path | None = None,
    scenario_db: Path | None = None,
    settings: HubSettings | None = None,
    address_sources: Sequence[Path] | None = None,
) -> None:
    """Add the hub's store (a ``cleanup_ctx``) and routes to ``app`` (not yet started).

    Call it after :func:`~greentwin.server.live.setup_live` when both are used; a second
    call does nothing.

    Parameters
    ----------
    app : web.Application
        Built by :func:`~greentwin.server.app.create_app` (or any app holding ``CONFIG``;
        otherwise give ``db_path`` and ``scenario_db``).
    db_path : Path, optional
        The hub's SQLite file; default ``<data_dir>/hub.sqlite``.
    scenario_db : Path, optional
        The scenario store when the live channel is installed here; default
        ``<data_dir>/scenarios.sqlite``.
    settings : HubSettings, optional
        Limits; :data:`HUB_SETTINGS_KEY` in the app wins, defaults otherwise.
    address_sources : sequence of Path, optional
        CityGML files to index addresses from; default the demo district's buildings.
    """
    if app.get(_INSTALLED):
        return
    app[_INSTALLED] = True
    config = app.get(CONFIG)
    data_dir = config.data_dir if config is not None else None
    if db_path is None or (scenario_db is None and EXPORTERS_KEY not in app):
        if data_dir is None:
            raise ValueError("setup_hub: give db_path and scenario_db, or an app with CONFIG")
    hub_db = db_path or Path(data_dir or ".") / "hub.sqlite"
    if EXPORTERS_KEY not in app:
        _install_live(app, scenario_db or Path(data_dir or ".") / "scenarios.sqlite")
    if address_sources is None:
        address_sources = default_address_sources(config.demo_inputs) if config else []
    sources = list(address_sources)

    async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
        server = app.get(CONFIG)
        store = hub_store(hub_db, database_url=server.database_url if server else "")
        await store.open()
        hub_settings = app.get(HUB_SETTINGS_KEY) or settings or HubSettings()
        state = HubState(store, hub_settings, sources)
        app[HUB_STATE] = state
        try:
            yield
        finally:
            await state.close()
            await store.close()

    app.cleanup_ctx.append(hub_ctx)
    app.router.add_routes(hub_routes)


def recompute_for_app(app: web.Application, store: ScenarioLog) -> Recompute:
    """The live channel's recompute: the district's layers when the app serves the demo.

    Without the demo (``config.demo`` off) the default GeoJSON-only recompute.
    """
    config = app.get(CONFIG)
    if config is None or not config.demo:
        return VersionedLayersRecompute(store)
    registry = app.get(DISTRICTS)
    return DistrictRecompute(
        store,
        app[STORE],
        config.demo_inputs,
        baseline=config.default_scenario,
        on_district=registry.set if registry is not None else None,
    )
