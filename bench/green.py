"""Benchmark: survey records -> plant states -> vegetation tiles.

Usage: python bench/green.py --trees 100000 [--baked] [--out DIR]

Prints trees per second for the whole path (survey inversion, states on a date,
carbon, reprojection, tiling, glb and tileset writing) and tile bytes per tree
(with and without the shared plant meshes, which do not grow with the tree count).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from greentwin.green_model import Climate, SpeciesLibrary, TreeTable
from greentwin.tiles.vegetation import build_vegetation_tileset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=100_000)
    ap.add_argument("--baked", action="store_true", help="non-instanced tiles")
    ap.add_argument("--out", type=Path, default=None, help="keep the tileset here")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    n = args.trees
    lib = SpeciesLibrary.default()
    rng = np.random.default_rng(args.seed)
    # a district of about 1 tree per 40 m^2 in EPSG:25833 (Berlin)
    side = float(np.sqrt(n * 40.0))
    xyz = np.column_stack(
        (
            390000 + rng.uniform(0, side, n),
            5815000 + rng.uniform(0, side, n),
            35 + rng.uniform(0, 10, n),
        )
    )
    species = rng.choice(list(lib.keys), n)
    height = rng.uniform(3.0, 28.0, n)
    crown = height * rng.uniform(0.3, 0.8, n)
    ids = [f"tree-{i}" for i in range(n)]
    out = args.out or Path(tempfile.mkdtemp(prefix="green-bench-"))
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    table = TreeTable.from_survey(ids, species, xyz, height, crown, dt.date(2020, 6, 1), lib)
    t1 = time.perf_counter()
    summary = build_vegetation_tileset(
        table,
        [],
        dt.date(2035, 9, 20),
        out,
        crs="EPSG:25833",
        climate=Climate.for_city("Berlin"),
        instanced=not args.baked,
        height_mode="ground",
    )
    t2 = time.perf_counter()
    meshes = sum(p.stat().st_size for p in (out / "meshes").glob("*.bin")) if not args.baked else 0
    print(f"trees: {n}  ({'baked' if args.baked else 'instanced'}, {summary['glb_files']} glb)")
    print(f"survey -> table: {t1 - t0:.2f} s;  states + tiles: {t2 - t1:.2f} s")
    print(f"trees per second: {n / (t2 - t0):,.0f}")
    print(
        f"bytes per tree: {summary['bytes'] / n:.1f} (all files); {(summary['bytes'] - meshes) / n:.1f} (without the {meshes / 1e6:.2f} MB of shared meshes)"
    )
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
