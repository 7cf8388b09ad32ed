"""Benchmark ``greentwin convert`` on a replicated city.

Builds a large input by replicating a real sample over a grid (bench/make_city.py),
times a bare ``lxml.etree.iterparse`` pass over it, then the full conversion in a
subprocess (peak RSS of its whole process tree sampled with psutil), and prints
buildings/s, MB/s, peak RSS and the ratio to the bare parse.

    python bench/convert.py --buildings 10000 --source berlin --jobs 2
    python bench/convert.py --buildings 2000 --scale-check     # 1x and 10x peaks
    python bench/convert.py --buildings 50000 --jobs 2 --dask  # local pool vs Dask

With ``--dask`` the same conversion also runs with ``--scheduler`` on a Dask
``LocalCluster`` of ``--jobs`` worker processes (one thread each, loopback) started
beforehand (as a cluster would be in service: its start is not timed); the two runs
alternate ``--repeat`` times, the outputs are compared byte for byte, and the ratio of
the median wall times (Dask / local pool) is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_city import SOURCES, write_city


def bare_parse(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of an iterparse pass that clears every element."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _, el in etree.iterparse(str(path), events=("end",), huge_tree=True):
        el.clear(keep_tail=False)
    return time.perf_counter() - t0, time.process_time() - c0


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def run_convert(
    path: Path, out: Path, jobs: int, scheduler: str | None = None
) -> tuple[float, float, float, dict[str, object]]:
    """(wall s, CPU s of all its processes, peak RSS of the process tree, summary).

    With ``scheduler`` the CPU time and RSS are the client's only (the workers belong
    to the cluster).
    """
    summary = out.parent / "summary.json"
    cmd = [
        sys.executable, "-m", "greentwin.cli", "-q", "convert", str(path), str(out),
        "--jobs", str(jobs), "--no-progress", "--summary-json", str(summary),
    ]  # fmt: skip
    if scheduler:
        cmd += ["--scheduler", scheduler]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"conversion failed with exit code {proc.returncode}")
    return seconds, cpu, peak, json.loads(summary.read_text())


def one(source: Path, buildings: int, jobs: int, tmp: Path) -> float:
    city = tmp / f"city_{buildings}.gml"
    size = write_city(source, buildings, city)
    parse_s, parse_cpu = bare_parse(city)
    seconds, cpu, peak, summary = run_convert(city, tmp / f"out_{buildings}", jobs)
    feats = int(summary["features"])  # type: ignore[call-overload]
    mb = size / 1e6
    print(
        f"{buildings} buildings ({summary['objects']} objects), {mb:.0f} MB, jobs={jobs}: "
        f"{seconds:.1f} s = {feats / seconds:.0f} buildings/s, {mb / seconds:.1f} MB/s, "
        f"peak RSS {peak / 2**20:.0f} MiB, bare iterparse {parse_s:.1f} s "
        f"({feats / parse_s:.0f} buildings/s), ratio {seconds / parse_s:.2f}x, "
        f"{summary['tiles']} tiles, {int(summary['bytes']) / 1e6:.0f} MB out"  # type: ignore[call-overload]
    )
    cores = min(jobs, os.cpu_count() or 1)
    print(
        f"  CPU time: conversion {cpu:.1f} s (all processes) vs bare iterparse {parse_cpu:.1f} s "
        f"= {cpu / parse_cpu:.2f}x; {1e3 * cpu / feats:.3f} ms CPU per building "
        f"(bare parse {1e3 * parse_cpu / feats:.3f} ms), i.e. about "
        f"{feats * cores / cpu:.0f} buildings/s on {cores} idle cores"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  load average {load} on {os.cpu_count()} CPUs")
    city.unlink()
    return peak


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def versus_dask(source: Path, buildings: int, jobs: int, repeat: int, tmp: Path) -> float:
    """Local pool vs a Dask LocalCluster of ``jobs`` workers; returns the ratio of medians."""
    from distributed import LocalCluster

    city = tmp / f"city_{buildings}.gml"
    size = write_city(source, buildings, city)
    cluster = LocalCluster(
        n_workers=jobs,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # a free loopback port
        silence_logs=40,
    )
    times: dict[str, list[float]] = {"local": [], "dask": []}
    digests: dict[str, str] = {}
    try:
        for _ in range(repeat):
            for name, scheduler in (("local", None), ("dask", cluster.scheduler_address)):
                out = tmp / f"out_{name}"
                seconds, _, _, summary = run_convert(city, out, jobs, scheduler)
                times[name].append(seconds)
                digests[name] = _digest(out)
                shutil.rmtree(out)
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(
                    f"  {name:<5} {seconds:7.1f} s  {int(summary['features']) / seconds:6.0f} "  # type: ignore[call-overload]
                    f"buildings/s  (load average {load})",
                    flush=True,
                )
    finally:
        cluster.close()
        city.unlink()
    local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
    fast_local, fast_dask = min(times["local"]), min(times["dask"])
    same = digests["local"] == digests["dask"]
    print(
        f"{buildings} buildings, {size / 1e6:.0f} MB, {jobs} workers: local pool {local:.1f} s, "
        f"Dask LocalCluster {dask:.1f} s (medians of {repeat}); Dask / local = "
        f"{dask / local:.2f}x (fastest runs: {fast_local:.1f} s vs {fast_dask:.1f} s = "
        f"{fast_dask / fast_local:.2f}x); outputs {'identical' if same else 'DIFFER'}"
    )
    if not same:
        raise SystemExit("the Dask output differs from the local pool's")
    return dask / local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--source", default="berlin", help=f"one of {sorted(SOURCES)} or a path")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale-check", action="store_true", help="also run 10x the size")
    parser.add_argument("--tmp", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--dask", action="store_true", help="compare the local pool with a Dask LocalCluster"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (with --dask)")
    args = parser.parse_args(argv)
    source = SOURCES.get(args.source, Path(args.source))
    if args.dask:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            versus_dask(source, args.buildings, args.jobs, args.repeat, Path(tmp))
        return 0
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        peak1 = one(source, args.buildings, args.jobs, Path(tmp))
        if args.scale_check:
            peak10 = one(source, 10 * args.buildings, args.jobs, Path(tmp))
            print(f"peak RSS 1x {peak1 / 2**20:.0f} MiB, 10x {peak10 / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
