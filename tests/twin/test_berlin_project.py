"""The demo district as a manifest reads into the same District as ``District.load_demo``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from greentwin.twin.district import District

REPO = Path(__file__).resolve().parents[2]


def test_berlin_manifest_matches_the_demo_district() -> None:
    demo = District.load_demo(REPO / "data" / "citygml")
    project = District.load_demo(REPO / "data" / "projects" / "berlin" / "project.toml")
    assert project.crs == demo.crs
    assert project.height_offset == demo.height_offset
    assert [f.id for f in project.footprints] == [f.id for f in demo.footprints]
    assert [f.height_m for f in project.footprints] == [f.height_m for f in demo.footprints]
    assert project.buildings == demo.buildings
    assert [t.id for t in project.trees] == [t.id for t in demo.trees]
    assert [(t.species, t.x, t.y, t.height_m) for t in project.trees] == [
        (t.species, t.x, t.y, t.height_m) for t in demo.trees
    ]
    assert len(project.covers) == len(demo.covers)
    assert (project.grid.x0, project.grid.y0, project.grid.nx, project.grid.ny) == (
        demo.grid.x0,
        demo.grid.y0,
        demo.grid.nx,
        demo.grid.ny,
    )
    assert [r.id for r in project.roads.roads] == [r.id for r in demo.roads.roads]
    for a, b in zip(project.roads.roads, demo.roads.roads, strict=True):
        np.testing.assert_allclose(a.coords, b.coords)
        np.testing.assert_allclose(a.flows, b.flows)
        assert (a.lanes, a.street_type, a.tree_factor, a.canyon) == (
            b.lanes,
            b.street_type,
            b.tree_factor,
            b.canyon,
        )
    assert project.roads.junctions == demo.roads.junctions
    assert project.roads.temperature_c == demo.roads.temperature_c
    assert project.climate.city == demo.climate.city


def test_demo_command_serves_the_berlin_manifest(tmp_path: Path) -> None:
    from greentwin.cli.cmd_demo import demo_config
    from greentwin.cli.main import build_parser
    from greentwin.twin.demo import recipes_for

    parser, _ = build_parser()
    config = demo_config(parser.parse_args(["demo", "--data", str(tmp_path)]))
    manifest = REPO / "data" / "projects" / "berlin" / "project.toml"
    assert config.demo and config.demo_example
    assert config.demo_inputs == manifest
    assert [r.layer for r in recipes_for(config.demo_inputs)] == [
        "buildings",
        "vegetation",
        "vegetation_baked",
        "overlays",
    ]
