"""GML geometry parsing: rings, polygons, surfaces, solids, implicit geometry.

Works on lxml elements of one top-level city object at a time. All state of that
object (ids for ``xlink:href``, ring ids for textures, problems found) lives in a
:class:`GeometryContext`; the reader resolves references when the object is complete,
because CityGML writes a ``lod2Solid`` that refers forward to boundary-surface polygons.

Rules (see the feature model): rings are returned open (the closing point dropped),
as (n, 3) float64 in the source CRS with the axis order normalised; 2D coordinates
get z = 0. A ring that is unclosed, has fewer than 3 distinct points, or holds a
non-finite or non-numeric value rejects its polygon, and the context records why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import isfinite
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from greentwin.citygml.model import ImplicitGeometry, Polygon
from greentwin.citygml.namespaces import XLINK_HREF, split_tag

__all__ = [
    "GeometryContext",
    "PendingRef",
    "finish_rings",
    "parse_coordinates",
    "parse_geometry",
    "parse_implicit",
    "parse_point",
]

F64 = npt.NDArray[np.float64]
Element = Any  # lxml.etree._Element (lxml ships no complete stubs)

POLYGON_TAGS: Final = frozenset({"Polygon", "PolygonPatch", "Triangle", "Rectangle"})
AGGREGATE_TAGS: Final = frozenset(
    {
        "MultiSurface",
        "CompositeSurface",
        "Shell",
        "Solid",
        "MultiSolid",
        "CompositeSolid",
        "MultiGeometry",
        "Surface",
        "TriangulatedSurface",
        "Tin",
        "PolyhedralSurface",
        "OrientableSurface",
        "GeometricComplex",
        "CompositeGeometry",
    }
)
MEMBER_PROPS: Final = frozenset(
    {
        "surfaceMember",
        "surfaceMembers",
        "exterior",
        "interior",
        "geometryMember",
        "geometryMembers",
        "solidMember",
        "solidMembers",
        "baseSurface",
        "patches",
        "trianglePatches",
        "polygonPatches",
        "element",
    }
)
_IDENTITY4: Final = np.eye(4, dtype=np.float64)


@dataclass(slots=True)
class PendingRef:
    """An ``xlink:href`` to a surface, resolved when the city object is complete."""

    target: str
    surface_type: str
    surface_id: str | None
    out: list[Polygon]
    line: int


@dataclass(slots=True)
class GeometryContext:
    """Geometry state of one top-level city object.

    Attributes
    ----------
    id_attr : Clark name of ``gml:id`` for the document's GML version.
    swap : swap the first two axes (latitude-first geographic CRS).
    dim : default srsDimension when a coordinate list does not declare one.
    polygons : polygon gml:id -> Polygon.
    aggregates : gml:id of a MultiSurface/Solid/... -> its polygons.
    ring_ids : polygon gml:id -> gml:ids of its rings, exterior first (only polygons
        whose rings have ids; textures address rings by id).
    refs : unresolved surface references, in document order.
    problems : (object id, line, reason) for every polygon left out.
    owner : gml:id of the city object being parsed (for reports).
    tokens : coordinate strings of rings whose numbers are not parsed yet (open rings,
        3D, in document order); :func:`finish_rings` parses them in one call.
    pending : (polygon, its list, owner, [(ring slot, first token, end token, ring
        element)]) of polygons with such rings; slot -1 is the exterior.
    """

    id_attr: str
    swap: bool = False
    dim: int = 3
    polygons: dict[str, Polygon] = field(default_factory=dict)
    aggregates: dict[str, list[Polygon]] = field(default_factory=dict)
    ring_ids: dict[str, list[str | None]] = field(default_factory=dict)
    refs: list[PendingRef] = field(default_factory=list)
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    owner: str = ""
    tokens: list[str] = field(default_factory=list)
    pending: list[tuple[Polygon, list[Polygon], str, list[tuple[int, int, int, Element]]]] = field(
        default_factory=list
    )


def parse_coordinates(text: str | None, dim: int, *, ring: bool, swap: bool = False) -> F64 | str:
    """Parse a whitespace-separated coordinate list.

    Parameters
    ----------
    text : the ``posList`` text (x y z x y z ...).
    dim : coordinates per point, 2 or 3.
    ring : a closed ring: check closure and >= 3 distinct points, drop the closing point.
    swap : swap the first two axes (latitude-first CRS).

    Returns
    -------
    (n, 3) float64 array, or a string saying why the list was rejected.

    Notes
    -----
    One ``str.split`` and one ``numpy.array`` call per list; the closure and
    distinct-point checks compare the text tokens, so they cost no float parsing.
    """
    if not text:
        return "empty coordinate list"
    toks = text.split()
    n = len(toks)
    if dim != 3 and dim != 2:
        return f"unsupported srsDimension {dim}"
    if n == 0 or n % dim:
        return f"{n} coordinate values are not a multiple of srsDimension {dim}"
    if ring:
        if n < 4 * dim:
            return (
                f"ring has {n // dim} points; at least 3 distinct points and the closing "
                "point are needed"
            )
        if toks[:dim] != toks[n - dim :]:
            try:
                closed = [float(t) for t in toks[:dim]] == [float(t) for t in toks[n - dim :]]
            except ValueError:
                return "non-numeric coordinate value"
            if not closed:
                return "ring is not closed (its last point differs from its first)"
        del toks[n - dim :]
        p0, p1, p2 = toks[:dim], toks[dim : 2 * dim], toks[2 * dim : 3 * dim]
        if p0 == p1 or p1 == p2 or p0 == p2:  # else there are 3 distinct points already
            it = iter(toks)
            distinct = len(set(zip(it, it, it))) if dim == 3 else len(set(zip(it, it)))  # noqa: B905
            if distinct < 3:
                return f"ring has only {distinct} distinct points"
    try:
        flat = np.array(toks, dtype=np.float64)
    except ValueError:
        return "non-numeric coordinate value"
    if not isfinite(flat.dot(flat)) and not np.isfinite(flat).all():
        return "non-finite coordinate (NaN or infinity)"
    if dim == 3:
        pts = flat.reshape(-1, 3)
    else:
        pts = np.zeros((flat.size // 2, 3))
        pts[:, :2] = flat.reshape(-1, 2)
    if swap:
        pts = pts[:, (1, 0, 2)]
    return pts


# Kinds of elements by full (Clark) tag, filled on first sight of each tag: one dict
# look-up per element instead of splitting names.
_G_OTHER, _G_POLYGON, _G_AGGREGATE, _G_ORIENTABLE = 0, 1, 2, 3
_R_OTHER, _R_EXTERIOR, _R_INTERIOR = 0, 1, 2
_C_OTHER, _C_POSLIST, _C_POS, _C_COORDINATES, _C_POINTREF = 0, 1, 2, 3, 4
_GEOM_KIND: dict[str, int] = {}
_MEMBER_PROP: dict[str, bool] = {}
_RING_PROP: dict[str, int] = {}
_RING_CHILD: dict[str, int] = {}
_LINEAR_RING: dict[str, bool] = {}


def _geom_kind(tag: str) -> int:
    loc = split_tag(tag)[1]
    kind = _G_POLYGON if loc in POLYGON_TAGS else _G_AGGREGATE if loc in AGGREGATE_TAGS else 0
    if loc == "OrientableSurface":
        kind = _G_ORIENTABLE
    _GEOM_KIND[tag] = kind
    return kind


def _member_prop(tag: str) -> bool:
    hit = split_tag(tag)[1] in MEMBER_PROPS
    _MEMBER_PROP[tag] = hit
    return hit


def _ring_prop(tag: str) -> int:
    loc = split_tag(tag)[1]
    kind = (
        _R_EXTERIOR
        if loc in ("exterior", "outerBoundaryIs")
        else _R_INTERIOR
        if loc in ("interior", "innerBoundaryIs")
        else _R_OTHER
    )
    _RING_PROP[tag] = kind
    return kind


def _ring_child(tag: str) -> int:
    loc = split_tag(tag)[1]
    kind = {
        "posList": _C_POSLIST,
        "pos": _C_POS,
        "coordinates": _C_COORDINATES,
        "pointProperty": _C_POINTREF,
        "pointRep": _C_POINTREF,
    }.get(loc, _C_OTHER)
    _RING_CHILD[tag] = kind
    return kind


def _linear_ring(tag: str) -> bool:
    hit = split_tag(tag)[1] == "LinearRing"
    _LINEAR_RING[tag] = hit
    return hit


def _ring_text(ring: Element, dim: int) -> tuple[str | None, int] | str:
    """Coordinate text and dimension of a LinearRing (posList, pos* or coordinates)."""
    parts: list[str] = []
    for child in ring:
        tag = child.tag
        kind = _RING_CHILD.get(tag)
        if kind is None:
            kind = _ring_child(tag)
        if kind == _C_POSLIST:
            d = child.get("srsDimension")
            return child.text, int(d) if d else dim
        if kind == _C_POS:
            d = child.get("srsDimension")
            if d:
                dim = int(d)
            parts.append(child.text or "")
        elif kind == _C_COORDINATES:
            text = child.text or ""
            cs = child.get("cs", ",")
            ts = child.get("ts")
            tuples = [t for t in (text.split(ts) if ts else text.split()) if t]
            if not tuples:
                return "empty coordinates"
            return " ".join(t.replace(cs, " ") for t in tuples), len(tuples[0].split(cs))
        elif kind == _C_POINTREF:
            return "points given by reference (pointProperty) are not supported"
    if parts:
        return " ".join(parts), dim
    return None, dim


def _ring_points(ctx: GeometryContext, ring: Element) -> F64 | str | tuple[int, int]:
    """Open ring points of a LinearRing, or why it was rejected, or (first, end) of
    its coordinate strings appended to ``ctx.tokens`` (parsed by :func:`finish_rings`)."""
    first = ring[0] if len(ring) == 1 else None
    if first is not None and _RING_CHILD.get(first.tag) == _C_POSLIST:
        d = first.get("srsDimension")  # the common case: one posList
        text = first.text
        dim = int(d) if d else ctx.dim
        if dim == 3 and text:
            # fast path: a ring closed token for token, three distinct leading points
            toks = text.split()
            n = len(toks)
            if (
                n >= 12
                and n % 3 == 0
                and toks[0] == toks[n - 3]
                and toks[1] == toks[n - 2]
                and toks[2] == toks[n - 1]
            ):
                del toks[n - 3 :]
                p0, p1, p2 = toks[0:3], toks[3:6], toks[6:9]
                if p0 != p1 and p1 != p2 and p0 != p2:
                    at = len(ctx.tokens)
                    ctx.tokens += toks
                    return at, at + n - 3
        return parse_coordinates(text, dim, ring=True, swap=ctx.swap)
    got = _ring_text(ring, ctx.dim)
    if isinstance(got, str):
        return got
    return parse_coordinates(got[0], got[1], ring=True, swap=ctx.swap)


def _parse_polygon(
    ctx: GeometryContext, el: Element, stype: str, sid: str | None, out: list[Polygon]
) -> None:
    """Append the polygon ``el`` to ``out`` (or record why it was left out)."""
    id_attr = ctx.id_attr
    pid = el.get(id_attr)
    exterior: F64 | None = None
    interiors: list[F64] = []
    ring_ids: list[str | None] = []
    ext_id: str | None = None
    later: list[tuple[int, int, int, Element]] | None = None
    # one child (the exterior) is the rule: a tuple is cheaper than an lxml iterator
    for prop in (el[0],) if len(el) == 1 else el:
        rkind = _RING_PROP.get(prop.tag)
        if rkind is None:
            rkind = _ring_prop(prop.tag)
        if rkind == _R_OTHER:
            continue
        if not len(prop):
            continue
        ring = prop[0]
        is_ring = _LINEAR_RING.get(ring.tag)
        if is_ring is None:
            is_ring = _linear_ring(ring.tag)
        if not is_ring:
            ctx.problems.append(
                (ctx.owner, ring.sourceline or 0, f"polygon {pid or '(no id)'}: unsupported ring")
            )
            return
        arr = _ring_points(ctx, ring)
        if isinstance(arr, str):
            ctx.problems.append(
                (ctx.owner, ring.sourceline or 0, f"polygon {pid or '(no id)'}: {arr}")
            )
            return
        if rkind == _R_EXTERIOR and later:  # a later exterior replaces an earlier one
            later = [r for r in later if r[0] >= 0]
        if isinstance(arr, tuple):
            slot = -1 if rkind == _R_EXTERIOR else len(interiors)
            if later is None:
                later = []
            later.append((slot, arr[0], arr[1], ring))
            arr = _NOT_YET
        if rkind == _R_EXTERIOR:
            exterior = arr
            ext_id = ring.get(id_attr)
        else:
            interiors.append(arr)
            ring_ids.append(ring.get(id_attr))
    if exterior is None:
        ctx.problems.append(
            (ctx.owner, el.sourceline or 0, f"polygon {pid or '(no id)'}: no exterior ring")
        )
        return
    poly = Polygon(exterior, interiors, pid, stype, sid)
    if later:
        ctx.pending.append((poly, out, ctx.owner, later))
    if pid:
        ctx.polygons[pid] = poly
        if ext_id is not None or ring_ids:
            ctx.ring_ids[pid] = [ext_id, *ring_ids]
    out.append(poly)


#: Placeholder of a ring whose coordinates :func:`finish_rings` fills in.
_NOT_YET: Final[F64] = np.zeros((0, 3))


def finish_rings(ctx: GeometryContext) -> None:
    """Parse the coordinates of every pending ring in one call and fill them in.

    A polygon with a non-numeric or non-finite value is taken out of every list it was
    put in (its LoD list, aggregates, ids), and the reason is recorded, as if it had
    been rejected while parsing.
    """
    pending = ctx.pending
    if not pending:
        return
    tokens = ctx.tokens
    flat: F64 | None
    try:
        flat = np.array(tokens, dtype=np.float64)
    except ValueError:
        flat = None
    # finite values whose squares overflow are rare: then check them exactly
    if flat is not None and (_finite_square(flat) or bool(np.isfinite(flat).all())):
        pts = flat.reshape(-1, 3)
        if ctx.swap:
            pts = pts[:, (1, 0, 2)]
        for poly, _out, _owner, rings in pending:
            for slot, a, z, _ring in rings:
                if slot < 0:
                    poly.exterior = pts[a // 3 : z // 3]
                else:
                    poly.interiors[slot] = pts[a // 3 : z // 3]
    else:
        bad: set[int] = set()
        for poly, _out, owner, rings in pending:
            for slot, a, z, ring in rings:
                got = _parse_open_ring(tokens[a:z], ctx.swap)
                if isinstance(got, str):
                    ctx.problems.append(
                        (owner, ring.sourceline or 0, f"polygon {poly.id or '(no id)'}: {got}")
                    )
                    bad.add(id(poly))
                    break
                if slot < 0:
                    poly.exterior = got
                else:
                    poly.interiors[slot] = got
        if bad:
            _drop(ctx, bad, {id(out): out for _p, out, _o, _r in pending})
    pending.clear()
    tokens.clear()


def _parse_open_ring(tokens: list[str], swap: bool) -> F64 | str:
    """(n, 3) points of 3D coordinate strings, or why they are not numbers."""
    try:
        flat = np.array(tokens, dtype=np.float64)
    except ValueError:
        return "non-numeric coordinate value"
    if not np.isfinite(flat).all():
        return "non-finite coordinate (NaN or infinity)"
    pts = flat.reshape(-1, 3)
    return pts[:, (1, 0, 2)] if swap else pts


def _drop(ctx: GeometryContext, bad: set[int], outs: dict[int, list[Polygon]]) -> None:
    """Take the polygons ``bad`` (by ``id``) out of their lists and of ``ctx``."""
    for out in outs.values():
        out[:] = [p for p in out if id(p) not in bad]
    for gid, polys in ctx.aggregates.items():
        if any(id(p) in bad for p in polys):
            ctx.aggregates[gid] = [p for p in polys if id(p) not in bad]
    for pid in [k for k, p in ctx.polygons.items() if id(p) in bad]:
        del ctx.polygons[pid]
        ctx.ring_ids.pop(pid, None)


def _reverse(poly: Polygon) -> None:
    poly.exterior = poly.exterior[::-1].copy()
    poly.interiors = [r[::-1].copy() for r in poly.interiors]


def parse_geometry(
    ctx: GeometryContext,
    el: Element,
    stype: str,
    sid: str | None,
    out: list[Polygon],
) -> None:
    """Append the polygons of a GML geometry element to ``out``.

    Parameters
    ----------
    ctx : the city object's geometry state (ids, references, problems).
    el : a geometry element (Polygon, MultiSurface, CompositeSurface, Solid, ...).
    stype : semantic surface class for the polygons ("" when none).
    sid : gml:id of the enclosing boundary surface, if any.
    out : the LoD's polygon list.

    Notes
    -----
    ``xlink:href`` members are queued in ``ctx.refs`` and resolved by the reader.
    Curves and points are ignored.
    """
    tag = el.tag
    kind = _GEOM_KIND.get(tag)
    if kind is None:
        kind = _geom_kind(tag)
    if kind == _G_POLYGON:
        _parse_polygon(ctx, el, stype, sid, out)
        return
    if kind < _G_AGGREGATE:
        return
    start = len(out)
    for prop in (el[0],) if len(el) == 1 else el:
        member = _MEMBER_PROP.get(prop.tag)
        if member is None:
            member = _member_prop(prop.tag)
        if not member:
            continue
        href = prop.get(XLINK_HREF)
        if href is not None:
            ctx.refs.append(PendingRef(href, stype, sid, out, prop.sourceline or 0))
            continue
        if len(prop) == 1:  # the rule: an index is cheaper than an lxml iterator
            child = prop[0]
            if _GEOM_KIND.get(child.tag) == _G_POLYGON:
                _parse_polygon(ctx, child, stype, sid, out)
            else:
                parse_geometry(ctx, child, stype, sid, out)
            continue
        for child in prop:
            if _GEOM_KIND.get(child.tag) == _G_POLYGON:
                _parse_polygon(ctx, child, stype, sid, out)
            else:
                parse_geometry(ctx, child, stype, sid, out)
    if kind == _G_ORIENTABLE and el.get("orientation") == "-":
        finish_rings(ctx)  # reversal needs the points
        for poly in out[start:]:
            _reverse(poly)
    gid = el.get(ctx.id_attr)
    if gid:
        ctx.aggregates[gid] = out[start:]


def parse_point(el: Element, dim: int, swap: bool) -> F64 | str:
    """(3,) float64 of a ``gml:Point`` (pos or coordinates), or why it failed."""
    for child in el:
        loc = split_tag(child.tag)[1]
        if loc == "pos":
            d = child.get("srsDimension")
            text = child.text or ""
            ndim = int(d) if d else (2 if len(text.split()) == 2 else dim)
            arr = parse_coordinates(text, ndim, ring=False, swap=swap)
        elif loc == "coordinates":
            text = (child.text or "").replace(child.get("cs", ","), " ")
            arr = parse_coordinates(text, len(text.split()), ring=False, swap=swap)
        else:
            continue
        if isinstance(arr, str):
            return arr
        if arr.shape[0] != 1:
            return f"a point needs one position, got {arr.shape[0]}"
        point: F64 = arr[0].copy()
        return point
    return "point has no position"


def _finite_square(flat: F64) -> bool:
    """Whether the sum of squares is finite (all values finite and not huge), quietly."""
    with np.errstate(over="ignore", invalid="ignore"):
        return isfinite(flat.dot(flat))


def parse_implicit(
    ctx: GeometryContext,
    el: Element,
    prototypes: dict[str, list[Polygon]],
) -> ImplicitGeometry | str:
    """Parse a ``core:ImplicitGeometry`` element.

    Parameters
    ----------
    ctx : the city object's geometry state (for the reference point's axis order).
    el : the ImplicitGeometry element.
    prototypes : gml:id -> prototype polygons seen earlier in the document; inline
        prototypes with an id are added to it (the caller bounds its size).

    Returns
    -------
    ImplicitGeometry (transformation (4, 4) row-major, reference point (3,)), or the
    reason it was rejected.
    """
    matrix = _IDENTITY4
    ref_point: F64 | None = None
    library: str | None = None
    mime: str | None = None
    prototype: list[Polygon] = []
    for child in el:
        loc = split_tag(child.tag)[1]
        if loc == "transformationMatrix":
            try:
                flat = np.array((child.text or "").split(), dtype=np.float64)
            except ValueError:
                return "transformationMatrix is not numeric"
            if flat.size != 16 or not np.isfinite(flat).all():
                return "transformationMatrix needs 16 finite numbers"
            matrix = flat.reshape(4, 4)
        elif loc == "referencePoint":
            for point in child:
                got = parse_point(point, ctx.dim, ctx.swap)
                if isinstance(got, str):
                    return f"referencePoint: {got}"
                ref_point = got
        elif loc == "libraryObject":
            library = (child.text or "").strip() or None
        elif loc == "mimeType":
            mime = (child.text or "").strip() or None
        elif loc in ("relativeGMLGeometry", "relativeGeometry"):
            href = child.get(XLINK_HREF)
            if href is not None:
                target = href[1:] if href.startswith("#") else href
                found = prototypes.get(target)
                if found is None:
                    return f"prototype geometry {href} not found (unknown reference)"
                prototype = found
                continue
            local = GeometryContext(ctx.id_attr, False, ctx.dim, owner=ctx.owner)
            for geom in child:
                parse_geometry(local, geom, "", None, prototype)
            finish_rings(local)
            for owner, line, why in local.problems:
                ctx.problems.append((owner, line, f"prototype {why}"))
            for gid, polys in local.aggregates.items():
                prototypes[gid] = polys
    if ref_point is None:
        return "implicit geometry without referencePoint"
    if matrix is _IDENTITY4:
        matrix = _IDENTITY4.copy()
    return ImplicitGeometry(matrix, ref_point, library, prototype, mime)
