"""The default producer of small glb models sent to engine clients (``request_glb``).

A producer is any ``async (object, lod) -> bytes`` callable (:data:`GlbProducer`);
the application can plug in the green model's procedural trees or the tiler's
building meshes. This default builds simple, valid models with trimesh:

- ``tree``: a trunk cylinder and a crown sphere. Height is ``height_m`` when given,
  else from ``age_years`` with the Chapman-Richards growth form
  ``h(t) = H (1 - exp(-k t))^c`` (Richards 1959, J. Exp. Bot. 10:290; Pienaar and
  Turnbull 1973, For. Sci. 19:2), with generic broadleaf values H = 22 m,
  k = 0.045 /yr, c = 1.3 (not species specific); crown radius 0.3 h.
- ``building``: the footprint (``[lon, lat]`` degrees) projected to local metres
  around its centroid (equirectangular, adequate for a few hundred metres),
  triangulated with earcut and extruded to ``height_m``.

Models are glTF Y-up, metres, origin at the base centre; ``lod`` 0..3 sets the
tessellation (coarse to fine).
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
from greentwin.core import TilingError

__all__ = ["GlbProducer", "default_glb_producer", "tree_height_m"]

GlbProducer = Callable[[Mapping[str, Any], int], Awaitable[bytes]]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius


def tree_height_m(age_years: float, h_max: float = 22.0, k: float = 0.045, c: float = 1.3) -> float:
    """Chapman-Richards height (m) at ``age_years`` (see the module docstring)."""
    return float(max(0.5, h_max * (1.0 - math.exp(-k * age_years)) ** c))


def _tree(obj: Mapping[str, Any], lod: int) -> Any:
    import trimesh

    if "height_m" in obj:
        h = float(obj["height_m"])
    else:
        h = tree_height_m(float(obj.get("age_years", 15.0)))
    crown_r = 0.3 * h
    trunk_h = max(0.3, h - 2 * crown_r * 0.9)
    trunk_r = max(0.03, 0.02 * h)
    trunk = trimesh.creation.cylinder(radius=trunk_r, height=trunk_h, sections=(6, 8, 12, 16)[lod])
    trunk.apply_translation([0, 0, trunk_h / 2])
    crown = trimesh.creation.icosphere(subdivisions=lod, radius=crown_r)
    crown.apply_translation([0, 0, h - crown_r])
    trunk.visual = trimesh.visual.ColorVisuals(trunk, vertex_colors=[101, 67, 33, 255])
    crown.visual = trimesh.visual.ColorVisuals(crown, vertex_colors=[58, 125, 48, 255])
    return trimesh.util.concatenate([trunk, crown])


def _building(obj: Mapping[str, Any]) -> Any:
    import mapbox_earcut
    import trimesh

    ring = np.asarray(obj["footprint"], dtype=np.float64)
    if len(ring) > 3 and np.allclose(ring[0], ring[-1]):
        ring = ring[:-1]
    lon0, lat0 = ring.mean(axis=0)
    xy = np.column_stack(
        (
            np.radians(ring[:, 0] - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0)),
            np.radians(ring[:, 1] - lat0) * EARTH_RADIUS_M,
        )
    )
    area2 = float(np.sum(xy[:, 0] * np.roll(xy[:, 1], -1) - np.roll(xy[:, 0], -1) * xy[:, 1]))
    if area2 < 0:  # make it counter-clockwise seen from above
        xy = xy[::-1]
    n = len(xy)
    tris = mapbox_earcut.triangulate_float64(xy, np.array([n], dtype=np.uint32)).reshape(-1, 3)
    if len(tris) == 0:
        raise TilingError("building footprint could not be triangulated (self-intersecting?)")
    h = float(obj["height_m"])
    verts = np.vstack((np.column_stack((xy, np.zeros(n))), np.column_stack((xy, np.full(n, h)))))
    faces = [tris[:, ::-1], tris + n]  # floor faces down, roof faces up
    i = np.arange(n)
    j = (i + 1) % n
    faces.append(np.column_stack((i, j, j + n)))
    faces.append(np.column_stack((i, j + n, i + n)))
    mesh = trimesh.Trimesh(vertices=verts, faces=np.vstack(faces), process=False)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=[205, 200, 190, 255])
    return mesh


def _produce(obj: Mapping[str, Any], lod: int) -> bytes:
    mesh = _tree(obj, lod) if obj["kind"] == "tree" else _building(obj)
    # local (east, north, up) -> glTF (x, y, z) = (east, up, -north)
    v = np.asarray(mesh.vertices)
    mesh.vertices = np.column_stack((v[:, 0], v[:, 2], -v[:, 1]))
    buf = io.BytesIO()
    mesh.export(buf, file_type="glb")
    return buf.getvalue()


async def default_glb_producer(obj: Mapping[str, Any], lod: int) -> bytes:
    """Build a glb for ``obj`` (a validated ``request_glb`` object) off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, _produce, obj, lod)
