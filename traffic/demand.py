"""Zones, an OD matrix per period fitted to counts, and the GEH fit statistic.

Zones
-----
- Internal zones: the buildings, grouped by the network node nearest to each building
  (a block per node). A zone's weight is its floor area times a use factor
  (:data:`USE_FACTORS`); the weights only shape the prior matrix, which the fit to
  counts rescales.
- External zones: one per entry/exit point where a road leaves the network (a node
  with one neighbour). Each also connects to the other entry points on the same side of
  the network's bounding box (west, east, south, north), at the cost of driving the
  straight distance between them outside the network, so traffic from outside can come
  in by a neighbouring road when its usual road is closed. Trips between two entry
  points of the same side are left out of the prior (no U-turn through the district).

Connectors are uncongested links at :data:`CONNECTOR_SPEED_KMH` over the straight
distance from the zone's centre to the node.

Prior and fit
-------------
The prior is a doubly constrained gravity model (Ortuzar and Willumsen 2011, *Modelling
Transport*, 4th ed., ch. 5) with exponential deterrence ``exp(-beta c_ij)`` on free-flow
times, balanced to the zones' weights by iterative proportional fitting (Furness).
External zones' weights are the counted inbound flows at their entry points. The
matrix is then fitted to the counts by the ME2 method (Van Zuylen and Willumsen 1980,
"The most likely trip matrix estimated from traffic counts", Transportation Research B
14(3): 281-293): with each OD pair's route from shortest paths at the assigned
(congested) times, every counted link scales the trips crossing it by
``(count / modelled)``, repeated over the counts like IPF, alternating with
re-assignment.

GEH
---
``GEH = sqrt(2 (M - C)^2 / (M + C))`` with M modelled and C counted hourly flows; a
base model is accepted when GEH < 5 on at least 85 % of the counted links (UK DfT TAG
unit M3.1, after DMRB vol. 12).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from greentwin.traffic.assign import LinkGraph
from greentwin.traffic.network import Network

__all__ = [
    "CONNECTOR_SPEED_KMH",
    "USE_FACTORS",
    "Building",
    "Zone",
    "Zoning",
    "connect",
    "fit_to_counts",
    "geh",
    "gravity",
    "make_zones",
    "shortest_routes",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Speed on zone connectors, km/h.
CONNECTOR_SPEED_KMH = 30.0
#: Relative trip ends per m2 of floor area by building use (prior only).
USE_FACTORS: dict[str, float] = {"residential": 1.0, "mixed": 1.5, "other": 2.0}
_CONNECTOR_CAPACITY = 1.0e6


@dataclass(frozen=True, slots=True)
class Building:
    """A building as a trip generator: position (m), floor area (m2), use."""

    x: float
    y: float
    floor_area_m2: float
    use: str = "residential"


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone: ``kind`` ``internal`` or ``external``, its centre, the positions of the
    nodes it connects to (metres; matched to a network's nearest nodes by
    :func:`connect`, so a zone survives an edit that renumbers nodes) and its weight."""

    id: str
    kind: str
    x: float
    y: float
    points: tuple[tuple[float, float], ...]
    weight: float


@dataclass(frozen=True, slots=True, eq=False)
class Zoning:
    """Zones and the assignment graph (zones + connectors + network links).

    Attributes
    ----------
    zones : the zones; zone i is node i of :attr:`graph`.
    graph : the :class:`LinkGraph`; its first ``network.n_links`` links are the
        network's links in order, the connectors follow.
    n_network_links : number of network links.
    """

    zones: tuple[Zone, ...]
    graph: LinkGraph
    n_network_links: int

    @property
    def n_zones(self) -> int:
        return len(self.zones)


def _side(x: float, y: float, bounds: tuple[float, float, float, float]) -> str:
    xmin, ymin, xmax, ymax = bounds
    d = {"west": x - xmin, "east": xmax - x, "south": y - ymin, "north": ymax - y}
    return min(d, key=lambda k: d[k])


def make_zones(
    network: Network,
    buildings: Sequence[Building],
    *,
    gateway_weights: dict[int, float] | None = None,
) -> Zoning:
    """Internal and external zones with their connectors (see module docstring).

    Parameters
    ----------
    network : the road network.
    buildings : trip generators.
    gateway_weights : entry node -> inbound flow (veh/h) used as the external zones'
        weights (default 1 per entry point).
    """
    deg = network.degree()
    gateways = [int(i) for i in np.flatnonzero(deg == 1)]
    xy = network.xy
    bounds = (
        float(xy[:, 0].min()),
        float(xy[:, 1].min()),
        float(xy[:, 0].max()),
        float(xy[:, 1].max()),
    )
    zones: list[Zone] = []
    by_side: dict[str, list[int]] = {}
    for g in gateways:
        by_side.setdefault(_side(float(xy[g, 0]), float(xy[g, 1]), bounds), []).append(g)
    weights = gateway_weights or {}
    for side in ("west", "east", "south", "north"):
        nodes = by_side.get(side, [])
        for g in nodes:
            road = next(
                (
                    network.road[k]
                    for k in range(network.n_links)
                    if g in (network.a[k], network.b[k])
                ),
                str(g),
            )
            # its own entry point first, then the side's others (the detour when closed)
            others = [n for n in nodes if n != g]
            pts = tuple((float(xy[n, 0]), float(xy[n, 1])) for n in [g, *others])
            zones.append(
                Zone(
                    f"entry-{road}-{g}",
                    "external",
                    float(xy[g, 0]),
                    float(xy[g, 1]),
                    pts,
                    weights.get(g, 1.0),
                )
            )
    inner = np.flatnonzero(deg > 1) if np.any(deg > 1) else np.arange(network.n_nodes)
    blocks: dict[int, float] = {}
    for b in buildings:
        d2 = (xy[inner, 0] - b.x) ** 2 + (xy[inner, 1] - b.y) ** 2
        node = int(inner[int(np.argmin(d2))])
        blocks[node] = blocks.get(node, 0.0) + b.floor_area_m2 * USE_FACTORS.get(b.use, 1.0)
    for node, w in sorted(blocks.items()):
        x, y = float(xy[node, 0]), float(xy[node, 1])
        zones.append(Zone(f"block-{node}", "internal", x, y, ((x, y),), w))
    return connect(network, zones)


def connect(network: Network, zones: Sequence[Zone]) -> Zoning:
    """The assignment graph of ``network`` with ``zones`` attached to their nearest nodes."""
    xy = network.xy
    z = len(zones)
    a = [network.a + z]
    b_ = [network.b + z]
    t = [network.free_time_s]
    cap = [network.capacity]
    speed = CONNECTOR_SPEED_KMH / 3.6
    for i, zone in enumerate(zones):
        for px, py in zone.points:
            n = int(np.argmin((xy[:, 0] - px) ** 2 + (xy[:, 1] - py) ** 2))
            dist = max(1.0, math.hypot(xy[n, 0] - zone.x, xy[n, 1] - zone.y))
            a.append(np.array([i, n + z]))
            b_.append(np.array([n + z, i]))
            t.append(np.full(2, dist / speed))
            cap.append(np.full(2, _CONNECTOR_CAPACITY))
    graph = LinkGraph(
        n_zones=z,
        a=np.concatenate(a).astype(np.int64),
        b=np.concatenate(b_).astype(np.int64),
        free_time=np.concatenate(t).astype(np.float64),
        capacity=np.concatenate(cap).astype(np.float64),
    )
    return Zoning(zones=tuple(zones), graph=graph, n_network_links=network.n_links)


def shortest_routes(graph: LinkGraph, time: F64) -> tuple[F64, list[list[I64]]]:
    """Zone-to-zone shortest times and routes (link indices), no route through a zone.

    Returns
    -------
    (cost, routes): cost (Z, Z) float64 (inf where unreachable); routes[i][j] the links of
    the route from zone i to zone j (empty for i == j or unreachable).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    z = graph.n_zones
    n_nodes = int(max(graph.a.max(), graph.b.max())) + 1
    # zones split in origin (i) and destination (n_nodes + i) copies: nothing passes through
    a = graph.a.copy()
    b = graph.b.copy()
    into_zone = b < z
    b[into_zone] += n_nodes
    best: dict[tuple[int, int], int] = {}
    for k in range(graph.n_links):
        key = (int(a[k]), int(b[k]))
        if key not in best or time[k] < time[best[key]]:
            best[key] = k
    keys = list(best)
    links = np.fromiter(best.values(), dtype=np.int64, count=len(keys))
    rows = np.array([k[0] for k in keys], dtype=np.int64)
    cols = np.array([k[1] for k in keys], dtype=np.int64)
    size = n_nodes + z
    mat = csr_matrix((np.maximum(time[links], 1e-9), (rows, cols)), shape=(size, size))
    dist, pred = dijkstra(mat, directed=True, indices=np.arange(z), return_predecessors=True)
    cost = dist[:, n_nodes : n_nodes + z]
    lookup = {k: int(v) for k, v in zip(keys, links.tolist(), strict=True)}
    routes: list[list[I64]] = []
    for i in range(z):
        row: list[I64] = []
        for j in range(z):
            path: list[int] = []
            node = n_nodes + j
            if i != j and np.isfinite(dist[i, node]):
                while node != i:
                    prev = int(pred[i, node])
                    path.append(lookup[(prev, node)])
                    node = prev
            row.append(np.asarray(path[::-1], dtype=np.int64))
        routes.append(row)
    return cost, routes


def gravity(
    production: F64, attraction: F64, cost: F64, beta: float, *, iterations: int = 50
) -> F64:
    """Doubly constrained gravity matrix ``T_ij = A_i O_i B_j D_j exp(-beta c_ij)``.

    Balanced by Furness iterations; unreachable pairs (inf cost) and the diagonal get 0.
    """
    f = np.where(np.isfinite(cost), np.exp(-beta * np.where(np.isfinite(cost), cost, 0.0)), 0.0)
    np.fill_diagonal(f, 0.0)
    t = f * production[:, None] * attraction[None, :]
    for _ in range(iterations):
        rs = t.sum(axis=1)
        t *= np.where(rs > 0, production / np.maximum(rs, 1e-12), 0.0)[:, None]
        cs = t.sum(axis=0)
        t *= np.where(cs > 0, attraction / np.maximum(cs, 1e-12), 0.0)[None, :]
    return np.asarray(t)


def geh(modelled: F64, counted: F64) -> F64:
    """GEH statistic per link, ``sqrt(2 (M - C)^2 / (M + C))`` (0 where both are 0)."""
    m = np.asarray(modelled, dtype=np.float64)
    c = np.asarray(counted, dtype=np.float64)
    s = m + c
    return np.asarray(np.sqrt(np.where(s > 0, 2.0 * (m - c) ** 2 / np.maximum(s, 1e-12), 0.0)))


def fit_to_counts(
    prior: F64,
    routes: list[list[I64]],
    counted: Sequence[tuple[I64, float]],
    *,
    sweeps: int = 30,
) -> F64:
    """ME2 balancing of a trip matrix to link counts (Van Zuylen and Willumsen 1980).

    Parameters
    ----------
    prior : (Z, Z) float64 trip matrix.
    routes : routes[i][j] the link indices of the route from i to j.
    counted : per count, (links it covers, count): the links of one counted road piece
        in both directions and the two-way count.
    sweeps : passes over all counts.

    Returns
    -------
    (Z, Z) float64 fitted matrix (pairs crossing no count keep their prior).
    """
    t = np.asarray(prior, dtype=np.float64).copy()
    z = t.shape[0]
    members = _crossing_pairs(routes, [links for links, _ in counted], z)
    members_c = [(oi, di, float(c)) for (oi, di), (_, c) in zip(members, counted, strict=True)]
    for _ in range(sweeps):
        for oi, di, count in members_c:
            if len(oi) == 0:
                continue
            modelled = float(t[oi, di].sum())
            if modelled > 0:
                t[oi, di] *= count / modelled
    return t


def _crossing_pairs(
    routes: list[list[I64]], counted_links: Sequence[I64], z: int
) -> list[tuple[I64, I64]]:
    """For each counted piece, the OD pairs (origins, destinations) whose route crosses it.

    A sparse product of the pair x link route incidence and the link x count incidence;
    pairs in row-major order (origin, then destination).
    """
    from scipy.sparse import csr_matrix

    pair_parts: list[I64] = []
    link_parts: list[I64] = []
    for i in range(z):
        for j in range(z):
            r = routes[i][j]
            if len(r):
                pair_parts.append(np.full(len(r), i * z + j, dtype=np.int64))
                link_parts.append(np.asarray(r, dtype=np.int64))
    count_links = [np.unique(np.asarray(c, dtype=np.int64)) for c in counted_links]
    n_links = 1 + max(
        [int(p.max()) for p in link_parts if len(p)]
        + [int(c.max()) for c in count_links if len(c)],
        default=0,
    )
    empty = np.zeros(0, dtype=np.int64)
    pairs = np.concatenate(pair_parts) if pair_parts else empty
    links = np.concatenate(link_parts) if link_parts else empty
    route_inc = csr_matrix((np.ones(len(pairs)), (pairs, links)), shape=(z * z, n_links))
    k_links = np.concatenate(count_links) if count_links else empty
    k_idx = np.repeat(np.arange(len(count_links)), [len(c) for c in count_links])
    count_inc = csr_matrix(
        (np.ones(len(k_links)), (k_links, k_idx)), shape=(n_links, len(count_links))
    )
    crossing = (route_inc @ count_inc).tocsc()
    crossing.sort_indices()
    out: list[tuple[I64, I64]] = []
    for k in range(len(count_links)):
        rows = crossing.indices[crossing.indptr[k] : crossing.indptr[k + 1]].astype(np.int64)
        out.append((rows // z, rows % z))
    return out
