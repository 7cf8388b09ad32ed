"""Fixtures of the server tests: a tiny but real 3D Tiles 1.1 tileset, configs, apps."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from greentwin.server.config import Config
from greentwin.tiles.gltf import (
    ARRAY_BUFFER,
    Column,
    GlbBuilder,
    feature_ids_extension,
    zup_to_yup,
)

#: Near the Berlin test area (WGS84 degrees).
LON, LAT = 13.4806, 52.5163
FIXTURE_IDS = ("FIXTURE_BLDG_A", "FIXTURE_BLDG_B")


def _enu_to_ecef(lon_deg: float, lat_deg: float) -> list[float]:
    """Column-major ENU->ECEF transform at a point on the WGS84 ellipsoid (height 0)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    lon, lat = math.radians(lon_deg), math.radians(lat_deg)
    n = a / math.sqrt(1 - e2 * math.sin(lat) ** 2)
    x = n * math.cos(lat) * math.cos(lon)
    y = n * math.cos(lat) * math.sin(lon)
    z = n * (1 - e2) * math.sin(lat)
    east = [-math.sin(lon), math.cos(lon), 0.0]
    north = [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
    up = [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]
    return [*east, 0.0, *north, 0.0, *up, 0.0, x, y, z, 1.0]


def _box(x0: float, y0: float, w: float, d: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (24, 3) ENU metres and normals of an axis-aligned box, faces outward."""
    x1, y1 = x0 + w, y0 + d
    c = np.array(
        [
            [x0, y0, 0],
            [x1, y0, 0],
            [x1, y1, 0],
            [x0, y1, 0],
            [x0, y0, h],
            [x1, y0, h],
            [x1, y1, h],
            [x0, y1, h],
        ],
        dtype=np.float32,
    )
    faces = [
        ((0, 3, 2, 1), (0, 0, -1)),
        ((4, 5, 6, 7), (0, 0, 1)),
        ((0, 1, 5, 4), (0, -1, 0)),
        ((1, 2, 6, 5), (1, 0, 0)),
        ((2, 3, 7, 6), (0, 1, 0)),
        ((3, 0, 4, 7), (-1, 0, 0)),
    ]
    pos = np.concatenate([c[list(q)] for q, _ in faces])
    nrm = np.repeat(np.array([n for _, n in faces], dtype=np.float32), 4, axis=0)
    return pos, nrm


def write_fixture_tileset(out_dir: Path) -> Path:
    """Write a one-tile 3D Tiles 1.1 tileset: two box buildings with EXT_structural_metadata.

    Returns the tileset.json path. Feature ids are :data:`FIXTURE_IDS`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = [_box(-30, -10, 20, 20, 18.0), _box(10, -10, 20, 20, 9.0)]
    pos = np.concatenate([b[0] for b in boxes])
    nrm = np.concatenate([b[1] for b in boxes])
    fid = np.repeat(np.arange(2, dtype=np.float32), 24)
    quads = np.arange(pos.shape[0] // 4, dtype=np.uint32)[:, None] * 4
    idx = (quads + np.array([0, 1, 2, 0, 2, 3], dtype=np.uint32)).reshape(-1)
    b = GlbBuilder()
    p = b.add_accessor(zup_to_yup(pos).astype(np.float32), target=ARRAY_BUFFER, min_max=True)
    n = b.add_accessor(zup_to_yup(nrm).astype(np.float32), target=ARRAY_BUFFER)
    f = b.add_accessor(fid, target=ARRAY_BUFFER)
    i = b.add_indices(idx)
    mat = b.add_material(base_color=(0.9, 0.9, 0.85, 1.0))
    # Same layout as the converter's content: feature-id set 0 "object" (one row per
    # building), set 1 "surface" (one row per semantic surface).
    obj = b.add_property_table(
        "object",
        [
            Column("id", "STRING", list(FIXTURE_IDS)),
            Column("parent_id", "STRING", ["", ""]),
            Column("class", "STRING", ["Building", "Building"]),
            Column("lod", "INT32", np.array([2, 2], np.int32)),
            Column("measuredHeight", "FLOAT64", np.array([18.0, 9.0])),
        ],
        2,
    )
    kinds = [
        "GroundSurface",
        "RoofSurface",
        "WallSurface",
        "WallSurface",
        "WallSurface",
        "WallSurface",
    ]
    surf = b.add_property_table(
        "surface",
        [
            Column("surface_type", "STRING", kinds * 2),
            Column("surface_id", "STRING", [f"S{i}" for i in range(12)]),
            Column("object", "UINT32", np.repeat(np.arange(2, dtype=np.uint32), 6)),
        ],
        12,
    )
    sid = np.repeat(np.arange(12, dtype=np.float32), 4)
    s_acc = b.add_accessor(sid, target=ARRAY_BUFFER)
    b.use_extension("EXT_mesh_features")
    prim = {
        "attributes": {"POSITION": p, "NORMAL": n, "_FEATURE_ID_0": f, "_FEATURE_ID_1": s_acc},
        "indices": i,
        "material": mat,
        "extensions": feature_ids_extension(
            [
                {"featureCount": 2, "attribute": 0, "propertyTable": obj, "label": "object"},
                {"featureCount": 12, "attribute": 1, "propertyTable": surf, "label": "surface"},
            ]
        ),
    }
    b.add_node(b.add_mesh([prim]))
    (out_dir / "content.glb").write_bytes(b.to_bytes())
    tileset = {
        "asset": {"version": "1.1"},
        "geometricError": 100.0,
        "root": {
            "transform": _enu_to_ecef(LON, LAT),
            "boundingVolume": {"box": [0, 0, 9, 40, 0, 0, 0, 20, 0, 0, 0, 9.5]},
            "geometricError": 0.0,
            "refine": "ADD",
            "content": {"uri": "content.glb"},
        },
    }
    path = out_dir / "tileset.json"
    path.write_text(json.dumps(tileset))
    return path


@pytest.fixture
def fixture_tileset(tmp_path: Path) -> Path:
    """Folder holding the fixture tileset (tileset.json + content.glb)."""
    src = tmp_path / "src-tileset"
    write_fixture_tileset(src)
    return src


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A configuration writing into the test's temporary folder (no demo)."""
    return Config(data_dir=tmp_path / "var", access_log=False)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Build a configuration with changes."""

    def make(**changes: object) -> Config:
        return Config(data_dir=tmp_path / "var", access_log=False).replace(**changes)

    return make
