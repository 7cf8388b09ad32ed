"""The synthetic project generator (bench/make_project.py) and the project benchmark.

The generator's files must read into a complete district (every building, tree, green
area and road, with traffic on every road); the benchmark runs end to end on a tiny
synthetic city (build, cached rebuild, serve, one road edit to new overlays).
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = ROOT / "bench" / "make_project.py"
BENCH = ROOT / "bench" / "project.py"


def _make(out: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(MAKE), str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_tiny_project_reads_completely_and_is_deterministic(tmp_path: Path) -> None:
    from greentwin.twin import district_inputs, load_manifest

    line = _make(tmp_path / "a", "--size-km", "0.5", "--seed", "7")
    _make(tmp_path / "b", "--size-km", "0.5", "--seed", "7")
    _make(tmp_path / "c", "--size-km", "0.5", "--seed", "8")
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert not filecmp.dircmp(tmp_path / "a" / "city", tmp_path / "b" / "city").diff_files
    a_trees = (tmp_path / "a" / "street_trees.csv").read_bytes()
    assert a_trees != (tmp_path / "c" / "street_trees.csv").read_bytes()

    # "OUT/project.toml: N buildings, N trees, N road segments, N green areas, N count points"
    n = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
    buildings, trees, roads, green, counts = n
    assert buildings > 150 and trees > 200 and roads == 60 and counts >= 2

    manifest = tmp_path / "a" / "project.toml"
    project = load_manifest(manifest)
    assert project.name == "synthetic-0p5km" and project.crs == "EPSG:25833"
    data = district_inputs(manifest)
    assert len(data.footprints) == buildings
    assert len(data.trees) == trees
    assert len(data.covers) == green
    assert len(data.roads.roads) == roads  # every road has traffic
    uses = {rec.function for rec in data.buildings.values()}
    assert uses == {"31001_1000", "31001_1100", "31001_2000"}
    assert all(rec.storeys for rec in data.buildings.values())
    report = "\n".join(data.report)
    assert "skipped" not in report and "left out" not in report, report
    assert f"count points: {counts} of {counts} matched" in report


def test_density_of_the_default_size(tmp_path: Path) -> None:
    """At 2 km x 2 km: the few thousand buildings the benchmark is sized for."""
    line = _make(tmp_path / "p")
    buildings, trees, roads, _green, _counts = (
        int(w) for w in line.replace(",", " ").split() if w.isdigit()
    )
    assert buildings >= 3000 and trees >= 2000 and roads == 840
    gml = sorted((tmp_path / "p" / "city").glob("*.gml"))
    assert len(gml) == 4


@pytest.mark.slow
def test_project_bench_end_to_end(tmp_path: Path) -> None:
    """Build, cached rebuild, serve and one road edit on a 0.3 km synthetic city."""
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--synthetic",
            "--size-km",
            "0.3",
            "--edits",
            "1",
            "--work",
            str(tmp_path / "work"),
            "--build-timeout",
            "400",
            "--ready-timeout",
            "300",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    build = report["build"]
    assert build["rc"] == 0 and build["peak_rss_mb"] > 0
    assert [s["name"] for s in build["stages"]] == [
        "buildings",
        "vegetation",
        "vegetation_baked",
        "overlays",
    ]
    assert all(s["status"] == "built" and s["reported_s"] is not None for s in build["stages"])
    assert {"noise", "air"} <= set(build["overlay_parts_s"])
    assert all(s["status"] == "up to date" for s in report["rebuild"]["stages"])
    serve = report["serve"]
    assert serve["error"] == "", serve
    assert len(serve["edit_to_overlay_s"]) == 1 and serve["road"]["flow_day"] > 0
