"""Road network with traffic: the source model shared by the noise and air kernels.

The network is read from an already-loaded GeoJSON object (``json.load`` is the
caller's job; kernels do no file I/O). The schema is documented in ``docs/noise.md``
("Road network GeoJSON"). Bad records are skipped and reported in
:attr:`RoadNetwork.skipped`; the rest of the network is kept.

Array conventions
-----------------
- flows: (3, 5) float64, vehicles per hour, rows = periods ``day, evening, night``
  (END periods 07-19, 19-23, 23-07), columns = CNOSSOS-EU categories ``1, 2, 3, 4a, 4b``.
- speeds: (5,) float64, km/h, per category.
- coordinates: metres in a projected CRS (e.g. EPSG:25833).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.core.errors import KernelError

__all__ = [
    "CATEGORIES",
    "DEFAULT_SPEED_KMH",
    "DIRECTIONS",
    "PERIODS",
    "PERIOD_HOURS",
    "SOURCE_HEIGHT_M",
    "SPEED_RANGE_KMH",
    "Direction",
    "Junction",
    "Road",
    "RoadNetwork",
    "SkippedRecord",
    "SourcePoints",
    "vehicles_per_day",
]

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: CNOSSOS-EU vehicle categories (Directive (EU) 2015/996, Annex II, Table 2.2.a).
CATEGORIES: tuple[str, ...] = ("1", "2", "3", "4a", "4b")
#: END assessment periods (Directive 2002/49/EC, Annex I): day 07-19, evening 19-23, night 23-07.
PERIODS: tuple[str, ...] = ("day", "evening", "night")
#: Hours per period, in :data:`PERIODS` order.
PERIOD_HOURS: tuple[int, ...] = (12, 4, 8)
#: CNOSSOS-EU validity range of the road emission model (Annex II, 2.2.1), km/h.
SPEED_RANGE_KMH: tuple[float, float] = (20.0, 130.0)
#: Speed used when a road gives none, km/h (urban limit).
DEFAULT_SPEED_KMH = 50.0
#: Source height above the road surface, m (Annex II, 2.2.1: 0.05 m).
SOURCE_HEIGHT_M = 0.05
#: Lane width used when ``width_m`` is missing, m.
LANE_WIDTH_M = 3.5

#: Surfaces accepted when the caller does not pass the coefficient file's list.
DEFAULT_SURFACES: frozenset[str] = frozenset(
    {"DEF", "FR_R2", *(f"NL{k:02d}" for k in range(1, 15))}
)
#: Where a road's traffic drives relative to its digitised direction.
Direction = Literal["both", "forward", "backward"]
DIRECTIONS: tuple[str, ...] = ("both", "forward", "backward")

_EPSG_RE = re.compile(r"EPSG:{1,2}(?:[0-9.]*:)?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A road record that was left out, and why.

    Attributes
    ----------
    id : the record's ``id`` (``"#<index>"`` when it had none).
    index : position of the feature in ``features``.
    reason : what was wrong, in words.
    """

    id: str
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Junction:
    """A junction that changes emission nearby (Annex II, 2.2.6, eqs. 2.2.16-2.2.17).

    Attributes
    ----------
    x, y : position, metres in the network's CRS.
    type : 1 = crossing with traffic lights, 2 = roundabout (the Directive's k).
    """

    x: float
    y: float
    type: Literal[1, 2]


@dataclass(frozen=True, slots=True, eq=False)
class Road:
    """One road (centreline) with its traffic.

    Attributes
    ----------
    id : unique identifier (string).
    coords : (n, 2) float64, metres, the centreline vertices; for a MultiLineString
        the parts are concatenated and :attr:`breaks` marks where a new part starts.
    breaks : indices into ``coords`` where a new part starts (empty for a LineString).
    flows : (3, 5) float64, vehicles/h, periods x categories (see module docstring).
    speeds : (5,) float64, km/h per category.
    name : street name ("" when none).
    surface : road surface key of the coefficient file (``"DEF"`` = reference surface).
    lanes : number of lanes (both directions).
    width_m : carriageway width, m.
    gradient_pct : slope along the digitised direction, % (positive = uphill).
    direction : where the traffic drives: ``"both"`` (two-way: half the flow along the
        digitised direction, half against it), ``"forward"`` (one-way along the digitised
        direction) or ``"backward"`` (one-way against it). With a gradient this decides
        which share drives uphill (CNOSSOS-EU gradient correction, Annex II, 2.2.9).
    studded_share : share of light vehicles with studded tyres, 0..1.
    studded_months : months per year with studded tyres, 0..12.
    closed : a closed road emits nothing but stays in the network.
    street_type : SRM1 road type 1-4 (air model).
    tree_factor : SRM1 tree factor F_b, 1, 1.25 or 1.5 (air model).
    canyon : whether the road is a street canyon (air model).
    extra : other properties, kept for the GeoJSON round trip.
    """

    id: str
    coords: F64
    flows: F64
    speeds: F64
    breaks: tuple[int, ...] = ()
    name: str = ""
    surface: str = "DEF"
    lanes: int = 2
    width_m: float = 2 * LANE_WIDTH_M
    gradient_pct: float = 0.0
    direction: Direction = "both"
    studded_share: float = 0.0
    studded_months: float = 0.0
    closed: bool = False
    street_type: int = 1
    tree_factor: float = 1.0
    canyon: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def parts(self) -> list[F64]:
        """The centreline parts, each an (m, 2) float64 array of vertices (metres)."""
        cuts = [0, *self.breaks, len(self.coords)]
        return [self.coords[a:b] for a, b in itertools.pairwise(cuts) if b - a >= 2]

    def segments(self) -> F64:
        """All straight segments: (m, 2, 2) float64, metres, ``[k, 0]`` start, ``[k, 1]`` end."""
        segs = [np.stack([p[:-1], p[1:]], axis=1) for p in self.parts()]
        if not segs:
            return np.zeros((0, 2, 2))
        return np.concatenate(segs, axis=0)

    def length_m(self) -> float:
        """Total centreline length, m."""
        s = self.segments()
        return float(np.hypot(*(s[:, 1] - s[:, 0]).T).sum()) if len(s) else 0.0

    def vehicles_per_day(self) -> F64:
        """Vehicles per day per category, (5,) float64 (0 when closed)."""
        return vehicles_per_day(self)

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax), metres."""
        lo = self.coords.min(axis=0)
        hi = self.coords.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def with_flows(self, flows: F64) -> Road:
        """A copy with new (3, 5) flows, vehicles/h."""
        f = np.asarray(flows, dtype=np.float64).reshape(3, 5).copy()
        f.setflags(write=False)
        return replace(self, flows=f)


def vehicles_per_day(road: Road) -> F64:
    """Vehicles per day per category: sum over periods of flow x period hours.

    Returns
    -------
    (5,) float64, vehicles/day in :data:`CATEGORIES` order; zeros for a closed road.
    """
    if road.closed:
        return np.zeros(5)
    hours = np.asarray(PERIOD_HOURS, dtype=np.float64)
    return np.asarray(hours @ road.flows, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class SourcePoints:
    """Point sources that stand for the road centrelines (Annex II, 2.2.1 and 2.5.4).

    Each road segment is cut into pieces no longer than the spacing; each piece is
    represented by a point at its middle carrying the piece's length.

    Attributes
    ----------
    xy : (n, 2) float64, metres.
    z : (n,) float64, source height above ground, m (0.05 m).
    road_index : (n,) int64, index into :attr:`RoadNetwork.roads`.
    length_m : (n,) float64, length of centreline each point represents, m.
    junction_distance : (n,) float64, distance to the nearest junction, m (inf if none).
    junction_type : (n,) int64, type k of that junction (0 when none).
    direction : (n, 2) float64, unit vector of the segment direction.
    """

    xy: F64
    z: F64
    road_index: I64
    length_m: F64
    junction_distance: F64
    junction_type: I64
    direction: F64

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def select(self, mask: npt.NDArray[np.bool_]) -> SourcePoints:
        """The points where ``mask`` ((n,) bool) is true."""
        return SourcePoints(
            xy=self.xy[mask],
            z=self.z[mask],
            road_index=self.road_index[mask],
            length_m=self.length_m[mask],
            junction_distance=self.junction_distance[mask],
            junction_type=self.junction_type[mask],
            direction=self.direction[mask],
        )


@dataclass(frozen=True, slots=True, eq=False)
class RoadNetwork:
    """A validated road network.

    Attributes
    ----------
    roads : the accepted roads, in input order.
    crs : ``"EPSG:<code>"`` of the coordinates.
    junctions : junctions that raise emission within 100 m.
    temperature_c : mean air temperature for the rolling-noise correction, degC
        (default 20, the Directive's reference, i.e. no correction).
    skipped : records left out, with reasons.
    """

    roads: tuple[Road, ...]
    crs: str = "EPSG:25833"
    junctions: tuple[Junction, ...] = ()
    temperature_c: float = 20.0
    skipped: list[SkippedRecord] = field(default_factory=list)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_geojson(
        cls, obj: Mapping[str, Any], surfaces: Sequence[str] | None = None
    ) -> RoadNetwork:
        """Read a road network from a GeoJSON FeatureCollection (already parsed).

        Parameters
        ----------
        obj : the FeatureCollection as loaded by ``json.load``.
        surfaces : road-surface keys that are accepted (default: the surfaces of the
            bundled coefficient file, ``DEF``, ``NL01``, ``FR_R2``).

        Raises
        ------
        KernelError
            When ``obj`` is not a FeatureCollection or its CRS is missing/unusable.
            Bad features do not raise: they are listed in :attr:`skipped`.
        """
        if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
            raise KernelError("road network: expected a GeoJSON FeatureCollection object")
        crs = _parse_crs(obj.get("crs"))
        known = frozenset(surfaces) if surfaces is not None else DEFAULT_SURFACES
        temperature = obj.get("temperature_c", 20.0)
        if not _is_number(temperature) or not -40.0 <= float(temperature) <= 50.0:
            raise KernelError(
                f"road network: temperature_c={temperature!r} is not a number in -40..50 degC"
            )
        junctions: list[Junction] = []
        for k, j in enumerate(obj.get("junctions") or []):
            try:
                jt = int(j["type"])
                if jt not in (1, 2):
                    raise ValueError(f"type {jt} is not 1 or 2")
                jx, jy = float(j["x"]), float(j["y"])
                if not (math.isfinite(jx) and math.isfinite(jy)):
                    raise ValueError("non-finite position")
                junctions.append(Junction(jx, jy, 1 if jt == 1 else 2))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("road network: junction %d skipped: %s", k, exc)
        features = obj.get("features")
        if not isinstance(features, list):
            raise KernelError("road network: 'features' must be a list")
        roads: list[Road] = []
        skipped: list[SkippedRecord] = []
        seen: set[str] = set()
        for index, feat in enumerate(features):
            rid = f"#{index}"
            try:
                if not isinstance(feat, Mapping):
                    raise ValueError("feature is not an object")
                props = feat.get("properties") or {}
                if not isinstance(props, Mapping):
                    raise ValueError("properties is not an object")
                raw_id = props.get("id", feat.get("id"))
                if raw_id is None or str(raw_id) == "":
                    raise ValueError("missing id")
                rid = str(raw_id)
                if rid in seen:
                    raise ValueError("duplicate id")
                road = _parse_road(rid, feat.get("geometry"), props, known)
            except (ValueError, TypeError, KeyError) as exc:
                reason = str(exc) or type(exc).__name__
                skipped.append(SkippedRecord(rid, index, reason))
                log.warning("road %s (feature %d) skipped: %s", rid, index, reason)
                continue
            seen.add(rid)
            roads.append(road)
        return cls(tuple(roads), crs, tuple(junctions), float(temperature), skipped)

    def to_geojson(self) -> dict[str, Any]:
        """The network as a GeoJSON FeatureCollection dict (inverse of :meth:`from_geojson`)."""
        feats = [_road_to_feature(r) for r in self.roads]
        out: dict[str, Any] = {"type": "FeatureCollection", "crs": self.crs}
        if self.junctions:
            out["junctions"] = [{"x": j.x, "y": j.y, "type": j.type} for j in self.junctions]
        out["temperature_c"] = self.temperature_c
        out["features"] = feats
        return out

    # ------------------------------------------------------------------ access
    def index_of(self, road_id: str) -> int:
        """Index of a road by id; raises KernelError when unknown."""
        for i, r in enumerate(self.roads):
            if r.id == road_id:
                return i
        raise KernelError(f"road network: no road with id {road_id!r}")

    def road(self, road_id: str) -> Road:
        """The road with this id; raises KernelError when unknown."""
        return self.roads[self.index_of(road_id)]

    def vehicles_per_day(self, road: Road | str) -> F64:
        """Vehicles per day per category for a road (object or id), (5,) float64."""
        return vehicles_per_day(self.road(road) if isinstance(road, str) else road)

    def with_road(self, road: Road) -> RoadNetwork:
        """A network with ``road`` added, or replacing the road with the same id."""
        roads = list(self.roads)
        for i, r in enumerate(roads):
            if r.id == road.id:
                roads[i] = road
                break
        else:
            roads.append(road)
        return replace(self, roads=tuple(roads), skipped=list(self.skipped))

    def without_road(self, road_id: str) -> RoadNetwork:
        """A network without the road ``road_id`` (KernelError when unknown)."""
        i = self.index_of(road_id)
        return replace(self, roads=self.roads[:i] + self.roads[i + 1 :], skipped=list(self.skipped))

    def subset(self, road_ids: Sequence[str]) -> RoadNetwork:
        """A network holding only the given roads (same CRS, junctions, temperature)."""
        wanted = set(road_ids)
        return replace(self, roads=tuple(r for r in self.roads if r.id in wanted), skipped=[])

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) over all roads, metres (KernelError when empty)."""
        if not self.roads:
            raise KernelError("road network is empty")
        b = np.array([r.bounds() for r in self.roads])
        return (
            float(b[:, 0].min()),
            float(b[:, 1].min()),
            float(b[:, 2].max()),
            float(b[:, 3].max()),
        )

    # ------------------------------------------------------------------ sources
    def source_points(self, spacing_m: float = 10.0, include_closed: bool = False) -> SourcePoints:
        """Split the centrelines into point sources (Annex II, 2.5.4: line -> point sources).

        Parameters
        ----------
        spacing_m : maximum length of centreline one point stands for, m. Points sit at
            the middle of equal pieces of each segment.
        include_closed : also emit points for closed roads (they carry zero emission).

        Returns
        -------
        SourcePoints with source height 0.05 m (Annex II, 2.2.1).
        """
        if not spacing_m > 0:
            raise KernelError(f"source_points: spacing_m must be > 0, got {spacing_m}")
        xy_l: list[F64] = []
        idx_l: list[I64] = []
        len_l: list[F64] = []
        dir_l: list[F64] = []
        for ri, road in enumerate(self.roads):
            if road.closed and not include_closed:
                continue
            segs = road.segments()
            if len(segs) == 0:
                continue
            d = segs[:, 1] - segs[:, 0]
            seg_len = np.hypot(d[:, 0], d[:, 1])
            keep = seg_len > 1e-9
            segs, d, seg_len = segs[keep], d[keep], seg_len[keep]
            n_pieces = np.maximum(np.ceil(seg_len / spacing_m).astype(np.int64), 1)
            seg_of = np.repeat(np.arange(len(segs)), n_pieces)
            first = np.cumsum(n_pieces) - n_pieces
            k = np.arange(int(n_pieces.sum())) - np.repeat(first, n_pieces)
            frac = (k + 0.5) / n_pieces[seg_of]
            xy_l.append(segs[seg_of, 0] + d[seg_of] * frac[:, None])
            len_l.append(seg_len[seg_of] / n_pieces[seg_of])
            dir_l.append(d[seg_of] / seg_len[seg_of, None])
            idx_l.append(np.full(len(seg_of), ri, dtype=np.int64))
        if not xy_l:
            z2 = np.zeros((0, 2))
            z1 = np.zeros(0)
            return SourcePoints(z2, z1, np.zeros(0, np.int64), z1, z1, np.zeros(0, np.int64), z2)
        xy = np.concatenate(xy_l)
        n = len(xy)
        jd = np.full(n, np.inf)
        jt = np.zeros(n, dtype=np.int64)
        if self.junctions:
            jxy = np.array([[j.x, j.y] for j in self.junctions])
            dist = np.hypot(xy[:, None, 0] - jxy[None, :, 0], xy[:, None, 1] - jxy[None, :, 1])
            near = np.argmin(dist, axis=1)
            jd = dist[np.arange(n), near]
            jt = np.array([self.junctions[i].type for i in near], dtype=np.int64)
        return SourcePoints(
            xy=xy,
            z=np.full(n, SOURCE_HEIGHT_M),
            road_index=np.concatenate(idx_l),
            length_m=np.concatenate(len_l),
            junction_distance=jd,
            junction_type=jt,
            direction=np.concatenate(dir_l),
        )


# ---------------------------------------------------------------------- helpers
def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def _parse_crs(crs: object) -> str:
    name: object = crs
    if isinstance(crs, Mapping):
        props = crs.get("properties")
        name = props.get("name") if isinstance(props, Mapping) else None
    if not isinstance(name, str):
        raise KernelError(
            'road network: missing \'crs\'; give a projected CRS in metres, e.g. "crs": "EPSG:25833"'
        )
    m = _EPSG_RE.search(name.strip())
    if not m:
        raise KernelError(f"road network: CRS {name!r} is not an EPSG code (e.g. 'EPSG:25833')")
    code = int(m.group(1))
    if code in (4326, 4258, 4979, 4937, 3857):
        raise KernelError(
            f"road network: CRS EPSG:{code} is not a projected metric CRS; reproject the roads first"
        )
    return f"EPSG:{code}"


def _parse_coords(geom: object) -> tuple[F64, tuple[int, ...]]:
    if not isinstance(geom, Mapping):
        raise ValueError("missing geometry")
    gtype = geom.get("type")
    raw = geom.get("coordinates")
    if gtype == "LineString":
        lines = [raw]
    elif gtype == "MultiLineString":
        if not isinstance(raw, list):
            raise ValueError("bad MultiLineString coordinates")
        lines = raw
    else:
        raise ValueError(f"geometry type {gtype!r} is not LineString or MultiLineString")
    parts: list[F64] = []
    for line in lines:
        try:
            arr = np.asarray(line, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise ValueError("coordinates are not numbers") from exc
        if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 2:
            raise ValueError("a line needs at least 2 positions of 2+ numbers")
        arr = arr[:, :2]
        if not np.isfinite(arr).all():
            raise ValueError("non-finite coordinates")
        if np.hypot(*np.diff(arr, axis=0).T).sum() <= 0:
            raise ValueError("zero-length line")
        parts.append(arr)
    if not parts:
        raise ValueError("empty geometry")
    breaks = tuple(int(x) for x in np.cumsum([len(p) for p in parts])[:-1])
    coords = np.ascontiguousarray(np.concatenate(parts))
    coords.setflags(write=False)
    return coords, breaks


def _parse_flows(raw: object) -> F64:
    if not isinstance(raw, Mapping):
        raise ValueError("'flows' must be an object with day/evening/night")
    flows = np.zeros((3, 5))
    for key in raw:
        if key not in PERIODS:
            raise ValueError(f"flows: unknown period {key!r}")
    for p, period in enumerate(PERIODS):
        per = raw.get(period)
        if per is None:
            continue
        if not isinstance(per, Mapping):
            raise ValueError(f"flows.{period} must be an object by category")
        for cat, val in per.items():
            if str(cat) not in CATEGORIES:
                raise ValueError(f"flows.{period}: unknown category {cat!r}")
            if not _is_number(val) or float(val) < 0:
                raise ValueError(f"flows.{period}.{cat}={val!r} is not a non-negative number")
            flows[p, CATEGORIES.index(str(cat))] = float(val)
    flows.setflags(write=False)
    return flows


def _parse_speeds(raw: object) -> F64:
    lo, hi = SPEED_RANGE_KMH
    if raw is None:
        speeds = np.full(5, DEFAULT_SPEED_KMH)
    elif isinstance(raw, Mapping):
        given: dict[str, float] = {}
        for cat, val in raw.items():
            if str(cat) not in CATEGORIES:
                raise ValueError(f"speed_kmh: unknown category {cat!r}")
            if not _is_number(val):
                raise ValueError(f"speed_kmh.{cat}={val!r} is not a number")
            given[str(cat)] = float(val)
        if not given:
            raise ValueError("speed_kmh: empty object")
        fallback = given.get("1", next(iter(given.values())))
        speeds = np.array([given.get(c, fallback) for c in CATEGORIES])
    elif _is_number(raw):
        speeds = np.full(5, float(raw))  # type: ignore[arg-type]
    else:
        raise ValueError(f"speed_kmh={raw!r} is not a number or an object by category")
    if ((speeds < lo) | (speeds > hi)).any():
        raise ValueError(
            f"speed_kmh {speeds.tolist()} outside the CNOSSOS-EU validity range {lo:g}..{hi:g} km/h"
        )
    speeds.setflags(write=False)
    return speeds


def _num(props: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    val = props.get(key, default)
    if val is None:
        return default
    if not _is_number(val) or not lo <= float(val) <= hi:
        raise ValueError(f"{key}={val!r} is not a number in {lo:g}..{hi:g}")
    return float(val)


def _bool(props: Mapping[str, Any], key: str) -> bool:
    val = props.get(key, False)
    if val is None:
        return False
    if not isinstance(val, bool):
        raise ValueError(f"{key}={val!r} is not true/false")
    return val


_KNOWN_PROPS = frozenset(
    {
        "id", "name", "flows", "speed_kmh", "surface", "lanes", "width_m", "gradient_pct",
        "direction", "studded", "closed", "street_type", "tree_factor", "canyon",
    }
)  # fmt: skip


def _parse_road(rid: str, geom: object, props: Mapping[str, Any], surfaces: frozenset[str]) -> Road:
    coords, breaks = _parse_coords(geom)
    flows = _parse_flows(props.get("flows"))
    speeds = _parse_speeds(props.get("speed_kmh"))
    surface = props.get("surface", "DEF")
    if surface is None:
        surface = "DEF"
    if not isinstance(surface, str) or surface not in surfaces:
        raise ValueError(f"unknown road surface {surface!r} (known: {', '.join(sorted(surfaces))})")
    lanes_raw = props.get("lanes", 2)
    if lanes_raw is None:
        lanes_raw = 2
    if isinstance(lanes_raw, bool) or not isinstance(lanes_raw, int) or not 1 <= lanes_raw <= 12:
        raise ValueError(f"lanes={lanes_raw!r} is not an integer in 1..12")
    width = _num(props, "width_m", lanes_raw * LANE_WIDTH_M, 1.0, 100.0)
    gradient = _num(props, "gradient_pct", 0.0, -30.0, 30.0)
    direction = props.get("direction", "both")
    if direction is None:
        direction = "both"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r} is not one of {', '.join(DIRECTIONS)}")
    share, months = 0.0, 0.0
    studded = props.get("studded")
    if studded is not None:
        if not isinstance(studded, Mapping):
            raise ValueError("studded must be an object {share, months}")
        share = _num(studded, "share", 0.0, 0.0, 1.0)
        months = _num(studded, "months", 0.0, 0.0, 12.0)
    street_type = props.get("street_type", 1)
    if street_type is None:
        street_type = 1
    if isinstance(street_type, bool) or street_type not in (1, 2, 3, 4):
        raise ValueError(f"street_type={street_type!r} is not 1..4")
    tree_factor = _num(props, "tree_factor", 1.0, 1.0, 1.5)
    if tree_factor not in (1.0, 1.25, 1.5):
        raise ValueError(f"tree_factor={tree_factor!r} is not 1, 1.25 or 1.5")
    name = props.get("name") or ""
    extra = {k: v for k, v in props.items() if k not in _KNOWN_PROPS}
    return Road(
        id=rid,
        coords=coords,
        flows=flows,
        speeds=speeds,
        breaks=breaks,
        name=str(name),
        surface=surface,
        lanes=lanes_raw,
        width_m=width,
        gradient_pct=gradient,
        direction=direction,
        studded_share=share,
        studded_months=months,
        closed=_bool(props, "closed"),
        street_type=int(street_type),
        tree_factor=tree_factor,
        canyon=_bool(props, "canyon"),
        extra=extra,
    )


def _road_to_feature(r: Road) -> dict[str, Any]:
    parts = r.parts()
    if len(parts) == 1:
        geom: dict[str, Any] = {"type": "LineString", "coordinates": parts[0].tolist()}
    else:
        geom = {"type": "MultiLineString", "coordinates": [p.tolist() for p in parts]}
    flows = {
        period: {c: float(r.flows[p, k]) for k, c in enumerate(CATEGORIES) if r.flows[p, k] > 0}
        for p, period in enumerate(PERIODS)
    }
    speed: float | dict[str, float]
    if np.all(r.speeds == r.speeds[0]):
        speed = float(r.speeds[0])
    else:
        speed = {c: float(v) for c, v in zip(CATEGORIES, r.speeds, strict=True)}
    props: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "flows": flows,
        "speed_kmh": speed,
        "surface": r.surface,
        "lanes": r.lanes,
        "width_m": r.width_m,
        "gradient_pct": r.gradient_pct,
        "direction": r.direction,
        "closed": r.closed,
        "street_type": r.street_type,
        "tree_factor": r.tree_factor,
        "canyon": r.canyon,
    }
    if r.studded_share > 0 or r.studded_months > 0:
        props["studded"] = {"share": r.studded_share, "months": r.studded_months}
    props.update(r.extra)
    return {"type": "Feature", "geometry": geom, "properties": props}
