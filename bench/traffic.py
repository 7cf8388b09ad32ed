"""Benchmark equilibrium re-assignment on a generated street grid.

Usage::

    python bench/traffic.py [--nodes 36] [--zones 64] [--rgap 1e-4] [--demo]
                            [--project data/projects/helsinki/project.toml]

The grid has ``nodes x nodes`` junctions 100 m apart joined by two-way streets
(``2 * 2 * nodes * (nodes - 1)`` directed links: 5,040 for 36), every fourth street a
``secondary`` road with 2 lanes per direction at 50 km/h, the others ``residential``;
zones sit on a regular pattern of junctions with a gravity demand loading the grid to
moderate congestion. Prints the time to build the network, then for a relative gap of
``--rgap``: the cold assignment, and the re-assignment after one edit (a central main street
closed; one street's capacity halved) cold and warm-started from the base solution,
with iterations, CPU seconds and the load average. (The model itself starts a
closure cold: see ``docs/traffic.md``.) ``--demo`` also times the demo district's model
(fit to counts, one closure). ``--project`` times a project's network the same way:
its roads (with their counts) and buildings read through ``greentwin.twin``, the model
fitted to the counts, then per period the base assignment cold and the two edits (the
road with the most modelled day traffic closed; its capacity halved) cold and warm, and
the model's own re-assignment of all three periods as the server runs it.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
from greentwin.traffic import RoadRecord, assign, build_network
from greentwin.traffic.demand import Zone, connect, gravity, shortest_routes


def grid_records(n: int, spacing: float = 100.0) -> list[RoadRecord]:
    """2 n straight streets crossing at n x n junctions."""
    span = spacing * (n - 1)
    out: list[RoadRecord] = []
    for k in range(n):
        main = k % 4 == 0
        kw = {"highway": "secondary", "lanes": 4, "speed_kmh": 50.0} if main else {}
        c = k * spacing
        out.append(RoadRecord(f"h{k}", np.array([[0.0, c], [span, c]]), **kw))  # type: ignore[arg-type]
        out.append(RoadRecord(f"v{k}", np.array([[c, 0.0], [c, span]]), **kw))  # type: ignore[arg-type]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=36)
    ap.add_argument("--zones", type=int, default=64)
    ap.add_argument("--rgap", type=float, default=1e-4)
    ap.add_argument("--trips", type=float, default=80_000.0, help="trips per hour")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--project", help="a project manifest (project.toml) to time as well")
    args = ap.parse_args()
    n = args.nodes
    t0 = time.perf_counter()
    records = grid_records(n)
    net = build_network(records)
    t_build = time.perf_counter() - t0
    side = round(args.zones**0.5)
    picks = np.linspace(0, n - 1, side).round().astype(int)
    zones = [
        Zone(f"z{i}-{j}", "internal", i * 100.0, j * 100.0, ((i * 100.0, j * 100.0),), 1.0)
        for i in picks
        for j in picks
    ]
    zoning = connect(net, zones)
    graph = zoning.graph
    cost, _ = shortest_routes(graph, graph.free_time)
    weights = np.full(len(zones), args.trips / len(zones))
    demand = gravity(weights, weights, cost / 60.0, 0.1)
    print(
        f"grid {n}x{n}: {net.n_links} links, {net.n_nodes} nodes, {len(zones)} zones, "
        f"{demand.sum():.0f} trips/h; network built in {t_build:.2f} s"
    )
    c0 = time.process_time()
    base = assign(graph, demand, rgap=args.rgap, max_iter=5000)
    print(
        f"cold base:        {base.seconds:6.2f} s ({time.process_time() - c0:.2f} s CPU), "
        f"{base.iterations:4d} iterations, gap {base.rgap:.1e}"
    )
    mid = f"h{(n // 2) // 4 * 4}"  # a central main street
    edits = {
        "close a street": [replace(r, closed=True) if r.id == mid else r for r in records],
        "halve a capacity": [
            replace(r, capacity_vph=r.capacity() / 2) if r.id == "v4" else r for r in records
        ],
    }
    for name, recs in edits.items():
        net2 = build_network(recs)
        closed = net2.closed
        g2 = connect(net2, zones).graph
        c0 = time.process_time()
        cold = assign(g2, demand, rgap=args.rgap, max_iter=5000)
        c1 = time.process_time()
        warm = assign(g2, demand, rgap=args.rgap, max_iter=5000, warm=base.flow)
        c2 = time.process_time()
        print(
            f"{name:16s}: cold {cold.seconds:6.2f} s ({c1 - c0:.2f} s CPU, {cold.iterations} it), "
            f"warm {warm.seconds:6.2f} s ({c2 - c1:.2f} s CPU, {warm.iterations} it), "
            f"max flow difference {np.abs(cold.flow - warm.flow).max():.1f} veh/h, "
            f"on closed links {warm.flow[: net.n_links][closed].sum():.2f} veh/h"
        )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.demo:
        demo()
    if args.project:
        project(args.project, args.rgap)


def demo() -> None:
    """The demo district: model fit and one closure (needs the server package)."""
    from pathlib import Path

    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import traffic_model, traffic_records

    root = Path(__file__).resolve().parents[1] / "data" / "citygml"
    district = District.load_demo(root)
    t0 = time.perf_counter()
    model = traffic_model(district)
    t_fit = time.perf_counter() - t0
    recs = [replace(r, closed=True) if r.id == "main-ew" else r for r in traffic_records(district)]
    result = model.assign(recs)
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in model.fit.share_below_5.items())
    print(f"demo: fit {t_fit:.2f} s (GEH<5: {shares}); main street closed: {result.seconds:.2f} s")


def project(manifest: str, rgap: float) -> None:
    """A project's network: model fit, base and two edits cold and warm (module docstring)."""
    from pathlib import Path

    from greentwin.traffic.model import PERIODS, TrafficModel
    from greentwin.twin.district import District
    from greentwin.twin.district_traffic import traffic_buildings, traffic_records

    t0 = time.perf_counter()
    district = District.from_project(Path(manifest))
    records = traffic_records(district)
    buildings = traffic_buildings(district)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = TrafficModel.calibrate(records, buildings, rgap=rgap)
    t_fit = time.perf_counter() - t0
    net = model.base.network
    graph = model.zoning.graph
    counted = sum(r.counts is not None for r in records)
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in model.fit.share_below_5.items())
    print(
        f"project {Path(manifest).parent.name}: {len(records)} roads ({counted} with flows), "
        f"{net.n_links} links, {net.n_nodes} nodes, {model.zoning.n_zones} zones; read in "
        f"{t_read:.2f} s, fitted in {t_fit:.2f} s (GEH<5: {shares})"
    )
    c0 = time.process_time()
    base = [assign(graph, d, rgap=rgap, max_iter=5000) for d in model.demand]
    print(
        f"cold base (3 periods): {sum(s.seconds for s in base):.3f} s "
        f"({time.process_time() - c0:.3f} s CPU), iterations "
        + "/".join(str(s.iterations) for s in base)
    )
    busiest = max(model.base.roads, key=lambda r: float(model.base.roads[r].flow[0]))
    name = next(r.name for r in records if r.id == busiest) or busiest
    edits = {
        f"close {name}": [replace(r, closed=True) if r.id == busiest else r for r in records],
        f"halve {name}": [
            replace(r, capacity_vph=r.capacity() / 2) if r.id == busiest else r for r in records
        ],
    }
    for label, recs in edits.items():
        g2 = connect(build_network(recs), model.zoning.zones).graph
        c0 = time.process_time()
        cold = [assign(g2, d, rgap=rgap, max_iter=5000) for d in model.demand]
        c1 = time.process_time()
        warm = [
            assign(g2, d, rgap=rgap, max_iter=5000, warm=b.flow)
            for d, b in zip(model.demand, base, strict=True)
        ]
        c2 = time.process_time()
        model.last = None
        served = model.assign(recs)
        print(
            f"{label}: cold {sum(s.seconds for s in cold):.3f} s ({c1 - c0:.3f} s CPU, "
            + "/".join(str(s.iterations) for s in cold)
            + f" it), warm {sum(s.seconds for s in warm):.3f} s ({c2 - c1:.3f} s CPU, "
            + "/".join(str(s.iterations) for s in warm)
            + f" it), max gap {max(s.rgap for s in cold + warm):.1e}; "
            f"model re-assignment ({', '.join(PERIODS)}): {served.seconds:.3f} s"
        )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
