"""Road network for assignment: links and nodes from road centrelines.

Input is a sequence of generic :class:`RoadRecord` (geometry, class, lanes, speed limit,
one-way, counts), so the demo district and a project's roads (GeoJSON, OpenStreetMap)
feed the same code. Output is a :class:`Network`: nodes where lines meet, directed links
with length, free-flow time and capacity.

Junctions
---------
Two roads meet where their centrelines cross or where the end of one lies within
``snap_m`` (default 1.5 m) of the other; every road is cut there. Cut points closer
than ``snap_m`` become one node. Roads that only pass over each other (bridges) are not
told apart: the data has no levels yet (documented limit). Turn bans are not modelled.

Capacity and free-flow speed
----------------------------
Per lane and direction, by road class (OpenStreetMap ``highway`` values), from the
defaults of MATSim's OpenStreetMap network reader (Horni, Nagel and Axhausen (eds.) 2016,
*The Multi-Agent Transport Simulation MATSim*, ch. 4; ``LinkProperties`` of the
``osm`` contrib), see :data:`ROAD_CLASSES`. A road's own speed limit replaces the
class speed; an explicit capacity replaces lanes x per-lane capacity. A two-way road's
lanes are split evenly between the directions (at least one each).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from greentwin.core import KernelError

__all__ = [
    "CLOSED_TIME_S",
    "ROAD_CLASSES",
    "Network",
    "RoadClass",
    "RoadRecord",
    "TrafficError",
    "build_network",
    "infer_class",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Free-flow time given to the links of a closed road, s. Closed links stay in the graph
#: (so link numbering is stable and a previous solution stays a feasible warm start) but
#: no route uses them while any other exists.
CLOSED_TIME_S = 1.0e7


class TrafficError(KernelError):
    """A traffic input is unusable (bad geometry, no route, unknown class)."""


@dataclass(frozen=True, slots=True)
class RoadClass:
    """Capacity per lane and direction (veh/h) and free-flow speed (km/h) of a class."""

    capacity_per_lane: float
    speed_kmh: float


#: OpenStreetMap ``highway`` class -> per-lane capacity and free-flow speed: MATSim's
#: OpenStreetMap network reader defaults (see module docstring), ramps (``*_link``)
#: included. ``living_street`` is given the ``service`` values; ``secondary_link`` and
#: ``tertiary_link``, which the reader's defaults leave out, their main class's values.
ROAD_CLASSES: dict[str, RoadClass] = {
    "motorway": RoadClass(2000.0, 120.0),
    "motorway_link": RoadClass(1500.0, 80.0),
    "trunk": RoadClass(2000.0, 80.0),
    "trunk_link": RoadClass(1500.0, 50.0),
    "primary": RoadClass(1500.0, 80.0),
    "primary_link": RoadClass(1500.0, 60.0),
    "secondary": RoadClass(1000.0, 60.0),
    "secondary_link": RoadClass(1000.0, 60.0),
    "tertiary": RoadClass(600.0, 45.0),
    "tertiary_link": RoadClass(600.0, 45.0),
    "unclassified": RoadClass(600.0, 45.0),
    "residential": RoadClass(600.0, 30.0),
    "living_street": RoadClass(300.0, 15.0),
    "service": RoadClass(300.0, 15.0),
}


def infer_class(lanes: int, speed_kmh: float | None) -> str:
    """A road class for a road that names none, from its lanes and speed limit.

    Four lanes or more: ``primary``; a limit above 30 km/h: ``secondary``; else
    ``residential``.
    """
    if lanes >= 4:
        return "primary"
    if speed_kmh is not None and speed_kmh > 30.0:
        return "secondary"
    return "residential"


@dataclass(frozen=True, slots=True, eq=False)
class RoadRecord:
    """One road as the traffic model sees it.

    Attributes
    ----------
    id : unique road id.
    coords : (n, 2) float64 centreline, metres in a projected CRS.
    highway : road class, a key of :data:`ROAD_CLASSES`.
    lanes : lanes in both directions together (one-way: in its direction).
    speed_kmh : speed limit, km/h (None: the class speed).
    oneway : 0 both directions, 1 along the digitised direction, -1 against it.
    capacity_vph : capacity per direction, veh/h (None: lanes x class capacity).
    closed : closed to traffic.
    counts : (3,) float64 two-way counted flows, veh/h, periods day, evening, night
        (None: not counted).
    name : street name.
    """

    id: str
    coords: F64
    highway: str = "residential"
    lanes: int = 2
    speed_kmh: float | None = None
    oneway: Literal[-1, 0, 1] = 0
    capacity_vph: float | None = None
    closed: bool = False
    counts: F64 | None = None
    name: str = ""

    def __post_init__(self) -> None:
        c = np.asarray(self.coords, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] < 2 or not np.isfinite(c).all():
            raise TrafficError(f"road {self.id!r}: needs at least 2 finite (x, y) points")
        object.__setattr__(self, "coords", c[:, :2].copy())
        if self.highway not in ROAD_CLASSES:
            raise TrafficError(
                f"road {self.id!r}: class {self.highway!r} unknown; use one of "
                f"{', '.join(ROAD_CLASSES)}"
            )
        if self.lanes < 1:
            raise TrafficError(f"road {self.id!r}: needs at least one lane")

    def lanes_per_direction(self) -> int:
        """Lanes in each driven direction."""
        return self.lanes if self.oneway else max(1, self.lanes // 2)

    def capacity(self) -> float:
        """Capacity per direction, veh/h."""
        if self.capacity_vph is not None:
            return float(self.capacity_vph)
        return ROAD_CLASSES[self.highway].capacity_per_lane * self.lanes_per_direction()

    def speed(self) -> float:
        """Free-flow speed, km/h."""
        return float(self.speed_kmh or ROAD_CLASSES[self.highway].speed_kmh)


@dataclass(frozen=True, slots=True, eq=False)
class Network:
    """Nodes and directed links of a road network.

    Attributes
    ----------
    xy : (N, 2) float64 node positions, metres.
    a, b : (L,) int64 from and to node of each link.
    road : (L,) road id of each link.
    piece : (L,) int64 index of the link's piece along its road (pieces run between
        junctions, in digitised order).
    forward : (L,) bool, whether the link runs along the road's digitised direction.
    length_m : (L,) float64.
    free_time_s : (L,) float64 free-flow time (:data:`CLOSED_TIME_S` when closed).
    capacity : (L,) float64 veh/h.
    closed : (L,) bool.
    piece_coords : road id -> list of (m, 2) arrays, the pieces' geometry.
    """

    xy: F64
    a: I64
    b: I64
    road: tuple[str, ...]
    piece: I64
    forward: npt.NDArray[np.bool_]
    length_m: F64
    free_time_s: F64
    capacity: F64
    closed: npt.NDArray[np.bool_]
    piece_coords: dict[str, list[F64]] = field(default_factory=dict)

    @property
    def n_links(self) -> int:
        return len(self.a)

    @property
    def n_nodes(self) -> int:
        return len(self.xy)

    def keys(self) -> list[str]:
        """A stable key per link: ``road#piece+`` (along) or ``road#piece-`` (against)."""
        return [
            f"{r}#{int(p)}{'+' if f else '-'}"
            for r, p, f in zip(self.road, self.piece, self.forward, strict=True)
        ]

    def degree(self) -> I64:
        """(N,) number of distinct neighbour nodes of each node (both directions)."""
        pairs = {
            (min(a, b), max(a, b)) for a, b in zip(self.a.tolist(), self.b.tolist(), strict=True)
        }
        deg = np.zeros(self.n_nodes, dtype=np.int64)
        for a, b in pairs:
            deg[a] += 1
            deg[b] += 1
        return deg


class _NodeIndex:
    """Points merged into nodes within a snapping distance (grid hashing)."""

    def __init__(self, snap_m: float) -> None:
        self.snap = snap_m
        self.cells: dict[tuple[int, int], list[int]] = {}
        self.xy: list[tuple[float, float]] = []

    def node(self, x: float, y: float) -> int:
        cx, cy = math.floor(x / self.snap), math.floor(y / self.snap)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for i in self.cells.get((cx + dx, cy + dy), ()):
                    px, py = self.xy[i]
                    if math.hypot(px - x, py - y) <= self.snap:
                        return i
        self.xy.append((x, y))
        self.cells.setdefault((cx, cy), []).append(len(self.xy) - 1)
        return len(self.xy) - 1


def _cut_positions(records: Sequence[RoadRecord], snap_m: float) -> list[list[float]]:
    """Distances along each road where it must be cut (its ends, crossings, T-ends)."""
    import shapely
    from shapely import LineString, MultiPoint, Point

    lines = [LineString(r.coords) for r in records]
    cuts: list[list[float]] = [[0.0, line.length] for line in lines]
    tree = shapely.STRtree(lines)
    ends = [(Point(r.coords[0]), Point(r.coords[-1])) for r in records]
    for i, li in enumerate(lines):
        for j in tree.query(li, predicate="dwithin", distance=snap_m).tolist():
            if j <= i:
                continue
            lj = lines[j]
            inter = li.intersection(lj)
            points: list[Point] = []
            if isinstance(inter, Point):
                points = [inter]
            elif isinstance(inter, MultiPoint):
                points = list(inter.geoms)
            elif not inter.is_empty:  # overlapping parts: cut at their ends
                points = [Point(c) for g in getattr(inter, "geoms", [inter]) for c in g.coords]
            for p in points:
                cuts[i].append(li.project(p))
                cuts[j].append(lj.project(p))
            for e in ends[j]:
                if li.distance(e) <= snap_m:
                    cuts[i].append(li.project(e))
            for e in ends[i]:
                if lj.distance(e) <= snap_m:
                    cuts[j].append(lj.project(e))
    return cuts


def build_network(records: Sequence[RoadRecord], *, snap_m: float = 1.5) -> Network:
    """Cut the roads at their junctions and make directed links.

    Parameters
    ----------
    records : the roads (ids unique).
    snap_m : distance within which line ends join another line and cut points merge, m.

    Returns
    -------
    The :class:`Network`; closed roads keep their links with
    :data:`CLOSED_TIME_S` free-flow time.

    Raises
    ------
    TrafficError
        Duplicate road ids or no roads.
    """
    from shapely import LineString
    from shapely.ops import substring

    if not records:
        raise TrafficError("the road network is empty")
    ids = [r.id for r in records]
    if len(set(ids)) != len(ids):
        raise TrafficError("road ids must be unique")
    cuts = _cut_positions(records, snap_m)
    nodes = _NodeIndex(snap_m)
    a: list[int] = []
    b: list[int] = []
    road: list[str] = []
    piece: list[int] = []
    forward: list[bool] = []
    length: list[float] = []
    time_s: list[float] = []
    cap: list[float] = []
    closed: list[bool] = []
    pieces: dict[str, list[F64]] = {}
    for rec, positions in zip(records, cuts, strict=True):
        line = LineString(rec.coords)
        at = sorted(positions)
        merged = [at[0]]
        for d in at[1:]:
            if d - merged[-1] > snap_m:
                merged.append(d)
        merged[-1] = line.length
        speed_ms = rec.speed() / 3.6
        pieces[rec.id] = []
        for k, (d0, d1) in enumerate(itertools.pairwise(merged)):
            part = substring(line, d0, d1)
            coords = np.asarray(part.coords, dtype=np.float64)
            pieces[rec.id].append(coords)
            n0 = nodes.node(float(coords[0, 0]), float(coords[0, 1]))
            n1 = nodes.node(float(coords[-1, 0]), float(coords[-1, 1]))
            if n0 == n1:
                continue
            seg = float(part.length)
            t = CLOSED_TIME_S if rec.closed else seg / speed_ms
            for fwd in (True, False):
                if (rec.oneway == 1 and not fwd) or (rec.oneway == -1 and fwd):
                    continue
                a.append(n0 if fwd else n1)
                b.append(n1 if fwd else n0)
                road.append(rec.id)
                piece.append(k)
                forward.append(fwd)
                length.append(seg)
                time_s.append(t)
                cap.append(rec.capacity())
                closed.append(rec.closed)
    return Network(
        xy=np.asarray(nodes.xy, dtype=np.float64).reshape(-1, 2),
        a=np.asarray(a, dtype=np.int64),
        b=np.asarray(b, dtype=np.int64),
        road=tuple(road),
        piece=np.asarray(piece, dtype=np.int64),
        forward=np.asarray(forward, dtype=bool),
        length_m=np.asarray(length, dtype=np.float64),
        free_time_s=np.asarray(time_s, dtype=np.float64),
        capacity=np.asarray(cap, dtype=np.float64),
        closed=np.asarray(closed, dtype=bool),
        piece_coords=pieces,
    )
