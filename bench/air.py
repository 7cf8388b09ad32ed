"""Benchmark of the air kernel: full NO2 + PM10 maps and a one-road change.

A synthetic district: a square street grid over ``--size-m`` x ``--size-m`` with
receivers every ``--cell`` m and about ``--sources`` road source points (5 m spacing);
every third street is a street canyon. Usage::

    python bench/air.py [--size-m 1000] [--cell 5] [--sources 2000] [--backend numpy|cupy|auto]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from greentwin.kernels.air.compute import AirConfig, AirMap
from greentwin.kernels.air.dispersion import WindRose
from greentwin.kernels.raster import Grid
from greentwin.kernels.roads import RoadNetwork


def district(size_m: float, n_sources: int, spacing: float, seed: int = 7) -> RoadNetwork:
    """A street grid whose total length gives about ``n_sources`` points."""
    total_len = n_sources * spacing
    n_streets = max(2, round(total_len / size_m))
    n_ew = n_streets // 2
    n_ns = n_streets - n_ew
    rng = np.random.default_rng(seed)
    feats: list[dict[str, Any]] = []
    for k, (n, ew) in enumerate([(n_ew, True)] * n_ew + [(n_ns, False)] * n_ns):
        i = k if ew else k - n_ew
        pos = (i + 0.5) * size_m / n
        coords = [[0.0, pos], [size_m, pos]] if ew else [[pos, 0.0], [pos, size_m]]
        light = float(rng.uniform(200, 1500))
        flows = {
            p: {"1": light * s, "2": light * 0.03 * s, "3": light * 0.04 * s}
            for p, s in (("day", 1.0), ("evening", 0.5), ("night", 0.15))
        }
        feats.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"id": f"r{k}", "flows": flows, "speed_kmh": float(rng.choice([30, 50])),
                           "canyon": k % 3 == 0, "street_type": 3 if k % 3 == 0 else 1,
                           "width_m": 12.0, "tree_factor": 1.25 if k % 6 == 0 else 1.0},
        })  # fmt: skip
    return RoadNetwork.from_geojson({"type": "FeatureCollection", "crs": "EPSG:25833",
                                     "features": feats})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-m", type=float, default=1000.0)
    ap.add_argument("--cell", type=float, default=5.0)
    ap.add_argument("--sources", type=int, default=2000)
    ap.add_argument("--backend", choices=["numpy", "cupy", "auto"], default="auto")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    x0, y0 = 390000.0, 5818000.0
    net = district(args.size_m, args.sources, 5.0)
    net = RoadNetwork.from_geojson(_shift(net.to_geojson(), x0, y0))
    n = round(args.size_m / args.cell)
    grid = Grid(x0, y0, args.cell, n, n, "EPSG:25833")
    rose = WindRose.from_dict(
        {  # a westerly-dominated 12-sector rose (illustrative)
            "frequency": [5, 4, 5, 6, 7, 8, 9, 11, 13, 14, 10, 8],
            "speed": [3.0, 3.0, 3.2, 3.4, 3.6, 3.8, 4.0, 4.2, 4.4, 4.4, 4.0, 3.4],
        }
    )
    cfg = AirConfig(wind_rose=rose, spacing_m=5.0, reach_m=500.0)
    n_src = len(net.source_points(cfg.spacing_m))
    receivers = grid.nx * grid.ny

    full_t: list[float] = []
    full_cpu: list[float] = []
    air = AirMap(grid, net, cfg, backend=args.backend)
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        air.compute()
        maps = air.maps()
        full_t.append(time.perf_counter() - t0)
        full_cpu.append(time.process_time() - c0)
    road = net.roads[len(net.roads) // 2]
    changed = road.with_flows(np.asarray(road.flows) * 1.5)
    upd_t: list[float] = []
    for k in range(args.repeat):
        old, new = (road, changed) if k % 2 == 0 else (changed, road)
        t0 = time.perf_counter()
        air.update_roads([old], [new])
        maps = air.maps()
        upd_t.append(time.perf_counter() - t0)
    best_full, best_upd = min(full_t), min(upd_t)
    print(f"backend               {air.backend}")
    print(f"receivers             {receivers} ({grid.nx} x {grid.ny}, {args.cell:g} m cells)")
    print(f"source points         {n_src} on {len(net.roads)} roads "
          f"({sum(r.canyon for r in net.roads)} canyons)")  # fmt: skip
    print(f"full NO2+PM10 maps    {best_full:.3f} s wall, {min(full_cpu):.3f} s CPU")
    print(f"one-road change       {best_upd:.3f} s (road {road.id}, reach {cfg.reach_m:g} m)")
    print(f"receivers x sources/s {receivers * n_src / best_full:.3e} (full map)")
    print(f"NO2 range             {maps['no2'].min():.1f} .. {maps['no2'].max():.1f} ug/m3")
    print(f"PM10 range            {maps['pm10'].min():.1f} .. {maps['pm10'].max():.1f} ug/m3")


def _shift(gj: dict[str, Any], dx: float, dy: float) -> dict[str, Any]:
    for f in gj["features"]:
        f["geometry"]["coordinates"] = [[x + dx, y + dy] for x, y in f["geometry"]["coordinates"]]
    return gj


if __name__ == "__main__":
    main()
