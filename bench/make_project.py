"""Write a synthetic city project of a given size (the input of ``bench/project.py``).

A square of ``--size-km`` x ``--size-km`` (default 2 km, i.e. 4 km2) in Berlin's projected
CRS (EPSG:25833, ETRS89 / UTM 33N), south-west corner at ``--origin`` (default in
Friedrichshain), laid out as a street grid:

- **Roads** (``roads.geojson``, GeoJSON lines in EPSG:25833, one feature per segment between
  two crossings, so the traffic network's nodes are the crossings): arterials every
  ``--arterial-m`` (default 500 m; ``highway=primary``, 4 lanes, 50 km/h, AADT from count
  points), a collector (``tertiary``, 2 lanes) in the middle between two arterials where
  the blocks allow, and residential streets every ``--block-m`` (default 100 m; 30 km/h,
  every other one one-way, alternating direction). Properties: ``id``, ``name``,
  ``highway``, ``lanes``, ``maxspeed``, ``oneway``.
- **Traffic** (``traffic_counts.geojson``): count points on the arterials, one per
  kilometre of street, with ``AADT`` 14,000..32,000 and a heavy share of 4..9 %
  (``TR_AADT``); the other segments of a counted street take its nearest count; collector
  and residential streets get their class values from the manifest
  (``[roads.traffic.aadt]``).
- **Buildings** (``city/tile_E_N.gml``, CityGML 2.0, one file per km tile): LoD1 blocks
  (``bldg:lod1Solid``: floor, roof, walls) around the edge of each city block, 10..14 m
  deep, on lots 15..25 m wide (a tenth of the lots left empty), 2..8 storeys of 3.1 m,
  with ``bldg:function`` as ALKIS codes: ``31001_1000`` residential, ``31001_1100``
  mixed (housing over shops), ``31001_2000`` commercial; lots facing an arterial are
  mostly mixed or commercial, the others mostly residential, so the traffic demand model
  has zones of every use. ``measuredHeight`` and ``storeysAboveGround`` are written;
  the ground is at 34 m (Berlin's plain).
- **Street trees** (``street_trees.csv``, a tree register in EPSG:25833 with the column
  mapping in the manifest): both sides of every arterial and of about a third of the
  residential streets, every 13..17 m on the pavement, one species per street (the common
  Berlin street-tree genera: lime, maple, oak, plane, horse chestnut, birch, ash, black
  locust, hornbeam; "Tilia x euchlora" matches the species library by genus only), planted together
  (1950..2015) with a tenth of replacements, height and trunk diameter from a rough
  age curve (no growth model: a synthetic size), some rows without a size.
- **Green areas** (``green_areas.geojson``): a few blocks (about 4 %, at least one) are parks
  instead of buildings: a lawn with a shrub bed and a meadow corner (library cover types).
- **Manifest** (``project.toml``): name ``synthetic-<size>km``, the CRS, the extent in
  degrees (the square), Berlin's climate, a 5 m grid with a 100 m margin, and the sources
  above.

Everything is drawn from ``random.Random(--seed)``: the same seed and size give the same
files, byte for byte. At the default size (seed 1): 5,030 buildings, 5,677 trees, 840 road
segments, 42 green areas (14 parks), 20 count points.

    python bench/make_project.py OUT_DIR [--size-km 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ProjectSummary", "main", "make_project"]

CRS = "EPSG:25833"
EPSG = 25833
#: South-west corner (EPSG:25833 metres): Friedrichshain, Berlin.
ORIGIN = (393_000.0, 5_818_000.0)
GROUND_Z = 34.0
STOREY_M = 3.1
#: Half the width of the street space (carriageway and pavements), metres.
HALF_WIDTH = {"primary": 15.0, "tertiary": 11.0, "residential": 8.0}
LANES = {"primary": 4, "tertiary": 2, "residential": 2}
MAXSPEED = {"primary": "50", "tertiary": "50", "residential": "30"}
#: Street-tree species (register names) and their weights: Berlin's common street trees.
#: "Tilia x euchlora" is not in the library: matched by genus.
SPECIES = (
    ("Tilia cordata", 30),
    ("Acer platanoides", 18),
    ("Quercus robur", 9),
    ("Platanus x acerifolia", 10),
    ("Aesculus hippocastanum", 6),
    ("Tilia x euchlora", 8),
    ("Acer pseudoplatanus", 6),
    ("Betula pendula", 4),
    ("Fraxinus excelsior", 4),
    ("Robinia pseudoacacia", 3),
    ("Carpinus betulus 'Fastigiata'", 2),
)
FUNCTION = {"residential": "31001_1000", "mixed": "31001_1100", "commercial": "31001_2000"}
SURVEY_YEAR = 2023

_GML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" \
xmlns:bldg="http://www.opengis.net/citygml/building/2.0" \
xmlns:gml="http://www.opengis.net/gml">
<gml:name>synthetic city, tile {tile}</gml:name>
<gml:boundedBy><gml:Envelope srsName="EPSG:{epsg}" srsDimension="3">\
<gml:lowerCorner>{x0:.2f} {y0:.2f} {z0:.2f}</gml:lowerCorner>\
<gml:upperCorner>{x1:.2f} {y1:.2f} {z1:.2f}</gml:upperCorner></gml:Envelope></gml:boundedBy>
"""
_GML_FOOT = "</core:CityModel>\n"


@dataclass(frozen=True)
class ProjectSummary:
    """What :func:`make_project` wrote."""

    manifest: Path
    buildings: int
    trees: int
    roads: int
    green_areas: int
    counts: int


@dataclass(frozen=True)
class _Line:
    """A street line of the grid: its offset (m from the origin) and class."""

    index: int
    offset: float
    highway: str


@dataclass(frozen=True)
class _Building:
    bid: str
    x0: float
    y0: float
    x1: float
    y1: float
    storeys: int
    use: str


def _lines(size_m: float, block_m: float, arterial_m: float) -> list[_Line]:
    n = max(1, round(size_m / block_m))
    per = max(1, round(arterial_m / block_m))
    out = []
    for k in range(n + 1):
        if k % per == 0:
            hw = "primary"
        elif per >= 4 and k % per == per // 2:
            hw = "tertiary"
        else:
            hw = "residential"
        out.append(_Line(k, k * block_m, hw))
    return out


def _split(length: float, rng: random.Random, lo: float = 15.0, hi: float = 25.0) -> list[float]:
    """Lot widths filling ``length`` (each lo..hi, the last one adjusted)."""
    widths: list[float] = []
    left = length
    while left > hi:
        w = rng.uniform(lo, hi)
        if left - w < lo:
            w = left / 2.0
        widths.append(w)
        left -= w
    if left >= lo * 0.6:
        widths.append(left)
    elif widths:
        widths[-1] += left
    return widths


def _use(facing: str, rng: random.Random) -> str:
    r = rng.random()
    if facing == "primary":
        return "commercial" if r < 0.35 else "mixed" if r < 0.85 else "residential"
    if facing == "tertiary":
        return "mixed" if r < 0.4 else "commercial" if r < 0.5 else "residential"
    return "residential" if r < 0.85 else "mixed" if r < 0.95 else "commercial"


def _storeys(use: str, rng: random.Random) -> int:
    lo, hi = {"residential": (3, 6), "mixed": (4, 7), "commercial": (2, 8)}[use]
    return rng.randint(lo, hi)


def _block_buildings(
    bid: str,
    rect: tuple[float, float, float, float],
    sides: dict[str, str],
    rng: random.Random,
) -> list[_Building]:
    """Perimeter-block buildings inside ``rect`` (west, south, east, north)."""
    w, s, e, n = rect
    depth = rng.uniform(10.0, 14.0)
    out: list[_Building] = []
    k = 0

    def add(x0: float, y0: float, x1: float, y1: float, facing: str) -> None:
        nonlocal k
        k += 1
        if rng.random() < 0.1:  # an empty lot (a gap, a yard entrance)
            return
        use = _use(facing, rng)
        out.append(_Building(f"{bid}-{k}", x0, y0, x1, y1, _storeys(use, rng), use))

    if e - w < 2 * depth + 6 or n - s < 2 * depth + 6:
        return out
    # north and south rows span the block's width; east and west rows fill between them
    for side, (ya, yb) in (("north", (n - depth, n)), ("south", (s, s + depth))):
        x = w
        for width in _split(e - w, rng):
            add(x, ya, x + width, yb, sides[side])
            x += width
    for side, (xa, xb) in (("west", (w, w + depth)), ("east", (e - depth, e))):
        y = s + depth
        for width in _split(n - s - 2 * depth, rng):
            add(xa, y, xb, y + width, sides[side])
            y += width
    return out


def _ring(points: list[tuple[float, float, float]]) -> str:
    pts = [*points, points[0]]
    return " ".join(f"{x:.2f} {y:.2f} {z:.2f}" for x, y, z in pts)


def _building_gml(b: _Building) -> str:
    z0 = GROUND_Z
    height = round(b.storeys * STOREY_M, 1)
    z1 = z0 + height
    x0, y0, x1, y1 = b.x0, b.y0, b.x1, b.y1
    ccw = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    polys = [
        [(x, y, z0) for x, y in reversed(ccw)],  # floor, facing down
        [(x, y, z1) for x, y in ccw],  # roof, facing up
    ]
    for i in range(4):
        (ax, ay), (bx, by) = ccw[i], ccw[(i + 1) % 4]
        polys.append([(ax, ay, z0), (bx, by, z0), (bx, by, z1), (ax, ay, z1)])
    members = "".join(
        f'<gml:surfaceMember><gml:Polygon gml:id="{b.bid}-p{i}"><gml:exterior><gml:LinearRing>'
        f"<gml:posList>{_ring(p)}</gml:posList></gml:LinearRing></gml:exterior>"
        "</gml:Polygon></gml:surfaceMember>"
        for i, p in enumerate(polys)
    )
    return (
        f'<core:cityObjectMember><bldg:Building gml:id="{b.bid}">'
        f"<bldg:function>{FUNCTION[b.use]}</bldg:function>"
        f'<bldg:measuredHeight uom="m">{height:.1f}</bldg:measuredHeight>'
        f"<bldg:storeysAboveGround>{b.storeys}</bldg:storeysAboveGround>"
        f"<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>{members}"
        "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>"
        "</bldg:Building></core:cityObjectMember>\n"
    )


def _street_name(line: _Line, axis: str) -> str:
    kind = {"primary": "Allee", "tertiary": "Weg", "residential": "Straße"}[line.highway]
    return f"{kind} {axis}{line.index}"


def _geojson(features: list[dict[str, Any]]) -> str:
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{EPSG}"}},
        "features": features,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def _extent_degrees(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    from pyproj import Transformer

    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
    return [round(min(lon), 6), round(min(lat), 6), round(max(lon), 6), round(max(lat), 6)]


def _tree_size(age: int, rng: random.Random) -> tuple[float, float]:
    """A rough (height m, trunk diameter cm) for an urban broadleaf of ``age`` years."""
    height = min(28.0, 3.0 + 0.42 * age) * rng.uniform(0.85, 1.15)
    dbh = min(95.0, 4.0 + 0.85 * age) * rng.uniform(0.8, 1.2)
    return round(height, 1), round(dbh, 0)


def make_project(
    out: Path,
    *,
    size_km: float = 2.0,
    seed: int = 1,
    origin: tuple[float, float] = ORIGIN,
    block_m: float = 100.0,
    arterial_m: float = 500.0,
) -> ProjectSummary:
    """Write the synthetic project into ``out`` (created); returns what it holds."""
    rng = random.Random(seed)
    size_m = size_km * 1000.0
    ox, oy = origin
    lines = _lines(size_m, block_m, arterial_m)
    span = lines[-1].offset
    out.mkdir(parents=True, exist_ok=True)
    (out / "city").mkdir(exist_ok=True)

    # ------------------------------------------------------------ roads and counts
    roads: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    segments: list[tuple[_Line, str, tuple[float, float], tuple[float, float]]] = []
    for axis in ("N", "E"):  # N: east-west streets at y = offset; E: north-south at x
        for line in lines:
            name = _street_name(line, axis)
            oneway = "no"
            if line.highway == "residential" and line.index % 2 == 1:
                oneway = "yes" if line.index % 4 == 1 else "-1"
            for a, b in itertools.pairwise(lines):
                if axis == "N":
                    p, q = (ox + a.offset, oy + line.offset), (ox + b.offset, oy + line.offset)
                else:
                    p, q = (ox + line.offset, oy + a.offset), (ox + line.offset, oy + b.offset)
                rid = f"{axis.lower()}{line.index}-{a.index}"
                lanes = 1 if oneway != "no" else LANES[line.highway]
                roads.append(
                    {
                        "type": "Feature",
                        "geometry": {"type": "LineString", "coordinates": [list(p), list(q)]},
                        "properties": {
                            "id": rid,
                            "name": name,
                            "highway": line.highway,
                            "lanes": lanes,
                            "maxspeed": MAXSPEED[line.highway],
                            "oneway": oneway,
                        },
                    }
                )
                segments.append((line, name, p, q))
            if line.highway == "primary":
                # one count per km of street, at the middle of a segment, 3 m off the axis
                along = block_m / 2.0
                while along < span:
                    aadt = rng.randrange(14_000, 32_000, 100)
                    heavy = round(aadt * rng.uniform(0.04, 0.09))
                    if axis == "N":
                        xy = (ox + along, oy + line.offset + 3.0)
                    else:
                        xy = (ox + line.offset + 3.0, oy + along)
                    counts.append(
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [xy[0], xy[1]]},
                            "properties": {
                                "name": name,
                                "class": "primary",
                                "AADT": aadt,
                                "TR_AADT": heavy,
                            },
                        }
                    )
                    along += 1000.0
    (out / "roads.geojson").write_text(_geojson(roads), encoding="utf-8")
    (out / "traffic_counts.geojson").write_text(_geojson(counts), encoding="utf-8")

    # ------------------------------------------------------- buildings and parks
    tiles: dict[tuple[int, int], list[_Building]] = {}
    green: list[dict[str, Any]] = []
    n_blocks = (len(lines) - 1) ** 2
    parks = {rng.randrange(n_blocks)} | {k for k in range(n_blocks) if rng.random() < 0.04}
    for j, (sb, nb) in enumerate(itertools.pairwise(lines)):
        for i, (wb, eb) in enumerate(itertools.pairwise(lines)):
            rect = (
                ox + wb.offset + HALF_WIDTH[wb.highway],
                oy + sb.offset + HALF_WIDTH[sb.highway],
                ox + eb.offset - HALF_WIDTH[eb.highway],
                oy + nb.offset - HALF_WIDTH[nb.highway],
            )
            bid = f"b{j}-{i}"
            if j * (len(lines) - 1) + i in parks:
                w, s, e, n = rect
                mx, my = (w + e) / 2.0, (s + n) / 2.0
                box = [[w, s], [e, s], [e, n], [w, n], [w, s]]
                shrub = [[mx - 12, my - 8], [mx + 12, my - 8], [mx + 12, my + 8], [mx - 12, my + 8]]
                meadow = [[w, s], [w + 25, s], [w + 25, s + 25], [w, s + 25]]
                covers = (
                    (box, "lawn"),
                    ([*shrub, shrub[0]], "shrub_bed"),
                    ([*meadow, meadow[0]], "meadow"),
                )
                for k, (ring, cover) in enumerate(covers):
                    green.append(
                        {
                            "type": "Feature",
                            "geometry": {"type": "Polygon", "coordinates": [ring]},
                            "properties": {"id": f"park-{bid}-{k}", "cover": cover},
                        }
                    )
                continue
            sides = {"west": wb.highway, "east": eb.highway, "south": sb.highway}
            sides["north"] = nb.highway
            for bld in _block_buildings(bid, rect, sides, rng):
                tile = (int((bld.x0 - ox) // 1000), int((bld.y0 - oy) // 1000))
                tiles.setdefault(tile, []).append(bld)
    n_buildings = 0
    for (te, tn), blds in sorted(tiles.items()):
        top = GROUND_Z + max(b.storeys for b in blds) * STOREY_M
        head = _GML_HEAD.format(
            tile=f"{te}_{tn}",
            epsg=EPSG,
            x0=min(b.x0 for b in blds),
            y0=min(b.y0 for b in blds),
            z0=GROUND_Z,
            x1=max(b.x1 for b in blds),
            y1=max(b.y1 for b in blds),
            z1=top,
        )
        with open(out / "city" / f"tile_{te}_{tn}.gml", "w", encoding="utf-8") as fh:
            fh.write(head)
            for bld in blds:
                fh.write(_building_gml(bld))
            fh.write(_GML_FOOT)
        n_buildings += len(blds)
    (out / "green_areas.geojson").write_text(_geojson(green), encoding="utf-8")

    # ---------------------------------------------------------------- street trees
    names = [s for s, _ in SPECIES]
    weights = [w for _, w in SPECIES]
    street_species: dict[str, tuple[str, int]] = {}
    planted_street: set[str] = set()
    for line in lines:
        for axis in ("N", "E"):
            name = _street_name(line, axis)
            street_species[name] = (
                rng.choices(names, weights)[0],
                rng.randrange(1950, 2016),
            )
            if line.highway != "residential" or rng.random() < 0.33:
                planted_street.add(name)
    rows: list[list[Any]] = []
    for line, name, p, q in segments:
        if name not in planted_street:
            continue
        species, year = street_species[name]
        length = math.dist(p, q)
        ux, uy = (q[0] - p[0]) / length, (q[1] - p[1]) / length
        off = HALF_WIDTH[line.highway] - 2.5  # on the pavement, 2.5 m from the kerb line
        for side in (-1.0, 1.0):
            t = rng.uniform(12.0, 18.0)
            while t < length - 12.0:
                x = p[0] + ux * t - uy * off * side
                y = p[1] + uy * t + ux * off * side
                planted = year if rng.random() > 0.1 else rng.randrange(year, 2021)
                sp = species if planted == year else rng.choices(names, weights)[0]
                height, dbh = _tree_size(SURVEY_YEAR - planted, rng)
                r = rng.random()
                row: list[Any] = [f"T{len(rows) + 1:06d}", f"{x:.2f}", f"{y:.2f}", sp]
                if r < 0.03:  # nothing but the position and species
                    row += ["", "", ""]
                elif r < 0.08:  # no planting year
                    row += [height, dbh, ""]
                else:
                    row += [height, dbh, planted]
                rows.append(row)
                t += rng.uniform(13.0, 17.0)
    with open(out / "street_trees.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tree_id", "x", "y", "species", "height_m", "dbh_cm", "planted"])
        writer.writerows(rows)

    # ------------------------------------------------------------------ manifest
    tag = f"{size_km:g}".replace(".", "p")
    extent = _extent_degrees(ox, oy, ox + span, oy + span)
    manifest = out / "project.toml"
    manifest.write_text(
        f"""# A synthetic {size_km:g} km x {size_km:g} km city (bench/make_project.py, seed {seed}):
# a street grid with LoD1 perimeter blocks, street trees, a few parks and traffic counts.
[project]
name = "synthetic-{tag}km"
title = "Synthetic city, {size_km:g} km x {size_km:g} km (seed {seed})"
crs = "{CRS}"
extent = [{", ".join(f"{v:.6f}" for v in extent)}]
city = "Berlin"
survey_date = "{SURVEY_YEAR}-07-01"

[grid]
cell_m = 5.0
margin_m = 100.0

[buildings]
citygml = ["city/*.gml"]

[trees]
default_species = "tilia_cordata"

[trees.register]
path = "street_trees.csv"
crs = "{CRS}"
id = "tree_id"
x = "x"
y = "y"
species = "species"
height_m = "height_m"
trunk_diameter_cm = "dbh_cm"
planted_year = "planted"

[green]
geojson = ["green_areas.geojson"]
cover_property = "cover"
default_cover = "lawn"

[roads]
geojson = "roads.geojson"

[roads.traffic]
counts = "traffic_counts.geojson"
aadt_property = "AADT"
heavy_aadt_property = "TR_AADT"
name_property = "name"
class_property = "class"
match_distance_m = 30
heavy_share = 0.05
aadt = {{ tertiary = 5000, residential = 1200 }}
""",
        encoding="utf-8",
    )
    return ProjectSummary(manifest, n_buildings, len(rows), len(roads), len(green), len(counts))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``make_project.py OUT_DIR [--size-km 2] [--seed 1]``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="project directory (created)")
    parser.add_argument("--size-km", type=float, default=2.0, help="side of the square (km)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--block-m", type=float, default=100.0, help="street spacing (m)")
    parser.add_argument("--arterial-m", type=float, default=500.0, help="arterial spacing (m)")
    args = parser.parse_args(argv)
    if not 0.2 <= args.size_km <= 20:
        parser.error("--size-km must be between 0.2 and 20")
    s = make_project(
        args.out,
        size_km=args.size_km,
        seed=args.seed,
        block_m=args.block_m,
        arterial_m=args.arterial_m,
    )
    print(
        f"{s.manifest}: {s.buildings} buildings, {s.trees} trees, {s.roads} road segments, "
        f"{s.green_areas} green areas, {s.counts} count points"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
