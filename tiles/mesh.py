"""From a CityGML feature to a compact, picklable mesh record in ECEF.

A record holds one top-level city object with its parts: triangulated, reprojected
positions relative to the feature's origin (float32), flat normals per surface,
texture coordinates, per-vertex object and surface indices, triangle groups per
material, the attribute rows, and a coarse block (a prism over the footprint's
16-DOP) used by the parent levels of the tileset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import AttributeValue, Feature, Polygon, SkippedFeature
from greentwin.core import CRSError
from greentwin.tiles.geodesy import geodetic_to_ecef, outside_bounds, to_geodetic
from greentwin.tiles.library import prototype_of
from greentwin.tiles.triangulate import triangulate_flat

__all__ = [
    "SEMANTIC_COLOURS",
    "FeatureMesh",
    "MaterialKey",
    "attribute_column",
    "build_record",
    "build_records",
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
    uv : (n, 2) float32 glTF texture coordinates (V flipped), zeros where untextured;
        None when no surface of the feature is textured.
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
    detail_error : metres, how far the coarse prism may stray from the geometry: the
        largest of the roof height span, the area the block adds to the footprint
        divided by its width (concave outlines, separate blocks), and 2 % of the size.
    ground_h : metres, lowest ellipsoidal height of ground surfaces (else of all points).
    lod : the LoD used for the top-level feature.
    fallback : True when ``--lod`` was not available and another LoD was used.
    """

    id: str
    origin: F64
    positions: F32
    normals: F32
    uv: F32 | None
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
    found.update(lod for lod, imp in feature.implicit.items() if prototype_of(imp))
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
    prototype = prototype_of(imp) if imp is not None else ()
    if imp is None or not prototype:
        return []
    m = imp.transformation
    out: list[Polygon] = []
    for p in prototype:
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


def _no_geometry(feature: Feature) -> str:
    """Why a feature has nothing to draw (an unknown library object is named)."""
    for imp in feature.implicit.values():
        if imp.library_object and not imp.prototype:
            return (
                f"no geometry (implicit geometry names the library object "
                f"{imp.library_object!r}, which the converter cannot load)"
            )
    return "no geometry"


#: Attribute names that are not their own column (see :func:`attribute_column`).
_RENAMED = frozenset({"class", "id", "parent_id", "lod", "class_code"})


def _object_row(feature: Feature) -> dict[str, AttributeValue | None]:
    row: dict[str, AttributeValue | None] = {
        "id": feature.id,
        "parent_id": feature.parent_id,
        "class": feature.cls,
    }
    attrs = feature.attributes
    if _RENAMED.isdisjoint(attrs):
        row.update(attrs)
    else:
        for key, value in attrs.items():
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
    found.update(lod for lod, imp in feature.implicit.items() if prototype_of(imp))
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
    """Triangulate and reproject one top-level feature (see :func:`build_records`)."""
    return build_records([feature], lod=lod, crs=crs)[0]


@dataclass(slots=True)
class _Pending:
    """A feature accepted for meshing, while its chunk is processed."""

    slot: int
    feature: Feature
    lod: int
    fallback: bool
    objects: list[dict[str, AttributeValue | None]]
    surface_types: list[str]
    surface_ids: list[str]
    surface_objects: list[int]
    polys: list[Polygon]
    definition: str


def build_records(
    features: Sequence[Feature],
    *,
    lod: int | None,
    crs: str | None,
) -> list[FeatureMesh | SkippedFeature]:
    """Triangulate and reproject top-level features, vectorised over the whole batch.

    Parameters
    ----------
    features : top-level features from the reader (parts in ``children``).
    lod : the wanted LoD (None: the highest available per feature).
    crs : pyproj definition overriding the features' CRS.

    Returns
    -------
    One FeatureMesh per feature, or a SkippedFeature when it has no usable geometry.

    Raises
    ------
    CRSError
        When neither a feature nor ``crs`` gives a CRS.

    Notes
    -----
    One pyproj call per CRS and one triangulation call for the whole batch; the
    per-feature Python work is gathering polygons and slicing the results. Polygons
    with points that cannot be transformed (e.g. 1e308 coordinates, out of the
    projection's range) are left out and reported, like polygons with NaN: the batch
    is then built once more without them.
    """
    got = _build_records(features, lod, crs, {})
    if isinstance(got, dict):
        got = _build_records(features, lod, crs, got)
        if isinstance(got, dict):  # equal inputs give equal outputs: cannot happen
            raise CRSError("coordinates could not be transformed; pass --crs")
    return got


def _build_records(
    features: Sequence[Feature],
    lod: int | None,
    crs: str | None,
    drop: dict[int, set[int]],
) -> list[FeatureMesh | SkippedFeature] | dict[int, set[int]]:
    """:func:`build_records` leaving out polygon ``i`` of feature ``slot`` for each
    ``i in drop[slot]``; returns such a ``drop`` instead when points cannot be
    transformed."""
    out: list[FeatureMesh | SkippedFeature | None] = [None] * len(features)
    dropped: dict[int, list[SkippedFeature]] = {}
    pend: list[_Pending] = []
    rings: list[F64] = []
    uv_rings: list[F64 | None] = []
    poly_tex: list[bool] = []
    ring_len: list[int] = []
    nrings: list[int] = []
    poly_pts: list[int] = []
    poly_keys: list[MaterialKey] = []
    poly_surface: list[int] = []
    poly_object: list[int] = []
    poly_feat: list[int] = []
    poly_ground: list[bool] = []
    poly_roof: list[bool] = []
    any_tex = False
    sem_keys: dict[str, MaterialKey] = {}
    rings_append, ring_len_append, nrings_append = rings.append, ring_len.append, nrings.append
    poly_pts_append, poly_tex_append, uv_rings_append = (
        poly_pts.append,
        poly_tex.append,
        uv_rings.append,
    )
    poly_keys_append, poly_ground_append, poly_roof_append = (
        poly_keys.append,
        poly_ground.append,
        poly_roof.append,
    )
    poly_surface_append, poly_object_append = poly_surface.append, poly_object.append
    for slot, feature in enumerate(features):
        chosen, fallback = choose_lod(feature, lod)
        if chosen is None:
            out[slot] = SkippedFeature(feature.id, feature.line, _no_geometry(feature))
            continue
        definition = crs or (feature.crs.pyproj_definition if feature.crs else None)
        if definition is None:
            raise CRSError(f"feature {feature.id} (line {feature.line}) has no CRS; pass --crs")
        objects: list[dict[str, AttributeValue | None]] = []
        polys: list[Polygon]
        pobj: list[int]
        if not feature.children and chosen in feature.lods and feature.lods[chosen]:
            # the common case: one object with explicit polygons at the chosen LoD
            objects.append(_object_row(feature))
            polys = feature.lods[chosen]
            pobj = [0] * len(polys)
        else:
            polys, pobj = [], []
            for obj, own, fell in _walk(feature, chosen):
                fallback = fallback or fell
                objects.append(_object_row(obj))
                polys.extend(own)
                pobj.extend([len(objects) - 1] * len(own))
        objects[0]["lod"] = chosen
        left_out = drop.get(slot)
        if left_out:
            polys = [p for i, p in enumerate(polys) if i not in left_out]
            pobj = [o for i, o in enumerate(pobj) if i not in left_out]
            if not polys:
                out[slot] = SkippedFeature(
                    feature.id,
                    feature.line,
                    f"no polygon with coordinates inside the area of {definition} "
                    "(wrong CRS or axis order?)",
                )
                continue
            dropped[slot] = [
                SkippedFeature(
                    feature.id,
                    feature.line,
                    f"polygon with coordinates outside the area of {definition} (e.g. 1e308) "
                    f"in {feature.id}",
                )
            ] * len(left_out)
        if not polys:
            out[slot] = SkippedFeature(feature.id, feature.line, f"no polygons in LoD{chosen}")
            continue
        fidx = len(pend)
        item = _Pending(slot, feature, chosen, fallback, objects, [], [], [], polys, definition)
        pend.append(item)
        surface_index: dict[tuple[int, str, str], int] = {}
        for p, o in zip(polys, pobj, strict=True):
            ext = p.exterior
            n = len(ext)
            rings_append(ext)
            ring_len_append(n)
            st = p.surface_type
            if p.interiors:
                for hole in p.interiors:
                    rings_append(hole)
                    ring_len_append(len(hole))
                    n += len(hole)
                nh = len(p.interiors)
            else:
                nh = 0
            nrings_append(1 + nh)
            poly_pts_append(n)
            if p.texture is None and p.material is None:  # the common case
                tex = False
                key = sem_keys.get(st)
                if key is None:
                    key = sem_keys[st] = ("sem", st)
            else:
                tex = (
                    p.texture is not None
                    and p.uv is not None
                    and len(p.uv) == 1 + nh
                    and all(len(u) == ring_len[-1 - nh + j] for j, u in enumerate(p.uv))
                )
                key = _material_key(p, tex)
            poly_tex_append(tex)
            if tex and p.uv is not None:
                any_tex = True
                uv_rings.extend(p.uv)
            elif nh:
                uv_rings.extend([None] * (1 + nh))
            else:
                uv_rings_append(None)
            poly_keys_append(key)
            poly_ground_append(st == "GroundSurface")
            poly_roof_append(st == "RoofSurface")
            skey = (o, p.surface_id or p.id or "", st)
            sidx = surface_index.get(skey)
            if sidx is None:
                sidx = len(item.surface_types)
                surface_index[skey] = sidx
                item.surface_types.append(st)
                item.surface_ids.append(skey[1])
                item.surface_objects.append(o)
            poly_surface_append(sidx)
            poly_object_append(o)
        poly_feat.extend([fidx] * len(polys))
    if not pend:
        return [x for x in out if x is not None]

    nf = len(pend)
    pts_per_poly = np.asarray(poly_pts, np.int64)
    pfeat = np.asarray(poly_feat, np.int64)
    point_feat = np.repeat(pfeat, pts_per_poly)
    points = np.concatenate(rings).astype(np.float64, copy=False)

    # reproject: source CRS -> lon/lat/h -> ECEF, one pyproj call per CRS
    defs = [p.definition for p in pend]
    if len(set(defs)) == 1:
        geo, ecef = _reproject(defs[0], points)
    else:
        geo = np.zeros_like(points)
        def_of_point = np.asarray(defs)[point_feat]
        for d in sorted(set(defs)):
            sel = def_of_point == d
            geo[sel] = to_geodetic(d, points[sel], check=False)
        ecef = geodetic_to_ecef(geo)
    bad = np.logical_not(np.isfinite(ecef).all(axis=1))
    if len(set(defs)) == 1:
        bad |= outside_bounds(defs[0], points)
    else:
        for d in set(defs):
            bad |= _outside(d, defs, points, point_feat)
    if bad.any():
        return _untransformable(bad, pts_per_poly, pfeat, pend)
    fpts = np.bincount(point_feat, minlength=nf)
    fstart = np.zeros(nf, np.int64)
    np.cumsum(fpts[:-1], out=fstart[1:])
    origin = 0.5 * (np.minimum.reduceat(ecef, fstart) + np.maximum.reduceat(ecef, fstart))
    tri = triangulate_flat(ecef - origin[point_feat], np.asarray(ring_len, np.int64), nrings)

    # sort vertices and triangles by (feature, material) with canonical material order
    uniq = sorted(set(poly_keys), key=repr)
    kid = {k: i for i, k in enumerate(uniq)}
    nk = len(uniq)
    pkey = np.fromiter((kid[k] for k in poly_keys), np.int64, count=len(poly_keys))
    vp = tri.vertex_polygon
    combo_v = pfeat[vp] * nk + pkey[vp]
    vorder = np.argsort(combo_v, kind="stable")
    remap = np.zeros(len(vorder), np.int64)
    remap[vorder] = np.arange(len(vorder))
    tp = tri.triangle_polygon
    combo_t = pfeat[tp] * nk + pkey[tp]
    torder = np.argsort(combo_t, kind="stable")
    triangles = remap[tri.triangles[torder]]
    vcount = np.bincount(combo_v, minlength=nf * nk).reshape(nf, nk)
    tcount = np.bincount(combo_t, minlength=nf * nk).reshape(nf, nk)
    fv = vcount.sum(axis=1)
    ft = tcount.sum(axis=1)
    vs = np.zeros(nf, np.int64)
    np.cumsum(fv[:-1], out=vs[1:])
    ts = np.zeros(nf, np.int64)
    np.cumsum(ft[:-1], out=ts[1:])

    vps = vp[vorder]
    vfeat = pfeat[vps]
    positions = tri.vertices[vorder]
    normals = tri.normals[vps].astype(np.float32)
    vobject = np.asarray(poly_object, np.uint16)[vps]
    vsurface = np.asarray(poly_surface, np.uint32)[vps]
    uv = np.zeros((len(vorder), 2), np.float32)
    feat_tex = np.zeros(nf, dtype=bool)
    if any_tex:
        feat_tex[pfeat[np.asarray(poly_tex)]] = True
        all_uv = np.concatenate(
            [
                np.zeros((ln, 2)) if u is None else u
                for u, ln in zip(uv_rings, ring_len, strict=True)
            ]
        )[tri.vertex_source[vorder]]
        uv[:, 0] = all_uv[:, 0]
        uv[:, 1] = 1.0 - all_uv[:, 1]

    # per-feature frames and extents (east-north-up at the feature's first point)
    g0 = geo[fstart]
    lam, phi = np.radians(g0[:, 0]), np.radians(g0[:, 1])
    sl, cl, sp, cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)
    rots = np.zeros((nf, 3, 3))
    rots[:, 0, 0], rots[:, 0, 1] = -sl, cl
    rots[:, 1, 0], rots[:, 1, 1], rots[:, 1, 2] = -sp * cl, -sp * sl, cp
    rots[:, 2, 0], rots[:, 2, 1], rots[:, 2, 2] = cp * cl, cp * sl, sp
    enu = np.einsum("nij,nj->ni", rots[vfeat], positions)
    has = fv > 0
    safe_vs = np.minimum(vs, max(len(enu) - 1, 0))
    lo = np.full((nf, 3), np.inf)
    hi = np.full((nf, 3), -np.inf)
    if len(enu):
        lo = np.where(has[:, None], np.minimum.reduceat(enu, safe_vs), np.inf)
        hi = np.where(has[:, None], np.maximum.reduceat(enu, safe_vs), -np.inf)
    radius = np.zeros(nf)
    np.maximum.at(radius, vfeat, np.sqrt((positions**2).sum(axis=1)))
    roof_min = np.full(nf, np.inf)
    roof_v = np.asarray(poly_roof)[vps]
    np.minimum.at(roof_min, vfeat[roof_v], enu[roof_v, 2])
    h = geo[:, 2]
    ground_pt = np.repeat(np.asarray(poly_ground), pts_per_poly)
    ground_min = np.full(nf, np.inf)
    np.minimum.at(ground_min, point_feat[ground_pt], h[ground_pt])
    all_min = np.minimum.reduceat(h, fstart)
    ground_h = np.where(np.isfinite(ground_min), ground_min, all_min)
    support = np.full((nf, 16), -np.inf)
    if len(enu):
        proj = enu[:, :2] @ _DIRS.T
        support = np.where(has[:, None], np.maximum.reduceat(proj, safe_vs), -np.inf)

    coarse, dop_area = _prisms(
        np.where(has[:, None], support, 0.0),
        np.where(has, lo[:, 2], 0.0),
        np.where(has, hi[:, 2], 0.0),
        rots,
    )
    # footprint area: horizontal projection of the upward-facing polygons (roofs, tops)
    # or of the downward-facing ones (ground), whichever is larger: ring orientation
    # in real data is not reliable, and shells may lack a ground or a roof
    up_comp = np.einsum("pj,pj->p", tri.normals, rots[pfeat, 2, :])
    footprint = np.maximum(
        np.bincount(pfeat, weights=tri.areas * np.maximum(up_comp, 0.0), minlength=nf),
        np.bincount(pfeat, weights=tri.areas * np.maximum(-up_comp, 0.0), minlength=nf),
    )
    # how far a block strays from the footprint: the area it adds over the footprint
    # divided by its width (a notch of a x a in a block of side s gives a^2 / s; the
    # corner slivers around a rectangle give a few decimetres)
    hull_error = np.maximum(dop_area - footprint, 0.0) / np.sqrt(np.maximum(dop_area, 1.0))
    skipped_of: dict[int, list[SkippedFeature]] = {}
    poly_base = np.zeros(nf + 1, np.int64)
    np.cumsum(np.bincount(pfeat, minlength=nf), out=poly_base[1:])
    for p_idx in tri.skipped:
        f = int(pfeat[p_idx])
        item = pend[f]
        poly = item.polys[p_idx - int(poly_base[f])]
        skipped_of.setdefault(f, []).append(
            SkippedFeature(
                poly.id or item.feature.id,
                item.feature.line,
                f"degenerate polygon in {item.feature.id}",
            )
        )

    # per-feature values as Python scalars in one go (the loop below only slices)
    pos32 = positions.astype(np.float32)
    tri_local = (triangles - np.repeat(vs, ft)[:, None]).astype(np.uint32)
    vs_l, fv_l, ts_l, ft_l = vs.tolist(), fv.tolist(), ts.tolist(), ft.tolist()
    tc_l, vc_l = tcount.tolist(), vcount.tolist()
    zmin_l, zmax_l = lo[:, 2].tolist(), hi[:, 2].tolist()
    span = hi - lo
    diag_l = np.sqrt(np.einsum("ij,ij->i", span, span)).tolist()
    roof_l = np.where(np.isfinite(roof_min), hi[:, 2] - roof_min, 0.0).tolist()
    has_l, tex_l = has.tolist(), feat_tex.tolist()
    hull_l, radius_l, ground_l = hull_error.tolist(), radius.tolist(), ground_h.tolist()
    for f, item in enumerate(pend):
        feat = item.feature
        if not has_l[f] or ft_l[f] == 0:
            out[item.slot] = SkippedFeature(feat.id, feat.line, "only degenerate polygons")
            continue
        v0, v1 = vs_l[f], vs_l[f] + fv_l[f]
        t0, t1 = ts_l[f], ts_l[f] + ft_l[f]
        groups: list[tuple[MaterialKey, int, int, int, int]] = []
        ta = va = 0
        vc_f = vc_l[f]
        for k, tc in enumerate(tc_l[f]):
            if tc:
                vc = vc_f[k]
                groups.append((uniq[k], ta, ta + tc, va, va + vc))
                ta += tc
                va += vc
        zmin, zmax = zmin_l[f], zmax_l[f]
        out[item.slot] = FeatureMesh(
            id=feat.id,
            origin=origin[f],
            positions=pos32[v0:v1],
            normals=normals[v0:v1],
            uv=uv[v0:v1] if tex_l[f] else None,
            triangles=tri_local[t0:t1],
            groups=groups,
            vertex_object=vobject[v0:v1],
            vertex_surface=vsurface[v0:v1],
            objects=item.objects,
            surface_types=item.surface_types,
            surface_ids=item.surface_ids,
            surface_objects=np.asarray(item.surface_objects, np.uint32),
            coarse=coarse[f],
            radius=radius_l[f],
            height=zmax - zmin,
            detail_error=max(roof_l[f], hull_l[f], 0.02 * diag_l[f], 0.1),
            ground_h=ground_l[f],
            lod=item.lod,
            fallback=item.fallback,
            skipped=dropped.get(item.slot, []) + skipped_of.get(f, []),
        )
    return [x for x in out if x is not None]


def _outside(
    d: str, defs: list[str], points: F64, point_feat: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """:func:`outside_bounds` for the points of the features in CRS ``d``."""
    sel = np.asarray(defs)[point_feat] == d
    out = np.zeros(len(points), dtype=bool)
    out[sel] = outside_bounds(d, points[sel])
    return out


def _untransformable(
    bad_point: npt.NDArray[np.bool_],
    pts_per_poly: npt.NDArray[np.int64],
    pfeat: npt.NDArray[np.int64],
    pend: list[_Pending],
) -> dict[int, set[int]]:
    """Polygons with a point that cannot be placed: slot -> polygon indices."""
    poly_of_point = np.repeat(np.arange(len(pts_per_poly)), pts_per_poly)
    bad_polys = np.unique(poly_of_point[bad_point])
    poly_base = np.zeros(len(pend) + 1, np.int64)
    np.cumsum(np.bincount(pfeat, minlength=len(pend)), out=poly_base[1:])
    drop: dict[int, set[int]] = {}
    for p in bad_polys.tolist():
        f = int(pfeat[p])
        drop.setdefault(pend[f].slot, set()).add(p - int(poly_base[f]))
    return drop


def _reproject(definition: str, points: F64) -> tuple[F64, F64]:
    """(lon/lat/h, ECEF) of source points, each distinct point transformed once.

    Rings of a solid share their corners (each about three times), and pyproj costs
    far more per point than finding the distinct ones; equal inputs give equal
    outputs, so the result is exactly that of transforming them all.
    """
    rows = np.ascontiguousarray(points, np.float64)
    uniq, inverse = _distinct_rows(rows)
    if 4 * len(uniq) > 3 * len(rows):  # few repeats: not worth the gather
        geo = to_geodetic(definition, rows, check=False)
        return geo, geodetic_to_ecef(geo)
    geo_u = to_geodetic(definition, uniq, check=False)
    return geo_u[inverse], geodetic_to_ecef(geo_u)[inverse]


_K1, _K2, _SHIFT = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(29)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    out: npt.NDArray[np.uint64] = (x ^ (x >> _SHIFT)) * _K2
    return out


def _distinct_rows(rows: F64) -> tuple[F64, npt.NDArray[np.int64]]:
    """Distinct rows of (n, 3) float64 and, per row, its index among them.

    Sorts a 64-bit hash of each row's bits (much cheaper than sorting the rows), then
    checks that the rows rebuilt from the distinct ones equal the input; on a hash
    collision it sorts the rows' bytes instead.
    """
    if not len(rows):
        return rows, np.zeros(0, np.int64)
    bits = rows.view(np.uint64)
    h = _mix(_mix(_mix(bits[:, 0] * _K1) + bits[:, 1]) + bits[:, 2])
    order = np.argsort(h, kind="stable")
    hs = h[order]
    first = np.zeros(len(hs), dtype=bool)
    first[0] = True
    np.not_equal(hs[1:], hs[:-1], out=first[1:])
    inverse = np.zeros(len(rows), np.int64)
    inverse[order] = np.cumsum(first) - 1
    uniq = rows[order[first]]
    if np.array_equal(uniq[inverse], rows):
        return uniq, inverse
    keys = rows.view(np.dtype((np.void, 24))).ravel()
    u, inv = np.unique(keys, return_inverse=True)
    return u.view(np.float64).reshape(-1, 3), inv.ravel().astype(np.int64)


_FAN = np.stack((np.zeros(14, np.int64), np.arange(1, 15), np.arange(2, 16)), axis=1)
_QUAD = np.array([[0, 1, 2], [0, 2, 3]])
_FAN32 = _FAN.astype(np.uint32)
#: the two triangles of wall quad k (vertices 16 + 4k ..), for k = 0 .. 15
_QUADS32 = (16 + 4 * np.arange(16)[:, None, None] + _QUAD).reshape(-1, 3).astype(np.uint32)
_TRIS32 = np.concatenate((_FAN32, _QUADS32))
_CIRCLE = (0.5 / np.cos(np.pi / 16)) * np.stack(
    (np.cos(_ANGLES + np.pi / 16), np.sin(_ANGLES + np.pi / 16)), axis=1
)


def _prisms(support: F64, zmin: F64, zmax: F64, rots: F64) -> tuple[list[Coarse], F64]:
    """16-DOP prisms over footprints, vectorised over features (local ENU, metres).

    Parameters
    ----------
    support : (f, 16) offsets of the supporting lines (directions every 22.5 degrees);
        consecutive supporting lines meet at the footprint's vertices.
    zmin, zmax : (f,) lowest and highest point of each feature (metres up).
    rots : (f, 3, 3) ECEF-to-ENU rotations; prisms are returned in ECEF axes.

    Returns
    -------
    (prisms, (f,) float64 footprint areas of the prisms in square metres)

    Notes
    -----
    Coincident vertices leave zero-length walls and zero-area top triangles, which are
    dropped; a footprint with no area becomes a 1 m wide 16-gon.
    """
    # the corner between supporting lines k and k + 1: _INV[k] @ (s_k, s_k+1)
    s0, s1 = support, support[:, _NEXT]
    verts = np.stack(
        (_INV[:, 0, 0] * s0 + _INV[:, 0, 1] * s1, _INV[:, 1, 0] * s0 + _INV[:, 1, 1] * s1), axis=2
    )
    nxt = verts[:, _NEXT]
    area = 0.5 * (verts[:, :, 0] * nxt[:, :, 1] - nxt[:, :, 0] * verts[:, :, 1]).sum(axis=1)
    flat = ~(area > 1e-4)
    if flat.any():
        centre = verts[flat].mean(axis=1)
        verts[flat] = centre[:, None, :] + _CIRCLE
        nxt = verts[:, _NEXT]
    zmax = np.where(zmax - zmin < 1e-3, zmin + 0.5, zmax)
    nf = len(verts)
    top = np.zeros((nf, 16, 3))
    top[:, :, :2] = verts
    top[:, :, 2] = zmax[:, None]
    walls = np.zeros((nf, 16, 4, 3))
    walls[:, :, 0, :2] = verts
    walls[:, :, 1, :2] = nxt
    walls[:, :, 2, :2] = nxt
    walls[:, :, 3, :2] = verts
    walls[:, :, :2, 2] = zmin[:, None, None]
    walls[:, :, 2:, 2] = zmax[:, None, None]
    edge = nxt - verts
    elen = np.sqrt((edge**2).sum(axis=2))
    wall_ok = elen > 1e-3
    wn = np.zeros((nf, 16, 3))
    wn[:, :, 0] = edge[:, :, 1] / np.maximum(elen, 1e-12)
    wn[:, :, 1] = -edge[:, :, 0] / np.maximum(elen, 1e-12)
    a = verts[:, _FAN[:, 1]] - verts[:, :1]
    b = verts[:, _FAN[:, 2]] - verts[:, :1]
    fan_ok = (a[:, :, 0] * b[:, :, 1] - a[:, :, 1] * b[:, :, 0]) > 1e-6
    # row vectors times the ENU-to-ECEF rotation (batched matmul is far faster than einsum)
    top_e = np.matmul(top, rots)
    walls_e = np.matmul(walls.reshape(nf, 64, 3), rots).reshape(nf, 16, 4, 3)
    up_e = rots[:, 2, :]
    wn_e = np.matmul(wn, rots)
    # every prism's 16 top and 64 wall vertices; each keeps its top and its walls of
    # non-zero length, in order
    pos_all = np.concatenate((top_e, walls_e.reshape(nf, 64, 3)), axis=1).astype(np.float32)
    nrm_all = np.concatenate(
        (np.broadcast_to(up_e[:, None, :], (nf, 16, 3)), np.repeat(wn_e, 4, axis=1)), axis=1
    ).astype(np.float32)
    vmask = np.concatenate((np.ones((nf, 16), dtype=bool), np.repeat(wall_ok, 4, axis=1)), axis=1)
    nwalls = wall_ok.sum(axis=1)
    # triangles: the top's fan triangles of non-zero area, then two per kept wall (the
    # kept walls' vertices are renumbered consecutively, so wall k uses slots < nwalls)
    tmask = np.concatenate((fan_ok, np.arange(32) < 2 * nwalls[:, None]), axis=1)
    tris = np.broadcast_to(_TRIS32, (nf, 46, 3))[tmask]
    pos = pos_all[vmask]
    nrm = nrm_all[vmask]
    vend = np.cumsum(vmask.sum(axis=1)).tolist()
    tend = np.cumsum(tmask.sum(axis=1)).tolist()
    out = []
    v0 = t0 = 0
    for v1, t1 in zip(vend, tend, strict=True):
        out.append(Coarse(pos[v0:v1], nrm[v0:v1], tris[t0:t1]))
        v0, t0 = v1, t1
    return out, np.where(flat, 0.0, area)
