"""Prototype geometry of implicit-geometry library objects the converter knows.

CityGML's ``ImplicitGeometry`` may name its prototype only by URI
(``core:libraryObject``) instead of carrying it inline. greentwin's own CityGML
export writes trees that way: ``urn:greentwin:plant:<species key>``, placed by a
matrix that scales the unit-scale plant mesh (height 1, crown diameter
``species.shape["width"]``) to the tree's crown diameter and height (see
:mod:`greentwin.green_model.io`). This module turns such a URI back into prototype
polygons, so the converter draws those trees instead of skipping them.

>>> polys = library_prototype("urn:greentwin:plant:tilia_cordata")
>>> len(polys) > 10, polys[0].exterior.shape
(True, (3, 3))
>>> library_prototype("urn:example:bench")
()
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from greentwin.citygml.model import ImplicitGeometry, Material, Polygon

__all__ = ["PLANT_MESH_LOD", "PLANT_PREFIX", "library_prototype", "prototype_of"]

#: URI prefix of the plant prototypes in greentwin's CityGML export.
PLANT_PREFIX = "urn:greentwin:plant:"
#: Level of detail of the plant mesh drawn (2: crown hull, at most 300 triangles).
PLANT_MESH_LOD = 2


def _srgb_to_linear(c: Sequence[float]) -> tuple[float, float, float]:
    """sRGB to linear RGB (IEC 61966-2-1, the inverse transfer function)."""
    out = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c[:3]]
    return (out[0], out[1], out[2])


@lru_cache(maxsize=256)
def library_prototype(uri: str) -> tuple[Polygon, ...]:
    """Prototype polygons (unit scale, z-up) of a library object, or () when unknown.

    Parameters
    ----------
    uri : the ``libraryObject`` URI, e.g. ``urn:greentwin:plant:acer_platanoides``.

    Returns
    -------
    One triangle per polygon, bark and foliage with their colours (X3D-style
    linear diffuse colours); cached per URI.
    """
    if not uri.startswith(PLANT_PREFIX):
        return ()
    from greentwin.green_model.plant_mesh import plant_mesh
    from greentwin.green_model.species import SpeciesLibrary

    species = SpeciesLibrary.default().species.get(uri[len(PLANT_PREFIX) :])
    if species is None:
        return ()
    mesh = plant_mesh(species, PLANT_MESH_LOD)
    out: list[Polygon] = []
    for part, colour in ((mesh.bark, mesh.bark_colour), (mesh.foliage, mesh.foliage_colour)):
        if part is None or not part.triangles:
            continue
        material = Material(diffuse=_srgb_to_linear(colour))
        corners = part.positions.astype(np.float64)[part.indices]
        # drop degenerate triangles (repeated corners): a polygon needs 3 distinct points
        a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
        keep = np.linalg.norm(np.cross(b - a, c - a), axis=1) > 1e-12
        out.extend(Polygon(tri, material=material) for tri in corners[keep])
    return tuple(out)


def prototype_of(imp: ImplicitGeometry) -> Sequence[Polygon]:
    """The inline prototype of an implicit geometry, else its known library object's."""
    if imp.prototype:
        return imp.prototype
    if imp.library_object:
        return library_prototype(imp.library_object)
    return ()
