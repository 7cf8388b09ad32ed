"""The district's overlay tiles after an edit: only tiles whose pixels change are encoded
again, and the result equals rendering every tile afresh (tiles.overlay's renderer)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from greentwin.kernels.raster import Grid
from greentwin.tiles.colormaps import get_scale
from greentwin.tiles.overlay import render_tile
from greentwin.twin.district import OverlayState, _render

GRID = Grid(392000.0, 5818000.0, 5.0, 60, 40, "EPSG:25833")
ZOOM = (16, 18)


def _state(values: dict[str, np.ndarray]) -> OverlayState:
    return OverlayState(
        district=None,  # type: ignore[arg-type]  # _render reads only grid, zoom, values
        grid=GRID,
        values=values,
        zoom=ZOOM,
        bounds=(0.0, 0.0, 0.0, 0.0),
        date=dt.date(2024, 6, 21),
    )


def test_only_recoloured_tiles_are_encoded_again() -> None:
    lden = np.tile(np.linspace(40.0, 80.0, GRID.nx), (GRID.ny, 1))
    before = _state({"noise_lden": lden})
    _render(before, None)
    fresh = before.tiles["noise_lden"]
    for key, png in fresh.items():  # the district's tiles are tiles.overlay's tiles
        assert png == render_tile(GRID, lden, *key, get_scale("lden"), "nearest", alpha=200)

    # within one colour class: no tile is encoded again (the same bytes objects)
    quiet = lden.copy()
    quiet[5, 5] += 0.01
    after = _state({"noise_lden": quiet})
    _render(after, before)
    assert all(after.tiles["noise_lden"][k] is fresh[k] for k in fresh)

    # one cell crosses a class edge: only the tiles over it change, and exactly as a
    # full render would draw them
    loud = lden.copy()
    loud[5, 5] = 79.0
    edited = _state({"noise_lden": loud})
    _render(edited, before)
    full = _state({"noise_lden": loud})
    _render(full, None)
    tiles = edited.tiles["noise_lden"]
    assert tiles.keys() == fresh.keys()
    assert all(tiles[k] == full.tiles["noise_lden"][k] for k in tiles)
    redrawn = [k for k in tiles if tiles[k] is not fresh[k]]
    assert 1 <= len(redrawn) < len(tiles) // 2
