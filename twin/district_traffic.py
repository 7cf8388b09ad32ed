"""The district's roads and buildings as traffic-model input, and the model's flows back.

:func:`traffic_records` turns a :class:`~greentwin.twin.district.District`'s roads
into :class:`~greentwin.traffic.RoadRecord` (class from the road's ``highway`` property,
else inferred from lanes and speed; one-way from the road's driving ``direction``;
capacity from ``capacity_vph``; counts = the road's flows summed over vehicle categories).
:func:`traffic_buildings` makes trip generators of its footprints (floor area =
footprint area x storeys; use from the ALKIS function code).

:func:`apply_traffic` re-assigns an edited district and writes the flows back onto its
roads by the pivot-point method (Daly, Fox and Tuinenga 2005, "Pivot-point procedures in
practical travel demand forecasting", ERSA congress), per period: where the model
predicts less traffic, a road's counted flows per vehicle category are scaled by the
modelled ratio (edited / base); where it predicts more, the modelled increase is added to
the count in the road's vehicle mix (additive, so a road the base model under-predicts
does not get an exploding factor). The baseline thus reproduces the counts exactly and
only modelled changes move the noise and air inputs. A road with base flows that the
base model leaves (almost) empty keeps them plus the modelled change (they do not drop
to the model's near-zero flow on every edit); new roads, and roads without base flows,
take the modelled flow with the network's mean category shares. A road whose flows a planner set
explicitly (``set_road_traffic`` with ``flows``) keeps them. Roads whose flow moves by
less than :data:`CHANGE_THRESHOLD` (relative, any period) and less than
:data:`CHANGE_FLOOR_VPH` keep their previous flows exactly, so the noise and air
kernels' incremental update skips them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
from greentwin.kernels.roads import PERIODS, Road, RoadNetwork
from greentwin.traffic import ROAD_CLASSES, RoadRecord, infer_class
from greentwin.traffic.demand import Building
from greentwin.traffic.model import Assignment, TrafficModel
from greentwin.twin.district import STOREY_M, District

__all__ = [
    "CHANGE_FLOOR_VPH",
    "CHANGE_THRESHOLD",
    "RoadChange",
    "apply_traffic",
    "network_figures",
    "road_times",
    "traffic_buildings",
    "traffic_model",
    "traffic_records",
]

log = logging.getLogger(__name__)

#: A road's flow change below this share (and below the floor) is not passed on.
CHANGE_THRESHOLD = 0.02
#: ... and below this many vehicles per hour.
CHANGE_FLOOR_VPH = 5.0
#: Base modelled flow below which a road is pivoted on the model, not on its counts.
_PIVOT_MIN_VPH = 1.0

_MODELS: weakref.WeakKeyDictionary[District, TrafficModel] = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


class RoadChange(TypedDict):
    """How one road's traffic changed against the baseline (day period unless named)."""

    id: str
    name: str
    before: float  # veh/h, day
    after: float  # veh/h, day
    change_pct: float | None
    time_before_s: float
    time_after_s: float
    speed_before_kmh: float
    speed_after_kmh: float
    recomputed: bool


def _oneway(value: Any) -> int:
    """The road's driving direction (``forward``, ``backward``, ``both``) as -1, 0, 1."""
    return {"forward": 1, "backward": -1}.get(str(value), 0)


def traffic_records(district: District) -> list[RoadRecord]:
    """The district's roads as traffic records (closed roads included).

    A road whose ``highway`` class the capacity table lacks is classed from its lanes
    and speed like a road without one.
    """
    out: list[RoadRecord] = []
    for r in district.roads.roads:
        speed = float(r.speeds[0]) if len(r.speeds) else None
        highway = str(r.extra.get("highway") or "")
        if highway not in ROAD_CLASSES:  # none, or a class the table lacks (e.g. "road")
            highway = infer_class(r.lanes, speed)
        cap = r.extra.get("capacity_vph")
        counts = np.asarray(r.flows, dtype=np.float64).sum(axis=1)
        out.append(
            RoadRecord(
                r.id,
                r.coords,
                highway=highway,
                lanes=max(1, int(r.lanes)),
                speed_kmh=speed,
                oneway=_oneway(r.direction),  # type: ignore[arg-type]
                capacity_vph=float(cap) if cap is not None else None,
                closed=r.closed,
                counts=counts if counts.sum() > 0 else None,
                name=r.name,
            )
        )
    return out


def _use(function: str) -> str:
    if function in ("residential", "mixed", "other"):
        return function
    # ALKIS building function codes 31001_1xxx are residential buildings
    return "residential" if function.startswith("31001_1") else "other"


def traffic_buildings(district: District) -> list[Building]:
    """Trip generators: one per footprint, floor area = area x storeys."""
    out: list[Building] = []
    for f in district.footprints:
        xy = np.asarray(f.exterior, dtype=np.float64)[:, :2]
        x, y = xy[:, 0], xy[:, 1]
        area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
        info = district.buildings.get(f.id)
        storeys = (info.storeys if info is not None else None) or max(
            1, round(float(f.height_m) / STOREY_M)
        )
        use = _use(info.function if info is not None else "")
        out.append(Building(float(x.mean()), float(y.mean()), area * storeys, use))
    return out


def traffic_model(base: District) -> TrafficModel:
    """The base district's traffic model, fitted once per District object."""
    with _MODELS_LOCK:
        found = _MODELS.get(base)
    if found is not None:
        return found
    model = TrafficModel.calibrate(traffic_records(base), traffic_buildings(base))
    with _MODELS_LOCK:
        return _MODELS.setdefault(base, model)


def _shares(network: RoadNetwork) -> np.ndarray:
    """(3, 5) mean vehicle-category shares per period over the network."""
    total = np.zeros((3, 5))
    for r in network.roads:
        total += np.asarray(r.flows, dtype=np.float64)
    sums = total.sum(axis=1, keepdims=True)
    return np.where(sums > 0, total / np.maximum(sums, 1e-12), np.array([1.0, 0, 0, 0, 0]))


def apply_traffic(
    base: District,
    district: District,
    *,
    previous: District | None = None,
    explicit: Sequence[str] = (),
    model: TrafficModel | None = None,
) -> tuple[District, list[RoadChange], Assignment]:
    """Re-assign ``district``'s network and put the flows on its roads (module docstring).

    Parameters
    ----------
    base : the baseline district (its flows are the counts).
    district : the edited district (closures, speeds, lanes, one-way, new roads).
    previous : the district whose road flows the noise and air kernels hold now (for the
        change threshold); default ``base``.
    explicit : ids of roads whose flows a planner set (kept as they are).
    model : the traffic model (default :func:`traffic_model` of ``base``).

    Returns
    -------
    (district with new flows, per-road changes against the baseline, the assignment).
    """
    model = model or traffic_model(base)
    result = model.assign(traffic_records(district))
    shares = _shares(base.roads)
    before_roads = {r.id: r for r in base.roads.roads}
    prev_roads = {r.id: r for r in (previous or base).roads.roads}
    keep = set(explicit)
    roads: list[Road] = []
    changes: list[RoadChange] = []
    for r in district.roads.roads:
        res = result.roads.get(r.id)
        base_res = model.base.roads.get(r.id)
        new = r
        recomputed = False
        if res is not None and r.id not in keep and not r.closed:
            flows = np.zeros((3, 5))
            base_road = before_roads.get(r.id)
            for p in range(len(PERIODS)):
                bm = float(base_res.flow[p]) if base_res is not None else 0.0
                am = float(res.flow[p])
                counted = np.asarray(base_road.flows[p]) if base_road is not None else None
                total = float(counted.sum()) if counted is not None else 0.0
                if counted is None or (total <= 0 and bm < _PIVOT_MIN_VPH):
                    flows[p] = am * shares[p]
                elif bm < _PIVOT_MIN_VPH:  # flows the base model does not carry: add its change
                    flows[p] = counted * (max(total + am - bm, 0.0) / total)
                elif am <= bm:  # less traffic: scale the counts
                    flows[p] = counted * (am / bm)
                elif total > 0:  # more: add the modelled increase, in the road's mix
                    flows[p] = counted * ((total + am - bm) / total)
                else:
                    flows[p] = (am - bm) * shares[p]
            old = prev_roads.get(r.id)
            old_tot = np.asarray(old.flows).sum(axis=1) if old is not None else np.zeros(3)
            diff = np.abs(flows.sum(axis=1) - old_tot)
            moved = np.any(
                (diff > CHANGE_THRESHOLD * np.maximum(old_tot, 1e-9)) & (diff > CHANGE_FLOOR_VPH)
            )
            if old is None or moved:
                new = r.with_flows(flows)
                recomputed = old is not None
            else:
                new = r.with_flows(np.asarray(old.flows))
        roads.append(new)
        b = before_roads.get(r.id)
        day_before = float(np.asarray(b.flows)[0].sum()) if b is not None else 0.0
        day_after = 0.0 if new.closed else float(np.asarray(new.flows)[0].sum())
        if abs(day_after - day_before) > CHANGE_FLOOR_VPH or r.closed or b is None:
            t_b = float(base_res.time_s[0]) if base_res is not None else 0.0
            t_a = float(res.time_s[0]) if res is not None and not r.closed else 0.0
            changes.append(
                {
                    "id": r.id,
                    "name": r.name,
                    "before": round(day_before, 1),
                    "after": round(day_after, 1),
                    "change_pct": round(100.0 * (day_after / day_before - 1.0), 1)
                    if day_before > 0
                    else None,
                    "time_before_s": round(t_b, 1),
                    "time_after_s": round(t_a, 1),
                    "speed_before_kmh": round(float(base_res.speed_kmh[0]), 1)
                    if base_res is not None
                    else 0.0,
                    "speed_after_kmh": round(float(res.speed_kmh[0]), 1)
                    if res is not None and not r.closed
                    else 0.0,
                    "recomputed": recomputed or r.closed,
                }
            )
    changes.sort(key=lambda c: -abs(c["after"] - c["before"]))
    network = dataclasses.replace(district.roads, roads=tuple(roads))
    return district.replace(roads=network), changes, result


def road_times(
    base: District, result: Assignment | None, model: TrafficModel | None = None
) -> dict[str, dict[str, float | None]]:
    """Per road: day travel time (s) and speed (km/h) in the baseline and in ``result``.

    Without a ``result`` (no network edit) the "after" values are the baseline's.
    """
    model = model or traffic_model(base)
    after = result.roads if result is not None else model.base.roads
    out: dict[str, dict[str, float | None]] = {}
    for rid in set(model.base.roads) | set(after):
        b, a = model.base.roads.get(rid), after.get(rid)
        out[rid] = {
            "time_before_s": round(float(b.time_s[0]), 1) if b is not None else None,
            "time_after_s": round(float(a.time_s[0]), 1) if a is not None else None,
            "speed_before_kmh": round(float(b.speed_kmh[0]), 1) if b is not None else None,
            "speed_after_kmh": round(float(a.speed_kmh[0]), 1) if a is not None else None,
        }
    return out


def network_figures(district: District) -> dict[str, Any]:
    """Vehicle-km and vehicle-hours per day on the district's roads, and each road's flow.

    Vehicle-km: sum over open roads and periods of flow x period hours x length.
    Vehicle-hours: the same with the road's BPR travel time (its length at the speed
    limit, times 1 + 0.15 (q / C)^4 with q the mean directional flow and C the capacity
    per direction of :func:`traffic_records`), the cost function of the assignment.

    Returns
    -------
    ``{"vehicle_km": float, "vehicle_hours": float, "roads": {id: [name, day veh/h]}}``.
    """
    from greentwin.kernels.roads import PERIOD_HOURS
    from greentwin.traffic import bpr_time

    hours = np.asarray(PERIOD_HOURS, dtype=np.float64)
    vkm = vh = 0.0
    roads: dict[str, list[Any]] = {}
    for road, rec in zip(district.roads.roads, traffic_records(district), strict=True):
        q = np.asarray(road.flows, dtype=np.float64).sum(axis=1)  # (3,) two-way veh/h
        roads[road.id] = [road.name, 0.0 if road.closed else round(float(q[0]), 1)]
        if road.closed:
            continue
        length_km = road.length_m() / 1000.0
        directional = q if rec.oneway else q / 2.0
        t_h = bpr_time(np.full(3, length_km / rec.speed()), directional, np.full(3, rec.capacity()))
        vkm += float(np.sum(hours * q)) * length_km
        vh += float(np.sum(hours * q * t_h))
    return {"vehicle_km": round(vkm, 1), "vehicle_hours": round(vh, 2), "roads": roads}
