"""Geometry and raster encoding: reprojection, triangulation, glTF, 3D Tiles, map tiles.

The main entry points are imported lazily, so ``import greentwin.tiles`` stays cheap:

* :class:`ConversionSummary` and the function ``greentwin.tiles.convert.convert``
  (CityGML to a 3D Tiles 1.1 tileset; the name ``greentwin.tiles.convert`` is the module);
* :class:`GlbBuilder` (``greentwin.tiles.gltf``): the GLB writer with metadata helpers;
* :func:`read_tileset` (``greentwin.tiles.reader``): read a tileset back.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ConversionSummary", "GlbBuilder", "read_tileset"]

_LAZY = {
    "ConversionSummary": "greentwin.tiles.convert",
    "GlbBuilder": "greentwin.tiles.gltf",
    "read_tileset": "greentwin.tiles.reader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'greentwin.tiles' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
