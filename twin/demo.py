"""The embedded demo district: build it once, off the event loop, and publish it.

Each layer is a :class:`LayerRecipe`: input files (relative to the demo input folder), a
builder function ``build(inputs, out_dir)`` that writes a tileset into ``out_dir``, and
the greentwin packages whose source code goes into the cache key. A layer is rebuilt
only when the key changes: SHA-256 over the inputs' bytes, the code's source files and
the package version. A second start finds every key in the scenario's manifest and is
ready at once.

Builds run in a child process (``spawn``), so a CPU-bound conversion never stalls the
server, and stopping the server terminates it. A layer whose builder module is not
installed is left out (and reported in the status), never faked.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib
import importlib.util
import json
import logging
import multiprocessing
import multiprocessing.connection
import shutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict

from greentwin.core import ServerError, __version__
from greentwin.twin.layers import LayerStore

__all__ = [
    "RECIPES",
    "DemoBuilder",
    "DemoState",
    "DemoStatus",
    "LayerRecipe",
    "build_buildings",
    "build_layer",
    "build_vegetation",
    "build_vegetation_baked",
    "cache_key",
    "recipes_for",
]

log = logging.getLogger(__name__)

DemoState = Literal["building", "ready", "failed"]
LayerState = Literal["pending", "cached", "building", "built", "failed", "unavailable"]

BuildFn = Callable[[Sequence[Path], Path], None]
#: Builds and publishes a delegated layer given its cache key: (ok, versions or error).
DelegateFn = Callable[[str], Awaitable[tuple[bool, str]]]


class DemoStatus(TypedDict):
    """What ``/api/health`` reports about the demo."""

    state: DemoState
    message: str
    layers: dict[str, LayerState]


@dataclass(frozen=True, slots=True)
class LayerRecipe:
    """How to build one layer of the demo district.

    Attributes
    ----------
    layer : layer id in the store.
    inputs : input file names, relative to the demo input folder.
    build : ``build(inputs, out_dir)``, a module-level function (it is pickled by name
        into the build process); writes ``out_dir/tileset.json`` and its content.
    code : greentwin packages whose source files are part of the cache key.
    requires : modules that must be importable for the layer to exist.
    publishes : for a builder that writes several layers (``out_dir/layers.json``, see
        :func:`build_layer`), their ids; the recipe is cached when all are current.
    """

    layer: str
    inputs: tuple[str, ...]
    build: BuildFn
    code: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    publishes: tuple[str, ...] = ()

    def missing(self) -> str | None:
        """The first required module that is not installed, or None."""
        for name in self.requires:
            try:
                if importlib.util.find_spec(name) is None:
                    return name
            except ModuleNotFoundError:
                return name
        return None


def build_buildings(inputs: Sequence[Path], out_dir: Path) -> None:
    """LoD2 buildings: the CityGML converter, clamped to the ground (the demo has no terrain)."""
    from greentwin.tiles.convert import convert

    convert(list(inputs), out_dir, height_mode="ground", jobs=1, progress=False)


#: Date the demo's trees are drawn at (leaf-on summer) and their survey date.
DEMO_DATE = dt.date(2023, 7, 1)


def _ground_shift(buildings_gml: Path) -> float:
    """Metres the buildings layer was moved down by ``height_mode="ground"``.

    The converter moves the model so that its lowest ground point (ellipsoidal height of
    GroundSurface polygons, or of every point where a feature has none) lies on the
    ellipsoid; the trees get the same offset so they stand on the same ground
    (:func:`greentwin.twin.inputs.ground_shift`).
    """
    from greentwin.twin.inputs import ground_shift

    return ground_shift((buildings_gml,))


def build_vegetation(inputs: Sequence[Path], out_dir: Path) -> None:
    """Surveyed trees (LiDAR-derived, CityGML SolitaryVegetationObject) on :data:`DEMO_DATE`.

    ``inputs`` = (trees file, buildings file); the buildings only give the vertical offset.
    """
    _vegetation(inputs, out_dir, instanced=True)


def build_vegetation_baked(inputs: Sequence[Path], out_dir: Path) -> None:
    """The same trees with every mesh baked into its tile (no ``EXT_mesh_gpu_instancing``).

    For engines whose 3D Tiles runtime lacks the extension (Cesium for Unity).
    """
    _vegetation(inputs, out_dir, instanced=False)


def _vegetation(inputs: Sequence[Path], out_dir: Path, *, instanced: bool) -> None:
    from greentwin.green_model.io import read_vegetation
    from greentwin.tiles.vegetation import build_vegetation_tileset

    trees_gml, buildings_gml = inputs
    data = read_vegetation(trees_gml, DEMO_DATE)
    if data.crs is None:
        raise ServerError(f"{trees_gml} names no CRS")
    build_vegetation_tileset(
        data.trees,
        data.covers,
        DEMO_DATE,
        out_dir,
        crs=data.crs.pyproj_definition,
        instanced=instanced,
        height_offset=-_ground_shift(buildings_gml),
    )


def build_overlays(inputs: Sequence[Path], out_dir: Path) -> None:
    """Noise (L_den, L_night), air (NO2, PM10) and heat (shade, Tmrt, UTCI) overlays of the
    demo district.

    ``inputs`` = (buildings, trees, roads GeoJSON, CNOSSOS coefficients); writes one
    folder per indicator and ``layers.json`` naming them (published as overlay layers).
    """
    from greentwin.twin.district import INDICATORS, District, overlay_layers

    district = District.load_demo(Path(inputs[0]).parent)
    state = overlay_layers(district, out_dir)
    layers = [{"layer": name, "kind": "overlay", "entry": "meta.json"} for name in INDICATORS]
    (out_dir / "layers.json").write_text(json.dumps(layers), encoding="utf-8")
    log.info("demo overlays computed: %s", state.timings)


#: The demo district's layers, in build order.
RECIPES: tuple[LayerRecipe, ...] = (
    LayerRecipe(
        layer="buildings",
        inputs=("berlin_testarea_lod2_buildings.gml",),
        build=build_buildings,
        code=("citygml", "tiles"),
        requires=("greentwin.tiles.convert",),
    ),
    LayerRecipe(
        layer="vegetation",
        inputs=("berlin_testarea_trees_veg.gml", "berlin_testarea_lod2_buildings.gml"),
        build=build_vegetation,
        code=("citygml", "tiles", "green_model"),
        requires=("greentwin.tiles.vegetation", "greentwin.green_model.io"),
    ),
    LayerRecipe(
        layer="vegetation_baked",
        inputs=("berlin_testarea_trees_veg.gml", "berlin_testarea_lod2_buildings.gml"),
        build=build_vegetation_baked,
        code=("citygml", "tiles", "green_model"),
        requires=("greentwin.tiles.vegetation", "greentwin.green_model.io"),
    ),
    LayerRecipe(
        layer="overlays",
        inputs=(
            "berlin_testarea_lod2_buildings.gml",
            "berlin_testarea_trees_veg.gml",
            "../demo/roads.geojson",
            "../noise/cnossos_road_coefficients.json",
        ),
        build=build_overlays,
        code=("citygml", "green_model", "kernels", "tiles", "traffic", "twin"),
        requires=("greentwin.twin.district", "greentwin.kernels.noise.compute"),
        publishes=(
            "noise_lden",
            "noise_lnight",
            "noise_lden_cnossos",
            "noise_lnight_cnossos",
            "no2",
            "pm10",
            "shade_hours",
            "tmrt",
            "utci",
        ),
    ),
)


def recipes_for(inputs: Path) -> tuple[LayerRecipe, ...]:
    """The recipes of what ``config.demo_inputs`` names: a project manifest (``.toml``,
    :func:`greentwin.twin.project.project_recipes`) or the demo's input folder."""
    if Path(inputs).suffix == ".toml":
        from greentwin.twin.project import project_recipes

        return project_recipes(Path(inputs))
    return RECIPES


def _code_digest(packages: Sequence[str]) -> str:
    digest = hashlib.sha256(f"greentwin {__version__}\n".encode())
    digest.update(Path(__file__).read_bytes())
    for pkg in sorted(set(packages)):
        spec = importlib.util.find_spec(f"greentwin.{pkg}")
        locations = list(spec.submodule_search_locations or []) if spec else []
        for location in locations:
            for src in sorted(Path(location).rglob("*.py")):
                digest.update(f"{pkg}/{src.relative_to(location).as_posix()}\n".encode())
                digest.update(src.read_bytes())
    return digest.hexdigest()


def cache_key(recipe: LayerRecipe, input_dir: Path) -> str:
    """The recipe's cache key: hash of its inputs, its code and the package version.

    Raises
    ------
    ServerError
        An input file is missing.
    """
    digest = hashlib.sha256(f"demo-layer {recipe.layer}\n".encode())
    for name in recipe.inputs:
        path = input_dir / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ServerError(f"demo input {path} cannot be read: {exc.strerror}") from exc
        digest.update(f"{name} {len(data)}\n".encode())
        digest.update(hashlib.sha256(data).digest())
    digest.update(_code_digest(recipe.code).encode())
    return "sha256:" + digest.hexdigest()


def build_layer(
    build: BuildFn, inputs: Sequence[Path], store: LayerStore, scenario: str, layer: str, key: str
) -> str:
    """Build one layer into a scratch folder and publish it; returns the version.

    The scratch folder lives under ``data_dir/tmp`` and is removed whatever happens; a
    failed build never touches the published version. A builder that writes
    ``layers.json`` (``[{"layer", "kind", "entry"}]``) publishes each named subfolder as
    its own layer instead; the versions are returned comma-separated.
    """
    scratch = store.data_dir / "tmp" / f"build-{layer}-{uuid.uuid4().hex}"
    scratch.mkdir(parents=True)
    try:
        build(list(inputs), scratch)
        listing = scratch / "layers.json"
        if listing.is_file():
            versions = [
                store.publish(
                    scenario,
                    str(item["layer"]),
                    scratch / str(item["layer"]),
                    kind=item.get("kind", "3dtiles"),
                    entry=str(item.get("entry", "tileset.json")),
                    source=key,
                )
                for item in json.loads(listing.read_text(encoding="utf-8"))
            ]
            return ",".join(versions)
        return store.publish(scenario, layer, scratch, source=key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _child_main(conn: multiprocessing.connection.Connection, level: int, *args: object) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        version = build_layer(*args)  # type: ignore[arg-type]
    except BaseException as exc:
        conn.send((False, f"{type(exc).__name__}: {exc}"))
    else:
        conn.send((True, version))
    finally:
        conn.close()


@dataclass
class _Job:
    process: multiprocessing.process.BaseProcess | None = None
    conn: multiprocessing.connection.Connection | None = None

    def wait(self) -> tuple[bool, str]:
        assert self.conn is not None and self.process is not None
        try:
            ok, payload = self.conn.recv()
        except EOFError:
            self.process.join(5)
            return False, f"the build process died (exit code {self.process.exitcode})"
        self.process.join(5)
        return bool(ok), str(payload)

    def terminate(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)


@dataclass
class DemoBuilder:
    """Builds the demo district in the background and reports its state.

    Parameters
    ----------
    store : where layers are published.
    input_dir : folder holding the recipes' input files.
    scenario : scenario the demo layers are published in.
    executor : threads used for hashing and waiting on build processes.
    recipes : the layers to build.
    isolate : build in a child process (default); False builds in a thread of
        ``executor`` (the recipe's function need not be importable by name then).
    delegated : layers someone else in this process may build (the server's recompute
        computes the baseline maps anyway: it publishes the ``overlays`` layer rather than
        a build process computing them a second time). When such a layer is due, the
        builder waits for :meth:`hand_over`: a function that builds it, or None to build
        it itself.
    """

    store: LayerStore
    input_dir: Path
    scenario: str = "baseline"
    executor: Executor | None = None
    recipes: Sequence[LayerRecipe] = RECIPES
    isolate: bool = True
    delegated: frozenset[str] = frozenset()
    state: DemoState = "building"
    message: str = "starting"
    layer_states: dict[str, LayerState] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _job: _Job = field(default_factory=_Job)
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _handoff: asyncio.Future[DelegateFn | None] | None = None

    def status(self) -> DemoStatus:
        """The current state, a human-readable message and each layer's state."""
        return {"state": self.state, "message": self.message, "layers": dict(self.layer_states)}

    def hand_over(self, build: DelegateFn | None) -> None:
        """Who builds the ``delegated`` layers: ``build(key)``, or None for the builder
        itself. Only the first call counts (call from the running event loop)."""
        handoff = self._handoff_future()
        if not handoff.done():
            handoff.set_result(build)

    def _handoff_future(self) -> asyncio.Future[DelegateFn | None]:
        if self._handoff is None:
            self._handoff = asyncio.get_running_loop().create_future()
        return self._handoff

    def start(self) -> None:
        """Start building in the background (call from the running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-build")

    async def wait(self) -> DemoStatus:
        """Wait until the build has finished (ready or failed)."""
        await self._done.wait()
        return self.status()

    async def stop(self) -> None:
        """Cancel the build and terminate its process (graceful shutdown)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            self._job.terminate()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        built = 0
        try:
            for recipe in self.recipes:
                self.layer_states[recipe.layer] = "pending"
            for recipe in self.recipes:
                missing = recipe.missing()
                if missing is not None:
                    self.layer_states[recipe.layer] = "unavailable"
                    log.warning("demo layer %s skipped: %s is not installed", recipe.layer, missing)
                    failures.append(f"{recipe.layer}: {missing} is not installed")
                    continue
                try:
                    key = await loop.run_in_executor(
                        self.executor, cache_key, recipe, self.input_dir
                    )
                    current = await loop.run_in_executor(
                        self.executor, self.store.layers, self.scenario
                    )
                except ServerError as exc:
                    self.layer_states[recipe.layer] = "failed"
                    failures.append(f"{recipe.layer}: {exc}")
                    continue
                infos = [current.get(name) for name in recipe.publishes or (recipe.layer,)]
                if all(info is not None and info.source == key for info in infos):
                    info = infos[0]
                    assert info is not None
                    self.layer_states[recipe.layer] = "cached"
                    log.info("demo layer %s is up to date (version %s)", recipe.layer, info.version)
                    continue
                self.layer_states[recipe.layer] = "building"
                self.message = f"building the {recipe.layer} layer"
                log.info("demo: building the %s layer (first start or changed input)", recipe.layer)
                if recipe.layer in self.delegated:
                    delegate = await self._handoff_future()
                    ok, detail = await (
                        delegate(key) if delegate is not None else self._build(recipe, key)
                    )
                else:
                    ok, detail = await self._build(recipe, key)
                if ok:
                    self.layer_states[recipe.layer] = "built"
                    built += 1
                    log.info("demo layer %s published as version %s", recipe.layer, detail)
                else:
                    self.layer_states[recipe.layer] = "failed"
                    failures.append(f"{recipe.layer}: {detail}")
                    log.error("demo layer %s failed: %s", recipe.layer, detail)
            usable = [k for k, v in self.layer_states.items() if v in ("cached", "built")]
            if failures and not usable:
                self.state, self.message = "failed", "; ".join(failures)
            else:
                self.state = "ready"
                self.message = f"{len(usable)} layer(s) ready ({built} built)"
                if failures:
                    self.message += "; " + "; ".join(failures)
        except asyncio.CancelledError:
            self.state, self.message = "failed", "cancelled (server shutting down)"
            raise
        except Exception as exc:  # a bug: report it in the health endpoint, keep serving
            log.exception("demo build crashed")
            self.state, self.message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    async def _build(self, recipe: LayerRecipe, key: str) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        inputs = [self.input_dir / name for name in recipe.inputs]
        args = (recipe.build, inputs, self.store, self.scenario, recipe.layer, key)
        if not self.isolate:
            try:
                version = await loop.run_in_executor(self.executor, build_layer, *args)
            except Exception as exc:
                return False, f"{type(exc).__name__}: {exc}"
            return True, version
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        process = ctx.Process(
            target=_child_main, args=(child, level, *args), name=f"greentwin-demo-{recipe.layer}"
        )
        self._job = _Job(process, parent)
        process.start()
        child.close()
        try:
            return await loop.run_in_executor(self.executor, self._job.wait)
        finally:
            self._job.terminate()
            parent.close()
