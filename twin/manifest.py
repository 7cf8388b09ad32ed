"""The project manifest: one TOML file naming a place's sources and settings.

``load_manifest(path) -> Project`` reads the file, checks it against the JSON Schema
``project.schema.json`` beside this module and resolves every path relative to the
manifest's folder (globs are expanded; a pattern that matches nothing is an error). Every
problem is one :class:`ManifestError` whose message names the file and the key, e.g.
``project.toml: roads.traffic.aadt_propety: unknown key``. The format is documented in
``docs/projects.md``.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from greentwin.core import ExitCode, GreentwinError

__all__ = [
    "DEFAULT_BLOCK_M",
    "DEFAULT_CELL_M",
    "DEFAULT_MARGIN_M",
    "DEFAULT_STOREY_M",
    "BuildingSources",
    "GreenSources",
    "ManifestError",
    "Project",
    "RegisterColumns",
    "RoadSources",
    "TrafficSettings",
    "TreeSources",
    "load_manifest",
]

#: Analysis grid defaults (the demo's: 5 m cells, 150 m margin around the buildings).
DEFAULT_CELL_M = 5.0
DEFAULT_MARGIN_M = 150.0
#: Side of the blocks the noise, air and heat maps are computed in, m (twin/blocks.py).
DEFAULT_BLOCK_M = 1000.0
#: Noise receiver height above ground, m (Directive 2002/49/EC, Annex I: 4 m).
DEFAULT_RECEIVER_HEIGHT_M = 4.0
#: Storey height for OSM ``building:levels`` and where storeys are unknown, m.
DEFAULT_STOREY_M = 3.0
#: Height of an OSM building with neither ``height`` nor ``building:levels``, m
#: (three storeys).
DEFAULT_BUILDING_HEIGHT_M = 9.0
#: Road classes read from OSM ``highway`` by default: roads that carry motor traffic.
DEFAULT_ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
)

_SCHEMA = Path(__file__).with_name("project.schema.json")


class ManifestError(GreentwinError):
    """A project manifest or one of its sources is unusable (the message names which)."""

    exit_code = ExitCode.INPUT


@dataclass(frozen=True, slots=True)
class BuildingSources:
    """Where the buildings come from (either or both)."""

    citygml: tuple[Path, ...] = ()
    osm: Path | None = None
    storey_height_m: float = DEFAULT_STOREY_M
    default_height_m: float = DEFAULT_BUILDING_HEIGHT_M


@dataclass(frozen=True, slots=True)
class RegisterColumns:
    """A tree register (CSV or GeoJSON) and which column holds what ("" = absent)."""

    path: Path
    crs: str = "EPSG:4326"
    id: str = ""
    x: str = "x"
    y: str = "y"
    species: str = ""
    height_m: str = ""
    trunk_diameter_cm: str = ""
    trunk_circumference_cm: str = ""
    crown_diameter_m: str = ""
    planted_year: str = ""


@dataclass(frozen=True, slots=True)
class TreeSources:
    """Where the trees come from (any combination)."""

    citygml: tuple[Path, ...] = ()
    osm: Path | None = None
    register: RegisterColumns | None = None
    default_species: str | None = None


@dataclass(frozen=True, slots=True)
class GreenSources:
    """Plant covers: GeoJSON polygons with a cover type."""

    geojson: tuple[Path, ...] = ()
    cover_property: str = "cover"
    default_cover: str = "lawn"


@dataclass(frozen=True, slots=True)
class TrafficSettings:
    """Where the roads' traffic comes from when their records carry none."""

    counts: Path | None = None
    aadt_property: str = "AADT"
    heavy_aadt_property: str = ""
    name_property: str = "name"
    osm_id_property: str = "osmid"
    class_property: str = ""
    match_distance_m: float = 60.0
    shares: tuple[float, float, float] | None = None
    heavy_share: float | None = None
    aadt: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RoadSources:
    """The road network: GeoJSON lines (the noise schema) or OSM highways."""

    geojson: Path | None = None
    osm: Path | None = None
    classes: tuple[str, ...] = DEFAULT_ROAD_CLASSES
    coefficients: Path | None = None
    traffic: TrafficSettings = field(default_factory=TrafficSettings)


@dataclass(frozen=True, slots=True)
class Project:
    """A parsed, validated manifest (paths absolute)."""

    path: Path
    name: str
    title: str
    crs: str
    city: str
    extent: tuple[float, float, float, float] | None
    survey_date: dt.date
    cell_m: float
    margin_m: float
    buildings: BuildingSources
    trees: TreeSources
    green: GreenSources
    roads: RoadSources
    block_m: float = DEFAULT_BLOCK_M
    jobs: int | None = None
    scheduler: str | None = None
    #: Height of the noise receivers above ground, m (END: 4 m).
    receiver_height_m: float = DEFAULT_RECEIVER_HEIGHT_M
    #: Urban background concentrations that replace the air model's defaults, ug/m3
    #: (``no2``, ``nox``, ``o3``, ``pm10``, ``pm25``; sorted pairs).
    backgrounds: tuple[tuple[str, float], ...] = ()

    def inputs(self) -> list[Path]:
        """Every file the project reads (the manifest first), for cache keys."""
        out = [self.path, *self.buildings.citygml, *self.trees.citygml, *self.green.geojson]
        for p in (
            self.buildings.osm,
            self.trees.osm,
            self.trees.register.path if self.trees.register else None,
            self.roads.geojson,
            self.roads.osm,
            self.roads.coefficients,
            self.roads.traffic.counts,
        ):
            if p is not None and p not in out:
                out.append(p)
        return out


@cache
def _schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_SCHEMA.read_text(encoding="utf-8"))
    return doc


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _check(doc: dict[str, Any], name: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        _schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(e.path), e.message))
    if not errors:
        return
    e = errors[0]
    where = _where(e.absolute_path)
    if e.validator == "additionalProperties":
        allowed = sorted((e.schema.get("properties") or {}).keys())
        extra = sorted(set(e.instance) - set(allowed)) if isinstance(e.instance, dict) else []
        key = f"{where}.{extra[0]}" if where != "(top level)" and extra else (extra or ["?"])[0]
        raise ManifestError(f"{name}: {key}: unknown key (known here: {', '.join(allowed)})")
    if e.validator == "required":
        raise ManifestError(f"{name}: {where}: {e.message}")
    raise ManifestError(f"{name}: {where}: {e.message}")


def load_manifest(path: str | Path) -> Project:
    """Read, validate and resolve a project manifest.

    Raises
    ------
    ManifestError
        The file is missing or not TOML, a key is unknown or has a wrong value, a named
        file is missing, or the CRS is not a projected CRS in metres.
    """
    p = Path(path).resolve()
    name = p.name
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{name}: not valid TOML: {exc}") from exc
    _check(doc, name)
    base = p.parent

    def one(key: str, value: str | None) -> Path | None:
        if value is None:
            return None
        found = _resolve(base, value, key, name)
        if len(found) != 1:
            raise ManifestError(f"{name}: {key}: {value!r} names {len(found)} files, not one")
        return found[0]

    def many(key: str, value: str | list[str] | None) -> tuple[Path, ...]:
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        out: list[Path] = []
        for item in items:
            out.extend(_resolve(base, item, key, name))
        return tuple(out)

    proj = doc["project"]
    crs = str(proj["crs"])
    _check_crs(crs, name)
    extent = proj.get("extent")
    if extent is not None:
        w, s, e, n = (float(v) for v in extent)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ManifestError(
                f"{name}: project.extent: {extent} is not [west, south, east, north] in degrees"
            )
        extent = (w, s, e, n)
    city = str(proj["city"])
    _check_city(city, name)
    survey = proj.get("survey_date", "2023-07-01")
    survey_date = survey if isinstance(survey, dt.date) else dt.date.fromisoformat(str(survey))
    grid = doc.get("grid", {})
    compute = doc.get("compute", {})
    air = doc.get("air", {})
    b = doc.get("buildings", {})
    t = doc.get("trees", {})
    g = doc.get("green", {})
    r = doc.get("roads", {})
    tr = r.get("traffic", {})
    buildings = BuildingSources(
        citygml=many("buildings.citygml", b.get("citygml")),
        osm=one("buildings.osm", b.get("osm")),
        storey_height_m=float(b.get("storey_height_m", DEFAULT_STOREY_M)),
        default_height_m=float(b.get("default_height_m", DEFAULT_BUILDING_HEIGHT_M)),
    )
    if not buildings.citygml and buildings.osm is None:
        raise ManifestError(f"{name}: buildings: name citygml files or an osm file")
    register = None
    if "register" in t:
        reg = dict(t["register"])
        reg_path = one("trees.register.path", reg.pop("path"))
        assert reg_path is not None
        if "crs" in reg:
            _check_crs(str(reg["crs"]), name, key="trees.register.crs", projected=False)
        register = RegisterColumns(path=reg_path, **reg)
    trees = TreeSources(
        citygml=many("trees.citygml", t.get("citygml")),
        osm=one("trees.osm", t.get("osm")),
        register=register,
        default_species=t.get("default_species"),
    )
    if trees.default_species is not None:
        from greentwin.green_model.species import SpeciesLibrary

        if SpeciesLibrary.default().resolve(trees.default_species, strict=False) is None:
            raise ManifestError(
                f"{name}: trees.default_species: {trees.default_species!r} is not in the "
                "species library (docs/green_model.md lists it)"
            )
    green = GreenSources(
        geojson=many("green.geojson", g.get("geojson")),
        cover_property=str(g.get("cover_property", "cover")),
        default_cover=str(g.get("default_cover", "lawn")),
    )
    shares = tr.get("shares")
    traffic = TrafficSettings(
        counts=one("roads.traffic.counts", tr.get("counts")),
        aadt_property=str(tr.get("aadt_property", "AADT")),
        heavy_aadt_property=str(tr.get("heavy_aadt_property", "")),
        name_property=str(tr.get("name_property", "name")),
        osm_id_property=str(tr.get("osm_id_property", "osmid")),
        class_property=str(tr.get("class_property", "")),
        match_distance_m=float(tr.get("match_distance_m", 60.0)),
        shares=(
            (float(shares["day"]), float(shares["evening"]), float(shares["night"]))
            if shares
            else None
        ),
        heavy_share=float(tr["heavy_share"]) if "heavy_share" in tr else None,
        aadt={str(k): float(v) for k, v in (tr.get("aadt") or {}).items()},
    )
    roads = RoadSources(
        geojson=one("roads.geojson", r.get("geojson")),
        osm=one("roads.osm", r.get("osm")),
        classes=tuple(r.get("classes", DEFAULT_ROAD_CLASSES)),
        coefficients=one("roads.coefficients", r.get("coefficients")),
        traffic=traffic,
    )
    if roads.geojson is not None and roads.osm is not None:
        raise ManifestError(f"{name}: roads: name either geojson or osm, not both")
    return Project(
        path=p,
        name=str(proj["name"]),
        title=str(proj.get("title", proj["name"])),
        crs=crs,
        city=city,
        extent=extent,
        survey_date=survey_date,
        cell_m=float(grid.get("cell_m", DEFAULT_CELL_M)),
        margin_m=float(grid.get("margin_m", DEFAULT_MARGIN_M)),
        buildings=buildings,
        trees=trees,
        green=green,
        roads=roads,
        block_m=float(grid.get("block_m", DEFAULT_BLOCK_M)),
        jobs=int(compute["jobs"]) if "jobs" in compute else None,
        scheduler=str(compute["scheduler"]) if compute.get("scheduler") else None,
        receiver_height_m=float(grid.get("receiver_height_m", DEFAULT_RECEIVER_HEIGHT_M)),
        backgrounds=tuple(sorted((k, float(v)) for k, v in air.get("background", {}).items())),
    )


def _resolve(base: Path, pattern: str, key: str, name: str) -> list[Path]:
    full = Path(pattern) if Path(pattern).is_absolute() else base / pattern
    if glob.has_magic(str(full)):
        found = sorted(Path(m).resolve() for m in glob.glob(str(full)))
        if not found:
            raise ManifestError(f"{name}: {key}: {pattern!r} matches no file")
        return found
    if not full.is_file():
        raise ManifestError(f"{name}: {key}: file {pattern!r} not found")
    return [full.resolve()]


def _check_crs(crs: str, name: str, key: str = "project.crs", projected: bool = True) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        c = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ManifestError(f"{name}: {key}: {crs!r} is not a known CRS") from exc
    if not projected:
        return
    unit = c.axis_info[0].unit_name if c.axis_info else ""
    if not c.is_projected or unit not in ("metre", "meter"):
        raise ManifestError(
            f"{name}: {key}: {crs} is not a projected CRS in metres "
            "(use the city's metric CRS, e.g. EPSG:3067 or a UTM zone)"
        )


def _check_city(city: str, name: str) -> None:
    from greentwin.green_model.climate import CITY_NORMALS

    if city.lower() not in {c.lower() for c in CITY_NORMALS}:
        raise ManifestError(
            f"{name}: project.city: no climate normals for {city!r}; "
            f"use one of {', '.join(sorted(CITY_NORMALS))}"
        )
