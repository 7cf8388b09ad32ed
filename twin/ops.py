"""Scenario edit operations: parsing, validation and their effect on a scenario's state.

An op arrives as a JSON object (``{"op": "plant_tree", ...}``). :func:`parse_op` checks
its fields, types and ranges against the protocol schema (the one source of truth for
ranges), then the geometry: every position must lie inside the scenario's extent
(the city), polygons need three distinct vertices and a non-zero area. The result
is a frozen dataclass. :meth:`ScenarioState.check` then checks references against
the scenario's current state (a tree to remove must exist, ...), and
:meth:`ScenarioState.apply` applies the op.

Coordinates are ``[longitude, latitude]`` in degrees, WGS 84 (RFC 7946 order).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from greentwin.core import ScenarioError
from greentwin.twin.protocol import MessageError, validate_op

__all__ = [
    "WORLD",
    "AddBarrier",
    "AddBuilding",
    "AddRoad",
    "ClosePoint",
    "CloseRoad",
    "EditOp",
    "Extent",
    "OpError",
    "PlantTree",
    "PruneTree",
    "RemoveBarrier",
    "RemoveBuilding",
    "RemoveGreenArea",
    "RemoveTree",
    "ReplaceTree",
    "ScenarioState",
    "SetGreenArea",
    "SetOneway",
    "SetRoadTraffic",
    "op_digest",
    "op_from_dict",
    "op_to_dict",
    "parse_op",
]

ClosePoint = tuple[float, float]


class OpError(ScenarioError):
    """An edit op was refused; ``code`` is ``invalid_op`` or ``conflict``."""

    def __init__(self, code: Literal["invalid_op", "conflict"], message: str) -> None:
        super().__init__(message)
        self.code: Literal["invalid_op", "conflict"] = code


# --- the city's extent ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Extent:
    """Where edits may go: a polygon ring of ``[lon, lat]`` vertices, degrees WGS 84.

    Use :meth:`bbox` for a rectangle. Containment is shapely's ``intersects``: points
    on the boundary count as inside.
    """

    ring: tuple[ClosePoint, ...]

    @classmethod
    def bbox(cls, west: float, south: float, east: float, north: float) -> Extent:
        """A rectangular extent from its bounds in degrees."""
        if not (west < east and south < north):
            raise ScenarioError(f"extent bbox is empty: {(west, south, east, north)}")
        return cls(((west, south), (east, south), (east, north), (west, north)))

    @classmethod
    def from_json(cls, value: Any) -> Extent:
        """From ``[w, s, e, n]`` or a list of ``[lon, lat]`` vertices."""
        if (
            isinstance(value, Sequence)
            and len(value) == 4
            and all(isinstance(v, int | float) for v in value)
        ):
            return cls.bbox(*(float(v) for v in value))
        return cls(tuple((float(p[0]), float(p[1])) for p in value))

    def to_json(self) -> list[list[float]]:
        return [[x, y] for x, y in self.ring]

    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the ring, degrees."""
        lons = [x for x, _ in self.ring]
        lats = [y for _, y in self.ring]
        return min(lons), min(lats), max(lons), max(lats)

    def contains(self, lon: float, lat: float) -> bool:
        """Whether the point lies inside (or on the boundary of) the extent."""
        import shapely

        return bool(shapely.intersects_xy(shapely.Polygon(self.ring), lon, lat))


WORLD = Extent.bbox(-180.0, -90.0, 180.0, 90.0)


# --- the ops ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlantTree:
    """Plant a tree of ``species`` at ``position``; size by age or nursery girth (cm)."""

    id: str
    species: str
    position: ClosePoint
    age_years: float | None = None
    nursery_size_cm: float | None = None
    height_m: float | None = None
    op: Literal["plant_tree"] = "plant_tree"


@dataclass(frozen=True, slots=True)
class RemoveTree:
    """Remove a tree (baseline or planted in this scenario)."""

    id: str
    op: Literal["remove_tree"] = "remove_tree"


@dataclass(frozen=True, slots=True)
class ReplaceTree:
    """Replace tree ``id`` by a new tree ``new_id`` of ``species`` at the same place."""

    id: str
    new_id: str
    species: str
    age_years: float | None = None
    nursery_size_cm: float | None = None
    height_m: float | None = None
    op: Literal["replace_tree"] = "replace_tree"


@dataclass(frozen=True, slots=True)
class PruneTree:
    """Prune a tree: ``crown_reduction`` is the fraction of crown volume removed."""

    id: str
    crown_reduction: float
    op: Literal["prune_tree"] = "prune_tree"


@dataclass(frozen=True, slots=True)
class SetGreenArea:
    """Add or change a green area (CityGML PlantCover) with a cover class."""

    id: str
    polygon: tuple[ClosePoint, ...]
    cover: str
    height_m: float | None = None
    op: Literal["set_green_area"] = "set_green_area"


@dataclass(frozen=True, slots=True)
class RemoveGreenArea:
    id: str
    op: Literal["remove_green_area"] = "remove_green_area"


@dataclass(frozen=True, slots=True)
class SetRoadTraffic:
    """Override a road's traffic: flows (veh/h by period and category), speed, surface;
    lanes and capacity (veh/h per direction) change the network the traffic is assigned on."""

    id: str
    flows: Mapping[str, Mapping[str, float]] | None = None
    speed_kmh: float | None = None
    surface: str | None = None
    lanes: int | None = None
    capacity_vph: float | None = None
    op: Literal["set_road_traffic"] = "set_road_traffic"


@dataclass(frozen=True, slots=True)
class CloseRoad:
    id: str
    closed: bool = True
    op: Literal["close_road"] = "close_road"


@dataclass(frozen=True, slots=True)
class AddRoad:
    """A new road along ``line`` (class, lanes, speed limit, one-way); its traffic comes
    from re-assigning the district's demand."""

    id: str
    line: tuple[ClosePoint, ...]
    name: str | None = None
    highway: str | None = None
    lanes: int | None = None
    speed_kmh: float | None = None
    oneway: Literal["no", "forward", "backward"] | None = None
    op: Literal["add_road"] = "add_road"


@dataclass(frozen=True, slots=True)
class SetOneway:
    """Make a road one-way (``forward``: along its digitised direction) or two-way."""

    id: str
    oneway: Literal["no", "forward", "backward"]
    op: Literal["set_oneway"] = "set_oneway"


@dataclass(frozen=True, slots=True)
class AddBarrier:
    """A noise barrier along ``line``, ``height_m`` above ground."""

    id: str
    line: tuple[ClosePoint, ...]
    height_m: float
    absorptive: bool = False
    op: Literal["add_barrier"] = "add_barrier"


@dataclass(frozen=True, slots=True)
class RemoveBarrier:
    id: str
    op: Literal["remove_barrier"] = "remove_barrier"


@dataclass(frozen=True, slots=True)
class AddBuilding:
    """A simple building volume: footprint polygon extruded to ``height_m``.

    ``use`` (``residential``, ``mixed``: housing over a non-residential ground floor, or
    ``other``) and ``storeys`` (default: one per 3 m of height) size the dwellings the
    noise-exposure summary counts in it.
    """

    id: str
    footprint: tuple[ClosePoint, ...]
    height_m: float
    use: Literal["residential", "mixed", "other"] = "other"
    storeys: int | None = None
    op: Literal["add_building"] = "add_building"


@dataclass(frozen=True, slots=True)
class RemoveBuilding:
    id: str
    op: Literal["remove_building"] = "remove_building"


EditOp = (
    PlantTree
    | RemoveTree
    | ReplaceTree
    | PruneTree
    | SetGreenArea
    | RemoveGreenArea
    | SetRoadTraffic
    | CloseRoad
    | AddBarrier
    | RemoveBarrier
    | AddBuilding
    | RemoveBuilding
    | AddRoad
    | SetOneway
)

_CLASSES: dict[str, type[Any]] = {
    str(c.__dataclass_fields__["op"].default): c
    for c in (
        PlantTree,
        RemoveTree,
        ReplaceTree,
        PruneTree,
        SetGreenArea,
        RemoveGreenArea,
        SetRoadTraffic,
        CloseRoad,
        AddBarrier,
        RemoveBarrier,
        AddBuilding,
        RemoveBuilding,
        AddRoad,
        SetOneway,
    )
}
_PREFIX = {
    "plant_tree": "tree",
    "replace_tree": "tree",
    "set_green_area": "area",
    "add_barrier": "barrier",
    "add_building": "building",
    "add_road": "road",
}


def _new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def _pt(p: Sequence[float]) -> ClosePoint:
    return (float(p[0]), float(p[1]))


def _ring(points: Sequence[Sequence[float]], what: str) -> tuple[ClosePoint, ...]:
    """A polygon's ring without closing or consecutive repeated vertices; refused unless it
    is a simple polygon (OGC validity via shapely/GEOS: no self-intersection, no spike)."""
    import shapely

    ring: list[ClosePoint] = []
    for p in points:
        q = _pt(p)
        if not ring or q != ring[-1]:
            ring.append(q)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(set(ring)) < 3:
        raise OpError("invalid_op", f"{what}: needs at least 3 distinct vertices")
    if len(set(ring)) < len(ring):
        raise OpError("invalid_op", f"{what}: the ring passes a vertex twice (not simple)")
    reason = shapely.is_valid_reason(shapely.Polygon(ring))
    if reason != "Valid Geometry":
        raise OpError("invalid_op", f"{what}: not a simple polygon ({reason})")
    # shoelace area in degrees squared: zero means collinear / degenerate
    area2 = sum(
        ring[i][0] * ring[(i + 1) % len(ring)][1] - ring[(i + 1) % len(ring)][0] * ring[i][1]
        for i in range(len(ring))
    )
    if abs(area2) < 1e-14:
        raise OpError("invalid_op", f"{what}: polygon has zero area")
    import shapely

    reason = shapely.is_valid_reason(shapely.Polygon(ring))
    if reason != "Valid Geometry":  # e.g. "Self-intersection[13.48 52.51]"
        raise OpError(
            "invalid_op", f"{what}: the outline is not a simple polygon ({reason}): redraw it"
        )
    return tuple(ring)


def _inside(extent: Extent, points: Sequence[ClosePoint], what: str) -> None:
    for lon, lat in points:
        if not extent.contains(lon, lat):
            raise OpError(
                "invalid_op",
                f"{what}: [{lon}, {lat}] is outside the city's extent; edits must stay inside it",
            )


def parse_op(raw: Any, extent: Extent = WORLD) -> EditOp:
    """Validate one op and return it as a dataclass; missing ids are generated.

    Parameters
    ----------
    raw : dict
        The op as decoded JSON, e.g. ``{"op": "plant_tree", "species": "tilia-cordata",
        "position": [24.94, 60.17], "age_years": 8}``.
    extent : Extent
        The scenario's city extent; every coordinate must lie inside it.

    Raises
    ------
    OpError
        code ``invalid_op`` with a message naming the field and the rule.
    """
    try:
        name = validate_op(raw)
    except MessageError as exc:
        raise OpError("invalid_op", str(exc)) from None
    d: dict[str, Any] = {k: v for k, v in raw.items() if k != "op"}
    if name in _PREFIX and "id" not in d:
        d["id"] = _new_id(_PREFIX[name])
    if name in ("plant_tree", "replace_tree"):
        n_sizes = ("age_years" in d) + ("nursery_size_cm" in d)
        if n_sizes != 1:
            raise OpError("invalid_op", f"{name}: give exactly one of age_years or nursery_size_cm")
    if name == "replace_tree":
        d.setdefault("new_id", _new_id("tree"))
        if d["new_id"] == d["id"]:
            raise OpError("invalid_op", "replace_tree: new_id must differ from id")
    if name == "plant_tree":
        d["position"] = _pt(d["position"])
        _inside(extent, [d["position"]], name)
    elif name == "set_green_area":
        d["polygon"] = _ring(d["polygon"], name)
        _inside(extent, d["polygon"], name)
    elif name == "add_building":
        d["footprint"] = _ring(d["footprint"], name)
        _inside(extent, d["footprint"], name)
    elif name in ("add_barrier", "add_road"):
        line = tuple(_pt(p) for p in d["line"])
        if len(set(line)) < 2:
            raise OpError("invalid_op", f"{name}: line needs 2 distinct vertices")
        _inside(extent, line, name)
        d["line"] = line
    elif name == "set_road_traffic":
        if "flows" in d:
            d["flows"] = {p: dict(f) for p, f in d["flows"].items()}
    result: EditOp = _CLASSES[name](**d)
    return result


def op_digest(raw: Any) -> str:
    """A digest of an op as the client sent it (canonical JSON), to tell a resent edit
    (same idempotency key, same op) from a different edit reusing a key."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def op_to_dict(op: EditOp) -> dict[str, Any]:
    """The op as JSON-ready dict (``op`` first, ``None`` fields left out)."""
    d = {k: v for k, v in asdict(op).items() if v is not None and k != "op"}
    for key in ("position",):
        if key in d:
            d[key] = list(d[key])
    for key in ("polygon", "footprint", "line"):
        if key in d:
            d[key] = [list(p) for p in d[key]]
    return {"op": op.op, **d}


def op_from_dict(d: Mapping[str, Any]) -> EditOp:
    """Rebuild an op stored by :func:`op_to_dict` (trusted: from our own event log)."""
    kw = {k: v for k, v in d.items() if k != "op"}
    for key in ("position",):
        if key in kw:
            kw[key] = _pt(kw[key])
    for key in ("polygon", "footprint", "line"):
        if key in kw:
            kw[key] = tuple(_pt(p) for p in kw[key])
    result: EditOp = _CLASSES[d["op"]](**kw)
    return result


# --- the derived scenario state ---------------------------------------------------------


#: Which layer each op touches.
OP_LAYER: dict[str, str] = {
    "plant_tree": "trees",
    "remove_tree": "trees",
    "replace_tree": "trees",
    "prune_tree": "trees",
    "set_green_area": "green_areas",
    "remove_green_area": "green_areas",
    "set_road_traffic": "roads",
    "close_road": "roads",
    "add_barrier": "barriers",
    "remove_barrier": "barriers",
    "add_building": "buildings",
    "remove_building": "buildings",
    "add_road": "roads",
    "set_oneway": "roads",
}


@dataclass(slots=True)
class ScenarioState:
    """What a scenario changes relative to the baseline (JSON-serialisable).

    ``trees``, ``green_areas``, ``barriers``, ``buildings``: objects added in the
    scenario by id; ``removed_*``: baseline object ids removed (or, for trees,
    replaced); ``roads``: per-road overrides (``flows``, ``speed_kmh``, ``surface``,
    ``closed``, ``lanes``, ``capacity_vph``, ``oneway``); ``added_roads``: new roads by id
    (``line``, ``name``, ``highway``, ``lanes``, ``speed_kmh``, ``oneway``); ``pruned``:
    crown reduction of baseline trees by id.
    """

    trees: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_trees: dict[str, str] = field(default_factory=dict)
    pruned: dict[str, float] = field(default_factory=dict)
    green_areas: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_green_areas: list[str] = field(default_factory=list)
    roads: dict[str, dict[str, Any]] = field(default_factory=dict)
    barriers: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_barriers: list[str] = field(default_factory=list)
    buildings: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_buildings: list[str] = field(default_factory=list)
    added_roads: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The state as JSON text (fast: no intermediate deep copy)."""
        return json.dumps({name: getattr(self, name) for name in self.__dataclass_fields__})

    @classmethod
    def from_json(cls, text: str) -> ScenarioState:
        return cls(**json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """A deep, independent copy as plain dicts and lists."""
        result: dict[str, Any] = json.loads(self.to_json())
        return result

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScenarioState:
        return cls.from_json(json.dumps(dict(d)))

    def copy(self) -> ScenarioState:
        return ScenarioState.from_json(self.to_json())

    def check(self, op: EditOp) -> None:
        """Refuse an op that contradicts the current state (code ``conflict``).

        Baseline objects are not known to the state, so removing an id the scenario
        did not add is accepted as a removal of a baseline object, once.
        """
        match op:
            case PlantTree(id=i) if i in self.trees or i in self.removed_trees:
                raise OpError("conflict", f"plant_tree: tree id {i!r} already exists")
            case RemoveTree(id=i) | ReplaceTree(id=i) if i in self.removed_trees:
                raise OpError("conflict", f"{op.op}: tree {i!r} was already removed")
            case ReplaceTree(new_id=n) if n in self.trees:
                raise OpError("conflict", f"replace_tree: tree id {n!r} already exists")
            case PruneTree(id=i) if i in self.removed_trees:
                raise OpError("conflict", f"prune_tree: tree {i!r} was removed")
            case RemoveGreenArea(id=i) if i in self.removed_green_areas:
                raise OpError("conflict", f"remove_green_area: {i!r} was already removed")
            case AddBarrier(id=i) if i in self.barriers:
                raise OpError("conflict", f"add_barrier: barrier id {i!r} already exists")
            case RemoveBarrier(id=i) if i in self.removed_barriers:
                raise OpError("conflict", f"remove_barrier: {i!r} was already removed")
            case AddBuilding(id=i) if i in self.buildings or i in self.removed_buildings:
                raise OpError("conflict", f"add_building: building id {i!r} already exists")
            case RemoveBuilding(id=i) if i in self.removed_buildings:
                raise OpError("conflict", f"remove_building: {i!r} was already removed")
            case AddRoad(id=i) if i in self.added_roads:
                raise OpError("conflict", f"add_road: road id {i!r} already exists")
            case _:
                pass

    def apply(self, op: EditOp) -> dict[str, int]:
        """Apply a checked op in place; returns counts of affected objects."""
        match op:
            case PlantTree():
                self.trees[op.id] = {
                    "species": op.species,
                    "position": list(op.position),
                    "age_years": op.age_years,
                    "nursery_size_cm": op.nursery_size_cm,
                    "height_m": op.height_m,
                    "status": "planted",
                }
                return {"trees": 1}
            case RemoveTree():
                if self.trees.pop(op.id, None) is None:
                    self.removed_trees[op.id] = "removed"
                self.pruned.pop(op.id, None)
                return {"trees": 1}
            case ReplaceTree():
                old = self.trees.pop(op.id, None)
                if old is None:
                    self.removed_trees[op.id] = "replaced"
                self.pruned.pop(op.id, None)
                self.trees[op.new_id] = {
                    "species": op.species,
                    "position": old["position"] if old else None,
                    "replaces": op.id,
                    "age_years": op.age_years,
                    "nursery_size_cm": op.nursery_size_cm,
                    "height_m": op.height_m,
                    "status": "replacement",
                }
                return {"trees": 2}
            case PruneTree():
                if op.id in self.trees:
                    self.trees[op.id]["crown_reduction"] = op.crown_reduction
                else:
                    self.pruned[op.id] = op.crown_reduction
                return {"trees": 1}
            case SetGreenArea():
                self.green_areas[op.id] = {
                    "polygon": [list(p) for p in op.polygon],
                    "cover": op.cover,
                    "height_m": op.height_m,
                }
                return {"green_areas": 1}
            case RemoveGreenArea():
                if self.green_areas.pop(op.id, None) is None:
                    self.removed_green_areas.append(op.id)
                return {"green_areas": 1}
            case SetRoadTraffic():
                road = self.roads.setdefault(op.id, {})
                if op.flows is not None:
                    flows = road.setdefault("flows", {})
                    for period, f in op.flows.items():
                        flows[period] = dict(f)
                if op.speed_kmh is not None:
                    road["speed_kmh"] = op.speed_kmh
                if op.surface is not None:
                    road["surface"] = op.surface
                if op.lanes is not None:
                    road["lanes"] = op.lanes
                if op.capacity_vph is not None:
                    road["capacity_vph"] = op.capacity_vph
                return {"roads": 1}
            case CloseRoad():
                self.roads.setdefault(op.id, {})["closed"] = op.closed
                return {"roads": 1}
            case AddRoad():
                self.added_roads[op.id] = {
                    "line": [list(p) for p in op.line],
                    "name": op.name,
                    "highway": op.highway,
                    "lanes": op.lanes,
                    "speed_kmh": op.speed_kmh,
                    "oneway": op.oneway,
                }
                return {"roads": 1}
            case SetOneway():
                self.roads.setdefault(op.id, {})["oneway"] = op.oneway
                return {"roads": 1}
            case AddBarrier():
                self.barriers[op.id] = {
                    "line": [list(p) for p in op.line],
                    "height_m": op.height_m,
                    "absorptive": op.absorptive,
                }
                return {"barriers": 1}
            case RemoveBarrier():
                if self.barriers.pop(op.id, None) is None:
                    self.removed_barriers.append(op.id)
                return {"barriers": 1}
            case AddBuilding():
                self.buildings[op.id] = {
                    "footprint": [list(p) for p in op.footprint],
                    "height_m": op.height_m,
                    "use": op.use,
                    "storeys": op.storeys,
                }
                return {"buildings": 1}
            case RemoveBuilding():
                if self.buildings.pop(op.id, None) is None:
                    self.removed_buildings.append(op.id)
                return {"buildings": 1}
        raise AssertionError(f"unhandled op {op!r}")  # pragma: no cover
