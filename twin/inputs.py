"""A project's district inputs, assembled from its manifest.

``district_inputs(manifest) -> DistrictInputs``: every source read once (cached per process
by the input files' sizes and modification times), in the project CRS. The server turns
the inputs into its ``District`` (``District.from_inputs``); the build writes the city
tiles from :meth:`DistrictInputs.building_sources`.

The analysis grid covers the manifest's extent (``project.extent``, degrees) plus the grid
margin; without an extent, the buildings plus the margin (as the demo). Buildings whose
centre lies outside the extent are left out; trees and green areas outside the grid are
left out; roads are clipped to the grid.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from greentwin.green_model.api import Climate, PlantCover, Tree
from greentwin.kernels.noise.emission import RoadCoefficients
from greentwin.kernels.raster import BuildingFootprint, Grid
from greentwin.kernels.roads import RoadNetwork
from greentwin.twin.manifest import ManifestError, Project, load_manifest
from greentwin.twin.readers import (
    BuildingRecord,
    OsmBuilding,
    Report,
    osm_citygml_features,
    read_buildings,
    read_covers,
    read_osm_roads,
    read_trees,
    transformer,
)
from greentwin.twin.roads import _geojson_records, build_roads

__all__ = [
    "DistrictInputs",
    "building_citygml",
    "district_inputs",
    "ground_shift",
    "write_osm_citygml",
]

log = logging.getLogger(__name__)

#: The bundled CNOSSOS-EU coefficient file (used when the manifest names none).
DEFAULT_COEFFICIENTS = (
    Path(__file__).resolve().parent.parent / "data" / "noise" / "cnossos_road_coefficients.json"
)


@dataclass(frozen=True, slots=True, eq=False)
class DistrictInputs:
    """Everything a District is built from (plain data; no server types).

    Attributes mirror ``District``; ``buildings`` maps footprint ids to
    :class:`BuildingRecord`; ``citygml`` and ``osm_blocks`` are the building sources of the
    city tiles; ``report`` the one summary of what was skipped or defaulted.
    """

    project: Project
    crs: str
    height_offset: float
    footprints: tuple[BuildingFootprint, ...]
    buildings: dict[str, BuildingRecord]
    trees: tuple[Tree, ...]
    covers: tuple[PlantCover, ...]
    roads: RoadNetwork
    grid: Grid
    coefficients: RoadCoefficients
    climate: Climate
    survey_date: dt.date
    citygml: tuple[Path, ...] = ()
    osm_blocks: tuple[OsmBuilding, ...] = ()
    report: tuple[str, ...] = field(default_factory=tuple)


def _extent_bounds(project: Project) -> tuple[float, float, float, float] | None:
    if project.extent is None:
        return None
    w, s, e, n = project.extent
    t = np.linspace(0.0, 1.0, 9)
    lon = np.concatenate([w + (e - w) * t, np.full(9, e), w + (e - w) * t, np.full(9, w)])
    lat = np.concatenate([np.full(9, s), s + (n - s) * t, np.full(9, n), s + (n - s) * t])
    x, y = transformer("EPSG:4326", project.crs).transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ManifestError(
            f"{project.path.name}: project.extent: lies outside the area of {project.crs}"
        )
    return (float(x.min()), float(y.min()), float(x.max()), float(y.max()))


def ground_shift(citygml: tuple[Path, ...]) -> float:
    """Metres the converter's ``height_mode="ground"`` moves CityGML buildings down.

    The lowest ellipsoidal height of the GroundSurface polygons (else of all points), as
    the demo uses too; 0 without CityGML (OSM blocks stand on z = 0).
    """
    from greentwin.citygml.reader import CityGMLReader
    from greentwin.tiles.geodesy import to_geodetic

    lowest = np.inf
    for path in citygml:
        for feature in CityGMLReader(path).features():
            if feature.crs is None:
                continue
            polys = [p for f in (feature, *feature.children) for ps in f.lods.values() for p in ps]
            ground = [p.exterior for p in polys if p.surface_type == "GroundSurface"]
            rings = ground or [p.exterior for p in polys]
            if rings:
                geo = to_geodetic(feature.crs.pyproj_definition, np.concatenate(rings))
                lowest = min(lowest, float(geo[:, 2].min()))
    return float(lowest) if np.isfinite(lowest) else 0.0


def district_inputs(manifest: str | Path) -> DistrictInputs:
    """Read every source of a project (cached per process by the inputs' stamps).

    Raises
    ------
    ManifestError
        The manifest or a source is unusable (one message naming the file and key).
    """
    project = load_manifest(manifest)
    stamp = []
    for p in project.inputs():
        st = p.stat()
        stamp.append((str(p), st.st_size, st.st_mtime_ns))
    return _cached(str(project.path), tuple(stamp))


@functools.lru_cache(maxsize=4)
def _cached(path: str, stamp: tuple[tuple[str, int, int], ...]) -> DistrictInputs:
    del stamp  # part of the cache key only
    return _read(load_manifest(path))


def _read(project: Project) -> DistrictInputs:
    t0 = time.perf_counter()
    report = Report()
    clip = _extent_bounds(project)
    buildings = read_buildings(project, clip, report)
    if clip is None:
        xy = np.concatenate([np.asarray(f.exterior)[:, :2] for f in buildings.footprints])
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        clip = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    grid = Grid.covering(clip, project.cell_m, project.crs, margin=project.margin_m)
    # plants over the whole analysis grid (extent and margin): their shade and crowns
    # reach into the extent
    trees, veg_covers = read_trees(project, grid.bounds, report)
    covers = [*veg_covers, *read_covers(project, grid.bounds, report)]
    header: dict[str, object] = {}
    if project.roads.osm is not None:
        records = read_osm_roads(project, report)
    elif project.roads.geojson is not None:
        records, header = _geojson_records(project, report)
    else:
        raise ManifestError(f"{project.path.name}: roads: name a geojson or an osm file")
    roads = build_roads(project, records, grid.bounds, report, header)
    coeff_path = project.roads.coefficients or DEFAULT_COEFFICIENTS
    try:
        coeffs = RoadCoefficients.from_dict(json.loads(coeff_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise ManifestError(
            f"{project.path.name}: roads.coefficients: {coeff_path.name}: {exc}"
        ) from exc
    shift = ground_shift(project.buildings.citygml) if project.buildings.citygml else 0.0
    inputs = DistrictInputs(
        project=project,
        crs=project.crs,
        height_offset=-shift,
        footprints=tuple(buildings.footprints),
        buildings=buildings.records,
        trees=tuple(trees),
        covers=tuple(covers),
        roads=roads,
        grid=grid,
        coefficients=coeffs,
        climate=Climate.for_city(project.city),
        survey_date=project.survey_date,
        citygml=project.buildings.citygml,
        osm_blocks=tuple(buildings.osm_blocks),
        report=tuple(report.lines()),
    )
    log.info(
        "project %s read: %d footprints, %d trees, %d covers, %d roads, grid %dx%d (%.2f s)",
        project.name,
        len(inputs.footprints),
        len(inputs.trees),
        len(inputs.covers),
        len(roads.roads),
        grid.nx,
        grid.ny,
        time.perf_counter() - t0,
    )
    for line in inputs.report:
        log.info("project %s: %s", project.name, line)
    return inputs


def write_osm_citygml(inputs: DistrictInputs, path: Path) -> Path | None:
    """The OSM blocks as a CityGML 2.0 LoD1 file at ``path`` (None when there are none)."""
    from greentwin.citygml.model import SourceCRS
    from greentwin.citygml.writer import write_citygml

    if not inputs.osm_blocks:
        return None
    epsg = int(inputs.crs.split(":")[1])
    write_citygml(
        osm_citygml_features(list(inputs.osm_blocks), inputs.crs),
        path,
        version="2.0",
        crs=SourceCRS(inputs.crs, epsg),
    )
    return path


def building_citygml(manifest: str | Path, folder: Path) -> list[Path]:
    """The CityGML files of a project's buildings: its own, then its OSM blocks (written
    as LoD1 into ``folder``)."""
    inputs = district_inputs(manifest)
    files = list(inputs.citygml)
    osm = write_osm_citygml(inputs, folder / "osm_buildings_lod1.gml")
    if osm is not None:
        files.append(osm)
    return files
