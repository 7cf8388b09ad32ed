"""Benchmark the CNOSSOS-EU road noise map on a synthetic inner-city district.

Usage::

    python bench/noise.py [--size-m 1000] [--cell 5] [--sources 2000]
                          [--backend available|numpy,numba,cupy,auto] [--change-one-road]
                          [--foliage]

The district is a street grid with Berlin-style perimeter blocks (courtyard
buildings 12-24 m high, with gaps); roads run along every street, one in three
being a main road. Receivers sit at the centres of the receiver grid cells not
covered by buildings, 4 m above ground. ``--foliage`` plants a street tree every 10 m
on both sides of every street (crown radius 4 m, 3-12 m above ground, in leaf) and turns
on the ISO 9613-2 foliage term ("vegetation" mode). Prints receivers, source points, pairs within
the cutoff, and per backend: compile/warm-up seconds, seconds for the full map and for
a one-road change (traffic, geometry), pairs per second, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
from greentwin.kernels.backend import cupy_available, get_backend
from greentwin.kernels.noise.compute import (
    NoiseMap,
    NoiseParams,
    NoiseScene,
    grid_receivers,
    resolve_backend,
    road_sources,
)
from greentwin.kernels.noise.emission import RoadCoefficients
from greentwin.kernels.noise.fast import warm_up
from greentwin.kernels.raster import (
    BuildingFootprint,
    Crown,
    Grid,
    building_height_grid,
    crown_grid,
)
from greentwin.kernels.roads import RoadNetwork

ROOT = Path(__file__).resolve().parent.parent


def district(
    size_m: float, n_sources: int, spacing: float, seed: int = 1
) -> tuple[dict[str, Any], list[BuildingFootprint]]:
    """Street grid + perimeter blocks; the street pitch is chosen to give ~n_sources points."""
    rng = np.random.default_rng(seed)
    # total road length = 2 * n_streets * size; points = length / spacing
    n_streets = max(2, round(n_sources * spacing / (2.0 * size_m)))
    pitch = size_m / n_streets
    feats: list[dict[str, Any]] = []
    for k in range(n_streets):
        c = (k + 0.5) * pitch
        for axis in (0, 1):
            main = k % 3 == 1
            day = (
                {"1": 1000.0, "2": 40.0, "3": 30.0, "4b": 10.0} if main else {"1": 150.0, "2": 4.0}
            )
            coords = [[c, 0.0], [c, size_m]] if axis == 0 else [[0.0, c], [size_m, c]]
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {
                        "id": f"{'ns' if axis == 0 else 'ew'}{k}",
                        "flows": {
                            "day": day,
                            "evening": {c2: v * 0.35 for c2, v in day.items()},
                            "night": {c2: v * 0.12 for c2, v in day.items()},
                        },
                        "speed_kmh": 50 if main else 30,
                    },
                }
            )
    buildings: list[BuildingFootprint] = []
    street_half = 10.0
    depth = 14.0
    for i in range(n_streets + 1):
        for j in range(n_streets + 1):
            x0 = (i - 0.5) * pitch + street_half
            x1 = (i + 0.5) * pitch - street_half
            y0 = (j - 0.5) * pitch + street_half
            y1 = (j + 0.5) * pitch - street_half
            x0, y0 = max(x0, 0.0), max(y0, 0.0)
            x1, y1 = min(x1, size_m), min(y1, size_m)
            if x1 - x0 < 2 * depth + 4 or y1 - y0 < 2 * depth + 4:
                continue
            # four wings with a gap in each (a perimeter block with passages)
            wings = [
                (x0, y0, x1 - 6.0, y0 + depth),
                (x1 - depth, y0, x1, y1 - 6.0),
                (x0 + 6.0, y1 - depth, x1, y1),
                (x0, y0 + depth + 6.0, x0 + depth, y1),
            ]
            for n, (a0, b0, a1, b1) in enumerate(wings):
                ring = np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]])
                buildings.append(
                    BuildingFootprint(f"b{i}_{j}_{n}", ring, float(rng.uniform(12.0, 24.0)))
                )
    return {"type": "FeatureCollection", "crs": "EPSG:25833", "features": feats}, buildings


def street_trees(net: RoadNetwork, pitch_m: float = 10.0, offset_m: float = 7.0) -> list[Crown]:
    """A tree every ``pitch_m`` on both sides of every road, ``offset_m`` from its axis."""
    out: list[Crown] = []
    for road in net.roads:
        for seg in road.segments():
            a, b = seg[0], seg[1]
            length = float(np.hypot(*(b - a)))
            if length <= 0:
                continue
            u = (b - a) / length
            n = np.array([-u[1], u[0]])
            for s in np.arange(pitch_m / 2, length, pitch_m):
                for side in (1.0, -1.0):
                    x, y = a + u * s + n * side * offset_m
                    out.append(Crown(float(x), float(y), 4.0, 3.0, 12.0, 1.0))
    return out


def _pairs_within(rec: Any, net: RoadNetwork, params: NoiseParams, coeffs: Any, scene: Any) -> int:
    """Receiver x source pairs within the cutoff (real and image sources)."""
    be = get_backend("numpy")
    xy_r = rec.xyz[:, :2]
    total = 0
    for road in net.roads:
        for src in road_sources(road, net, coeffs, scene, params, be)[:2]:
            xy = np.asarray(src.xyz)[:, :2]
            for c0 in range(0, len(xy), 256):
                p = xy[c0 : c0 + 256]
                d2 = (xy_r[:, None, 0] - p[None, :, 0]) ** 2 + (
                    xy_r[:, None, 1] - p[None, :, 1]
                ) ** 2
                total += int(np.count_nonzero(d2 <= params.max_distance_m**2))
    return total


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-m", type=float, default=1000.0)
    ap.add_argument(
        "--cell", type=float, default=5.0, help="receiver grid and height raster cell, m"
    )
    ap.add_argument("--sources", type=int, default=2000, help="about this many road source points")
    ap.add_argument("--spacing", type=float, default=10.0, help="source point spacing, m")
    ap.add_argument("--max-distance", type=float, default=250.0)
    ap.add_argument("--no-reflections", action="store_true")
    ap.add_argument(
        "--backend",
        default="available",
        help="comma-separated: numpy (vectorised reference), numba (or cpu), cupy, auto; "
        "'available' = numba and, where a GPU is usable, cupy",
    )
    ap.add_argument("--change-one-road", action="store_true")
    ap.add_argument("--foliage", action="store_true", help="street trees and the foliage term")
    args = ap.parse_args()

    names = (
        ["numba", *(["cupy"] if cupy_available() else [])]
        if args.backend == "available"
        else [b.strip() for b in args.backend.split(",") if b.strip()]
    )
    coeffs = RoadCoefficients.from_dict(
        json.loads((ROOT / "data/noise/cnossos_road_coefficients.json").read_text())
    )
    fc, buildings = district(args.size_m, args.sources, args.spacing)
    net = RoadNetwork.from_geojson(fc)
    grid = Grid(0.0, 0.0, args.cell, round(args.size_m / args.cell), round(args.size_m / args.cell))
    scene = NoiseScene(grid, building_height_grid(grid, buildings))
    rec, _ = grid_receivers(scene)
    if args.foliage:
        scene = NoiseScene(grid, scene.heights, crowns=crown_grid(grid, street_trees(net)))
    params = NoiseParams(
        max_distance_m=args.max_distance,
        source_spacing_m=args.spacing,
        reflections=not args.no_reflections,
        foliage=args.foliage,
    )
    n_src = len(net.source_points(args.spacing))
    pairs = _pairs_within(rec, net, params, coeffs, scene)
    print(
        f"grid             : {grid.nx} x {grid.ny} cells of {args.cell:g} m ({grid.nx * grid.ny} cells)"
    )
    print(f"receivers        : {len(rec)} (cells outside buildings, 4 m)")
    print(f"buildings        : {len(buildings)}")
    print(
        f"roads            : {len(net.roads)}, source points: {n_src} (+ image sources: {params.reflections})"
    )
    print(f"pairs            : {pairs:,} receiver x source pairs within {args.max_distance:g} m")
    if args.foliage:
        assert scene.crowns is not None
        print(f"crown cells      : {int(np.count_nonzero(scene.crowns.top > 0))} (foliage on)")
    print(f"machine          : {_load()}, numba threads {numba.get_num_threads()}")
    first: tuple[str, Any] | None = None
    for name in names:
        be, engine = resolve_backend(name)
        print(f"--- backend {name} ({be.name}, {engine})")
        if engine == "numba":
            print(f"numba compile/load: {warm_up():.2f} s (cached on disk after the first run)")
        elif engine == "cuda":  # warm-up: kernel compilation
            t0 = time.perf_counter()
            NoiseMap.compute(net.subset([net.roads[0].id]), coeffs, scene, rec, params, name)
            print(f"CUDA compile + first road: {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        c0 = time.process_time()
        nm = NoiseMap.compute(net, coeffs, scene, rec, params, name)
        t_full = time.perf_counter() - t0
        cpu = time.process_time() - c0
        lden = nm.indicators()["L_den"]
        print(
            f"full map         : {t_full:.2f} s wall, {cpu:.2f} s CPU (all threads)   ({_load()})"
        )
        print(
            f"receivers x sources per second: {len(rec) * n_src / t_full:,.0f} (all receivers x "
            f"road points, before the {args.max_distance:g} m cutoff); "
            f"pairs within the cutoff per second: {pairs / t_full:,.0f}"
        )
        print(
            f"L_den            : median {np.median(lden):.1f} dB(A), 5-95 %: {np.percentile(lden, 5):.1f}-{np.percentile(lden, 95):.1f}"
        )
        if first is None:
            first = (name, lden.copy())
        else:
            print(
                f"max |L_den - L_den({first[0]})|: {float(np.max(np.abs(lden - first[1]))):.2e} dB"
            )
        if args.change_one_road:
            road = net.roads[len(net.roads) // 2 + 1]
            t0 = time.perf_counter()
            touched = nm.update_roads([road], [road.with_flows(road.flows * 1.5)])
            t_flow = time.perf_counter() - t0
            print(
                f"one-road traffic change (+50 % flows, {road.id}): {t_flow:.3f} s, {len(touched)} receivers"
            )
            moved = type(road)(
                id=road.id,
                coords=road.coords + np.array([3.0, 3.0]),
                flows=road.flows,
                speeds=road.speeds,
            )
            t0 = time.perf_counter()
            touched = nm.update_roads([nm.network.road(road.id)], [moved])
            t_geo = time.perf_counter() - t0
            print(
                f"one-road geometry change (moved 3 m, {road.id}): {t_geo:.2f} s, {len(touched)} receivers"
            )
    print(f"machine          : {_load()}")


if __name__ == "__main__":
    main()
