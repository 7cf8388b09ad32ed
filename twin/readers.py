"""Readers that turn a project's sources into the typed inputs of the district model.

Each reader takes a :class:`~greentwin.twin.manifest.Project` (paths resolved) and a
:class:`Report` that collects what was skipped or defaulted, one summary line per kind
(never one line per tree). Broken records are skipped and counted; a source that cannot
be used at all (missing, unreadable, wrong CRS) is one :class:`ManifestError`.

- Buildings: CityGML (the streaming reader; footprints and heights as the demo) and
  OpenStreetMap ``building=*`` areas from a ``.osm.pbf`` (pyosmium) as LoD1 blocks: height
  from ``height``, else ``building:levels`` x the storey height, else the default height.
- Trees: CityGML vegetation, a tree register (CSV or GeoJSON, column mapping) and OSM
  ``natural=tree`` nodes; species matched by Latin name, then genus
  (:meth:`SpeciesLibrary.match`).
- Green areas: GeoJSON polygons with a cover type.
- Roads: GeoJSON lines or OSM highways, with traffic from the records, from count points
  or from per-class values (:mod:`greentwin.twin.traffic`).

Coordinates come out in the project CRS (metres).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from greentwin.green_model.api import PlantCover, Tree
from greentwin.green_model.species import SpeciesLibrary
from greentwin.kernels.raster import BuildingFootprint
from greentwin.twin.manifest import ManifestError, Project

__all__ = [
    "BuildingRecord",
    "Buildings",
    "OsmBuilding",
    "Report",
    "building_record",
    "read_buildings",
    "read_covers",
    "read_osm_roads",
    "read_trees",
    "transformer",
]

F64 = npt.NDArray[np.float64]

_NUM_RE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(m|cm|ft)?\s*$", re.IGNORECASE)


@dataclass
class Report:
    """What a build skipped or defaulted: counts per reason, printed once."""

    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def count(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records under ``reason``."""
        if n:
            self.counts[reason] += n

    def note(self, line: str) -> None:
        """A one-off line (e.g. a species-matching summary)."""
        self.notes.append(line)

    def lines(self) -> list[str]:
        """The summary: one line per reason (with its count), then the notes."""
        return [f"{n} x {reason}" for reason, n in sorted(self.counts.items())] + self.notes


@dataclass(frozen=True, slots=True)
class BuildingRecord:
    """What the indicators need of one footprint's building (see ``BuildingInfo``)."""

    building_id: str
    function: str = ""
    storeys: int | None = None
    ground_z: float = 0.0
    name: str = ""


@dataclass(frozen=True, slots=True)
class OsmBuilding:
    """An OpenStreetMap building as an LoD1 block (project CRS)."""

    id: str
    exterior: F64
    interiors: tuple[F64, ...]
    height_m: float
    storeys: int | None
    function: str
    name: str


@dataclass
class Buildings:
    """Footprints for the kernels, records for the indicators, sources for the tiles."""

    footprints: list[BuildingFootprint] = field(default_factory=list)
    records: dict[str, BuildingRecord] = field(default_factory=dict)
    osm_blocks: list[OsmBuilding] = field(default_factory=list)


@functools.lru_cache(maxsize=16)
def transformer(src: str, dst: str) -> Any:
    """A cached always-xy pyproj transformer."""
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _xy(src: str, dst: str, coords: F64) -> F64:
    c = np.asarray(coords, dtype=np.float64)[:, :2]
    if src == dst:
        return c.copy()
    x, y = transformer(src, dst).transform(c[:, 0], c[:, 1])
    return np.column_stack([np.asarray(x), np.asarray(y)])


def parse_length(value: str | None) -> float | None:
    """A length tag (``"12"``, ``"12.5 m"``, ``"40 ft"``) in metres; None if unusable."""
    if value is None:
        return None
    m = _NUM_RE.match(value)
    if m is None:
        return None
    v = float(m.group(1).replace(",", "."))
    unit = (m.group(2) or "m").lower()
    v = v * 0.3048 if unit == "ft" else v / 100.0 if unit == "cm" else v
    return v if v > 0 and math.isfinite(v) else None


def _inside(bounds: tuple[float, float, float, float] | None, x: float, y: float) -> bool:
    if bounds is None:
        return True
    return bounds[0] <= x <= bounds[2] and bounds[1] <= y <= bounds[3]


# ------------------------------------------------------------------------- buildings
def read_buildings(
    project: Project, clip: tuple[float, float, float, float] | None, report: Report
) -> Buildings:
    """Buildings of every source, those whose centre lies outside ``clip`` left out.

    Raises
    ------
    ManifestError
        A CityGML file is unreadable or in another horizontal CRS than the project.
    """
    out = Buildings()
    for path in project.buildings.citygml:
        _citygml_buildings(project, path, clip, out, report)
    if project.buildings.osm is not None:
        _osm_buildings(project, clip, out, report)
    if not out.footprints:
        raise ManifestError(f"{project.path.name}: buildings: no building inside the extent")
    return out


def _citygml_buildings(
    project: Project,
    path: Path,
    clip: tuple[float, float, float, float] | None,
    out: Buildings,
    report: Report,
) -> None:
    from greentwin.citygml.reader import CityGMLReader
    from greentwin.core import GreentwinError
    from greentwin.kernels.raster import footprints_from_features

    try:
        reader = CityGMLReader(path)
        for feature in reader.features():
            if feature.crs is not None and f"EPSG:{feature.crs.horizontal_epsg}" != project.crs:
                raise ManifestError(
                    f"{project.path.name}: buildings.citygml: {path.name} is in "
                    f"EPSG:{feature.crs.horizontal_epsg}, the project in {project.crs}"
                )
            found = footprints_from_features([feature])
            record = building_record(feature)
            for fp in found:
                cx, cy = np.asarray(fp.exterior)[:, :2].mean(axis=0)
                if not _inside(clip, float(cx), float(cy)):
                    report.count("buildings outside the extent left out")
                    continue
                out.footprints.append(fp)
                out.records[fp.id] = record
        report.count("CityGML objects skipped by the reader", len(reader.skipped))
    except GreentwinError as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"{project.path.name}: buildings.citygml: {path.name}: {exc}") from exc


def building_record(feature: Any) -> BuildingRecord:
    """The :class:`BuildingRecord` of a top-level CityGML Building feature.

    Storeys come from ``storeysAboveGround`` (the building's, else the largest of its
    parts'); the ground from the lowest z of all its polygons.
    """

    def storeys_of(f: Any) -> int | None:
        v = f.attributes.get("storeysAboveGround")
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            return int(v)
        return None

    zmin = math.inf
    parts: list[int] = []
    stack = [feature]
    while stack:
        f = stack.pop()
        stack.extend(f.children)
        for polys in f.lods.values():
            for p in polys:
                if len(p.exterior):
                    zmin = min(zmin, float(np.asarray(p.exterior)[:, 2].min()))
        if f is not feature and (n := storeys_of(f)) is not None:
            parts.append(n)
    storeys = storeys_of(feature)  # the building's own, else the largest of its parts'
    if storeys is None and parts:
        storeys = max(parts)
    return BuildingRecord(
        building_id=feature.id,
        function=str(feature.attributes.get("function") or ""),
        storeys=storeys,
        ground_z=zmin if math.isfinite(zmin) else 0.0,
        name=str(feature.attributes.get("name") or ""),
    )


def _osm_objects(path: Path) -> Iterator[Any]:
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise ManifestError("reading .osm.pbf needs the osmium package") from exc
    try:
        yield from osmium.FileProcessor(str(path)).with_locations().with_areas()
    except RuntimeError as exc:
        raise ManifestError(f"{path.name}: not a readable OSM file: {exc}") from exc


def _osm_buildings(
    project: Project, clip: tuple[float, float, float, float] | None, out: Buildings, report: Report
) -> None:
    import osmium
    import shapely
    from osmium.geom import WKBFactory

    assert project.buildings.osm is not None
    wkb = WKBFactory()
    src = project.buildings.osm
    heights: Counter[str] = Counter()
    for obj in _osm_objects(src):
        if not obj.is_area():
            continue
        tag = obj.tags.get("building")
        if tag is None or tag == "no":
            continue
        try:
            geom = shapely.from_wkb(wkb.create_multipolygon(obj))
        except (RuntimeError, osmium.InvalidLocationError):
            report.count("OSM buildings with nodes missing from the extract skipped")
            continue
        height = parse_length(obj.tags.get("height"))
        levels_raw = obj.tags.get("building:levels")
        levels = parse_length(levels_raw)
        if height is not None:
            heights["height"] += 1
        elif levels is not None:
            height = levels * project.buildings.storey_height_m
            heights["building:levels"] += 1
        else:
            height = project.buildings.default_height_m
            heights["default"] += 1
        kind = "w" if obj.from_way() else "r"
        base = f"osm-{kind}{obj.orig_id()}"
        for k, poly in enumerate(getattr(geom, "geoms", [geom])):
            ext = _xy("EPSG:4326", project.crs, np.asarray(poly.exterior.coords))
            cx, cy = ext.mean(axis=0)
            if not _inside(clip, float(cx), float(cy)):
                report.count("buildings outside the extent left out")
                continue
            holes = tuple(
                _xy("EPSG:4326", project.crs, np.asarray(r.coords)) for r in poly.interiors
            )
            fid = base if k == 0 else f"{base}-{k}"
            block = OsmBuilding(
                id=fid,
                exterior=ext,
                interiors=holes,
                height_m=float(height),
                storeys=int(levels) if levels is not None else None,
                function=str(tag),
                name=str(obj.tags.get("name") or ""),
            )
            out.osm_blocks.append(block)
            out.footprints.append(BuildingFootprint(fid, ext, float(height), holes))
            out.records[fid] = BuildingRecord(fid, str(tag), block.storeys, 0.0, block.name)
    if sum(heights.values()):
        report.note(
            "OSM building heights: "
            + ", ".join(f"{n} from {how}" for how, n in sorted(heights.items()))
        )


def osm_citygml_features(blocks: list[OsmBuilding], crs: str) -> list[Any]:
    """The OSM blocks as CityGML LoD1 Building features (walls, roof and floor)."""
    from greentwin.citygml.model import Feature, Polygon, SourceCRS

    epsg = int(crs.split(":")[1])
    source = SourceCRS(crs, epsg)
    feats = []
    for b in blocks:
        polys = []
        rings = [b.exterior, *b.interiors]
        for ring in rings:
            r = ring[:-1] if np.allclose(ring[0], ring[-1]) else ring
            for i in range(len(r)):
                a, c = r[i], r[(i + 1) % len(r)]
                polys.append(
                    Polygon(
                        np.array(
                            [
                                [a[0], a[1], 0.0],
                                [c[0], c[1], 0.0],
                                [c[0], c[1], b.height_m],
                                [a[0], a[1], b.height_m],
                            ]
                        )
                    )
                )

        def flat(ring: F64, z: float) -> F64:
            return np.column_stack([ring[:, 0], ring[:, 1], np.full(len(ring), z)])

        polys.append(
            Polygon(flat(b.exterior, b.height_m), [flat(h, b.height_m) for h in b.interiors])
        )
        polys.append(
            Polygon(flat(b.exterior[::-1], 0.0), [flat(h[::-1], 0.0) for h in b.interiors])
        )
        attrs: dict[str, Any] = {"measuredHeight": round(b.height_m, 2), "function": b.function}
        if b.storeys is not None:
            attrs["storeysAboveGround"] = b.storeys
        if b.name:
            attrs["name"] = b.name
        feats.append(Feature(b.id, "Building", source, attrs, {1: polys}))
    return feats


# ------------------------------------------------------------------------- trees
def read_trees(
    project: Project,
    clip: tuple[float, float, float, float] | None,
    report: Report,
    lib: SpeciesLibrary | None = None,
) -> tuple[list[Tree], list[PlantCover]]:
    """Trees (and CityGML plant covers) of every source, in the project CRS.

    Raises
    ------
    ManifestError
        A source is unreadable, in another CRS, or lacks a mapped column.
    """
    lib = lib or SpeciesLibrary.default()
    matcher = _SpeciesMatcher(lib, project.trees.default_species)
    trees: list[Tree] = []
    covers: list[PlantCover] = []
    for path in project.trees.citygml:
        found, found_covers = _citygml_trees(project, path, report)
        trees.extend(found)
        covers.extend(found_covers)
    if project.trees.register is not None:
        trees.extend(_register_trees(project, matcher, report))
    if project.trees.osm is not None:
        trees.extend(_osm_trees(project, matcher, report))
    kept = [t for t in trees if _inside(clip, t.x, t.y)]
    report.count("trees outside the extent left out", len(trees) - len(kept))
    report.count(
        "trees without size or age (taken as planted 10 years before the survey)",
        sum(1 for t in kept if t.attributes.get("size") == "assumed"),
    )
    seen: set[str] = set()
    unique: list[Tree] = []
    for t in kept:
        if t.id in seen:
            report.count("trees with a duplicate id skipped")
            continue
        seen.add(t.id)
        unique.append(t)
    matcher.summarise(report)
    return unique, covers


def _citygml_trees(project: Project, path: Path, report: Report) -> tuple[list[Tree], list[Any]]:
    from greentwin.core import GreentwinError
    from greentwin.green_model.io import read_vegetation

    try:
        veg = read_vegetation(path, project.survey_date)
    except GreentwinError as exc:
        raise ManifestError(f"{project.path.name}: trees.citygml: {path.name}: {exc}") from exc
    if veg.crs is not None and f"EPSG:{veg.crs.horizontal_epsg}" != project.crs:
        raise ManifestError(
            f"{project.path.name}: trees.citygml: {path.name} is in "
            f"EPSG:{veg.crs.horizontal_epsg}, the project in {project.crs}"
        )
    report.count("CityGML vegetation objects skipped", len(veg.skipped))
    report.count(
        "CityGML trees without a known species (default species)", len(veg.defaulted_species)
    )
    import dataclasses

    plain = [
        dataclasses.replace(
            t,
            attributes={
                k: v for k, v in t.attributes.items() if isinstance(v, str | int | float | bool)
            },
        )
        for t in veg.trees
    ]
    return plain, list(veg.covers)


class _SpeciesMatcher:
    """Species names -> library keys, counting how each name was matched."""

    def __init__(self, lib: SpeciesLibrary, default: str | None) -> None:
        self.lib = lib
        self.default = lib.resolve(default) if default else lib.default_species
        self.by_genus: Counter[tuple[str, str]] = Counter()
        self.fallback: Counter[str] = Counter()
        self.exact = 0

    def __call__(self, name: str | None) -> str:
        key, how = self.lib.match(name)
        if key is None:
            self.fallback[(name or "").strip() or "(no species)"] += 1
            assert self.default is not None
            return self.default
        if how == "genus":
            self.by_genus[(str(name).strip(), key)] += 1
        else:
            self.exact += 1
        return key

    def summarise(self, report: Report) -> None:
        total = self.exact + sum(self.by_genus.values()) + sum(self.fallback.values())
        if not total:
            return
        line = f"species of {total} register/OSM trees: {self.exact} matched by name"
        if self.by_genus:
            line += "; by genus: " + ", ".join(
                f"{n} {name} -> {key}" for (name, key), n in self.by_genus.most_common()
            )
        if self.fallback:
            line += f"; default {self.default}: " + ", ".join(
                f"{n} {name}" for name, n in self.fallback.most_common()
            )
        report.note(line)


def _num(row: Mapping[str, Any], column: str, what: str) -> float | None:
    """A numeric cell; None when the column is not mapped or the cell is empty."""
    if not column:
        return None
    raw = row.get(column)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        v = float(str(raw).replace(",", ".")) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {raw!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} {raw!r} is not a finite non-negative number")
    return v


def _register_rows(project: Project) -> tuple[list[dict[str, Any]], str]:
    """Rows of the register as dicts, with x/y filled in for GeoJSON points."""
    reg = project.trees.register
    assert reg is not None
    name = project.path.name
    try:
        text = reg.path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{name}: trees.register.path: {reg.path.name}: {exc}") from exc
    if reg.path.suffix.lower() in (".geojson", ".json"):
        try:
            doc = json.loads(text)
            feats = doc["features"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(
                f"{name}: trees.register.path: {reg.path.name} is not a GeoJSON FeatureCollection"
            ) from exc
        rows = []
        for f in feats:
            props = dict((f or {}).get("properties") or {})
            geom = (f or {}).get("geometry") or {}
            if geom.get("type") == "Point":
                c = geom.get("coordinates") or [None, None]
                props[reg.x or "x"], props[reg.y or "y"] = c[0], c[1]
            rows.append(props)
        return rows, _geojson_crs(doc, reg.crs)
    rows = list(csv.DictReader(text.splitlines()))
    missing = [
        c
        for c in (
            reg.x,
            reg.y,
            reg.id,
            reg.species,
            reg.height_m,
            reg.trunk_diameter_cm,
            reg.trunk_circumference_cm,
            reg.crown_diameter_m,
            reg.planted_year,
        )
        if c and rows and c not in rows[0]
    ]
    if missing:
        raise ManifestError(
            f"{name}: trees.register: {reg.path.name} has no column {missing[0]!r} "
            f"(columns: {', '.join(rows[0])})"
        )
    return rows, reg.crs


def _geojson_crs(doc: Mapping[str, Any], default: str) -> str:
    crs = doc.get("crs")
    if isinstance(crs, str):
        return crs
    if isinstance(crs, Mapping):
        n = str((crs.get("properties") or {}).get("name", ""))
        if "CRS84" in n.upper():
            return "EPSG:4326"
        m = re.search(r"EPSG:{1,2}(?:[0-9.]*:)?(\d+)$", n)
        if m:
            return f"EPSG:{m.group(1)}"
    return default


def _register_trees(project: Project, match: _SpeciesMatcher, report: Report) -> list[Tree]:
    reg = project.trees.register
    assert reg is not None
    rows, crs = _register_rows(project)
    out: list[Tree] = []
    broken: Counter[str] = Counter()
    for i, row in enumerate(rows):
        try:
            x = _num(row, reg.x or "x", "x")
            y = _num(row, reg.y or "y", "y")
            if x is None or y is None:
                raise ValueError("no position")
            height = _num(row, reg.height_m, "height")
            dbh = _num(row, reg.trunk_diameter_cm, "trunk diameter")
            circ = _num(row, reg.trunk_circumference_cm, "trunk circumference")
            if dbh is None and circ is not None:
                dbh = circ / math.pi
            crown = _num(row, reg.crown_diameter_m, "crown diameter")
            year = _num(row, reg.planted_year, "planting year")
            planted = None
            if year is not None:
                if not 1500 <= year <= project.survey_date.year:
                    raise ValueError(f"planting year {year:g} is not in 1500..survey year")
                planted = dt.date(int(year), 4, 15)
            tid = str(row.get(reg.id) or "") if reg.id else ""
            xy = _xy(crs, project.crs, np.array([[x, y]]))[0]
            if not np.isfinite(xy).all():
                raise ValueError("position outside the CRS's area")
            species = match(str(row.get(reg.species) or "") if reg.species else None)
            if planted is None and dbh is None and height is None and crown is None:
                # nothing known of the size: a young street tree planted ten years before
                # the survey (the register says only that it stands there)
                planted = dt.date(project.survey_date.year - 10, 4, 15)
            out.append(
                Tree(
                    id=f"reg-{tid or i + 1}",
                    species=species,
                    x=float(xy[0]),
                    y=float(xy[1]),
                    planted=planted,
                    dbh_cm=dbh,
                    height_m=height,
                    crown_diameter_m=crown,
                    survey_date=project.survey_date,
                    attributes={"source": reg.path.name, "row": i + 2}
                    | (
                        {"size": "assumed"}
                        if planted
                        and dbh is None
                        and height is None
                        and crown is None
                        and year is None
                        else {}
                    ),
                )
            )
        except ValueError as exc:
            broken[str(exc).split(" '")[0] if "'" in str(exc) else str(exc)] += 1
            continue
    for reason, n in broken.items():
        report.count(f"tree register rows skipped ({reg.path.name}: {reason})", n)
    return out


def _osm_trees(project: Project, match: _SpeciesMatcher, report: Report) -> list[Tree]:
    assert project.trees.osm is not None
    out: list[Tree] = []
    for obj in _osm_objects(project.trees.osm):
        if not obj.is_node() or obj.tags.get("natural") != "tree":
            continue
        loc = obj.location
        if not loc.valid():
            continue
        xy = _xy("EPSG:4326", project.crs, np.array([[loc.lon, loc.lat]]))[0]
        tags = obj.tags
        name = tags.get("species") or tags.get("taxon")
        genus = tags.get("genus")
        if name and genus and " " not in name.strip():
            name = f"{genus} {name.strip().lower()}"  # species=Pendula + genus=Betula
        name = name or genus
        height = parse_length(tags.get("height"))
        crown = parse_length(tags.get("diameter_crown"))
        circ = parse_length(tags.get("circumference"))
        dbh = None
        if circ is not None:
            # OSM documents circumference in metres; values above 10 can only be
            # centimetres (no street tree has a 10 m girth).
            circ_m = circ / 100.0 if circ > 10 else circ
            dbh = circ_m * 100.0 / math.pi
        planted = None
        attributes: dict[str, Any] = {"source": "OpenStreetMap", "osm_id": int(obj.id)}
        if dbh is None and height is None and crown is None:
            planted = dt.date(project.survey_date.year - 10, 4, 15)
            attributes["size"] = "assumed"
        out.append(
            Tree(
                id=f"osm-n{obj.id}",
                species=match(name),
                x=float(xy[0]),
                y=float(xy[1]),
                planted=planted,
                dbh_cm=dbh,
                height_m=height,
                crown_diameter_m=crown,
                survey_date=project.survey_date,
                attributes=attributes,
            )
        )
    return out


# ------------------------------------------------------------------------- covers
def read_covers(
    project: Project,
    clip: tuple[float, float, float, float] | None,
    report: Report,
    lib: SpeciesLibrary | None = None,
) -> list[PlantCover]:
    """Plant covers from GeoJSON polygons (cover type from ``cover_property``)."""
    import shapely

    lib = lib or SpeciesLibrary.default()
    g = project.green
    out: list[PlantCover] = []
    for path in g.geojson:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            feats = doc["features"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ManifestError(
                f"{project.path.name}: green.geojson: {path.name} is not a GeoJSON "
                f"FeatureCollection ({exc})"
            ) from exc
        crs = _geojson_crs(doc, "EPSG:4326")
        for i, f in enumerate(feats):
            try:
                props = (f or {}).get("properties") or {}
                cover = str(props.get(g.cover_property) or g.default_cover)
                lib.cover(cover)
                geom = shapely.geometry.shape(f["geometry"])
                polys = getattr(geom, "geoms", [geom])
                for k, poly in enumerate(polys):
                    if poly.geom_type != "Polygon" or poly.is_empty:
                        raise ValueError("not a polygon")
                    ring = _xy(crs, project.crs, np.asarray(poly.exterior.coords))
                    cx, cy = ring.mean(axis=0)
                    if not _inside(clip, float(cx), float(cy)):
                        report.count("green areas outside the extent left out")
                        continue
                    fid = str(props.get("id") or f"{path.stem}-{i + 1}")
                    out.append(
                        PlantCover(
                            id=fid if k == 0 else f"{fid}-{k}",
                            cover=cover,
                            polygon=ring,
                            planted=None,
                            attributes={"source": path.name},
                        )
                    )
            except Exception as exc:  # any broken feature: counted, not fatal
                reason = str(exc).split(";")[0][:60]
                report.count(f"green areas skipped ({path.name}: {reason})")
    return out


# ------------------------------------------------------------------------- OSM roads
def read_osm_roads(project: Project, report: Report) -> list[dict[str, Any]]:
    """OSM highways of the project's classes as road records (project CRS).

    A record: ``id, coords, name, highway, lanes, maxspeed, oneway, surface, osm_id``.
    """
    import osmium
    import shapely
    from osmium.geom import WKBFactory

    assert project.roads.osm is not None
    wkb = WKBFactory()
    classes = set(project.roads.classes)
    out: list[dict[str, Any]] = []
    for obj in _osm_objects(project.roads.osm):
        if not obj.is_way():
            continue
        hw = obj.tags.get("highway")
        if hw not in classes:
            continue
        try:
            line = shapely.from_wkb(wkb.create_linestring(obj))
        except (RuntimeError, osmium.InvalidLocationError):
            report.count("OSM roads with nodes missing from the extract skipped")
            continue
        t = obj.tags
        out.append(
            {
                "id": f"osm-w{obj.id}",
                "coords": _xy("EPSG:4326", project.crs, np.asarray(line.coords)),
                "name": t.get("name") or "",
                "highway": hw,
                "lanes": t.get("lanes"),
                "maxspeed": t.get("maxspeed"),
                "oneway": t.get("oneway"),
                "surface": t.get("surface"),
                "osm_id": int(obj.id),
            }
        )
    return out
