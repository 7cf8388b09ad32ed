"""The spatial index of a tileset: a quadtree over feature centres, and tileset.json.

Leaves hold at most ``max_features`` features and ``max_bytes`` of mesh data (a
single feature bigger than that gets its own leaf). Every inner tile carries coarse
content (prisms of the largest features of its subtree, at most ``max_coarse``) and
refines with ``REPLACE``: a parent is a complete, simplified picture of its area, so
a whole city opens with a few small files. Geometric errors are 0 at leaves and
strictly increase towards the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Node", "build_quadtree", "geometric_errors", "tileset_json"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Safety limit on quadtree depth (a 20-level quadtree splits 1000 km into 1 m cells).
MAX_DEPTH = 20


@dataclass(slots=True)
class Node:
    """One tile of the quadtree.

    Attributes
    ----------
    address : quadrant digits from the root ("" is the root).
    features : indices of features whose full geometry this tile holds (leaves only).
    subtree : indices of every feature under this tile.
    children : child tiles.
    lo, hi : (3,) float64 metres, root ENU box of the content and all children.
    error : geometric error in metres.
    content : content uri relative to the tileset, or None.
    """

    address: str
    features: I64
    subtree: I64
    children: list[Node] = field(default_factory=list)
    lo: F64 = field(default_factory=lambda: np.full(3, np.inf))
    hi: F64 = field(default_factory=lambda: np.full(3, -np.inf))
    error: float = 0.0
    content: str | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def walk(self) -> list[Node]:
        """This tile and all below it, parents before children."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


def build_quadtree(
    centres: F64, sizes: npt.NDArray[np.int64], *, max_features: int, max_bytes: int
) -> Node:
    """Split features into a quadtree by their centres.

    Parameters
    ----------
    centres : (n, 2) float64 metres, feature centres in the root ENU frame.
    sizes : (n,) int64 bytes of mesh data per feature.
    max_features, max_bytes : leaf limits.
    """
    idx = np.arange(len(centres), dtype=np.int64)
    lo = centres.min(axis=0) if len(centres) else np.zeros(2)
    hi = centres.max(axis=0) if len(centres) else np.zeros(2)
    half = max(float((hi - lo).max()) / 2, 1.0) * 1.0001
    mid = (lo + hi) / 2
    return _split(centres, sizes, idx, mid, half, "", max_features, max_bytes)


def _split(
    centres: F64,
    sizes: npt.NDArray[np.int64],
    idx: I64,
    mid: F64,
    half: float,
    address: str,
    max_features: int,
    max_bytes: int,
) -> Node:
    small = len(idx) <= max_features and int(sizes[idx].sum()) <= max_bytes
    if small or len(idx) <= 1 or len(address) >= MAX_DEPTH:
        return Node(address, idx, idx)
    c = centres[idx]
    east = c[:, 0] >= mid[0]
    north = c[:, 1] >= mid[1]
    node = Node(address, np.zeros(0, np.int64), idx)
    q = half / 2
    for k, (e, n) in enumerate(((False, False), (True, False), (False, True), (True, True))):
        sel = idx[(east == e) & (north == n)]
        if len(sel) == 0:
            continue
        sub_mid = mid + np.array([q if e else -q, q if n else -q])
        node.children.append(
            _split(centres, sizes, sel, sub_mid, q, address + str(k), max_features, max_bytes)
        )
    if len(node.children) == 1 and half < 1e-3:  # identical centres: stop splitting
        return Node(address, idx, idx)
    return node


def geometric_errors(
    root: Node,
    detail_error: F64,
    radius: F64,
    coarse_of: dict[str, I64],
) -> None:
    """Set ``error`` on every tile (leaves 0, parents strictly larger than children).

    A parent's own error is the larger of the coarse prisms' deviation from the
    buildings they stand for (``detail_error``: roof height span, footprint
    approximation) and the size (diameter) of any feature left out of its coarse
    content; it is then raised to at least 1.5 times its largest child's error and
    at least 1 m, so errors strictly decrease towards the leaves.
    """

    def visit(node: Node) -> float:
        if node.is_leaf:
            node.error = 0.0
            return 0.0
        child_max = max(visit(c) for c in node.children)
        shown = coarse_of.get(node.address, np.zeros(0, np.int64))
        own = float(detail_error[shown].max()) if len(shown) else 0.0
        if len(shown) < len(node.subtree):
            dropped = np.setdiff1d(node.subtree, shown, assume_unique=True)
            if len(dropped):
                own = max(own, 2.0 * float(radius[dropped].max()))
        node.error = max(own, 1.5 * child_max, 1.0)
        return node.error

    visit(root)


def _box(lo: F64, hi: F64) -> list[float]:
    """An axis-aligned box with 1 mm to spare (float32 content, float64 box)."""
    c = (lo + hi) / 2
    h = np.maximum((hi - lo) / 2 + 0.001, 0.01)
    return [
        float(c[0]), float(c[1]), float(c[2]),
        float(h[0]), 0.0, 0.0,
        0.0, float(h[1]), 0.0,
        0.0, 0.0, float(h[2]),
    ]  # fmt: skip


def tileset_json(root: Node, transform: F64, *, generator: str = "greentwin") -> dict[str, Any]:
    """The tileset.json document (3D Tiles 1.1).

    Parameters
    ----------
    root : the quadtree with boxes, errors and content uris set.
    transform : (4, 4) float64 row-major root ENU -> ECEF matrix.
    """

    def tile(node: Node) -> dict[str, Any]:
        t: dict[str, Any] = {
            "boundingVolume": {"box": _box(node.lo, node.hi)},
            "geometricError": node.error,
        }
        if node.content:
            t["content"] = {"uri": node.content}
        if node.children:
            t["children"] = [tile(c) for c in node.children]
        return t

    root_tile = tile(root)
    root_tile["refine"] = "REPLACE"
    root_tile["transform"] = [float(x) for x in transform.T.reshape(-1)]
    diag = float(np.linalg.norm(root.hi - root.lo))
    return {
        "asset": {"version": "1.1", "generator": generator},
        "geometricError": max(2.0 * root.error, diag, 1.0),
        "root": root_tile,
    }
