"""The layers of a project (``greentwin build|serve PROJECT.toml``), as demo-style recipes.

A project's layers are the demo's (:mod:`greentwin.twin.demo`): city tiles, vegetation
(instanced and baked) and the noise/air/heat overlays, each a :class:`LayerRecipe` whose
inputs are the manifest and every file it names, so a layer is rebuilt only when one of
them (or the code) changes. The builders read the project through
:func:`greentwin.twin.district_inputs`.

``build_project(manifest, store, progress=print) -> list[str]`` builds (or finds
cached) every layer in this process, one stage after the other, and returns the
summary lines; ``greentwin serve PROJECT.toml`` builds the same recipes in the background
through :class:`~greentwin.twin.demo.DemoBuilder`.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from greentwin.core import ServerError
from greentwin.twin.demo import LayerRecipe, build_layer, cache_key
from greentwin.twin.layers import LayerStore

__all__ = [
    "build_project",
    "build_project_buildings",
    "build_project_overlays",
    "build_project_vegetation",
    "build_project_vegetation_baked",
    "project_recipes",
]

log = logging.getLogger(__name__)


def _inputs(manifest: Path) -> object:
    from greentwin.twin import district_inputs

    return district_inputs(manifest)


def build_project_buildings(inputs: Sequence[Path], out_dir: Path) -> None:
    """City tiles: the project's CityGML and its OSM blocks (as LoD1 CityGML), ground mode."""
    from greentwin.tiles.convert import convert
    from greentwin.twin import building_citygml

    with tempfile.TemporaryDirectory(prefix="greentwin-osm-") as tmp:
        files = building_citygml(inputs[0], Path(tmp))
        convert(files, out_dir, height_mode="ground", jobs=1, progress=False)


def _vegetation(inputs: Sequence[Path], out_dir: Path, *, instanced: bool) -> None:
    from greentwin.tiles.vegetation import build_vegetation_tileset
    from greentwin.twin import DistrictInputs

    data = _inputs(inputs[0])
    assert isinstance(data, DistrictInputs)
    build_vegetation_tileset(
        list(data.trees),
        list(data.covers),
        data.survey_date,
        out_dir,
        crs=data.crs,
        instanced=instanced,
        height_offset=data.height_offset,
    )


def build_project_vegetation(inputs: Sequence[Path], out_dir: Path) -> None:
    """The project's trees and covers on its survey date (``EXT_mesh_gpu_instancing``)."""
    _vegetation(inputs, out_dir, instanced=True)


def build_project_vegetation_baked(inputs: Sequence[Path], out_dir: Path) -> None:
    """The same vegetation with every mesh baked into its tile (engines without instancing)."""
    _vegetation(inputs, out_dir, instanced=False)


def build_project_overlays(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> None:
    """Noise, air and heat overlays of the project's district (one folder per indicator).

    The grid's blocks (``[grid] block_m``, :mod:`greentwin.twin.blocks`) are computed
    through an executor: the Dask ``scheduler`` when given (else the manifest's
    ``[compute] scheduler``), else ``jobs`` local worker processes (else the manifest's
    ``[compute] jobs``, else one per core); a builder that runs in a daemon process (the
    server's background build) computes them in its own process. The files do not depend
    on where the blocks ran.
    """
    import multiprocessing

    from greentwin.twin import load_manifest
    from greentwin.twin.district import INDICATORS, District, overlay_layers

    project = load_manifest(Path(inputs[0]))
    district = District.from_project(Path(inputs[0]))
    scheduler = scheduler or project.scheduler
    jobs = jobs if jobs is not None else project.jobs
    if not scheduler and multiprocessing.current_process().daemon:
        jobs = 1  # a daemon process cannot start worker processes
    state = overlay_layers(district, out_dir, jobs=jobs, scheduler=scheduler)
    layers = [{"layer": name, "kind": "overlay", "entry": "meta.json"} for name in INDICATORS]
    (out_dir / "layers.json").write_text(json.dumps(layers), encoding="utf-8")
    log.info("project overlays computed: %s", state.timings)


def project_recipes(manifest: Path) -> tuple[LayerRecipe, ...]:
    """The layer recipes of a project (inputs: the manifest, then every file it names).

    Raises
    ------
    ServerError
        The manifest is unusable.
    """
    from greentwin.twin import ManifestError, load_manifest
    from greentwin.twin.district import INDICATORS

    try:
        project = load_manifest(manifest)
    except ManifestError as exc:
        raise ServerError(str(exc)) from exc
    files = tuple(str(p) for p in project.inputs())
    code = ("citygml", "green_model", "kernels", "tiles", "twin", "traffic")
    return (
        LayerRecipe(
            "buildings", files, build_project_buildings, code, ("greentwin.tiles.convert",)
        ),
        LayerRecipe("vegetation", files, build_project_vegetation, code),
        LayerRecipe("vegetation_baked", files, build_project_vegetation_baked, code),
        LayerRecipe(
            "overlays",
            files,
            build_project_overlays,
            code,
            ("greentwin.kernels.noise.compute",),
            publishes=INDICATORS,
        ),
    )


def build_project(
    manifest: Path,
    store: LayerStore,
    *,
    scenario: str = "baseline",
    progress: Callable[[str], None] = print,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> list[str]:
    """Build every layer of a project into a layer store (cached ones are kept).

    Reports each stage through ``progress`` (``[2/4] vegetation: built in 3.1 s``) and
    returns the project's summary of skipped and defaulted records. ``jobs`` and
    ``scheduler`` say where the overlays' blocks run (:func:`build_project_overlays`).

    Raises
    ------
    ManifestError
        The manifest or a source is unusable (nothing is built).
    ServerError
        A layer failed (earlier layers stay published; the failed one keeps its previous
        version).
    """
    from greentwin.twin import DistrictInputs

    manifest = Path(manifest).resolve()
    t0 = time.perf_counter()
    data = _inputs(manifest)  # a bad manifest: ManifestError (exit code 3)
    recipes = project_recipes(manifest)
    assert isinstance(data, DistrictInputs)
    progress(
        f"[0/{len(recipes)}] sources: {len(data.footprints)} buildings, {len(data.trees)} trees, "
        f"{len(data.covers)} green areas, {len(data.roads.roads)} roads "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    for line in data.report:
        progress(f"      {line}")
    store.ensure()
    for k, recipe in enumerate(recipes, start=1):
        stage = f"[{k}/{len(recipes)}] {recipe.layer}"
        key = cache_key(recipe, manifest.parent)
        current = store.layers(scenario)
        names = recipe.publishes or (recipe.layer,)
        if all((info := current.get(n)) is not None and info.source == key for n in names):
            progress(f"{stage}: up to date")
            continue
        t = time.perf_counter()
        progress(f"{stage}: building ...")
        build = recipe.build
        if build is build_project_overlays:
            build = functools.partial(build_project_overlays, jobs=jobs, scheduler=scheduler)
        try:
            build_layer(build, list(map(Path, recipe.inputs)), store, scenario, recipe.layer, key)
        except ServerError:
            raise
        except Exception as exc:
            raise ServerError(f"{recipe.layer}: {type(exc).__name__}: {exc}") from exc
        progress(f"{stage}: built in {time.perf_counter() - t:.1f} s")
    return list(data.report)
