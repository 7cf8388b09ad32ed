"""Procedural meshes: budgets per level, seasonal looks, species shapes."""

from __future__ import annotations

import numpy as np
import pytest
from greentwin.green_model import TRIANGLE_BUDGET, Look, SpeciesLibrary, plant_mesh

LIB = SpeciesLibrary.default()
KEYS = sorted(LIB.species)


@pytest.mark.parametrize("key", KEYS)
def test_triangle_budgets(key: str) -> None:
    sp = LIB.species[key]
    counts = [plant_mesh(sp, lod).triangles for lod in (0, 1, 2, 3)]
    assert counts[0] <= 8000 and counts[1] <= 1500 and counts[2] <= 300 and counts[3] <= 4
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0
    assert TRIANGLE_BUDGET == {0: 8000, 1: 1500, 2: 300, 3: 4}
    for lod in range(4):
        m = plant_mesh(sp, lod)
        lo, hi = m.bounds()
        assert hi[2] == pytest.approx(1.0, abs=1e-6) and lo[2] >= -1e-6
        for part in (m.bark, m.foliage):
            if part is not None and part.triangles:
                assert part.indices.max() < part.positions.shape[0]
                assert np.allclose(np.linalg.norm(part.normals, axis=1), 1.0, atol=1e-4)


def test_deterministic() -> None:
    sp = LIB["Tilia"]
    plant_mesh.__wrapped__ if hasattr(plant_mesh, "__wrapped__") else None
    from greentwin.green_model.plant_mesh import _build

    _build.cache_clear()
    a = plant_mesh(sp, 0).foliage
    _build.cache_clear()
    b = plant_mesh(sp, 0).foliage
    assert a is not None and b is not None
    assert np.array_equal(a.positions, b.positions)


def test_winter_deciduous_is_bare_evergreen_is_not() -> None:
    bare = Look.of(0.0, (0.3, 0.3, 0.3))
    for lod in (0, 1, 2):
        lime = plant_mesh(LIB["Tilia"], lod, bare)
        assert lime.foliage is None and lime.bark.triangles > 0
        spruce = plant_mesh(LIB["Picea abies"], lod, bare)
        assert spruce.foliage is not None and spruce.foliage.triangles > 0
    half = plant_mesh(LIB["Tilia"], 0, Look.of(0.5, (0.6, 0.8, 0.3)))
    full = plant_mesh(LIB["Tilia"], 0)
    assert half.foliage is not None and full.foliage is not None
    assert 0.4 < half.foliage.triangles / full.foliage.triangles < 0.6
    assert half.foliage_colour == pytest.approx((0.59375, 0.796875, 0.296875))


def _profile(key: str) -> np.ndarray:
    """Crown radius per height band of the LoD0 foliage (unit tree)."""
    m = plant_mesh(LIB[key], 0)
    assert m.foliage is not None
    p = m.foliage.positions
    r = np.hypot(p[:, 0], p[:, 1])
    bands = np.clip((p[:, 2] * 5).astype(int), 0, 4)
    return np.array(
        [np.percentile(r[bands == b], 90) if np.any(bands == b) else 0.0 for b in range(5)]
    )


def test_species_shapes_differ() -> None:
    spruce = _profile("picea_abies")
    lime = _profile("tilia_cordata")
    birch = _profile("betula_pendula")
    # spruce: conical, widest near the ground, narrowing to the top
    assert int(np.argmax(spruce)) == 0 and spruce[0] > spruce[4] * 1.8
    # lime: oval crown on a clear stem, widest in the upper middle, narrower at the top
    assert lime[0] == 0.0 and int(np.argmax(lime)) in (2, 3) and lime[4] < lime.max()
    # birch: narrower crown than the lime
    assert birch.max() < lime.max()
    # they are not the same shape
    assert not np.allclose(spruce / spruce.max(), lime / lime.max(), atol=0.1)
    assert not np.allclose(birch / birch.max(), spruce / spruce.max(), atol=0.1)
    assert LIB["betula_pendula"].colours["bark"][0] > 0.8  # white bark
