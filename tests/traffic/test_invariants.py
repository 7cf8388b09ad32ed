"""Equilibrium invariants on a small network: conservation, Wardrop, closures, warm start."""

from __future__ import annotations

import numpy as np
import pytest
from greentwin.traffic import CLOSED_TIME_S, LinkGraph, assign, bpr_time
from greentwin.traffic.demand import shortest_routes


def _grid(n: int = 4, *, closed: int | None = None) -> tuple[LinkGraph, np.ndarray]:
    """An n x n street grid (two-way links, 100 m, 50 km/h, 800 veh/h) with 4 corner zones."""
    z = 4
    a: list[int] = []
    b: list[int] = []

    def node(i: int, j: int) -> int:
        return z + i * n + j

    for i in range(n):
        for j in range(n):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < n and j + dj < n:
                    a += [node(i, j), node(i + di, j + dj)]
                    b += [node(i + di, j + dj), node(i, j)]
    corners = [node(0, 0), node(0, n - 1), node(n - 1, 0), node(n - 1, n - 1)]
    for k, c in enumerate(corners):
        a += [k, c]
        b += [c, k]
    m = len(a)
    t0 = np.full(m, 100.0 / (50 / 3.6))
    t0[-2 * z :] = 1.0
    if closed is not None:
        t0[closed] = CLOSED_TIME_S
    cap = np.full(m, 800.0)
    cap[-2 * z :] = 1e6
    graph = LinkGraph(z, np.asarray(a, np.int64), np.asarray(b, np.int64), t0, cap)
    demand = np.array(
        [[0, 600, 400, 900], [500, 0, 700, 300], [400, 800, 0, 500], [1000, 300, 600, 0]],
        dtype=np.float64,
    )
    return graph, demand


def test_flow_is_conserved_at_every_node() -> None:
    graph, demand = _grid()
    sol = assign(graph, demand, rgap=1e-5)
    n_nodes = int(max(graph.a.max(), graph.b.max())) + 1
    net = np.zeros(n_nodes)
    np.add.at(net, graph.b, sol.flow)
    np.subtract.at(net, graph.a, sol.flow)
    expected = np.zeros(n_nodes)
    expected[: graph.n_zones] = demand.sum(axis=0) - demand.sum(axis=1)
    assert np.allclose(net, expected, atol=1e-6 * demand.sum())


def test_used_paths_have_equal_minimal_cost() -> None:
    """Wardrop: the total cost exceeds the all-shortest-path cost by about the gap.

    The solver measures its gap against the costs before its last step; measured here
    at the final costs it may be a few times larger, still of the same order.
    """
    graph, demand = _grid()
    target = 1e-5
    sol = assign(graph, demand, rgap=target)
    times = bpr_time(graph.free_time, sol.flow, graph.capacity)
    assert np.allclose(times, sol.time, rtol=1e-6)  # the solver's costs are BPR costs
    cost, routes = shortest_routes(graph, times)
    total = float(np.sum(times * sol.flow))
    best = float(np.sum(np.where(demand > 0, demand * cost, 0.0)))
    gap = (total - best) / total
    assert -1e-9 <= gap <= 5 * target
    # congestion spreads the flows: some OD pair uses a link off its single shortest route
    on_shortest = np.zeros(graph.n_links, dtype=bool)
    for i in range(4):
        for j in range(4):
            on_shortest[routes[i][j]] = True
    assert np.any(sol.flow[~on_shortest] > 1.0)


def test_closing_a_link_moves_its_flow_to_alternatives() -> None:
    graph, demand = _grid()
    before = assign(graph, demand, rgap=1e-4)
    busiest = int(np.argmax(before.flow[:-8]))  # a street link, not a connector
    closed_graph, _ = _grid(closed=busiest)
    after = assign(closed_graph, demand, rgap=1e-4)
    assert before.flow[busiest] > 100.0
    assert after.flow[busiest] < 1e-6 * before.flow[busiest]
    # the same trips still arrive: flows into the zones are unchanged
    into_zones = graph.b < graph.n_zones
    assert np.allclose(after.flow[into_zones], before.flow[into_zones], rtol=1e-6)
    # and some other link carries more than before
    gained = np.delete(after.flow - before.flow, busiest)
    assert gained.max() > 0.2 * before.flow[busiest]


def test_warm_start_reaches_the_same_equilibrium() -> None:
    graph, demand = _grid()
    base = assign(graph, demand, rgap=1e-4)
    tighter = LinkGraph(
        graph.n_zones,
        graph.a,
        graph.b,
        graph.free_time,
        graph.capacity * np.where(np.arange(graph.n_links) == 5, 0.8, 1.0),
    )
    cold = assign(tighter, demand, rgap=1e-4)
    warm = assign(tighter, demand, rgap=1e-4, warm=base.flow)
    assert warm.warm and not cold.warm
    assert warm.rgap <= 1e-4
    assert np.allclose(warm.flow, cold.flow, atol=10.0)  # ~1 % of the street flows
    # started at an equilibrium (gap 1e-4), a looser target is met at once
    same = assign(graph, demand, rgap=1e-3, warm=base.flow)
    assert same.iterations <= 3 < cold.iterations


def test_demand_shape_is_checked() -> None:
    graph, _ = _grid()
    with pytest.raises(ValueError, match="demand must be"):
        assign(graph, np.zeros((3, 3)))
