"""From a CityGML feature to a compact, picklable mesh record in ECEF.

A record holds one top-level city object with its parts: triangulated, reprojected
positions relative to the feature's origin (float32), flat normals per surface,
texture coordinates, per-vertex object and surface indices, triangle groups per
material, the attribute rows, and a coarse block (a prism over the footprint's
16-DOP) used by the parent levels of the tileset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import AttributeValue, Feature, Polygon, SkippedFeature
from greentwin.core import CRSError
from greentwin.tiles.geodesy import enu_rotation, geodetic_to_ecef, to_geodetic
from greentwin.tiles.triangulate import triangulate_flat

__all__ = [
    "SEMANTIC_COLOURS",
    "FeatureMesh",
    "MaterialKey",
    "attribute_column",
    "build_record",
    "choose_lod",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

#: ("sem", surface type) | ("x3d", r, g, b, er, eg, eb, transparency) | ("tex", path, mime, wrap)
MaterialKey = tuple[str | float, ...]

#: Default linear RGB colours per semantic surface when there is no appearance.
SEMANTIC_COLOURS: dict[str, tuple[float, float, float]] = {
    "": (0.75, 0.75, 0.72),
    "RoofSurface": (0.42, 0.13, 0.08),
    "WallSurface": (0.86, 0.83, 0.76),
    "GroundSurface": (0.35, 0.35, 0.35),
    "ClosureSurface": (0.6, 0.6, 0.6),
    "OuterCeilingSurface": (0.7, 0.7, 0.7),
    "OuterFloorSurface": (0.55, 0.55, 0.55),
    "FloorSurface": (0.5, 0.45, 0.4),
    "CeilingSurface": (0.8, 0.8, 0.8),
    "InteriorWallSurface": (0.9, 0.9, 0.88),
    "Window": (0.25, 0.4, 0.55),
    "Door": (0.35, 0.22, 0.12),
    "coarse": (0.78, 0.76, 0.72),
}

#: 16 outward directions of the footprint's discrete oriented polytope.
_ANGLES = np.arange(16) * (np.pi / 8)
_DIRS = np.stack((np.cos(_ANGLES), np.sin(_ANGLES)), axis=1)
_NEXT = np.roll(np.arange(16), -1)
_INV = np.linalg.inv(np.stack((_DIRS, _DIRS[_NEXT]), axis=1))  # (16, 2, 2)


@dataclass(slots=True)
class Coarse:
    """A closed-top prism standing for the whole feature at coarse levels.

    Attributes
    ----------
    positions : (n, 3) float32 metres, ECEF axes, relative to the feature origin.
    normals : (n, 3) float32 unit, ECEF axes.
    triangles : (t, 3) uint32.
    """

    positions: F32
    normals: F32
    triangles: npt.NDArray[np.uint32]


@dataclass(slots=True)
class FeatureMesh:
    """One converted top-level feature.

    Attributes
    ----------
    id : gml:id of the top-level feature.
    origin : (3,) float64 metres, ECEF.
    positions : (n, 3) float32 metres, ECEF axes, relative to ``origin``.
    normals : (n, 3) float32 unit vectors, ECEF axes (flat per polygon).
    uv : (n, 2) float32 glTF texture coordinates (V flipped), zeros where untextured.
    triangles : (t, 3) uint32, sorted by material group (vertices are too).
    groups : (material key, first/end triangle, first/end vertex) per material.
    vertex_object : (n,) uint16 row in ``objects``.
    vertex_surface : (n,) uint32 row in ``surfaces``.
    objects : attribute rows: the feature first, then its parts.
    surface_types, surface_ids : per surface its semantic class and gml:id.
    surface_objects : (s,) uint32, per surface its row in ``objects``.
    coarse : the coarse prism.
    radius : metres, bounding-sphere radius around ``origin``.
    height : metres, vertical extent of the geometry.
    detail_error : metres, how far the coarse prism may stray from the geometry.
    ground_h : metres, lowest ellipsoidal height of ground surfaces (else of all points).
    lod : the LoD used for the top-level feature.
    fallback : True when ``--lod`` was not available and another LoD was used.
    """

    id: str
    origin: F64
    positions: F32
    normals: F32
    uv: F32
    triangles: npt.NDArray[np.uint32]
    groups: list[tuple[MaterialKey, int, int, int, int]]
    vertex_object: npt.NDArray[np.uint16]
    vertex_surface: npt.NDArray[np.uint32]
    objects: list[dict[str, AttributeValue | None]]
    surface_types: list[str]
    surface_ids: list[str]
    surface_objects: npt.NDArray[np.uint32]
    coarse: Coarse
    radius: float
    height: float
    detail_error: float
    ground_h: float
    lod: int
    fallback: bool
    skipped: list[SkippedFeature] = field(default_factory=list)


def _geometry_lods(feature: Feature) -> set[int]:
    found = {lod for lod, polys in feature.lods.items() if polys}
    found.update(lod for lod, imp in feature.implicit.items() if imp.prototype)
    for child in feature.children:
        found.update(_geometry_lods(child))
    return found


def choose_lod(feature: Feature, wanted: int | None) -> tuple[int | None, bool]:
    """The LoD to convert: highest available, or ``wanted`` with fallback.

    Fallback order: the nearest lower LoD, then the nearest higher one.

    Returns
    -------
    (lod, fallback) ; lod is None when the feature has no geometry at all.
    """
    lods = sorted(_geometry_lods(feature))
    if not lods:
        return None, False
    if wanted is None:
        return lods[-1], False
    if wanted in lods:
        return wanted, False
    lower = [lod for lod in lods if lod < wanted]
    return (lower[-1] if lower else lods[0]), True


def _polygons_at(feature: Feature, lod: int) -> list[Polygon]:
    """Explicit polygons of ``lod``, or the implicit prototype placed in the source CRS."""
    polys = feature.lods.get(lod)
    if polys:
        return polys
    imp = feature.implicit.get(lod)
    if imp is None or not imp.prototype:
        return []
    m = imp.transformation
    out: list[Polygon] = []
    for p in imp.prototype:
        rings = [p.exterior, *p.interiors]
        placed = []
        for r in rings:
            h = np.c_[r, np.ones(len(r))] @ m.T
            placed.append(h[:, :3] + imp.reference_point)
        out.append(
            Polygon(
                placed[0],
                placed[1:],
                p.id,
                p.surface_type,
                p.surface_id,
                p.material,
                p.texture,
                p.uv,
            )
        )
    return out


def _object_row(feature: Feature) -> dict[str, AttributeValue | None]:
    row: dict[str, AttributeValue | None] = {
        "id": feature.id,
        "parent_id": feature.parent_id,
        "class": feature.cls,
    }
    for key, value in feature.attributes.items():
        row[attribute_column(key)] = value
    return row


def attribute_column(key: str) -> str:
    """The object-table column of an attribute: CityGML ``class`` becomes ``class_code``
    (``class`` holds the CityGML class name); other clashes get an ``attr_`` prefix."""
    if key == "class":
        return "class_code"
    if key in ("id", "parent_id", "lod", "class_code"):
        return f"attr_{key}"
    return key


def _material_key(poly: Polygon, textured: bool) -> MaterialKey:
    if textured and poly.texture is not None:
        return ("tex", poly.texture.image, poly.texture.mime_type, poly.texture.wrap_mode)
    if poly.material is not None:
        m = poly.material
        return ("x3d", *m.diffuse, *m.emissive, m.transparency)
    return ("sem", poly.surface_type)


def _own_lods(feature: Feature) -> list[int]:
    found = {lod for lod, polys in feature.lods.items() if polys}
    found.update(lod for lod, imp in feature.implicit.items() if imp.prototype)
    return sorted(found)


def _walk(feature: Feature, lod: int) -> Iterable[tuple[Feature, list[Polygon], bool]]:
    """(object, its polygons, fell back) for the feature and every nested part.

    An object uses ``lod`` when it has it; one that lacks it, and whose parts lack it
    too, falls back to its own nearest lower (else higher) LoD.
    """
    own_lods = _own_lods(feature)
    fell = False
    use: int | None = lod
    if lod not in own_lods:
        use = None
        if own_lods and not any(lod in _geometry_lods(c) for c in feature.children):
            lower = [x for x in own_lods if x < lod]
            use = lower[-1] if lower else own_lods[0]
            fell = True
    own = _polygons_at(feature, use) if use is not None else []
    yield feature, own, fell
    for child in feature.children:
        yield from _walk(child, lod)


def build_record(
    feature: Feature,
    *,
    lod: int | None,
    crs: str | None,
) -> FeatureMesh | SkippedFeature:
    """Triangulate and reproject one top-level feature.

    Parameters
    ----------
    feature : a top-level feature from the reader (parts in ``children``).
    lod : the wanted LoD (None: the highest available).
    crs : pyproj definition overriding the feature's CRS.

    Returns
    -------
    FeatureMesh, or SkippedFeature when it has no usable geometry.

    Raises
    ------
    CRSError
        When neither the feature nor ``crs`` gives a CRS.
    """
    chosen, fallback = choose_lod(feature, lod)
    if chosen is None:
        return SkippedFeature(feature.id, feature.line, "no geometry")
    definition = crs or (feature.crs.pyproj_definition if feature.crs else None)
    if definition is None:
        raise CRSError(f"feature {feature.id} (line {feature.line}) has no CRS; pass --crs")

    objects: list[dict[str, AttributeValue | None]] = []
    polys: list[Polygon] = []
    poly_object: list[int] = []
    for obj, own, fell in _walk(feature, chosen):
        fallback = fallback or fell
        objects.append(_object_row(obj))
        polys.extend(own)
        poly_object.extend([len(objects) - 1] * len(own))
    objects[0]["lod"] = chosen
    if not polys:
        return SkippedFeature(feature.id, feature.line, f"no polygons in LoD{chosen}")

    # one pass over the polygons: rings, per-polygon keys and flags
    rings: list[F64] = []
    ring_len: list[int] = []
    nrings: list[int] = []
    poly_pts: list[int] = []
    keys: list[MaterialKey] = []
    poly_surface_l: list[int] = []
    textured_l: list[bool] = []
    ground_l: list[bool] = []
    roof_l: list[bool] = []
    surface_index: dict[tuple[int, str, str], int] = {}
    surfaces: list[tuple[str, str, int]] = []
    for i, p in enumerate(polys):
        rings.append(p.exterior)
        n = len(p.exterior)
        ring_len.append(n)
        for hole in p.interiors:
            rings.append(hole)
            ring_len.append(len(hole))
            n += len(hole)
        nrings.append(1 + len(p.interiors))
        poly_pts.append(n)
        tex = (
            p.texture is not None
            and p.uv is not None
            and len(p.uv) == 1 + len(p.interiors)
            and all(len(u) == ring_len[-1 - len(p.interiors) + j] for j, u in enumerate(p.uv))
        )
        textured_l.append(tex)
        keys.append(_material_key(p, tex))
        st = p.surface_type
        ground_l.append(st == "GroundSurface")
        roof_l.append(st == "RoofSurface")
        skey = (poly_object[i], p.surface_id or p.id or "", st)
        s = surface_index.get(skey)
        if s is None:
            s = len(surfaces)
            surface_index[skey] = s
            surfaces.append((st, skey[1], poly_object[i]))
        poly_surface_l.append(s)
    poly_surface = np.asarray(poly_surface_l, np.uint32)

    # reproject every ring point at once (source CRS -> lon/lat/h -> ECEF)
    src = np.concatenate(rings).astype(np.float64, copy=False)
    geo = to_geodetic(definition, src)
    ecef = geodetic_to_ecef(geo)
    origin = 0.5 * (ecef.min(axis=0) + ecef.max(axis=0))
    tri = triangulate_flat(ecef - origin, np.asarray(ring_len, np.int64), nrings)
    skipped = [
        SkippedFeature(
            polys[i].id or feature.id, feature.line, f"degenerate polygon in {feature.id}"
        )
        for i in tri.skipped
    ]
    if tri.triangles.shape[0] == 0:
        return SkippedFeature(feature.id, feature.line, "only degenerate polygons")

    # texture coordinates per vertex (V flipped: glTF's origin is the top-left corner)
    nv = tri.vertices.shape[0]
    uv = np.zeros((nv, 2), np.float32)
    if any(textured_l):
        uv_rings: list[F64] = []
        for i, p in enumerate(polys):
            if textured_l[i] and p.uv is not None:
                uv_rings.extend(p.uv)
            else:
                uv_rings.append(np.zeros((poly_pts[i], 2)))
        all_uv = np.concatenate(uv_rings)[tri.vertex_source]
        uv[:, 0] = all_uv[:, 0]
        uv[:, 1] = 1.0 - all_uv[:, 1]

    # group triangles and vertices by material (a polygon's vertices are its own)
    key_ids: dict[MaterialKey, int] = {}
    poly_key = np.array([key_ids.setdefault(k, len(key_ids)) for k in keys], np.int64)
    vert_key = poly_key[tri.vertex_polygon]
    vorder = np.argsort(vert_key, kind="stable")
    remap = np.zeros(len(vorder), np.uint32)
    remap[vorder] = np.arange(len(vorder), dtype=np.uint32)
    tri_key = poly_key[tri.triangle_polygon]
    torder = np.argsort(tri_key, kind="stable")
    triangles = remap[tri.triangles[torder]]
    tcounts = np.bincount(tri_key, minlength=len(key_ids))
    vcounts = np.bincount(vert_key, minlength=len(key_ids))
    groups: list[tuple[MaterialKey, int, int, int, int]] = []
    t0 = v0 = 0
    for mkey, kid in key_ids.items():
        tc, vc = int(tcounts[kid]), int(vcounts[kid])
        if tc:
            groups.append((mkey, t0, t0 + tc, v0, v0 + vc))
        t0 += tc
        v0 += vc
    uv = uv[vorder]

    vpoly = tri.vertex_polygon[vorder]
    normals = tri.normals[vpoly].astype(np.float32)
    positions = tri.vertices[vorder].astype(np.float32)
    vertex_object = np.asarray(poly_object, np.uint16)[vpoly]
    vertex_surface = poly_surface[vpoly]

    # heights for ground mode and the coarse prism (in the feature's own ENU frame)
    h = geo[:, 2]
    ground = np.asarray(ground_l)
    if ground.any():
        ground_h = float(h[np.repeat(ground, poly_pts)].min())
    else:
        ground_h = float(h.min())
    lon, lat = geo[0, 0], geo[0, 1]
    rot = enu_rotation(lon, lat)
    local_enu = tri.vertices @ rot.T
    zmin = float(local_enu[:, 2].min())
    zmax = float(local_enu[:, 2].max())
    coarse = _prism(local_enu[:, :2], zmin, zmax, rot)
    diag = float(np.linalg.norm(local_enu.max(axis=0) - local_enu.min(axis=0)))
    roof_span = 0.0
    roof = np.asarray(roof_l)
    if roof.any():
        roof_z = local_enu[roof[tri.vertex_polygon], 2]
        roof_span = zmax - float(roof_z.min())
    radius = float(np.sqrt((tri.vertices**2).sum(axis=1).max()))
    return FeatureMesh(
        id=feature.id,
        origin=origin,
        positions=positions,
        normals=normals,
        uv=uv,
        triangles=triangles,
        groups=groups,
        vertex_object=vertex_object,
        vertex_surface=vertex_surface,
        objects=objects,
        surface_types=[t for t, _, _ in surfaces],
        surface_ids=[i for _, i, _ in surfaces],
        surface_objects=np.array([o for _, _, o in surfaces], np.uint32),
        coarse=coarse,
        radius=radius,
        height=zmax - zmin,
        detail_error=max(roof_span, 0.02 * diag, 0.1),
        ground_h=ground_h,
        lod=chosen,
        fallback=fallback,
        skipped=skipped,
    )


def _prism(xy: F64, zmin: float, zmax: float, rot: F64) -> Coarse:
    """A 16-DOP prism around ``xy`` from ``zmin`` to ``zmax`` (local ENU, metres).

    The footprint is the intersection of 16 supporting half-planes (directions every
    22.5 degrees); consecutive supporting lines meet at its vertices. ``rot`` (3, 3)
    maps ECEF axes to ENU; its transpose brings the prism back to ECEF axes.
    """
    support = (xy @ _DIRS.T).max(axis=0)  # (16,)
    rhs = np.stack((support, support[_NEXT]), axis=1)  # (16, 2)
    verts = np.einsum("kij,kj->ki", _INV, rhs)
    # drop vertices equal to the next one (cyclic): runs of equal vertices keep one
    keep = np.abs(verts - verts[_NEXT]).max(axis=1) > 1e-3
    ring = verts[keep]
    m = len(ring)
    if m < 3 or zmax - zmin < 1e-3:
        zmax = zmin + max(zmax - zmin, 0.5)
    if m < 3:
        c = xy.mean(axis=0)
        ring = c + np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
        m = 4
    nxt = np.roll(np.arange(m), -1)
    a, b = ring, ring[nxt]
    # top ring, then 4 wall corners per edge: a_low, b_low, b_high, a_high
    pos = np.zeros((5 * m, 3))
    pos[:m, :2] = ring
    pos[:m, 2] = zmax
    walls = pos[m:].reshape(m, 4, 3)
    walls[:, 0, :2] = a
    walls[:, 1, :2] = b
    walls[:, 2, :2] = b
    walls[:, 3, :2] = a
    walls[:, :2, 2] = zmin
    walls[:, 2:, 2] = zmax
    edge = b - a
    wn = np.zeros((m, 3))
    wn[:, 0] = edge[:, 1]
    wn[:, 1] = -edge[:, 0]
    wn /= np.maximum(np.sqrt((wn**2).sum(axis=1, keepdims=True)), 1e-12)
    nrm = np.zeros((5 * m, 3))
    nrm[:m, 2] = 1.0
    nrm[m:] = np.repeat(wn, 4, axis=0)
    fan = np.stack((np.zeros(m - 2), np.arange(1, m - 1), np.arange(2, m)), axis=1)
    q = m + 4 * np.arange(m)[:, None]
    quads = np.concatenate((q + np.array([0, 1, 2]), q + np.array([0, 2, 3])))
    tris = np.concatenate((fan, quads)).astype(np.uint32)
    return Coarse((pos @ rot).astype(np.float32), (nrm @ rot).astype(np.float32), tris)
