"""Benchmark of the heat kernel: shade + Tmrt for 1 km2 at 1 m, and one tree planted.

1. A synthetic 1 km x 1 km district at 1 m cells (1,000,000 cells): a street grid of
   blocks with buildings 9-30 m high and street trees; shadows for the 12 hourly sun
   positions of the demo city's design day (08:00-19:00 CEST, 15 July), the sky view
   factors, Tmrt for every hour and UTCI at 15:00. Target: under 60 s on a CPU.
2. The demo district (Berlin test area): its overlays (noise, air, heat), then one tree
   planted and the overlays updated incrementally (the heat blocks the tree can reach,
   the changed tiles rendered again). Target: under 3 s for the new heat overlay.

Usage::

    python bench/heat.py [--size-m 1000] [--cell 1] [--backend auto|numba|numpy|cupy]
                         [--skip-demo]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from greentwin.kernels.heat import HeatMap, HeatScene
from greentwin.kernels.heat.design_day import berlin_design_day


def synthetic_scene(size_m: float, cell: float, seed: int = 3) -> HeatScene:
    """Blocks of 60 m x 40 m buildings between 20 m streets, trees along the streets."""
    rng = np.random.default_rng(seed)
    n = round(size_m / cell)
    b = np.zeros((n, n))
    top = np.zeros((n, n))
    base = np.zeros((n, n))
    tau = np.ones((n, n))
    pitch_x, pitch_y, street = 80.0, 60.0, 20.0
    for y0 in np.arange(street / 2, size_m, pitch_y):
        for x0 in np.arange(street / 2, size_m, pitch_x):
            r0, r1 = round(y0 / cell), round((y0 + pitch_y - street) / cell)
            c0, c1 = round(x0 / cell), round((x0 + pitch_x - street) / cell)
            # a perimeter block: courtyard open
            h = float(rng.uniform(9.0, 30.0))
            b[r0:r1, c0:c1] = h
            w = round(12.0 / cell)
            if r1 - r0 > 2 * w and c1 - c0 > 2 * w:
                b[r0 + w : r1 - w, c0 + w : c1 - w] = 0.0
    yy, xx = np.mgrid[0:n, 0:n]
    for x in np.arange(5.0, size_m, 12.0):
        for y in np.arange(street / 2 - 5.0, size_m, pitch_y):
            r = float(rng.uniform(2.5, 4.5))
            rr, cc = round(y / cell), round(x / cell)
            k = round((r + 1) / cell)
            win = (
                slice(max(0, rr - k), min(n, rr + k + 1)),
                slice(max(0, cc - k), min(n, cc + k + 1)),
            )
            disc = ((yy[win] - rr) * cell) ** 2 + ((xx[win] - cc) * cell) ** 2 <= r * r
            disc &= b[win] == 0
            top[win][disc] = np.maximum(top[win][disc], 12.0)
            base[win][disc] = 4.0
            tau[win][disc] = 0.03
    return HeatScene(cell, b, top, base, tau)


def bench_kernel(size_m: float, cell: float, backend: str) -> None:
    day = berlin_design_day(2023)
    scene = synthetic_scene(size_m, cell)
    ny, nx = scene.shape
    warm = HeatScene(
        cell,
        *(
            a[:64, :64].copy()
            for a in (scene.buildings, scene.canopy_top, scene.canopy_base, scene.transmissivity)
        ),
    )
    HeatMap(warm, day, backend=backend).compute()  # compile (numba caches on disk)
    t0 = time.perf_counter()
    hm = HeatMap(scene, day, backend=backend).compute()
    total = time.perf_counter() - t0
    print(
        f"kernel: {ny} x {nx} cells ({size_m:g} m at {cell:g} m), {len(day.hours)} sun positions, engine {hm.engine}"
    )
    for k, v in hm.timings.items():
        print(f"  {k:8s} {v:7.2f} s")
    print(f"  total    {total:7.2f} s  (target < 60 s)")
    ground = scene.buildings == 0
    print(
        f"  ground: shade {np.nanmean(hm.shade_hours[ground]):.2f} h mean, "
        f"Tmrt 15:00 {np.nanmin(hm.tmrt):.1f}..{np.nanmax(hm.tmrt):.1f} degC, "
        f"UTCI 15:00 {np.nanmin(hm.utci):.1f}..{np.nanmax(hm.utci):.1f} degC"
    )


def bench_demo(backend: str) -> None:
    from greentwin.green_model.api import Tree
    from greentwin.server.store import TileStore
    from greentwin.twin.district import District, overlay_layers
    from greentwin.twin.recompute_district import _kernel_copy

    root = Path(__file__).resolve().parents[1] / "data" / "citygml"
    district = District.load_demo(root)
    t0 = time.perf_counter()
    base = overlay_layers(district, None, backend=backend)
    print(f"demo: baseline overlays {time.perf_counter() - t0:.2f} s {fmt(base.timings)}")
    seed = overlay_layers(
        district, None, previous=_kernel_copy(base), baseline=base, backend=backend
    )
    # a 10-year-old lime in the open, south of the buildings
    g = district.grid
    x = g.x0 + g.nx * g.cell * 0.5
    y = g.y0 + 40.0
    tree = Tree(
        "bench-tree",
        "tilia_cordata",
        x,
        y,
        0.0,
        planted=district.survey_date,
        age_at=(district.survey_date, 10.0),
    )
    planted = district.replace(trees=(*district.trees, tree))
    prev = _kernel_copy(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = TileStore(Path(tmp) / "store")
        out = Path(tmp) / "out"
        t1 = time.perf_counter()
        new = overlay_layers(planted, out, previous=prev, baseline=base, backend=backend)
        t2 = time.perf_counter()
        for name in ("shade_hours", "tmrt", "utci", "diff_shade_hours", "diff_tmrt", "diff_utci"):
            store.publish("bench", name, out / name, kind="overlay", entry="meta.json")
        t3 = time.perf_counter()
    print(
        f"demo: one tree planted -> overlays updated in {t2 - t1:.2f} s {fmt(new.timings)}; "
        f"the six heat layers published in {t3 - t2:.2f} s: {t3 - t1:.2f} s in all"
    )
    d = new.values["diff_shade_hours"]
    u = new.values["diff_utci"]
    print(
        f"  shade hours +{np.nanmax(d):.2f} h max, UTCI {np.nanmin(u):+.2f} degC min "
        f"({int((np.abs(u) > 1e-9).sum())} cells changed)  (target < 3 s)"
    )


def fmt(t: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k} {v:.2f}" for k, v in t.items()) + ")"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-m", type=float, default=1000.0)
    ap.add_argument("--cell", type=float, default=1.0)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--skip-demo", action="store_true")
    a = ap.parse_args(argv)
    bench_kernel(a.size_m, a.cell, a.backend)
    if not a.skip_demo:
        bench_demo(a.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
