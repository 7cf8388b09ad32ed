"""Project manifests and readers: errors that name the key and file, reported skips,
species matching, OSM heights, traffic from counts and RLS-90 factors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from greentwin.twin import ManifestError, district_inputs, load_manifest
from greentwin.twin.readers import Report, read_buildings, read_trees
from greentwin.twin.roads import hourly_flows
from gt_projects import BASE, BERLIN_GML

REPO = Path(__file__).resolve().parents[2]
HELSINKI = REPO / "data" / "projects" / "helsinki"


def _write(folder: Path, text: str, name: str = "project.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + '\n[roads]\ngeojson = "r.geojson"\nlanes_default = 2\n')
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert "project.toml: roads.lanes_default: unknown key" in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + '\n[roads]\ngeojson = "nowhere.geojson"\n')
    with pytest.raises(ManifestError, match=r"project.toml: roads.geojson: file 'nowhere.geojson'"):
        load_manifest(path)


def test_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE.replace(f'"{BERLIN_GML}"', '"tiles/*.gml"'))
    with pytest.raises(ManifestError, match=r"buildings.citygml: 'tiles/\*.gml' matches no file"):
        load_manifest(path)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:999999"])
def test_project_crs_must_be_projected_metres(tmp_path: Path, crs: str) -> None:
    path = _write(tmp_path, BASE.replace('"EPSG:25833"', f'"{crs}"'))
    with pytest.raises(ManifestError, match=r"project\.crs"):
        load_manifest(path)


def test_unknown_city_and_wrong_value_types(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"project\.city: no climate normals for 'Atlantis'"):
        load_manifest(_write(tmp_path, BASE.replace('"Berlin"', '"Atlantis"')))
    bad = BASE + "\n[grid]\ncell_m = 0.1\n"
    with pytest.raises(ManifestError, match=r"project.toml: grid.cell_m: 0.1 is less than"):
        load_manifest(_write(tmp_path, bad))
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(_write(tmp_path, "[project\n"))


def test_citygml_in_another_crs_is_one_error(tmp_path: Path) -> None:
    text = BASE.replace('"EPSG:25833"', '"EPSG:3067"').replace('"Berlin"', '"Helsinki"')
    path = _write(tmp_path, text + '\n[roads]\ngeojson = "r.geojson"\n')
    _write(tmp_path, '{"type": "FeatureCollection", "features": []}', "r.geojson")
    with pytest.raises(ManifestError, match="is in EPSG:25833, the project in EPSG:3067"):
        district_inputs(path)


def test_register_broken_rows_skipped_and_species_summarised(tmp_path: Path) -> None:
    csv = (
        "nr,laji,x,y,korkeus,ymparys,latvus,istutusvuosi\n"
        "1,Tilia cordata 'Greenspire',396800,5819500,12,110,6,1990\n"
        "2,Tilia x moltkei,396810,5819500,,94.2,,\n"
        "3,Metasequoia glyptostroboides,396820,5819500,9,,5,\n"
        "4,Metasequoia glyptostroboides,396830,5819500,,,,\n"
        "8,Platanus x hispanica,396870,5819500,,40,,\n"
        "5,Acer platanoides,396840,,10,,,\n"
        "6,Acer platanoides,396850,5819500,tall,,,\n"
        "7,Betula pendula,396860,5819500,8,,,2035\n"
    )
    _write(tmp_path, csv, "trees.csv")
    text = (
        BASE
        + """
[trees.register]
path = "trees.csv"
crs = "EPSG:25833"
id = "nr"
x = "x"
y = "y"
species = "laji"
height_m = "korkeus"
trunk_circumference_cm = "ymparys"
crown_diameter_m = "latvus"
planted_year = "istutusvuosi"
"""
    )
    project = load_manifest(_write(tmp_path, text))
    report = Report()
    trees, _ = read_trees(project, None, report)
    assert [t.id for t in trees] == ["reg-1", "reg-2", "reg-3", "reg-4", "reg-8"]
    by_id = {t.id: t for t in trees}
    assert by_id["reg-1"].species == "tilia_cordata"
    assert by_id["reg-8"].species == "platanus_x_acerifolia"  # the European mapping
    assert by_id["reg-3"].species == "tilia_cordata"  # the default
    assert by_id["reg-1"].planted is not None and by_id["reg-1"].planted.year == 1990
    # circumference 94.2 cm -> stem diameter 94.2 / pi cm
    assert by_id["reg-2"].dbh_cm == pytest.approx(94.2 / math.pi)
    assert by_id["reg-4"].planted is not None  # nothing known: an assumed age, counted
    lines = report.lines()
    text_lines = "\n".join(lines)
    assert "1 x tree register rows skipped (trees.csv: no position)" in lines
    assert "1 x tree register rows skipped (trees.csv: height" in text_lines
    assert "planting year 2035 is not in 1500..survey year" in text_lines
    assert "1 x trees without size or age" in text_lines
    summary = [line for line in lines if line.startswith("species of")]
    assert len(summary) == 1  # one summary, not a line per tree
    assert summary[0].startswith("species of 5 register/OSM trees: 2 matched by name")
    assert "by genus: 1 Tilia x moltkei -> tilia_cordata" in summary[0]
    assert "default tilia_cordata: 2 Metasequoia glyptostroboides" in summary[0]


def test_register_missing_column_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "x,y\n1,2\n", "trees.csv")
    text = BASE + '\n[trees]\nregister = { path = "trees.csv", species = "Laji" }\n'
    with pytest.raises(ManifestError, match=r"trees\.csv has no column 'Laji'"):
        read_trees(load_manifest(_write(tmp_path, text)), None, Report())


def test_rls90_hourly_flows() -> None:
    # RLS-90 Table 3: municipal streets M = 0.06 AADT (day), 0.011 AADT (night), p 10 % / 3 %
    f = hourly_flows(10_000, "residential")
    assert f["day"]["1"] + f["day"]["3"] == pytest.approx(600.0)
    assert f["day"]["3"] == pytest.approx(60.0)
    assert f["night"]["1"] + f["night"]["3"] == pytest.approx(110.0)
    assert f["night"]["3"] == pytest.approx(110.0 * 0.03)
    # motorways: 0.014 AADT at night with 45 % heavy
    m = hourly_flows(50_000, "motorway")
    assert m["night"]["3"] == pytest.approx(50_000 * 0.014 * 0.45)
    # a count's heavy share wins over the table
    h = hourly_flows(1000, "primary", heavy_share=0.05)
    assert h["evening"]["3"] == pytest.approx(1000 * 0.06 * 0.05)


def _small_helsinki(tmp_path: Path, extent: str, roads: str = "") -> Path:
    import shutil

    for name in ("helsinki_centre.osm.pbf", "helsinki_aadt_2023.geojson"):
        shutil.copy(HELSINKI / name, tmp_path / name)
    text = (HELSINKI / "project.toml").read_text(encoding="utf-8")
    text = text.replace(text.split("extent = ")[1].split("\n")[0], extent)
    return _write(tmp_path, text + roads)


def test_osm_heights_and_counts_on_helsinki(tmp_path: Path) -> None:
    import osmium

    path = _small_helsinki(tmp_path, "[24.9405, 60.1660, 24.9495, 60.1705]")
    project = load_manifest(path)
    # expected heights straight from the tags
    tags: dict[str, dict[str, str]] = {}
    for o in osmium.FileProcessor(str(project.buildings.osm)):
        if o.is_way() and "building" in o.tags:
            tags[f"osm-w{o.id}"] = dict(o.tags)
    blds = read_buildings(project, None, Report())
    heights = {f.id: f.height_m for f in blds.footprints}
    seen = set()
    for fid, t in tags.items():
        if fid not in heights:
            continue
        if "height" in t:
            seen.add("height")
            assert heights[fid] == pytest.approx(float(t["height"].split()[0]))
        elif "building:levels" in t:
            seen.add("levels")
            assert heights[fid] == pytest.approx(float(t["building:levels"]) * 3.2)
        else:
            seen.add("default")
            assert heights[fid] == pytest.approx(16.0)
    assert seen == {"height", "levels", "default"}
    inputs = district_inputs(path)
    counts = json.loads((tmp_path / "helsinki_aadt_2023.geojson").read_text())
    kaivokatu = [
        f["properties"] for f in counts["features"] if f["properties"]["osm_name"] == "Kaivokatu"
    ]
    counted = [r for r in inputs.roads.roads if r.extra.get("traffic_source") == "count"]
    assert any(r.name == "Kaivokatu" for r in counted)
    # two counts on the same Kaivokatu way: the larger one holds
    aadt = {r.extra["aadt"] for r in counted if r.name == "Kaivokatu"}
    assert aadt == {max(float(p["AADT"]) for p in kaivokatu)}
    road = next(r for r in counted if r.name == "Kaivokatu")
    p = next(p for p in kaivokatu if float(p["AADT"]) == road.extra["aadt"])
    day = road.flows[0].sum()  # veh/h by day = 0.06 AADT (RLS-90)
    assert day == pytest.approx(0.06 * p["AADT"], rel=1e-3)
    assert road.flows[0][2] / day == pytest.approx(p["TR_AADT"] / p["AADT"], rel=1e-3)
    # every road has traffic and a class the traffic model reads
    assert all(r.flows.sum() > 0 and r.extra.get("highway") for r in inputs.roads.roads)


def test_roads_outside_the_extent_are_reported(tmp_path: Path) -> None:
    roads = {
        "type": "FeatureCollection",
        "crs": "EPSG:25833",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[396700, 5819530], [397100, 5819531]],
                },
                "properties": {"id": "in", "highway": "primary"},
            },
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[390000, 5810000], [390100, 5810000]],
                },
                "properties": {"id": "far", "highway": "primary"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [0, 0]},
                "properties": {},
            },
        ],
    }
    _write(tmp_path, json.dumps(roads), "roads.geojson")
    text = (
        BASE + '\n[roads]\ngeojson = "roads.geojson"\n[roads.traffic]\naadt = { primary = 12000 }\n'
    )
    inputs = district_inputs(_write(tmp_path, text))
    assert [r.id for r in inputs.roads.roads] == ["in"]
    assert "1 x roads outside the extent left out" in inputs.report
    assert any("road features skipped" in line for line in inputs.report)
    day = inputs.roads.roads[0].flows[0].sum()
    assert day == pytest.approx(0.06 * 12000)
    assert np.asarray(inputs.roads.roads[0].coords).min() >= inputs.grid.bounds[0] - 1e-6
