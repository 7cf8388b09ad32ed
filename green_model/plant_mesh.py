"""Procedural plant meshes per species, level of detail and seasonal look.

Meshes are unit-scale: height 1 (metres once scaled), crown diameter
``species.shape["width"]``, stem base at the origin, axes z-up (east, north, up).
An instance is scaled by ``(d / width, d / width, h)`` for crown diameter ``d`` and
height ``h``. Geometry is generated from a random generator seeded by the species
key, so the same species always gives the same tree.

Structure
---------
- Bark: trunk and recursive branches as open tapered cylinders. Deciduous crowns
  split into scaffold limbs at the crown base (excurrent leader for lime, birch, ash
  and poplar); branch angle, droop (weeping birch) and crown width come from
  ``species.shape``. Conifers keep a straight stem with whorls of near-horizontal
  branches, conical (spruce) or with the crown high on the stem (pine).
- Foliage: LoD0 clustered leaf cards (double-sided quads) at branch tips; LoD1 leaf
  clumps (icosahedra) at branch tips; LoD2 a crown hull (ellipsoid, or stacked cone
  tiers for conifers); LoD3 (impostor) two crossed vertical kite/triangle silhouettes.

Triangle budgets (asserted when built, see :data:`TRIANGLE_BUDGET`): LoD0 <= 8000,
LoD1 <= 1500, LoD2 <= 300, impostor <= 4 (two crossed quads; a single camera-facing
quad needs a glTF extension, so the impostor is two crossed vertical quads).

Seasonal look (:class:`Look`): the foliage keeps a deterministic share of its leaf
cards or clumps equal to the leaf fraction (quantised to quarters) and takes the
state's colour; deciduous trees with no leaves get no foliage (bare branches).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from greentwin.core import GreenModelError
from greentwin.green_model.species import RGB, Species

__all__ = ["IMPOSTOR", "LODS", "TRIANGLE_BUDGET", "Look", "MeshPart", "PlantMesh", "plant_mesh"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

IMPOSTOR = 3
LODS: tuple[int, ...] = (0, 1, 2, IMPOSTOR)
TRIANGLE_BUDGET: dict[int, int] = {0: 8000, 1: 1500, 2: 300, IMPOSTOR: 4}


@dataclass(frozen=True, slots=True)
class Look:
    """The seasonal appearance a mesh is built for.

    Attributes
    ----------
    leaf_fraction : 0, 0.25, 0.5, 0.75 or 1 (quantised share of the foliage).
    colour : foliage colour, sRGB 0..1 quantised to 1/64.
    """

    leaf_fraction: float = 1.0
    colour: RGB = (0.22, 0.42, 0.13)

    @classmethod
    def of(cls, leaf_fraction: float, colour: RGB) -> Look:
        """Quantised look from a state's leaf fraction and colour."""
        f = round(min(max(leaf_fraction, 0.0), 1.0) * 4.0) / 4.0
        if 0.0 < leaf_fraction and f == 0.0:
            f = 0.25
        q = tuple(round(min(max(c, 0.0), 1.0) * 64.0) / 64.0 for c in colour)
        return cls(f, (q[0], q[1], q[2]))


@dataclass(frozen=True, slots=True)
class MeshPart:
    """Triangles of one material.

    Attributes
    ----------
    positions : (n, 3) float32, unit-scale metres, z-up.
    normals : (n, 3) float32 unit normals.
    indices : (m, 3) uint32 triangles (counter-clockwise seen from outside).
    """

    positions: F32
    normals: F32
    indices: npt.NDArray[np.uint32]

    @property
    def triangles(self) -> int:
        """Number of triangles."""
        return int(self.indices.shape[0])


@dataclass(frozen=True, slots=True)
class PlantMesh:
    """A plant mesh: bark and (optional) foliage with their colours."""

    species: str
    lod: int
    look: Look
    bark: MeshPart
    foliage: MeshPart | None
    bark_colour: RGB
    foliage_colour: RGB
    double_sided_foliage: bool

    @property
    def triangles(self) -> int:
        """Total triangles."""
        return self.bark.triangles + (self.foliage.triangles if self.foliage else 0)

    def bounds(self) -> tuple[F64, F64]:
        """(3,) min and max corner of all vertices."""
        parts = [self.bark.positions]
        if self.foliage is not None:
            parts.append(self.foliage.positions)
        allp = np.concatenate(parts).astype(np.float64)
        return allp.min(axis=0), allp.max(axis=0)


class _Acc:
    """Accumulates vertices and triangles."""

    def __init__(self) -> None:
        self.p: list[F64] = []
        self.n: list[F64] = []
        self.i: list[npt.NDArray[np.int64]] = []
        self.count = 0

    def add(self, p: F64, n: F64, tri: npt.NDArray[np.int64]) -> None:
        self.p.append(p)
        self.n.append(n)
        self.i.append(tri + self.count)
        self.count += p.shape[0]

    def triangles(self) -> int:
        return int(sum(t.shape[0] for t in self.i))

    def part(self) -> MeshPart:
        if not self.p:
            return MeshPart(
                np.zeros((0, 3), np.float32),
                np.zeros((0, 3), np.float32),
                np.zeros((0, 3), np.uint32),
            )
        n = np.concatenate(self.n)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return MeshPart(
            np.concatenate(self.p).astype(np.float32),
            n.astype(np.float32),
            np.concatenate(self.i).astype(np.uint32),
        )


def _frame(d: F64) -> tuple[F64, F64]:
    """Two unit vectors perpendicular to unit vector ``d``."""
    a = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, a)
    u /= np.linalg.norm(u)
    return u, np.cross(d, u)


def _tube(acc: _Acc, p0: F64, p1: F64, r0: float, r1: float, sides: int) -> None:
    """Open tapered cylinder from p0 (radius r0) to p1 (radius r1): 2*sides triangles."""
    d = p1 - p0
    length = float(np.linalg.norm(d))
    if length <= 1e-9:
        return
    d = d / length
    u, v = _frame(d)
    ang = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(ang)[:, None] * u[None, :] + np.sin(ang)[:, None] * v[None, :]
    pos = np.concatenate((p0 + r0 * ring, p1 + r1 * ring))
    nrm = np.concatenate((ring, ring))
    k = np.arange(sides)
    k1 = (k + 1) % sides
    tri = np.concatenate(
        (np.stack((k, k1, k1 + sides), 1), np.stack((k, k1 + sides, k + sides), 1))
    )
    acc.add(pos, nrm, tri)


_ICO_V = np.array(
    [
        [-1, 1.618, 0], [1, 1.618, 0], [-1, -1.618, 0], [1, -1.618, 0],
        [0, -1, 1.618], [0, 1, 1.618], [0, -1, -1.618], [0, 1, -1.618],
        [1.618, 0, -1], [1.618, 0, 1], [-1.618, 0, -1], [-1.618, 0, 1],
    ],
    dtype=np.float64,
)  # fmt: skip
_ICO_V /= np.linalg.norm(_ICO_V, axis=1, keepdims=True)
_ICO_F = np.array(
    [
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
        [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
        [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ],
    dtype=np.int64,
)  # fmt: skip


def _blob(acc: _Acc, c: F64, radii: F64) -> None:
    """A leaf clump: an icosahedron (20 triangles) with semi-axes ``radii``."""
    acc.add(c + _ICO_V * radii, _ICO_V / radii, _ICO_F.copy())


def _ellipsoid(acc: _Acc, c: F64, radii: F64, seg: int, rings: int) -> None:
    """UV ellipsoid: 2*seg*(rings-1) triangles."""
    th = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    ph = np.linspace(0.0, 2 * np.pi, seg, endpoint=False)
    st, ct = np.sin(th), np.cos(th)
    unit = np.stack(
        (
            (st[:, None] * np.cos(ph)[None, :]).ravel(),
            (st[:, None] * np.sin(ph)[None, :]).ravel(),
            np.repeat(ct, seg),
        ),
        axis=1,
    )
    unit = np.concatenate((unit, [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]))
    top, bot = unit.shape[0] - 2, unit.shape[0] - 1
    tris = []
    k = np.arange(seg)
    k1 = (k + 1) % seg
    tris.append(np.stack((np.full(seg, top), k, k1), 1))
    for r in range(rings - 2):
        a, b = r * seg, (r + 1) * seg
        tris.append(np.stack((a + k, b + k, b + k1), 1))
        tris.append(np.stack((a + k, b + k1, a + k1), 1))
    last = (rings - 2) * seg
    tris.append(np.stack((np.full(seg, bot), last + k1, last + k), 1))
    acc.add(c + unit * radii, unit / radii, np.concatenate(tris))


def _cone(acc: _Acc, z0: float, z1: float, r0: float, r1: float, sides: int) -> None:
    """A conifer tier: truncated cone (side only, closed top when r1 = 0)."""
    ang = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring = np.stack((np.cos(ang), np.sin(ang), np.zeros(sides)), 1)
    slope = (r0 - r1) / max(z1 - z0, 1e-6)
    nrm = ring + np.array([0.0, 0.0, slope])
    pos = np.concatenate((ring * r0 + [0, 0, z0], ring * r1 + [0, 0, z1]))
    k = np.arange(sides)
    k1 = (k + 1) % sides
    tri = np.concatenate(
        (np.stack((k, k1, k1 + sides), 1), np.stack((k, k1 + sides, k + sides), 1))
    )
    acc.add(pos, np.concatenate((nrm, nrm)), tri)


def _cards(acc: _Acc, centres: F64, size: float, rng: np.random.Generator) -> None:
    """Leaf cards: one quad (2 triangles) per centre, random orientation."""
    n = centres.shape[0]
    if n == 0:
        return
    nrm = rng.normal(size=(n, 3))
    nrm[:, 2] = np.abs(nrm[:, 2]) + 0.5  # leaves face mostly up
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    a = np.where(np.abs(nrm[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(nrm, a)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(nrm, u)
    h = size / 2.0
    corners = np.stack(
        (
            centres - h * u - h * v,
            centres + h * u - h * v,
            centres + h * u + h * v,
            centres - h * u + h * v,
        ),
        axis=1,
    ).reshape(-1, 3)
    normals = np.repeat(nrm, 4, axis=0)
    base = np.arange(n)[:, None] * 4
    tri = np.concatenate((base + np.array([[0, 1, 2]]), base + np.array([[0, 2, 3]])))
    tri = tri.reshape(-1, 3).astype(np.int64)
    acc.add(corners, normals, tri)


@dataclass(slots=True)
class _Skeleton:
    segments: list[tuple[F64, F64, float, float, int]]
    tips: list[tuple[F64, F64, int]]


def _rng(key: str, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode("utf-8")) + salt)


def _crown_radius(species: Species, z: float) -> float:
    """Crown radius of the unit tree at height z (0..1)."""
    s = species.shape
    cb = s["crown_base"]
    w = float(s["width"]) / 2.0
    if z <= cb or z >= 1.0:
        return 0.0
    t = (z - cb) / (1.0 - cb)
    habit = species.habit
    if habit == "conical":
        return float(w * (1.0 - t) ** 0.9)
    if habit == "pine":
        return float(w * math.sin(math.pi * min(1.0, 0.25 + 0.75 * t)) ** 0.6)
    if habit == "columnar":
        return float(w * math.sin(math.pi * t) ** 0.5)
    if habit == "vase":
        return float(w * (0.4 + 0.6 * t) * math.sin(math.pi * t) ** 0.35)
    return float(w * math.sin(math.pi * t) ** 0.7)


def _deciduous_skeleton(species: Species, depth: int, rng: np.random.Generator) -> _Skeleton:
    s = species.shape
    cb = s["crown_base"]
    r_trunk = 0.028
    segs: list[tuple[F64, F64, float, float, int]] = []
    tips: list[tuple[F64, F64, int]] = []
    base = np.array([0.0, 0.0, cb])
    segs.append((np.zeros(3), base, r_trunk, r_trunk * 0.8, 0))
    excurrent = species.habit in ("oval", "weeping", "columnar")
    if excurrent:
        top = np.array([0.0, 0.0, 0.97])
        segs.append((base, top, r_trunk * 0.8, r_trunk * 0.15, 0))
    n_main = int(s["branches"])
    angle = math.radians(s["angle"])
    droop = s["droop"]

    def grow(p: F64, d: F64, length: float, r: float, level: int) -> None:
        end = p + d * length
        if droop > 0 and level >= 1:
            end = end - np.array([0.0, 0.0, droop * length * 0.6 * level / depth])
        # keep inside the crown envelope (radius at height)
        rad = math.hypot(end[0], end[1])
        lim = _crown_radius(species, min(max(end[2], cb + 1e-3), 0.999)) * 1.05
        if rad > lim > 0:
            end[:2] *= lim / rad
        end[2] = min(end[2], 0.99)
        segs.append((p, end, r, r * 0.6, level))
        if level >= depth:
            tips.append((end, (end - p) / max(float(np.linalg.norm(end - p)), 1e-9), level))
            return
        k = 2 if level + 1 < depth else 3
        u, v = _frame(d)
        for _ in range(k):
            phi = rng.uniform(0, 2 * np.pi)
            a = angle * rng.uniform(0.6, 1.1)
            nd = d * math.cos(a) + math.sin(a) * (math.cos(phi) * u + math.sin(phi) * v)
            nd[2] += 0.25
            nd /= np.linalg.norm(nd)
            grow(end, nd, length * rng.uniform(0.55, 0.75), r * 0.6, level + 1)

    crown_len = 1.0 - cb
    for i in range(n_main):
        phi = 2 * np.pi * i / n_main + rng.uniform(-0.3, 0.3)
        z0 = cb + (rng.uniform(0.0, 0.45) * crown_len if excurrent else 0.0)
        a = angle * rng.uniform(0.8, 1.15)
        d = np.array([math.sin(a) * math.cos(phi), math.sin(a) * math.sin(phi), math.cos(a)])
        length = crown_len * (0.55 if excurrent else 0.62) * rng.uniform(0.85, 1.1)
        grow(np.array([0.0, 0.0, z0]), d, length, r_trunk * 0.45, 1)
    return _Skeleton(segs, tips)


def _conifer_skeleton(
    species: Species, whorls: int, per: int, rng: np.random.Generator
) -> _Skeleton:
    s = species.shape
    cb = s["crown_base"]
    r_trunk = 0.022
    segs: list[tuple[F64, F64, float, float, int]] = [
        (np.zeros(3), np.array([0.0, 0.0, 1.0]), r_trunk, r_trunk * 0.1, 0)
    ]
    tips: list[tuple[F64, F64, int]] = []
    droop = s["droop"]
    for w in range(whorls):
        z = cb + (0.97 - cb) * (w + 0.5) / whorls
        rad = _crown_radius(species, z)
        off = rng.uniform(0, 2 * np.pi)
        for j in range(per):
            phi = off + 2 * np.pi * j / per
            d = np.array([math.cos(phi), math.sin(phi), 0.0])
            p0 = np.array([0.0, 0.0, z])
            p1 = p0 + d * rad + np.array([0.0, 0.0, -droop * rad])
            segs.append((p0, p1, r_trunk * 0.25, r_trunk * 0.05, 1))
            tips.append((p1, d, 1))
    return _Skeleton(segs, tips)


def _impostor(species: Species, look: Look, bare: bool) -> tuple[_Acc, _Acc]:
    """Two crossed vertical silhouettes (2 triangles each; bark-only when bare)."""
    s = species.shape
    w = s["width"] / 2.0
    cb = s["crown_base"]
    acc = _Acc()
    for ax in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])):
        nrm = np.cross(ax, [0.0, 0.0, 1.0])
        if species.habit in ("conical", "pine") and not bare:
            pts = np.array([-w * ax + [0, 0, cb * 0.5], w * ax + [0, 0, cb * 0.5], [0.0, 0.0, 1.0]])
            pts = np.concatenate((pts, [[0.0, 0.0, 0.0]]))
            tri = np.array([[0, 1, 2], [0, 3, 1]])
        else:
            wide = w if not bare else w * 0.6
            mid = cb + (1.0 - cb) * 0.5
            pts = np.array(
                [
                    [0.0, 0.0, 0.0],
                    wide * ax + [0, 0, mid],
                    [0.0, 0.0, 1.0],
                    -wide * ax + [0, 0, mid],
                ]
            )
            tri = np.array([[0, 1, 2], [0, 2, 3]])
        acc.add(pts, np.repeat(nrm[None, :], pts.shape[0], axis=0), tri)
    return acc, _Acc()


@lru_cache(maxsize=512)
def _build(species_key: str, species: Species, lod: int, look: Look) -> PlantMesh:
    if lod not in LODS:
        raise GreenModelError(f"level of detail {lod} unknown; use one of {LODS}")
    rng = _rng(species_key)
    conifer = species.kind == "conifer"
    bare = look.leaf_fraction <= 0.0 and not conifer
    frac = 1.0 if conifer else look.leaf_fraction
    bark = _Acc()
    fol = _Acc()
    colour = look.colour
    if lod == IMPOSTOR:
        imp, _ = _impostor(species, look, bare)
        mesh_bark, mesh_fol = (imp, None) if bare else (_Acc(), imp)
        return _finish(species, lod, look, mesh_bark, mesh_fol, colour)
    if conifer:
        whorls, per = {0: (16, 6), 1: (7, 4), 2: (0, 0)}[lod]
        sk = _conifer_skeleton(species, whorls, per, rng)
    else:
        depth = {0: 3, 1: 2, 2: 1}[lod]
        sk = _deciduous_skeleton(species, depth, rng)
    sides_by_level = {0: {0: 10, 1: 6, 2: 4, 3: 3}, 1: {0: 6, 1: 4, 2: 3, 3: 3}, 2: {0: 4, 1: 3}}
    for p0, p1, r0, r1, level in sk.segments:
        sides = sides_by_level[lod].get(level)
        if sides is None:
            continue
        _tube(bark, p0, p1, r0, r1, sides)
    if not bare:
        cb = species.shape["crown_base"]
        w = species.shape["width"] / 2.0
        if lod == 0:
            budget = TRIANGLE_BUDGET[0] - bark.triangles()
            n_cards = int(min(3000, budget // 2) * frac)
            tips = np.array([t[0] for t in sk.tips])
            pick = rng.integers(0, tips.shape[0], size=3000)[:n_cards]
            spread = 0.09 if not conifer else 0.025
            centres = tips[pick] + rng.normal(scale=spread, size=(n_cards, 3))
            centres[:, 2] = np.clip(centres[:, 2], cb, 1.0)
            _cards(fol, centres, 0.06 if not conifer else 0.04, rng)
        elif lod == 1:
            if conifer:
                tiers = 6
                for k in range(tiers):
                    z0 = cb + (1.0 - cb) * k / tiers
                    z1 = cb + (1.0 - cb) * (k + 1.6) / tiers
                    r0 = _crown_radius(species, min(z0 + 0.02, 0.99)) * 1.05
                    _cone(fol, z0, min(z1, 1.0), max(r0, 0.02), 0.0, 12)
            else:
                tips = np.array([t[0] for t in sk.tips])
                budget = (TRIANGLE_BUDGET[1] - bark.triangles()) // 20
                # three clumps per branch tip: the tip and two neighbours inside the crown
                jitter = rng.normal(scale=0.07, size=(tips.shape[0], 2, 3))
                spots = np.concatenate((tips, (tips[:, None, :] + jitter).reshape(-1, 3)))
                spots[:, 2] = np.clip(spots[:, 2], cb + 0.05, 0.95)
                order = rng.permutation(spots.shape[0])
                n_blobs = max(1, int(min(budget, spots.shape[0]) * frac))
                size = 0.13 * (w / 0.35) ** 0.5
                for j in order[:n_blobs]:
                    radii = np.array([size, size, size * 0.8]) * rng.uniform(0.8, 1.2)
                    _blob(fol, spots[j], radii)
        else:
            if conifer:
                for k in range(3):
                    z0 = cb + (1.0 - cb) * k / 3.0
                    z1 = cb + (1.0 - cb) * (k + 1.8) / 3.0
                    r0 = _crown_radius(species, min(z0 + 0.02, 0.99)) * 1.05
                    _cone(fol, z0, min(z1, 1.0), max(r0, 0.02), 0.0, 8)
            else:
                zc = cb + (1.0 - cb) * 0.5
                k = frac**0.5
                radii = np.array([w * k, w * k, (1.0 - cb) / 2.0 * (0.6 + 0.4 * k)])
                _ellipsoid(fol, np.array([0.0, 0.0, zc]), radii, 12, 8)
    return _finish(species, lod, look, bark, fol if fol.p else None, colour)


def _normalise(part: MeshPart, scale: F64) -> MeshPart:
    n = part.normals / scale.astype(np.float32)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return MeshPart((part.positions * scale).astype(np.float32), n.astype(np.float32), part.indices)


def _finish(
    species: Species, lod: int, look: Look, bark: _Acc, fol: _Acc | None, colour: RGB
) -> PlantMesh:
    bark_part = bark.part()
    fol_part = fol.part() if fol is not None else None
    parts = [p for p in (bark_part, fol_part) if p is not None and p.positions.shape[0]]
    allp = np.concatenate([p.positions for p in parts]).astype(np.float64)
    # exact unit height; crown diameter = shape width (when there is foliage)
    sz = 1.0 / max(float(allp[:, 2].max()), 1e-6)
    sxy = 1.0
    if fol_part is not None and fol_part.positions.shape[0]:
        radius = float(np.hypot(fol_part.positions[:, 0], fol_part.positions[:, 1]).max())
        sxy = species.shape["width"] / 2.0 / max(radius, 1e-6)
    scale = np.array([sxy, sxy, sz])
    bark_part = _normalise(bark_part, scale)
    fol_part = _normalise(fol_part, scale) if fol_part is not None else None
    mesh = PlantMesh(
        species.key,
        lod,
        look,
        bark_part,
        fol_part,
        species.colours["bark"],
        colour,
        lod in (0, IMPOSTOR),
    )
    if mesh.triangles > TRIANGLE_BUDGET[lod]:
        raise GreenModelError(
            f"{species.key} LoD{lod} has {mesh.triangles} triangles, over {TRIANGLE_BUDGET[lod]}"
        )
    return mesh


def plant_mesh(species: Species, lod: int, look: Look | None = None) -> PlantMesh:
    """The unit-scale mesh of ``species`` at level of detail ``lod`` for a look.

    Parameters
    ----------
    species : library species.
    lod : 0 (near, <= 8000 triangles), 1 (<= 1500), 2 (<= 300), 3 impostor (<= 4).
    look : seasonal look (default: full summer foliage in the species' summer colour).

    Returns
    -------
    PlantMesh, cached per (species, lod, look).
    """
    lk = look or Look(1.0, species.colours["summer"])
    return _build(species.key, species, lod, lk)
