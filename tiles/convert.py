"""CityGML to a 3D Tiles 1.1 tileset, with bounded memory and atomic output.

Pass 1 cuts every input into byte ranges of whole ``cityObjectMember`` elements
(:meth:`~greentwin.citygml.reader.CityGMLReader.chunks`); each range is parsed, read,
triangulated and reprojected by one task (in a process pool with ``jobs > 1``, or on a
Dask cluster with ``scheduler``: see :mod:`greentwin.core.executor`), which
writes its records to its own spill file in one write and returns only a small
numeric index (origin, radius, sizes). Files that cannot be split exactly (global
appearances, shared implicit-geometry prototypes, ...) are streamed by the main
process instead, which hands batches of features to the pool. Pass 2 builds a quadtree over the index, writes the leaves (full geometry,
in parallel) and then the parents (coarse prisms), and writes tileset.json.

Everything is written into a temporary folder beside ``out_dir`` that replaces
``out_dir`` only once complete; a failed run leaves a previous output untouched.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from greentwin.citygml.crs import parse_srs_name, parse_vertical_crs, with_vertical
from greentwin.citygml.model import Feature, SkippedFeature
from greentwin.citygml.reader import ChunkFallback, ChunkSpec, CityGMLReader
from greentwin.core import TilingError
from greentwin.core.executor import JobExecutor, open_executor
from greentwin.tiles.content import build_tile
from greentwin.tiles.geodesy import (
    ecef_to_enu_matrix,
    enu_to_ecef_matrix,
    say_height_problem,
    transformer_for,
)
from greentwin.tiles.mesh import build_records
from greentwin.tiles.records import coarse_batch, coarse_record, leaf_batch, leaf_record
from greentwin.tiles.tileset import Tile, split_quadtree, tileset_json

__all__ = ["ConversionSummary", "HeightMode", "check_out_dir", "convert", "is_previous_output"]

log = logging.getLogger(__name__)

HeightMode = Literal["crs", "ground"]
F64 = npt.NDArray[np.float64]

#: Features sent to a worker at once (single-stream path), and meshed at once.
CHUNK = 32
#: Safety limit on quadtree depth (a 20-level quadtree splits 1000 km into 1 m cells).
QUADTREE_DEPTH = 20
#: Features meshed at once within a byte range (larger batches amortise numpy calls).
RANGE_BATCH = 256
#: Byte range sizes: about ``size / (jobs * RANGES_PER_JOB)``, within these bounds.
MIN_RANGE_BYTES = 256 * 1024
MAX_RANGE_BYTES = 4 * 1024 * 1024
RANGES_PER_JOB = 8

#: (spill file, offset, length) of one spill record (see greentwin.tiles.records).
Where = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class ConversionSummary:
    """What a conversion did.

    Attributes
    ----------
    features : top-level features converted.
    objects : city objects converted (features and their parts).
    skipped : features or polygons left out, with reasons.
    tiles : tiles with content.
    bytes : bytes written (GLB files and tileset.json).
    seconds : wall-clock time.
    lods_used : LoD -> number of features converted at it.
    fallbacks : features converted at another LoD than ``--lod`` asked for.
    tileset : path of the written tileset.json.
    """

    features: int
    objects: int
    skipped: list[SkippedFeature]
    tiles: int
    bytes: int
    seconds: float
    lods_used: dict[int, int]
    fallbacks: int
    tileset: Path

    def skipped_by_reason(self) -> dict[str, int]:
        """Counts of skipped items per reason."""
        return dict(Counter(s.reason.split(" in ")[0] for s in self.skipped))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "features": self.features,
            "objects": self.objects,
            "skipped": [{"id": s.id, "line": s.line, "reason": s.reason} for s in self.skipped],
            "skipped_by_reason": self.skipped_by_reason(),
            "tiles": self.tiles,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "lods_used": {str(k): v for k, v in sorted(self.lods_used.items())},
            "fallbacks": self.fallbacks,
            "tileset": str(self.tileset),
        }


# -- pass 1 ----------------------------------------------------------------------------
@dataclass(slots=True)
class _Block:
    """Index entries of consecutive spilled features (one spill file), as arrays.

    Attributes
    ----------
    path : the spill file.
    origin : (k, 3) float64 ECEF origins.
    values : (k, 3) float64 radius, detail error, ground height.
    spans : (k, 4) int64 offset and length of the full record, then of the coarse one.
    """

    path: str
    origin: F64
    values: F64
    spans: npt.NDArray[np.int64]


class _Collect:
    """Gathers the index entries, skips and counts of meshed features in order."""

    def __init__(self) -> None:
        self.origin: list[tuple[float, ...]] = []
        self.values: list[tuple[float, float, float]] = []
        self.spans: list[tuple[int, int, int, int]] = []
        self.skipped: list[SkippedFeature] = []
        self.lods: Counter[int] = Counter()
        self.fallbacks = 0
        self.objects = 0

    def add(self, item: Any, full_at: int, coarse_at: int) -> None:
        """A record from :func:`_mesh_chunk` written at these offsets, or a skip."""
        if isinstance(item, SkippedFeature):
            self.skipped.append(item)
            return
        full, coarse, origin, radius, derr, gh, used, fell, nobj, skips = item
        self.origin.append(origin)
        self.values.append((radius, derr, gh))
        self.spans.append((full_at, len(full), coarse_at, len(coarse)))
        self.lods[used] += 1
        self.fallbacks += int(fell)
        self.objects += nobj
        self.skipped.extend(skips)

    def block(self, path: str) -> _Block | None:
        """The entries so far as one block (None when there are none); starts afresh."""
        if not self.spans:
            return None
        out = _Block(
            path,
            np.array(self.origin, np.float64).reshape(-1, 3),
            np.array(self.values, np.float64).reshape(-1, 3),
            np.array(self.spans, np.int64).reshape(-1, 4),
        )
        self.origin, self.values, self.spans = [], [], []
        return out


def _mesh_chunk(
    features: list[Feature], lod: int | None, crs: str | None
) -> list[
    tuple[
        bytes, bytes, tuple[float, ...], float, float, float, int, bool, int, list[SkippedFeature]
    ]
    | SkippedFeature
]:
    """Worker: features -> (record bytes, coarse bytes, index values) or skips."""
    with _no_cycle_collection():
        return _mesh_chunk_now(features, lod, crs)


def _mesh_chunk_now(features: list[Feature], lod: int | None, crs: str | None) -> list[Any]:
    out: list[Any] = []
    for rec in build_records(features, lod=lod, crs=crs):
        if isinstance(rec, SkippedFeature):
            out.append(rec)
            continue
        skips = rec.skipped  # their lines are fixed by the caller
        full = leaf_record(rec)
        coarse = coarse_record(rec.origin, rec.coarse, rec.objects[0])
        out.append(
            (
                full,
                coarse,
                tuple(rec.origin.tolist()),
                rec.radius,
                rec.detail_error,
                rec.ground_h,
                rec.lod,
                rec.fallback,
                len(rec.objects),
                skips,
            )
        )
    return out


@dataclass(slots=True)
class _RangeResult:
    """What one byte range gave: index block, skips, counts and reader state.

    Lines in ``skipped`` and ``reader_skipped`` count from the range's first line.
    """

    block: _Block | None = None
    skipped: list[SkippedFeature] = field(default_factory=list)
    reader_skipped: list[SkippedFeature] = field(default_factory=list)
    lods: dict[int, int] = field(default_factory=dict)
    fallbacks: int = 0
    objects: int = 0
    count: int = 0
    anonymous: int = 0
    theme: str | None = None
    newlines: int = 0
    fallback: str | None = None


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch of work.

    Reading and meshing allocate many small containers (elements' attributes,
    polygons, rows) and make no reference cycles, so reference counting frees them all;
    the collector would only re-scan the live features again and again (several per
    cent of the CPU time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _convert_range(spec: ChunkSpec, lod: int | None, crs: str | None, spill: str) -> _RangeResult:
    """Worker: read, mesh and spill one byte range; one write of all its records."""
    with _no_cycle_collection():
        return _convert_range_now(spec, lod, crs, spill)


def _convert_range_now(
    spec: ChunkSpec, lod: int | None, crs: str | None, spill: str
) -> _RangeResult:
    reader = CityGMLReader.from_chunk(spec)
    got = _Collect()
    blobs: list[bytes] = []
    pos = 0
    count = 0

    def mesh(batch: list[Feature]) -> None:
        nonlocal pos, count
        for item in _mesh_chunk(batch, lod, crs):
            count += 1
            if isinstance(item, SkippedFeature):
                got.add(item, 0, 0)
                continue
            full, coarse = item[0], item[1]
            blobs.append(full)
            blobs.append(coarse)
            got.add(item, pos, pos + len(full))
            pos += len(full) + len(coarse)

    batch: list[Feature] = []
    try:
        for feature in reader.features():
            batch.append(feature)
            if len(batch) >= RANGE_BATCH:
                mesh(batch)
                batch = []
    except ChunkFallback as exc:
        return _RangeResult(fallback=str(exc))
    if batch:
        mesh(batch)
    if blobs:
        with open(spill, "wb") as fh:
            fh.write(b"".join(blobs))
    return _RangeResult(
        block=got.block(spill),
        skipped=got.skipped,
        reader_skipped=reader.skipped,
        lods=dict(got.lods),
        fallbacks=got.fallbacks,
        objects=got.objects,
        count=count,
        anonymous=reader.anonymous,
        theme=reader.theme,
        newlines=reader.newlines,
    )


def _image_problem(s: SkippedFeature) -> bool:
    """A texture image the reader could not use (reported once per image and file)."""
    return s.reason.startswith("texture image") or s.reason == "texture without imageURI"


def _shift(s: SkippedFeature, lines: int) -> SkippedFeature:
    return SkippedFeature(s.id, s.line + lines if s.line > 0 else s.line, s.reason)


class _Spill:
    """Append-only temporary file of spill records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._name = str(path)
        self._fh = open(path, "wb")
        self._pos = 0

    def write(self, data: bytes) -> Where:
        self._fh.write(data)
        at = self._pos
        self._pos += len(data)
        return self._name, at, len(data)

    def close(self) -> None:
        self._fh.close()


def _read(wheres: list[Where]) -> list[bytes]:
    """Records from the spill files, in the order given."""
    out: list[bytes] = []
    handles: dict[str, Any] = {}
    try:
        for name, at, n in wheres:
            fh = handles.get(name)
            if fh is None:
                fh = handles[name] = open(name, "rb")
            fh.seek(at)
            out.append(fh.read(n))
    finally:
        for fh in handles.values():
            fh.close()
    return out


# -- pass 2 ----------------------------------------------------------------------------
def _own(a: F64) -> F64:
    """A fresh copy of an array a worker received.

    Arrays unpickled from out-of-band buffers (as Dask sends them) may lie at other
    memory alignments than numpy's own allocations, and numpy's vectorised loops can then
    round differently in the last bit; a copy makes the result independent of how the
    job arrived.
    """
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _write_leaf(wheres: list[Where], root_inv: F64, shift: float, out: str) -> tuple[F64, F64, int]:
    """Worker: read full records, write one leaf GLB; returns (lo, hi, bytes)."""
    with _no_cycle_collection():
        tile = build_tile(leaf_batch(_read(wheres)), [], _own(root_inv), shift)
    Path(out).write_bytes(tile.glb)
    return tile.lo, tile.hi, len(tile.glb)


def _write_coarse(
    wheres: list[Where], root_inv: F64, shift: float, out: str
) -> tuple[F64, F64, int]:
    """Worker: read coarse records, write one parent GLB; returns (lo, hi, bytes)."""
    with _no_cycle_collection():
        tile = build_tile([], coarse_batch(_read(wheres)), _own(root_inv), shift)
    Path(out).write_bytes(tile.glb)
    return tile.lo, tile.hi, len(tile.glb)


@dataclass(slots=True)
class _Pass1:
    blocks: list[_Block] = field(default_factory=list)
    skipped: list[SkippedFeature] = field(default_factory=list)
    reader_skipped: list[SkippedFeature] = field(default_factory=list)
    lods: Counter[int] = field(default_factory=Counter)
    fallbacks: int = 0
    objects: int = 0

    @property
    def count(self) -> int:
        """Features spilled."""
        return sum(len(b.spans) for b in self.blocks)

    def merge(self, other: _Pass1) -> None:
        """Append another file's results."""
        self.blocks.extend(other.blocks)
        self.skipped.extend(other.skipped)
        self.reader_skipped.extend(other.reader_skipped)
        self.lods.update(other.lods)
        self.fallbacks += other.fallbacks
        self.objects += other.objects


def _resolve_crs(definition: str | None, seen: set[str], heights: bool) -> None:
    if definition is not None and definition not in seen:
        # resolve (and report) each CRS once here; forked workers inherit the cache
        seen.add(definition)
        transformer_for(definition)
        if heights:  # absolute heights matter (height mode crs): say what they lack
            say_height_problem(definition)


def _pass1_stream(
    reader: CityGMLReader,
    pool: JobExecutor,
    jobs: int,
    spill: _Spill,
    lod: int | None,
    crs: str | None,
    bar: Any,
    res: _Pass1,
    seen: set[str],
    heights: bool,
) -> None:
    """The main process reads the file; batches of features go to the pool."""
    pending: deque[Future[Any]] = deque()
    got = _Collect()

    def collect(fut: Future[Any]) -> None:
        items = fut.result()
        for item in items:
            if isinstance(item, SkippedFeature):
                got.add(item, 0, 0)
            else:
                got.add(item, spill.write(item[0])[1], spill.write(item[1])[1])
        bar.update(len(items))

    chunk: list[Feature] = []
    for feature in reader.features():
        _resolve_crs(crs or (feature.crs.pyproj_definition if feature.crs else None), seen, heights)
        chunk.append(feature)
        if len(chunk) >= CHUNK:
            pending.append(pool.submit(_mesh_chunk, chunk, lod, crs))
            chunk = []
            while len(pending) > 2 * jobs:  # back-pressure: bounded features in flight
                collect(pending.popleft())
    if chunk:
        pending.append(pool.submit(_mesh_chunk, chunk, lod, crs))
    while pending:
        collect(pending.popleft())
    block = got.block(str(spill.path))
    if block is not None:
        res.blocks.append(block)
    res.skipped.extend(got.skipped)
    res.lods.update(got.lods)
    res.fallbacks += got.fallbacks
    res.objects += got.objects
    res.reader_skipped.extend(reader.skipped)


def _pass1_ranges(
    reader: CityGMLReader,
    specs: list[ChunkSpec],
    pool: JobExecutor,
    jobs: int,
    scratch: Path,
    tag: str,
    lod: int | None,
    crs: str | None,
    bar: Any,
    seen: set[str],
    heights: bool,
) -> _Pass1 | str:
    """Each byte range is read, meshed and spilled by one task; results in file order.

    Returns the file's results, or why the ranges could not reproduce the single
    stream exactly (the caller then streams the file).
    """
    if reader.crs is not None:
        _resolve_crs(crs or reader.crs.pyproj_definition, seen, heights)
    part = _Pass1()
    pending: deque[Future[_RangeResult]] = deque()
    lines = reader.newlines_before(specs[0].start)
    anonymous = 0
    theme: str | None = None
    why: str | None = None
    images: set[tuple[str, str]] = set()

    def collect(fut: Future[_RangeResult]) -> None:
        nonlocal lines, anonymous, theme, why
        got = fut.result()
        if why is not None:
            return
        if got.fallback is not None:
            why = got.fallback
        elif got.anonymous and anonymous:
            why = "objects without gml:id in several ranges"
        elif got.theme is not None and theme is not None and got.theme != theme:
            why = "the first appearance theme differs between ranges"
        if why is not None:
            return
        anonymous += got.anonymous
        theme = theme if theme is not None else got.theme
        if got.block is not None:
            part.blocks.append(got.block)
        part.skipped.extend(_shift(s, lines) for s in got.skipped)
        part.lods.update(got.lods)
        part.fallbacks += got.fallbacks
        part.objects += got.objects
        for s in got.reader_skipped:
            if _image_problem(s):  # the stream reports each texture image once
                if (s.id, s.reason) in images:
                    continue
                images.add((s.id, s.reason))
            part.reader_skipped.append(_shift(s, lines))
        lines += got.newlines
        bar.update(got.count)

    for spec in specs:
        spill = str(scratch / f"r{tag}-{spec.index:06d}.bin")
        pending.append(pool.submit(_convert_range, spec, lod, crs, spill))
        while len(pending) > 2 * jobs:  # back-pressure: bounded ranges in flight
            collect(pending.popleft())
        if why is not None:
            break
    if why is not None:
        for fut in pending:
            fut.cancel()
    while pending:
        fut = pending.popleft()
        if not fut.cancelled():
            collect(fut)
    if why is not None:
        for f in scratch.glob(f"r{tag}-*.bin"):
            f.unlink()
        return why
    if anonymous:
        log.info(
            "%s: %d city objects had no gml:id; ids %s#<n> were given",
            reader.path,
            anonymous,
            reader.path.stem,
        )
    return part


def _range_bytes(path: Path, jobs: int) -> int:
    """Target size of a byte range: about ``RANGES_PER_JOB`` ranges per worker, bounded."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return min(max(size // max(1, jobs * RANGES_PER_JOB), MIN_RANGE_BYTES), MAX_RANGE_BYTES)


def _pass1(
    inputs: Sequence[Path],
    pool: JobExecutor,
    jobs: int,
    scratch: Path,
    lod: int | None,
    crs: str | None,
    appearance_theme: str | None,
    bar: Any,
    split: bool,
    vertical_crs: str | None,
    heights: bool,
) -> _Pass1:
    res = _Pass1()
    seen: set[str] = set()
    spill = _Spill(scratch / "records.bin")
    try:
        for k, path in enumerate(inputs):
            reader = CityGMLReader(
                path, crs=crs, appearance_theme=appearance_theme, vertical_crs=vertical_crs
            )
            plan: list[ChunkSpec] | str = "parallel parsing is off"
            if split:
                plan = reader.chunks(_range_bytes(path, jobs))
            if not isinstance(plan, str):
                got = _pass1_ranges(
                    reader, plan, pool, jobs, scratch, str(k), lod, crs, bar, seen, heights
                )
                if isinstance(got, _Pass1):
                    res.merge(got)
                    continue
                plan = got
            log.info("%s: read as one stream (%s)", path, plan)
            _pass1_stream(reader, pool, jobs, spill, lod, crs, bar, res, seen, heights)
    finally:
        spill.close()
    return res


def _quadtree(
    centres: F64, sizes: npt.NDArray[np.int64], max_features: int, max_bytes: int
) -> Tile:
    """The tile tree over feature centres ((n, 2) root-frame metres).

    Leaves hold at most ``max_features`` features and ``max_bytes`` of mesh data (a
    single feature bigger than that gets its own leaf); inner tiles show coarse
    prisms (:func:`_coarse_selection`) and refine with ``REPLACE``.
    """

    def too_big(idx: npt.NDArray[np.int64]) -> bool:
        return len(idx) > max_features or int(sizes[idx].sum()) > max_bytes

    root = split_quadtree(centres, too_big, max_depth=QUADTREE_DEPTH)
    root.refine = "REPLACE"
    return root


def _coarse_selection(root: Tile, radius: F64, max_coarse: int) -> dict[str, npt.NDArray[np.int64]]:
    """Features shown as prisms by each inner tile: the largest ones, at most ``max_coarse``."""
    out: dict[str, npt.NDArray[np.int64]] = {}
    for node in root.walk():
        if node.is_leaf:
            continue
        sub = node.items
        if len(sub) > max_coarse:
            order = np.argsort(-radius[sub], kind="stable")[:max_coarse]
            sub = np.sort(sub[order])
        out[node.address] = sub
    return out


def _geometric_errors(
    root: Tile, detail_error: F64, radius: F64, coarse_of: dict[str, npt.NDArray[np.int64]]
) -> None:
    """Set ``error`` on every tile (leaves 0, parents strictly larger than children).

    A parent's own error is the larger of the coarse prisms' deviation from the
    buildings they stand for (``detail_error``: roof height span, footprint
    approximation) and the size (diameter) of any feature left out of its coarse
    content; it is then raised to at least 1.5 times its largest child's error and
    at least 1 m, so errors strictly decrease towards the leaves.
    """

    def visit(node: Tile) -> float:
        if node.is_leaf:
            node.error = 0.0
            return 0.0
        child_max = max(visit(c) for c in node.children)
        shown = coarse_of.get(node.address, np.zeros(0, np.int64))
        own = float(detail_error[shown].max()) if len(shown) else 0.0
        if len(shown) < len(node.items):
            dropped = np.setdiff1d(node.items, shown, assume_unique=True)
            if len(dropped):
                own = max(own, 2.0 * float(radius[dropped].max()))
        node.error = max(own, 1.5 * child_max, 1.0)
        return node.error

    visit(root)


def _pass2(
    p1: _Pass1,
    pool: JobExecutor,
    work: Path,
    height_mode: HeightMode,
    max_features: int,
    max_bytes: int,
    max_coarse: int,
    progress: bool,
) -> tuple[int, int]:
    from tqdm import tqdm

    blocks = p1.blocks
    origins = np.concatenate([b.origin for b in blocks])
    values = np.concatenate([b.values for b in blocks])
    spans = np.concatenate([b.spans for b in blocks])
    paths = [b.path for b in blocks]
    block_of = np.repeat(np.arange(len(blocks)), [len(b.spans) for b in blocks])
    radius = values[:, 0]
    derr = values[:, 1]
    sizes = spans[:, 1]
    shift = float(values[:, 2].min()) if height_mode == "ground" else 0.0
    if shift:
        log.info("height mode ground: moving the model down by %.2f m", shift)
    centre_ecef = 0.5 * (origins.min(axis=0) + origins.max(axis=0))
    to_ecef = enu_to_ecef_matrix(centre_ecef)
    root_inv = ecef_to_enu_matrix(centre_ecef)
    centres = origins @ root_inv[:3, :3].T + root_inv[:3, 3]

    def wheres(index: npt.NDArray[np.int64], col: int) -> list[Where]:
        """Spill places of features ``index``: full records (col 0) or coarse (col 2)."""
        at = spans[index, col : col + 2].tolist()
        return [(paths[b], a, n) for b, (a, n) in zip(block_of[index].tolist(), at, strict=True)]

    root = _quadtree(centres[:, :2], sizes, max_features, max_bytes)
    coarse_of = _coarse_selection(root, radius, max_coarse)
    _geometric_errors(root, derr, radius, coarse_of)
    (work / "tiles").mkdir()
    nodes = root.walk()
    futures: dict[str, Future[tuple[F64, F64, int]]] = {}
    for node in nodes:
        name = f"tiles/t{node.address or 'r'}.glb"
        node.content = name
        if node.is_leaf:
            futures[node.address] = pool.submit(
                _write_leaf, wheres(node.items, 0), root_inv, shift, str(work / name)
            )
        else:
            futures[node.address] = pool.submit(
                _write_coarse,
                wheres(coarse_of[node.address], 2),
                root_inv,
                shift,
                str(work / name),
            )
    total = 0
    bar = tqdm(total=len(nodes), desc="writing tiles", unit="tile", disable=not progress)
    for node in reversed(nodes):  # children before parents
        node.lo, node.hi, nbytes = futures[node.address].result()
        bar.update(1)
        total += nbytes
    bar.close()
    root.transform = to_ecef
    doc = tileset_json(root)
    text = json.dumps(doc, indent=1).encode("utf-8")
    (work / "tileset.json").write_bytes(text)
    return len(nodes), total + len(text)


def _umask() -> int:
    """The process's file-mode creation mask (read without changing it where possible)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other way on this system: set and restore at once
    os.umask(mask)
    return mask


def is_previous_output(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds nothing but an earlier output of :func:`convert`.

    That is a ``tileset.json`` whose ``asset.generator`` is greentwin and at most a
    ``tiles`` folder beside it; anything else (a user's files) is not replaced without
    ``overwrite=True``.
    """
    try:
        names = {p.name for p in out_dir.iterdir()}
        doc = json.loads((out_dir / "tileset.json").read_bytes())
    except (OSError, ValueError):
        return False
    asset = doc.get("asset") if isinstance(doc, dict) else None
    return (
        isinstance(asset, dict)
        and asset.get("generator") == "greentwin"
        and names <= {"tileset.json", "tiles"}
    )


def check_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse an ``out_dir`` that exists, is not empty and is no earlier output.

    Raises
    ------
    TilingError
        Unless ``overwrite`` is given.
    """
    if overwrite or not (out_dir.exists() or out_dir.is_symlink()):
        return
    if out_dir.is_dir() and not out_dir.is_symlink():
        try:
            empty = next(out_dir.iterdir(), None) is None
        except OSError as exc:
            raise TilingError(f"cannot read the output folder {out_dir}: {exc}") from exc
        if empty or is_previous_output(out_dir):
            return
        what = "is not empty and holds no earlier greentwin tileset"
    else:
        what = "exists and is not a folder"
    raise TilingError(
        f"{out_dir} {what}; it would be replaced as a whole. Choose another output "
        "folder, or pass --overwrite to replace it."
    )


def _replace_dir(work: Path, out_dir: Path) -> None:
    """Move ``work`` to ``out_dir``; an existing ``out_dir`` is removed only afterwards."""
    old: Path | None = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    try:
        os.replace(work, out_dir)
    except OSError:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def convert(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    lod: int | None = None,
    crs: str | None = None,
    jobs: int = 1,
    height_mode: HeightMode = "crs",
    progress: bool = False,
    appearance_theme: str | None = None,
    max_features_per_tile: int = 500,
    max_bytes_per_tile: int = 8_000_000,
    max_coarse_per_tile: int = 1000,
    split: bool = True,
    overwrite: bool = False,
    vertical_crs: str | None = None,
    scheduler: str | None = None,
) -> ConversionSummary:
    """Convert CityGML files into one 3D Tiles 1.1 tileset at ``out_dir``.

    Parameters
    ----------
    inputs : CityGML files (1.0, 2.0, 3.0); all go into one tileset.
    out_dir : output folder (``tileset.json`` and ``tiles/*.glb``); replaced atomically.
    lod : LoD to convert (None: the highest per feature); see docs/convert.md for fallback.
    crs : CRS overriding or providing the documents' (any pyproj definition).
    jobs : local worker processes (1: everything in this process).
    height_mode : ``"crs"`` heights as the CRS says; ``"ground"`` moves the model
        down so its lowest ground point lies on the ellipsoid.
    progress : show a progress bar on stderr.
    appearance_theme : appearance theme to use (None: the reader's default).
    max_features_per_tile, max_bytes_per_tile : leaf limits.
    max_coarse_per_tile : prisms per parent tile.
    split : parse each file in byte ranges in parallel where that gives exactly the
        single stream's result (see docs/convert.md); False: the main process reads
        every file as one stream. The output is the same either way.
    overwrite : replace ``out_dir`` even when it holds other things than an earlier
        output (see :func:`check_out_dir`).
    vertical_crs : vertical CRS of the heights (e.g. ``"EPSG:3900"``), added to (or
        replacing the vertical part of) each input's CRS.
    scheduler : a Dask scheduler address (``tcp://host:8786``): byte ranges and tiles run
        as tasks on its workers instead of a local pool (``jobs`` is then ignored). The
        inputs and the output's parent folder must be at the same paths on every worker
        (a shared filesystem); the output is byte for byte that of a local run.

    Raises
    ------
    CityGMLError, InputFileError, UnsafeInputError, CRSError
        From reading; nothing is written then.
    TilingError
        Nothing convertible, the output could not be written, or ``out_dir`` holds
        other things and ``overwrite`` is not given.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    check_out_dir(out_dir, overwrite)
    if scheduler:  # workers run elsewhere: every path they see is absolute
        inputs = [Path(p).absolute() for p in inputs]
    if crs is not None and vertical_crs is not None:
        # one definition for the reader and the workers: the override with its heights
        crs = with_vertical(parse_srs_name(crs), parse_vertical_crs(vertical_crs)).pyproj_definition
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent.absolute()))
        # mkdtemp makes a private folder (0700); the tileset gets the usual permissions
        os.chmod(work, 0o777 & ~_umask())
    except OSError as exc:
        raise TilingError(f"cannot write beside {out_dir}: {exc}") from exc
    try:
        scratch = Path(
            tempfile.mkdtemp(prefix=f".{out_dir.name}.spill-", dir=out_dir.parent.absolute())
        )
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise TilingError(f"cannot write beside {out_dir}: {exc}") from exc
    # workers leave the objects they inherit (modules, the index so far) to the
    # permanent generation: the cyclic collector does not re-scan them
    try:
        pool = open_executor(jobs, scheduler, initializer=gc.freeze)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    jobs = pool.workers
    bar = tqdm(
        desc="converting",
        unit="feat",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    try:
        p1 = _pass1(
            inputs,
            pool,
            jobs,
            scratch,
            lod,
            crs,
            appearance_theme,
            bar,
            split,
            vertical_crs,
            height_mode == "crs",
        )
        bar.close()
        if not p1.blocks:
            raise TilingError(
                f"no feature with convertible geometry in {', '.join(str(p) for p in inputs)}"
            )
        try:
            tiles, nbytes = _pass2(
                p1,
                pool,
                work,
                height_mode,
                max_features_per_tile,
                max_bytes_per_tile,
                max_coarse_per_tile,
                progress,
            )
            _replace_dir(work, out_dir)
        except OSError as exc:
            raise TilingError(f"could not write the tileset to {out_dir}: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        bar.close()
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - t0
    summary = ConversionSummary(
        features=p1.count,
        objects=p1.objects,
        skipped=p1.reader_skipped + p1.skipped,
        tiles=tiles,
        bytes=nbytes,
        seconds=seconds,
        lods_used=dict(p1.lods),
        fallbacks=p1.fallbacks,
        tileset=out_dir / "tileset.json",
    )
    log.info(
        "converted %d features (%d objects) into %d tiles, %.1f MB in %.1f s (%.0f features/s)",
        summary.features,
        summary.objects,
        tiles,
        nbytes / 1e6,
        seconds,
        summary.features / max(seconds, 1e-9),
    )
    return summary
