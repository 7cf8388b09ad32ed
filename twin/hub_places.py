"""Places and plain-language facts for the citizens' hub.

- :class:`AddressIndex`: the demo district's addresses, read from the buildings'
  CityGML ``address`` attribute (``xAL`` addresses, several per building separated
  by ``;``) and, for buildings with none, their ``name``; each entry is placed at the
  centre of the building's vertices, reprojected to WGS 84 longitude/latitude.
- :func:`summarise`: counts of what a scenario changes, from its state.
- :func:`changes_near`: the scenario's changes within a radius of a point.
- :func:`greenery`: the scenario's new trees on a date (green model growth, carbon).

Distances use the local equirectangular approximation on a sphere of radius
6 371 008.8 m (IUGG mean Earth radius): ``dx = R cos(lat0) dlon``, ``dy = R dlat``;
its error stays below 0.1 % over the few hundred metres it is used for.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from greentwin.citygml.model import Feature
from greentwin.citygml.reader import CityGMLReader
from greentwin.core import GreentwinError
from greentwin.twin.ops import ScenarioState

__all__ = [
    "EARTH_RADIUS_M",
    "AddressIndex",
    "Change",
    "Greenery",
    "Place",
    "Summary",
    "TreeAt",
    "changes_near",
    "distance_m",
    "fold",
    "greenery",
    "summarise",
]

log = logging.getLogger(__name__)

#: IUGG mean Earth radius (m).
EARTH_RADIUS_M = 6_371_008.8
#: Address parts the source data fills with placeholders.
_JUNK = re.compile(r"(?<![^\s,])(undefined|null|none|/)(?=[\s,]|$)", re.IGNORECASE)


class Place(TypedDict):
    """One search result: a label, the building it belongs to and where it is."""

    label: str
    building: str
    name: str | None
    lon: float
    lat: float


class Summary(TypedDict):
    """What a scenario changes, as counts (all >= 0)."""

    trees_planted: int
    trees_removed: int
    trees_replaced: int
    trees_pruned: int
    green_areas_added: int
    green_areas_removed: int
    roads_changed: int
    roads_closed: int
    barriers_added: int
    barriers_removed: int
    buildings_added: int
    buildings_removed: int


class Change(TypedDict):
    """One located change near a point (``distance_m`` in metres)."""

    kind: str
    id: str
    distance_m: float
    lon: float
    lat: float
    detail: dict[str, Any]


def fold(text: str) -> str:
    """Text for matching: case-folded (``ß`` -> ``ss``), accents removed, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def distance_m(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Approximate ground distance in metres (module docstring)."""
    k = math.radians(1.0) * EARTH_RADIUS_M
    dx = (lon1 - lon0) * k * math.cos(math.radians((lat0 + lat1) / 2.0))
    dy = (lat1 - lat0) * k
    return math.hypot(dx, dy)


def _clean_address(part: str) -> str:
    text = _JUNK.sub("", part)
    text = re.sub(r"\s+,", ",", " ".join(text.split()))
    return text.strip(" ,")


def _vertices(feature: Feature) -> Iterable[np.ndarray]:
    for polys in feature.lods.values():
        for poly in polys:
            yield poly.exterior[:, :2]
    for child in feature.children:
        yield from _vertices(child)


@dataclass(frozen=True, slots=True)
class _Entry:
    place: Place
    key: str


class AddressIndex:
    """Addresses and building names of the district, searchable by text and position.

    Build with :meth:`from_citygml` (blocking: run it off the event loop).
    """

    def __init__(self, places: Sequence[Place]) -> None:
        self._entries = [_Entry(p, fold(f"{p['label']} {p['name'] or ''}")) for p in places]
        self.sources: list[str] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def places(self) -> list[Place]:
        return [e.place for e in self._entries]

    @classmethod
    def from_citygml(cls, paths: Sequence[Path]) -> AddressIndex:
        """Read every building of ``paths`` (missing or broken files are logged and skipped)."""
        from pyproj import Transformer

        places: list[Place] = []
        for path in paths:
            try:
                reader = CityGMLReader(path)
                crs = reader.crs
                if crs is None or crs.horizontal_epsg is None:
                    log.warning("address index: %s has no known CRS, skipped", path.name)
                    continue
                to_wgs84 = Transformer.from_crs(crs.horizontal_epsg, 4326, always_xy=True)
                for feature in reader.features():
                    places.extend(_places_of(feature, to_wgs84))
            except (GreentwinError, OSError) as exc:
                log.warning("address index: cannot read %s: %s", path.name, exc)
        index = cls(places)
        index.sources = [p.name for p in paths]
        log.info("address index: %d places from %d files", len(index), len(paths))
        return index

    def search(self, query: str, limit: int = 10) -> list[Place]:
        """Places whose address or name contains every word of ``query`` (any order).

        Prefix matches of the first word rank first, then shorter labels.
        """
        words = fold(query).split()
        if not words:
            return []
        hits = [e for e in self._entries if all(w in e.key for w in words)]
        hits.sort(key=lambda e: (not e.key.startswith(words[0]), len(e.key), e.key))
        seen: set[str] = set()
        out: list[Place] = []
        for e in hits:
            ident = f"{e.place['label']}|{e.place['building']}"
            if ident not in seen:
                seen.add(ident)
                out.append(e.place)
            if len(out) >= limit:
                break
        return out

    def nearest(self, lon: float, lat: float, max_m: float = 80.0) -> Place | None:
        """The closest place within ``max_m`` metres, or None."""
        best: tuple[float, Place] | None = None
        for e in self._entries:
            d = distance_m(lon, lat, e.place["lon"], e.place["lat"])
            if d <= max_m and (best is None or d < best[0]):
                best = (d, e.place)
        return best[1] if best else None


def _places_of(feature: Feature, to_wgs84: Any) -> list[Place]:
    if feature.cls not in ("Building", "BuildingPart"):
        return []
    parts = list(_vertices(feature))
    if not parts:
        return []
    xy = np.concatenate(parts)
    cx, cy = float(xy[:, 0].mean()), float(xy[:, 1].mean())
    lon, lat = to_wgs84.transform(cx, cy)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return []
    attrs = feature.attributes
    name = attrs.get("name")
    name_s = str(name) if name not in (None, "") else None
    labels: list[str] = []
    for source in [feature, *feature.children]:
        raw = source.attributes.get("address")
        if isinstance(raw, str):
            for part in raw.split(";"):
                label = _clean_address(part)
                # "Berlin" alone (no street) locates nothing
                if "," in label and label not in labels:
                    labels.append(label)
    if not labels and name_s:
        labels.append(name_s)
    return [
        {"label": label, "building": feature.id, "name": name_s, "lon": lon, "lat": lat}
        for label in labels
    ]


# --- what a scenario changes ------------------------------------------------------------


def summarise(state: ScenarioState) -> Summary:
    """Counts of the scenario's changes relative to its baseline."""
    trees = state.trees.values()
    pruned = len(state.pruned) + sum(1 for t in trees if "crown_reduction" in t)
    return {
        "trees_planted": sum(1 for t in trees if t.get("status") == "planted"),
        "trees_removed": sum(1 for v in state.removed_trees.values() if v == "removed"),
        "trees_replaced": sum(1 for t in trees if t.get("status") == "replacement"),
        "trees_pruned": pruned,
        "green_areas_added": len(state.green_areas),
        "green_areas_removed": len(state.removed_green_areas),
        "roads_changed": sum(1 for r in state.roads.values() if not r.get("closed")),
        "roads_closed": sum(1 for r in state.roads.values() if r.get("closed")),
        "barriers_added": len(state.barriers),
        "barriers_removed": len(state.removed_barriers),
        "buildings_added": len(state.buildings),
        "buildings_removed": len(state.removed_buildings),
    }


def _nearest_on(
    points: Sequence[Sequence[float]], lon: float, lat: float
) -> tuple[float, float, float]:
    """The vertex of ``points`` closest to (lon, lat): (distance m, lon, lat)."""
    best = (math.inf, lon, lat)
    for p in points:
        d = distance_m(lon, lat, float(p[0]), float(p[1]))
        if d < best[0]:
            best = (d, float(p[0]), float(p[1]))
    return best


def _centre(points: Sequence[Sequence[float]]) -> tuple[float, float]:
    return (
        sum(float(p[0]) for p in points) / len(points),
        sum(float(p[1]) for p in points) / len(points),
    )


def changes_near(state: ScenarioState, lon: float, lat: float, radius_m: float) -> list[Change]:
    """The scenario's located changes within ``radius_m`` of a point, nearest first.

    Trees are located at their position, green areas and buildings at the centre
    of their outline, barriers at their vertex nearest to the point. Changes that
    carry no position (removed baseline objects, road overrides) are not listed.
    """
    out: list[Change] = []
    for tid, t in state.trees.items():
        pos = t.get("position")
        if pos:
            d = distance_m(lon, lat, pos[0], pos[1])
            kind = "tree_planted" if t.get("status") == "planted" else "tree_replacement"
            detail = {"species": t.get("species"), "age_years": t.get("age_years")}
            out.append(
                {
                    "kind": kind,
                    "id": tid,
                    "distance_m": d,
                    "lon": pos[0],
                    "lat": pos[1],
                    "detail": detail,
                }
            )
    for aid, a in state.green_areas.items():
        ca = _centre(a["polygon"])
        out.append(
            {
                "kind": "green_area",
                "id": aid,
                "distance_m": distance_m(lon, lat, *ca),
                "lon": ca[0],
                "lat": ca[1],
                "detail": {"cover": a.get("cover")},
            }
        )
    for bid, b in state.barriers.items():
        d, blon, blat = _nearest_on(b["line"], lon, lat)
        out.append(
            {
                "kind": "barrier",
                "id": bid,
                "distance_m": d,
                "lon": blon,
                "lat": blat,
                "detail": {"height_m": b.get("height_m")},
            }
        )
    for bid, b in state.buildings.items():
        c = _centre(b["footprint"])
        out.append(
            {
                "kind": "building_added",
                "id": bid,
                "distance_m": distance_m(lon, lat, *c),
                "lon": c[0],
                "lat": c[1],
                "detail": {"height_m": b.get("height_m")},
            }
        )
    near = [ch for ch in out if ch["distance_m"] <= radius_m]
    near.sort(key=lambda ch: ch["distance_m"])
    for ch in near:
        ch["distance_m"] = round(ch["distance_m"], 1)
    return near


# --- the proposal's new trees over the years ------------------------------------------------


class TreeAt(TypedDict):
    """A planted tree's state on a date (sizes in m, ``colour`` sRGB 0..1)."""

    id: str
    species: str
    lon: float
    lat: float
    height_m: float
    crown_diameter_m: float
    crown_height_m: float
    leaf_fraction: float
    colour: list[float]
    carbon_kg: float | None


class Greenery(TypedDict):
    """The proposal's new trees on ``date`` and their totals (None: not computed)."""

    date: str
    planted_on: str
    trees: list[TreeAt]
    carbon_kg: float | None
    co2_kg: float | None
    canopy_m2: float


def greenery(state: ScenarioState, date: dt.date, planted_on: dt.date) -> Greenery:
    """Sizes, foliage and stored carbon of the trees a scenario plants, on ``date``.

    Trees are taken as planted on ``planted_on`` with the age (or nursery girth, or
    height) the planner gave; growth and phenology come from the green model
    (:meth:`greentwin.green_model.growth.TreeTable.states`). Canopy is the sum of
    crown projections ``pi (d/2)^2`` (m^2; overlaps not removed). Carbon is
    ``0.5 x above-ground dry weight`` (i-Tree Eco, Nowak et al. 2013) and ``CO2 =
    3.67 C``, from :func:`greentwin.green_model.services.carbon_kg` where available.
    Removed baseline trees are not counted (their sizes are not in the scenario).

    Raises
    ------
    GreenModelError
        A tree cannot be modelled.
    """
    from greentwin.green_model.state import Tree, trees_to_table

    rows: list[tuple[str, dict[str, Any]]] = [
        (tid, t) for tid, t in state.trees.items() if t.get("position")
    ]
    trees = []
    for tid, t in rows:
        lon, lat = t["position"][:2]
        kw: dict[str, Any] = {}
        if t.get("age_years") is not None:
            kw["age_at"] = (planted_on, float(t["age_years"]))
        elif t.get("nursery_size_cm") is not None:
            girth = float(t["nursery_size_cm"])
            kw["planted"] = planted_on
            kw["girth_class"] = f"{girth:g}-{girth:g}"
        elif t.get("height_m") is not None:
            kw["height_m"] = float(t["height_m"])
            kw["survey_date"] = planted_on
        else:
            kw["planted"] = planted_on
        trees.append(Tree(id=tid, species=str(t.get("species") or ""), x=lon, y=lat, **kw))
    out: Greenery = {
        "date": date.isoformat(),
        "planted_on": planted_on.isoformat(),
        "trees": [],
        "carbon_kg": None,
        "co2_kg": None,
        "canopy_m2": 0.0,
    }
    if not trees:
        out["carbon_kg"] = out["co2_kg"] = 0.0
        return out
    table = trees_to_table(trees)
    st = table.states(date)
    carbon: np.ndarray | None = None
    try:
        from greentwin.green_model.services import CO2_PER_C, carbon_kg

        carbon = carbon_kg(table, st)
        out["carbon_kg"] = round(float(carbon.sum()), 1)
        out["co2_kg"] = round(float(carbon.sum()) * CO2_PER_C, 1)
    except ImportError:
        log.info("hub: green_model.services is not available: carbon not computed")
    canopy = 0.0
    for i, (tid, t) in enumerate(rows):
        if not st.present[i]:
            continue
        d = float(st.crown_diameter_m[i])
        canopy += math.pi * (d / 2.0) ** 2
        out["trees"].append(
            {
                "id": tid,
                "species": str(t.get("species") or ""),
                "lon": float(t["position"][0]),
                "lat": float(t["position"][1]),
                "height_m": round(float(st.height_m[i]), 2),
                "crown_diameter_m": round(d, 2),
                "crown_height_m": round(float(st.crown_height_m[i]), 2),
                "leaf_fraction": round(float(st.leaf_fraction[i]), 3),
                "colour": [round(float(c), 3) for c in st.colour[i]],
                "carbon_kg": None if carbon is None else round(float(carbon[i]), 1),
            }
        )
    out["canopy_m2"] = round(canopy, 1)
    return out
