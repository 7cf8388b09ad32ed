"""A corpus of broken projects: `greentwin build` answers each with one clear line and exit
code 3 (or builds with a reported skip), never a traceback and never a half-published layer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gt_projects import BASE, BERLIN_GML, ROAD_INSIDE

REPO = Path(__file__).resolve().parents[2]


ROAD_FAR = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"highway": "primary", "aadt": 12000},
            # in Munich, hundreds of kilometres from the Berlin buildings
            "geometry": {"type": "LineString", "coordinates": [[11.57, 48.13], [11.58, 48.14]]},
        }
    ],
}


def _files(folder: Path) -> None:
    (folder / "broken.csv").write_text(
        "id,x,y,species,height\n"
        "1,13.4806,52.5163,Tilia cordata,12\n"
        "2,13.4808,52.5164,Acer,\x00\x00\n"
        "3,not-a-number,52.5,Quercus robur,9\n"
        "4,13.4809\n"
        "5,13.4810,52.5165,Platanus x hispanica,-3\n",
        encoding="utf-8",
    )
    (folder / "garbage.geojson").write_bytes(b"\x89PNG\r\n\x1a\n not json at all")
    (folder / "not_a_list.geojson").write_text('{"type": "Feature"}', encoding="utf-8")
    (folder / "far.geojson").write_text(json.dumps(ROAD_FAR), encoding="utf-8")
    both = {**ROAD_FAR, "features": [ROAD_INSIDE, *ROAD_FAR["features"]]}
    (folder / "near_and_far.geojson").write_text(json.dumps(both), encoding="utf-8")
    (folder / "a_folder.gml").mkdir()
    (folder / "empty.gml").write_text("", encoding="utf-8")


#: name -> manifest text; every one must be refused with exit code 3.
REFUSED: dict[str, str] = {
    "toml syntax": BASE + "\n[roads\ngeojson = 'x'\n",
    "empty file": "",
    "unknown top-level table": BASE + "\n[weather]\nrain = true\n",
    "unknown key": BASE + "\n[grid]\ncell_size = 5\n",
    "wrong type": BASE.replace('city = "Berlin"', "city = 42"),
    "geographic crs": BASE.replace('"EPSG:25833"', '"EPSG:4326"'),
    "unknown crs": BASE.replace('"EPSG:25833"', '"EPSG:12345678"'),
    "missing file": BASE + '\n[roads]\ngeojson = "nowhere.geojson"\n',
    "a folder instead of a file": BASE.replace(f'"{BERLIN_GML}"', '"a_folder.gml"'),
    "empty CityGML": BASE.replace(f'"{BERLIN_GML}"', '"empty.gml"'),
    "roads file is not GeoJSON": BASE + '\n[roads]\ngeojson = "garbage.geojson"\n',
    "roads GeoJSON without features": BASE + '\n[roads]\ngeojson = "not_a_list.geojson"\n',
    "negative cell": BASE + "\n[grid]\ncell_m = -5\n",
    "every road outside the extent": BASE + '\n[roads]\ngeojson = "far.geojson"\n',
}


def _build(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    manifest = folder / "project.toml"
    manifest.write_text(text, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "greentwin.cli",
            "build",
            str(manifest),
            "--data",
            str(folder / "var"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _published(folder: Path) -> list[Path]:
    tiles = folder / "var" / "tiles"
    return sorted(tiles.rglob("manifest.json")) if tiles.exists() else []


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_broken_project_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    _files(tmp_path)
    proc = _build(tmp_path, REFUSED[case])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert "Traceback" not in out, out
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, out
    assert "project.toml" in errors[0], out
    assert _published(tmp_path) == [], "nothing is published for a refused project"


@pytest.mark.slow
def test_broken_rows_and_far_roads_are_skipped_and_reported(tmp_path: Path) -> None:
    """Recoverable faults build, with each skip counted once in the summary."""
    _files(tmp_path)
    text = (
        BASE
        + '\n[trees.register]\npath = "broken.csv"\nid = "id"\nx = "x"\ny = "y"\n'
        + 'species = "species"\nheight_m = "height"\n'
        + '\n[roads]\ngeojson = "near_and_far.geojson"\n'
    )
    proc = _build(tmp_path, text)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 0, out
    assert "outside" in out, out
    assert "skipped" in out, out
    assert "road traffic from: 1 the road's own AADT" in out, out
