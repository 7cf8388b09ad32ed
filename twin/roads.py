"""A project's road network with traffic: records -> noise/air road network.

Road records come from GeoJSON lines or OSM highways (``readers.read_osm_roads``). A record
that carries CNOSSOS flows (the road schema of ``docs/noise.md``) keeps them; the others
get their traffic in this order:

1. a count point (GeoJSON points with AADT) matched to the nearest road within
   ``match_distance_m`` that has the same street name or OSM id (several counts on one
   road: the largest, which covers both directions); the count also holds for
   the other segments of that street and class without a count of their own (the nearest
   count wins);
2. the manifest's ``[roads.traffic.aadt]`` value for the road's class;
3. the median AADT of the project's count points of that class (count points may name
   their class in ``class_property``, e.g. an OSM-matched count file's ``osm_type``).

A road with none of these is left out and counted in the report. AADT becomes hourly
flows per END period with the factors of RLS-90 (Richtlinien fuer den Laermschutz an
Strassen, 1990), Table 3: the hourly flow M is 0.06 AADT by day (06-22 h, used here for
the END day and evening) and 0.014 (motorways), 0.011 (federal roads and municipal
streets) or 0.008 (state and district roads) AADT at night, with heavy-vehicle shares
p of 25/45 %, 20/20 %, 20/10 % and 10/3 % (day/night). A count's own heavy AADT, or the
manifest's ``heavy_share``, replaces p; the manifest's ``shares`` replace M/AADT. Heavy
vehicles are CNOSSOS category 3, the rest category 1.

Roads are clipped to the analysis grid; roads wholly outside are counted and left out.
The records keep ``highway``, ``oneway``, ``osm_id`` and the AADT as extra properties, so
the traffic model (:mod:`greentwin.traffic`) reads the same roads.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from greentwin.kernels.roads import RoadNetwork
from greentwin.twin.manifest import ManifestError, Project
from greentwin.twin.readers import Report, _geojson_crs, _xy

__all__ = ["RLS90_FACTORS", "build_roads", "hourly_flows"]

#: RLS-90 Table 3: (M day / AADT, M night / AADT, heavy share day, heavy share night) per
#: road group; the OSM classes are mapped to the groups in :data:`_GROUP`.
RLS90_FACTORS: dict[str, tuple[float, float, float, float]] = {
    "motorway": (0.06, 0.014, 0.25, 0.45),
    "federal": (0.06, 0.011, 0.20, 0.20),
    "state": (0.06, 0.008, 0.20, 0.10),
    "municipal": (0.06, 0.011, 0.10, 0.03),
}
_GROUP: dict[str, str] = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "federal",
    "trunk_link": "federal",
    "primary": "federal",
    "primary_link": "federal",
    "secondary": "state",
    "secondary_link": "state",
    "tertiary": "state",
    "tertiary_link": "state",
}
_SPEED_RE = re.compile(r"^\s*([0-9]+)\s*(mph)?\s*$")
#: Speed limits named by zone (``maxspeed=FI:urban`` etc.): the national urban limit.
_ZONE_SPEED = {"urban": 50.0, "rural": 80.0, "living_street": 20.0, "walk": 20.0}


def hourly_flows(
    aadt: float,
    highway: str,
    *,
    heavy_share: float | None = None,
    shares: tuple[float, float, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Vehicles per hour by END period and CNOSSOS category from an AADT (RLS-90 Table 3)."""
    m_day, m_night, p_day, p_night = RLS90_FACTORS[_GROUP.get(highway, "municipal")]
    per = shares or (m_day, m_day, m_night)
    p = (p_day, p_day, p_night) if heavy_share is None else (heavy_share,) * 3
    out: dict[str, dict[str, float]] = {}
    for period, f, h in zip(("day", "evening", "night"), per, p, strict=True):
        total = aadt * f
        out[period] = {"1": round(total * (1 - h), 3), "3": round(total * h, 3)}
    return out


def _speed(raw: Any, highway: str) -> float:
    from greentwin.traffic import ROAD_CLASSES

    if isinstance(raw, int | float) and not isinstance(raw, bool):
        v = float(raw)
    elif isinstance(raw, str) and (m := _SPEED_RE.match(raw)):
        v = float(m.group(1)) * (1.609344 if m.group(2) else 1.0)
    elif isinstance(raw, str) and raw.split(":")[-1] in _ZONE_SPEED:
        v = _ZONE_SPEED[raw.split(":")[-1]]
    else:
        rc = ROAD_CLASSES.get(highway)
        v = rc.speed_kmh if rc is not None else 50.0
    return min(max(v, 20.0), 130.0)


def _oneway(raw: Any) -> int:
    if raw in (True, 1, "1", "yes", "true"):
        return 1
    if raw in (-1, "-1", "reverse"):
        return -1
    return 0


def _lanes(raw: Any, oneway: int) -> int:
    try:
        n = int(float(str(raw).split(";")[0]))
    except (TypeError, ValueError):
        return 1 if oneway else 2
    return min(max(n, 1), 12)


def _norm_name(name: str) -> str:
    return " ".join(name.lower().split())


def _geojson_records(
    project: Project, report: Report
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Road records of a GeoJSON file, and its network header (junctions, temperature)."""
    assert project.roads.geojson is not None
    path = project.roads.geojson
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        feats = doc["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(
            f"{project.path.name}: roads.geojson: {path.name} is not a GeoJSON "
            f"FeatureCollection ({exc})"
        ) from exc
    crs = _geojson_crs(doc, "EPSG:4326")
    out: list[dict[str, Any]] = []
    for i, f in enumerate(feats):
        try:
            geom = f["geometry"]
            props = dict(f.get("properties") or {})
            if geom["type"] == "LineString":
                parts = [geom["coordinates"]]
            elif geom["type"] == "MultiLineString":
                parts = geom["coordinates"]
            else:
                raise ValueError(f"{geom['type']} is not a line")
            for k, part in enumerate(parts):
                coords = _xy(crs, project.crs, np.asarray(part, dtype=np.float64))
                if len(coords) < 2 or not np.isfinite(coords).all():
                    raise ValueError("fewer than 2 usable points")
                rid = str(props.get("id", f.get("id", f"road-{i + 1}")))
                rec = dict(props)
                rec.update(
                    id=rid if k == 0 else f"{rid}-{k}",
                    coords=coords,
                    name=str(props.get("name") or ""),
                    highway=str(props.get("highway") or props.get("class") or "residential"),
                )
                out.append(rec)
        except (KeyError, TypeError, ValueError) as exc:
            report.count(f"road features skipped ({path.name}: {str(exc)[:50]})")
    header: dict[str, Any] = {}
    if "temperature_c" in doc:
        header["temperature_c"] = doc["temperature_c"]
    junctions = []
    for j in doc.get("junctions") or []:
        try:
            xy = _xy(crs, project.crs, np.asarray([[float(j["x"]), float(j["y"])]]))[0]
            junctions.append({"x": float(xy[0]), "y": float(xy[1]), "type": j["type"]})
        except (KeyError, TypeError, ValueError):
            report.count(f"road junctions skipped ({path.name})")
    if junctions:
        header["junctions"] = junctions
    return out, header


def _clip(
    records: list[dict[str, Any]], bounds: tuple[float, float, float, float], report: Report
) -> list[dict[str, Any]]:
    import shapely

    box = shapely.box(*bounds)
    out: list[dict[str, Any]] = []
    for rec in records:
        line = shapely.LineString(rec["coords"])
        if not line.intersects(box):
            report.count("roads outside the extent left out")
            continue
        part = line.intersection(box)
        pieces = [g for g in getattr(part, "geoms", [part]) if g.geom_type == "LineString"]
        pieces = [g for g in pieces if g.length >= 1.0]
        if not pieces:
            report.count("roads outside the extent left out")
            continue
        for k, g in enumerate(pieces):
            r = dict(rec)
            r["coords"] = np.asarray(g.coords, dtype=np.float64)[:, :2]
            if k:
                r["id"] = f"{rec['id']}-{k}"
            out.append(r)
    return out


def _counts(project: Project, report: Report) -> list[dict[str, Any]]:
    tr = project.roads.traffic
    if tr.counts is None:
        return []
    try:
        doc = json.loads(tr.counts.read_text(encoding="utf-8"))
        feats = doc["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError(
            f"{project.path.name}: roads.traffic.counts: {tr.counts.name} is not a GeoJSON "
            f"FeatureCollection ({exc})"
        ) from exc
    crs = _geojson_crs(doc, "EPSG:4326")
    out: list[dict[str, Any]] = []
    for f in feats:
        try:
            props = (f or {}).get("properties") or {}
            geom = f["geometry"]
            if geom["type"] != "Point":
                raise ValueError("not a point")
            aadt = float(props[tr.aadt_property])
            if not math.isfinite(aadt) or aadt < 0:
                raise ValueError("AADT not a non-negative number")
            heavy = props.get(tr.heavy_aadt_property) if tr.heavy_aadt_property else None
            heavy_v = float(heavy) if heavy is not None else None
            xy = _xy(crs, project.crs, np.asarray([geom["coordinates"][:2]], dtype=np.float64))[0]
            osmid = props.get(tr.osm_id_property)
            out.append(
                {
                    "xy": xy,
                    "aadt": aadt,
                    "heavy": heavy_v if heavy_v is not None and 0 <= heavy_v <= aadt else None,
                    "name": _norm_name(str(props.get(tr.name_property) or "")),
                    "osm_id": int(float(osmid)) if osmid is not None else None,
                    "class": str(props.get(tr.class_property) or "") if tr.class_property else "",
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            report.count(f"count points skipped ({tr.counts.name}: {str(exc)[:40]})")
    return out


def _assign_counts(
    records: list[dict[str, Any]], counts: Sequence[Mapping[str, Any]], max_d: float, report: Report
) -> None:
    """Set ``aadt``/``heavy_aadt`` of the roads the count points fall on (and their street)."""
    import shapely

    lines = [shapely.LineString(r["coords"]) for r in records]
    tree = shapely.STRtree(lines)
    street_best: dict[tuple[str, str], tuple[float, Mapping[str, Any]]] = {}
    matched = 0
    for c in counts:
        pt = shapely.Point(*c["xy"])
        cand = tree.query(pt, predicate="dwithin", distance=max_d)
        best: tuple[float, int] | None = None
        for i in cand:
            r = records[int(i)]
            same = (c["osm_id"] is not None and r.get("osm_id") == c["osm_id"]) or (
                c["name"] and _norm_name(str(r.get("name") or "")) == c["name"]
            )
            if not same:
                continue
            d = float(lines[int(i)].distance(pt))
            if best is None or d < best[0]:
                best = (d, int(i))
        if best is None:
            continue
        matched += 1
        r = records[best[1]]
        if r.get("traffic_source") == "count" and r["aadt"] >= c["aadt"]:
            continue  # several counts on one road: the largest (it covers both directions)
        r["aadt"], r["heavy_aadt"], r["traffic_source"] = c["aadt"], c["heavy"], "count"
        if r.get("name"):
            key = (_norm_name(str(r["name"])), str(r["highway"]))
            street_best.setdefault(key, (0.0, c))
            street_best[key] = min(street_best[key], (best[0], c), key=lambda t: t[0])
    # the other segments of a counted street: the nearest count of that street and class
    by_street: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for c in counts:
        for key in street_best:
            if c["name"] == key[0]:
                by_street[key].append(c)
    for r, line in zip(records, lines, strict=True):
        if "aadt" in r or not r.get("name"):
            continue
        key = (_norm_name(str(r["name"])), str(r["highway"]))
        if key not in street_best:
            continue
        near = min(by_street[key], key=lambda c: line.distance(shapely.Point(*c["xy"])))
        r["aadt"], r["heavy_aadt"], r["traffic_source"] = near["aadt"], near["heavy"], "street"
    report.note(f"count points: {matched} of {len(counts)} matched to a road of the same name/id")


def build_roads(
    project: Project,
    records: list[dict[str, Any]],
    bounds: tuple[float, float, float, float],
    report: Report,
    header: Mapping[str, Any] | None = None,
) -> RoadNetwork:
    """The noise/air road network of the project (clipped to ``bounds``, project CRS).

    Raises
    ------
    ManifestError
        No road with traffic remains.
    """
    tr = project.roads.traffic
    records = _clip(records, bounds, report)
    counts = _counts(project, report)
    inside = [
        c
        for c in counts
        if bounds[0] <= c["xy"][0] <= bounds[2] and bounds[1] <= c["xy"][1] <= bounds[3]
    ]
    if counts:
        _assign_counts(records, inside, tr.match_distance_m, report)
    medians: dict[str, float] = {}
    by_class: dict[str, list[float]] = defaultdict(list)
    for c in counts:
        if c["class"]:
            by_class[c["class"]].append(c["aadt"])
    for k, v in by_class.items():
        medians[k] = float(statistics.median(v))
    features: list[dict[str, Any]] = []
    sources: Counter[str] = Counter()
    for rec in records:
        hw = str(rec.get("highway") or "residential")
        one = _oneway(rec.get("oneway"))
        props: dict[str, Any] = {k: v for k, v in rec.items() if k not in ("coords",) and _plain(v)}
        if "flows" not in rec:
            aadt = rec.get("aadt")
            source = rec.get("traffic_source") or (
                "the road's own AADT" if aadt is not None else None
            )
            if aadt is None and hw in tr.aadt:
                aadt, source = tr.aadt[hw], "manifest class value"
            if aadt is None and hw in medians:
                aadt, source = medians[hw], "class median of the counts"
            if aadt is None:
                report.count(f"roads of class {hw} without traffic (no count, no class value)")
                continue
            heavy = rec.get("heavy_aadt")
            share = heavy / aadt if heavy is not None and aadt > 0 else tr.heavy_share
            props["flows"] = hourly_flows(float(aadt), hw, heavy_share=share, shares=tr.shares)
            props["aadt"] = float(aadt)
            props["traffic_source"] = str(source)
            sources[str(source)] += 1
            props["speed_kmh"] = _speed(rec.get("maxspeed"), hw)
            props["lanes"] = _lanes(rec.get("lanes"), one)
            props["direction"] = {1: "forward", -1: "backward"}.get(one, "both")
            props["surface"] = "DEF"
            if rec.get("surface"):
                props["osm_surface"] = rec["surface"]
            for k in ("maxspeed", "heavy_aadt"):
                props.pop(k, None)
        props["highway"] = hw
        props["oneway"] = {1: "yes", -1: "-1"}.get(one, "no")
        props["id"] = str(rec["id"])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": rec["coords"].tolist()},
                "properties": props,
            }
        )
    if sources:
        report.note(
            "road traffic from: " + ", ".join(f"{n} {how}" for how, n in sorted(sources.items()))
        )
    network = RoadNetwork.from_geojson(
        {"type": "FeatureCollection", "crs": project.crs, **(header or {}), "features": features}
    )
    for s in network.skipped:
        report.count(f"roads skipped ({s.reason[:50]})")
    if not network.roads:
        raise ManifestError(f"{project.path.name}: roads: no road with traffic inside the extent")
    return network


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | dict | list)
