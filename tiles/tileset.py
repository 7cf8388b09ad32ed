"""The tile tree of a 3D Tiles tileset, its quadtree splitter and its tileset.json.

Every tileset greentwin writes (city models, vegetation) is a tree of :class:`Tile`.
A tile knows the box of its own content in the root frame (east, north, up metres at
the tileset's origin), its geometric error, its content uri, its children and,
optionally, its refinement (``ADD`` or ``REPLACE``; unset tiles inherit their
parent's). Only the root carries a transform (root frame -> ECEF), so every box of
the tree lives in one frame and a parent's box can be the union of its children's.

:func:`tileset_json` turns the tree into the tileset document (3D Tiles 1.1): each
tile's bounding box holds its own content and every child's bounding box, and
geometric errors must not grow from a parent to its children.

:func:`split_quadtree` is the spatial index of both kinds of tileset: a quadtree over
2D points (feature centres, stem positions), split while the caller's rule says a
cell holds too much. What a tile holds and what its error is stays with the caller:
the city converter puts full features into the leaves and coarse prisms into the
parents (:mod:`greentwin.tiles.convert`), the vegetation tiler puts each tree into one
tile per level of detail (:mod:`greentwin.tiles.vegetation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Refine", "Tile", "split_quadtree", "tileset_json"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Refine = Literal["ADD", "REPLACE"]

#: A quadtree cell under this half side (m) whose points all fall into one quadrant
#: (identical points) is not split further.
MIN_CELL_HALF_M = 1e-3
#: A child's bounding box may stick out of its parent's by this much (m, rounding).
_CONTAIN_TOLERANCE_M = 1e-6


def _empty_items() -> I64:
    return np.zeros(0, np.int64)


@dataclass(slots=True, eq=False)
class Tile:
    """One tile of a tileset.

    Attributes
    ----------
    address : the tile's name within the tree (quadrant digits from the root for
        quadtree cells, "" for the root); callers name content files after it.
    items : indices of every item (feature, tree) under this tile.
    children : child tiles.
    lo, hi : (3,) float64 metres, root-frame box of the tile's own content (empty,
        ``+inf`` / ``-inf``, for a tile without content); the written bounding box
        also holds every child's.
    error : geometric error in metres.
    content : content uri relative to the tileset, or None.
    refine : ``"ADD"``, ``"REPLACE"`` or None (inherited from the parent).
    transform : (4, 4) float64 row-major root frame -> ECEF matrix; the root's only.
    level : the caller's level of detail of the content, or None.
    centre, half : (2,) float64 centre and half side (m) of the quadtree cell, for
        tiles made by :func:`split_quadtree` (else None and 0).
    """

    address: str = ""
    items: I64 = field(default_factory=_empty_items)
    children: list[Tile] = field(default_factory=list)
    lo: F64 = field(default_factory=lambda: np.full(3, np.inf))
    hi: F64 = field(default_factory=lambda: np.full(3, -np.inf))
    error: float = 0.0
    content: str | None = None
    refine: Refine | None = None
    transform: F64 | None = None
    level: int | None = None
    centre: F64 | None = None
    half: float = 0.0

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def walk(self) -> list[Tile]:
        """This tile and all below it, parents before children."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


def split_quadtree(
    points: F64,
    split: Callable[[I64], bool],
    *,
    max_depth: int,
    items: I64 | None = None,
    centre: F64 | None = None,
    half: float | None = None,
) -> Tile:
    """A quadtree over 2D points.

    A cell holding more than one point is cut into quadrants (addresses: the parent's
    plus ``0`` south-west, ``1`` south-east, ``2`` north-west, ``3`` north-east; a
    point on a dividing line goes east / north; empty quadrants are left out) while
    ``split(items)`` says so and it is less than ``max_depth`` levels deep. A cell
    under :data:`MIN_CELL_HALF_M` whose points all fall into one quadrant (identical
    points) stays a leaf. Every tile gets ``address``, ``items`` (the indices under
    it), ``children``, ``centre`` and ``half``; nothing else is set.

    Parameters
    ----------
    points : (n, 2) float64 metres, east and north in the root frame.
    split : ``split(items)`` is True when a cell holding ``items`` must be cut.
    max_depth : the deepest level (the root is level 0).
    items : indices into ``points`` to index (default: all).
    centre, half : the root cell (default: the points' bounding square, at least
        2 m wide, widened by 0.01 % so that no point lies on its edge).
    """
    idx = np.arange(len(points), dtype=np.int64) if items is None else items
    pts = points[idx]
    if centre is None or half is None:
        lo = pts.min(axis=0) if len(pts) else np.zeros(2)
        hi = pts.max(axis=0) if len(pts) else np.zeros(2)
        half = max(float((hi - lo).max()) / 2, 1.0) * 1.0001
        centre = (lo + hi) / 2
    return _split(points, split, idx, centre, half, "", max_depth)


def _split(
    points: F64,
    split: Callable[[I64], bool],
    idx: I64,
    centre: F64,
    half: float,
    address: str,
    max_depth: int,
) -> Tile:
    if len(idx) <= 1 or len(address) >= max_depth or not split(idx):
        return Tile(address, idx, centre=centre, half=half)
    p = points[idx]
    east = p[:, 0] >= centre[0]
    north = p[:, 1] >= centre[1]
    node = Tile(address, idx, centre=centre, half=half)
    q = half / 2
    for k, (e, n) in enumerate(((False, False), (True, False), (False, True), (True, True))):
        sel = idx[(east == e) & (north == n)]
        if len(sel) == 0:
            continue
        sub = centre + np.array([q if e else -q, q if n else -q])
        node.children.append(_split(points, split, sel, sub, q, address + str(k), max_depth))
    if len(node.children) == 1 and half < MIN_CELL_HALF_M:  # identical points
        return Tile(address, idx, centre=centre, half=half)
    return node


def _box(lo: F64, hi: F64, margin: float, min_half: float) -> list[float]:
    """An axis-aligned 3D Tiles box around ``lo``..``hi`` with ``margin`` to spare."""
    c = (lo + hi) / 2
    h = np.maximum((hi - lo) / 2 + margin, min_half)
    return [
        float(c[0]), float(c[1]), float(c[2]),
        float(h[0]), 0.0, 0.0,
        0.0, float(h[1]), 0.0,
        0.0, 0.0, float(h[2]),
    ]  # fmt: skip


def _extent(box: list[float]) -> tuple[F64, F64]:
    c = np.array(box[0:3])
    h = np.array([box[3], box[7], box[11]])
    return c - h, c + h


def tileset_json(
    root: Tile,
    *,
    generator: str = "greentwin",
    geometric_error: float | None = None,
    tileset_version: str | None = None,
    extras: dict[str, Any] | None = None,
    margin: float = 0.001,
    min_half: float = 0.01,
) -> dict[str, Any]:
    """The tileset.json document (3D Tiles 1.1) of a tile tree.

    Parameters
    ----------
    root : the tree, with boxes, errors and content uris set; ``root.transform``
        places the root frame on the globe (no other tile may have a transform).
    generator : ``asset.generator``.
    geometric_error : the tileset's geometric error (default: the larger of twice the
        root's, the diagonal of the root box and 1 m).
    tileset_version : ``asset.tilesetVersion``, if any.
    extras : the tileset's ``extras``, if any.
    margin : metres added to every half axis of every box (content written as
        float32 against float64 boxes).
    min_half : the least half axis (m) of a box (flat or single-point content).

    Raises
    ------
    ValueError
        A tile without content box and children, a transform below the root, or a
        child with a larger geometric error than its parent.
    """

    def emit(t: Tile, is_root: bool) -> tuple[dict[str, Any], F64, F64, F64, F64]:
        """(tile json, written box lo / hi, content union lo / hi) of ``t``."""
        if t.transform is not None and not is_root:
            raise ValueError(f"tile {t.address!r}: only the root may have a transform")
        kids = [emit(c, False) for c in t.children]
        lo, hi = t.lo, t.hi
        for c, (_, _, _, clo, chi) in zip(t.children, kids, strict=True):
            if c.error > t.error:
                raise ValueError(
                    f"tile {c.address!r}: geometric error {c.error} above its parent's {t.error}"
                )
            lo = np.minimum(lo, clo)
            hi = np.maximum(hi, chi)
        if not np.all(lo <= hi):
            raise ValueError(f"tile {t.address!r} has neither a content box nor children")
        box = _box(lo, hi, margin, min_half)
        wlo, whi = _extent(box)
        out_lo = np.min([wlo, *(k[1] for k in kids)], axis=0)
        out_hi = np.max([whi, *(k[2] for k in kids)], axis=0)
        tol = _CONTAIN_TOLERANCE_M
        if np.any(out_lo < wlo - tol) or np.any(out_hi > whi + tol):
            # a child's least-size box sticks out: this box becomes the union of both
            wlo, whi = out_lo, out_hi
            box = _box(wlo, whi, 0.0, 0.0)
        tile: dict[str, Any] = {"boundingVolume": {"box": box}, "geometricError": t.error}
        if t.content:
            tile["content"] = {"uri": t.content}
        if kids:
            tile["children"] = [k[0] for k in kids]
        if t.refine is not None:
            tile["refine"] = t.refine
        if t.transform is not None:
            tile["transform"] = [float(x) for x in t.transform.T.reshape(-1)]
        return tile, wlo, whi, lo, hi

    root_tile, _, _, lo, hi = emit(root, True)
    if geometric_error is None:
        geometric_error = max(2.0 * root.error, float(np.linalg.norm(hi - lo)), 1.0)
    asset: dict[str, Any] = {"version": "1.1", "generator": generator}
    if tileset_version is not None:
        asset["tilesetVersion"] = tileset_version
    doc: dict[str, Any] = {"asset": asset, "geometricError": geometric_error}
    if extras is not None:
        doc["extras"] = extras
    doc["root"] = root_tile
    return doc
