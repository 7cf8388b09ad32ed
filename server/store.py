"""The tile store: immutable, content-addressed versions of each scenario's layers on disk.

Layout under the data directory::

    tiles/{scenario}/manifest.json            current version of every layer, display time
    tiles/{scenario}/{version}/.index.json    every file of the version: size and SHA-256
    tiles/{scenario}/{version}/{layer}/...    the layer itself (tileset.json, glb, ...)

A version is the first 16 hex digits of a SHA-256 over the layer's name and every file's
relative path and content hash, so publishing the same content twice yields the same
version and a version directory never changes once it exists. :meth:`TileStore.publish`
copies into a temporary directory next to the target and renames it into place (a file
whose content equals the same file of the layer's current version is hard-linked to it
instead: versions share unchanged files, so a new overlay version after an edit writes
only the tiles that changed); the
manifest is rewritten with write-temp-then-rename. A failed publish leaves the previous
version and manifest untouched.

Files are served by looking them up in the version's index, never by joining request text
onto a path: a name that is not in the index does not exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from greentwin.core import ScenarioError, TilingError
from greentwin.twin.layers import LayerKind, PublishedLayer

__all__ = [
    "ID_RE",
    "SEGMENT_RE",
    "VERSION_RE",
    "DisplayTime",
    "FileEntry",
    "LayerKind",
    "PublishedLayer",
    "TileStore",
    "default_time",
    "validate_time",
]

log = logging.getLogger(__name__)

#: Scenario and layer ids: lower-case letters, digits, ``_`` and ``-``, 1-64 characters.
ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: Version ids: 16 lower-case hex digits (a truncated SHA-256).
VERSION_RE = re.compile(r"[0-9a-f]{16}")
#: One path segment of a file inside a layer: no leading dot, so no ``..`` and no hidden files.
SEGMENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")

INDEX_NAME = ".index.json"
MANIFEST_NAME = "manifest.json"
FORMAT = 1

_CHUNK = 1 << 20


class DisplayTime(TypedDict):
    """The time a scenario is displayed at: a planning year and a calendar date in it."""

    year: int
    date: str  # ISO 8601 calendar date, YYYY-MM-DD, in ``year``


class _LayerRecord(TypedDict, total=False):
    version: str
    kind: LayerKind
    entry: str
    source: str
    published: str


class _Manifest(TypedDict):
    format: int
    revision: int
    time: DisplayTime
    layers: dict[str, _LayerRecord]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a published version.

    Attributes
    ----------
    path : absolute path on disk (inside the version directory).
    sha256 : hex digest of the content.
    size : bytes.
    """

    path: Path
    sha256: str
    size: int


def default_time() -> DisplayTime:
    """Today's date (UTC) as the display time."""
    today = dt.datetime.now(dt.UTC).date()
    return {"year": today.year, "date": today.isoformat()}


def validate_time(value: object) -> DisplayTime:
    """Check a display time from a request: ``{"year": int, "date": "YYYY-MM-DD"}``.

    ``year`` may be omitted (taken from the date); the date's year must equal ``year``.

    Raises
    ------
    ScenarioError
        The value is not a valid display time.
    """
    if not isinstance(value, Mapping):
        raise ScenarioError('time must be an object {"year": 2030, "date": "2030-06-21"}')
    date_text = value.get("date")
    if not isinstance(date_text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_text):
        raise ScenarioError("time.date must be a date written YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError as exc:
        raise ScenarioError(f"time.date {date_text!r} is not a calendar date") from exc
    year = value.get("year", date.year)
    if not isinstance(year, int) or isinstance(year, bool):
        raise ScenarioError("time.year must be an integer")
    if not 1900 <= year <= 2200:
        raise ScenarioError("time.year must lie in 1900..2200")
    if year != date.year:
        raise ScenarioError(f"time.date {date_text} is not in time.year {year}")
    unknown = set(value) - {"year", "date"}
    if unknown:
        raise ScenarioError(f"unknown time fields: {sorted(unknown)}")
    return {"year": year, "date": date.isoformat()}


def _check_id(kind: str, value: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise ScenarioError(
            f"invalid {kind} id {value!r}: use 1-64 characters a-z, 0-9, '_' or '-'"
        )
    return value


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class TileStore:
    """Publish and look up immutable tile versions under ``data_dir/tiles``.

    Thread-safe; several processes may publish into the same data directory (the manifest
    update is serialised with an advisory file lock).
    """

    def __init__(self, data_dir: Path, *, index_cache: int = 256) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.root = self.data_dir / "tiles"
        self._lock = threading.Lock()
        self._indexes: OrderedDict[tuple[str, str], dict[str, FileEntry]] = OrderedDict()
        self._index_cache = index_cache

    def __reduce__(self) -> tuple[Callable[[Path, int], TileStore], tuple[Path, int]]:
        # a store pickles as a handle on the same folder (a build may run in a child process)
        return (_reopen, (self.data_dir, self._index_cache))

    # ----------------------------------------------------------------- layout
    def scenario_dir(self, scenario: str) -> Path:
        """Directory of one scenario (the id is validated first)."""
        return self.root / _check_id("scenario", scenario)

    def ensure(self) -> None:
        """Create the data directory layout.

        Raises
        ------
        OSError
            The data directory cannot be created.
        """
        self.root.mkdir(parents=True, exist_ok=True)

    def writable(self) -> bool:
        """Whether the tile store's directory accepts new files."""
        try:
            self.ensure()
            probe = self.root / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            return False
        return True

    @contextlib.contextmanager
    def _scenario_lock(self, scenario_dir: Path) -> Iterator[None]:
        scenario_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, open(scenario_dir / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # --------------------------------------------------------------- manifest
    def _read_manifest(self, scenario: str) -> _Manifest | None:
        path = self.scenario_dir(scenario) / MANIFEST_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise TilingError(f"{path}: unknown manifest format; move the data directory aside")
        manifest: _Manifest = {
            "format": FORMAT,
            "revision": int(doc.get("revision", 0)),
            "time": validate_time(doc.get("time", default_time())),
            "layers": dict(doc.get("layers", {})),
        }
        return manifest

    def _write_manifest(self, scenario: str, manifest: _Manifest) -> None:
        path = self.scenario_dir(scenario) / MANIFEST_NAME
        _write_atomic(path, json.dumps(manifest, indent=1, sort_keys=True).encode())

    def scenarios(self) -> list[str]:
        """Ids of the scenarios that have a manifest, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if ID_RE.fullmatch(p.name) and (p / MANIFEST_NAME).is_file()
        )

    def revision(self, scenario: str) -> int:
        """Monotonic counter of the scenario's published changes (0: nothing published)."""
        manifest = self._read_manifest(scenario)
        return 0 if manifest is None else manifest["revision"]

    def layers(self, scenario: str) -> dict[str, PublishedLayer]:
        """The current version of every layer of a scenario, with its URL.

        Raises
        ------
        ScenarioError
            The scenario id is invalid.
        """
        manifest = self._read_manifest(scenario)
        if manifest is None:
            return {}
        out: dict[str, PublishedLayer] = {}
        for name, rec in sorted(manifest["layers"].items()):
            version = rec.get("version", "")
            entry = rec.get("entry", "tileset.json")
            if not (ID_RE.fullmatch(name) and VERSION_RE.fullmatch(version)):
                log.warning("manifest of %s: skipping malformed layer %r", scenario, name)
                continue
            out[name] = PublishedLayer(
                name=name,
                version=version,
                kind=rec.get("kind", "3dtiles"),
                url=f"/tiles/{scenario}/{version}/{name}/{entry}",
                source=rec.get("source", ""),
            )
        return out

    def get_time(self, scenario: str) -> DisplayTime:
        """The scenario's display time (today if never set)."""
        manifest = self._read_manifest(scenario)
        return default_time() if manifest is None else manifest["time"]

    def set_time(self, scenario: str, time: object) -> DisplayTime:
        """Store the scenario's display time in its manifest (atomically).

        Raises
        ------
        ScenarioError
            Invalid scenario id or time.
        """
        value = validate_time(time)
        sdir = self.scenario_dir(scenario)
        with self._scenario_lock(sdir):
            manifest = self._read_manifest(scenario) or _empty_manifest()
            manifest["time"] = value
            self._write_manifest(scenario, manifest)
        return value

    # ---------------------------------------------------------------- publish
    def publish(
        self,
        scenario: str,
        layer: str,
        src_dir: Path,
        *,
        kind: LayerKind = "3dtiles",
        entry: str = "tileset.json",
        source: str = "",
    ) -> str:
        """Copy a built layer into the store as a new immutable version and make it current.

        Parameters
        ----------
        scenario, layer : ids (``ID_RE``).
        src_dir : folder holding the layer (``entry`` at its top), regular files only.
        kind : what the layer holds.
        entry : file clients open first.
        source : free text recorded with the layer (the demo stores its input hash here).

        Returns
        -------
        The version id.

        Raises
        ------
        TilingError
            The folder is missing its entry, holds a symlink or a name that cannot be
            served, or copying failed; the previous version stays current.
        """
        _check_id("scenario", scenario)
        _check_id("layer", layer)
        src = Path(src_dir)
        if not SEGMENT_RE.fullmatch(entry) or not (src / entry).is_file():
            raise TilingError(f"cannot publish {src}: it has no {entry!r} at its top")

        def stage(dst: Path, shared: Mapping[str, FileEntry]) -> dict[str, tuple[str, int]]:
            return self._copy_tree(src, dst, layer, shared)

        return self._publish(scenario, layer, stage, str(src), kind, entry, source)

    def publish_files(
        self,
        scenario: str,
        layer: str,
        files: Mapping[str, bytes],
        *,
        kind: LayerKind = "3dtiles",
        entry: str = "tileset.json",
        source: str = "",
    ) -> str:
        """Like :meth:`publish`, for a layer held in memory: relative path -> content.

        Only the files whose content is new are written (and synced); the others are
        hard-linked to the layer's current version.

        Raises
        ------
        TilingError
            ``entry`` is missing, a path has a segment that cannot be served, or writing
            failed; the previous version stays current.
        """
        _check_id("scenario", scenario)
        _check_id("layer", layer)
        if not SEGMENT_RE.fullmatch(entry) or entry not in files:
            raise TilingError(f"cannot publish {scenario}/{layer}: it has no {entry!r}")
        for rel in files:
            if not all(SEGMENT_RE.fullmatch(part) for part in rel.split("/")):
                raise TilingError(f"refusing to publish {rel!r}: the name cannot be served")

        def stage(dst: Path, shared: Mapping[str, FileEntry]) -> dict[str, tuple[str, int]]:
            return self._write_files(files, dst, layer, shared)

        return self._publish(scenario, layer, stage, f"{layer} from memory", kind, entry, source)

    def _publish(
        self,
        scenario: str,
        layer: str,
        stage: Callable[[Path, Mapping[str, FileEntry]], dict[str, tuple[str, int]]],
        what: str,
        kind: LayerKind,
        entry: str,
        source: str,
    ) -> str:
        sdir = self.scenario_dir(scenario)
        sdir.mkdir(parents=True, exist_ok=True)
        tmp = sdir / f".tmp-{uuid.uuid4().hex}"
        current = self.layers(scenario).get(layer)
        shared = self.load_index(scenario, current.version) if current is not None else None
        try:
            files = stage(tmp / layer, shared or {})
            digest = hashlib.sha256(f"greentwin-layer/{FORMAT}/{layer}\n".encode())
            for rel in sorted(files):
                digest.update(f"{rel}\0{files[rel][0]}\n".encode())
            version = digest.hexdigest()[:16]
            index = {"files": {rel: {"sha256": h, "size": n} for rel, (h, n) in files.items()}}
            _write_atomic(tmp / INDEX_NAME, json.dumps(index, sort_keys=True).encode())
            final = sdir / version
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / INDEX_NAME).is_file():
                    raise
                log.debug("version %s/%s already published", scenario, version)
        except OSError as exc:
            raise TilingError(f"publishing {what} as {scenario}/{layer} failed: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        with self._scenario_lock(sdir):
            manifest = self._read_manifest(scenario) or _empty_manifest()
            manifest["layers"][layer] = {
                "version": version,
                "kind": kind,
                "entry": entry,
                "source": source,
                "published": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            manifest["revision"] += 1
            self._write_manifest(scenario, manifest)
        log.info("published %s/%s as version %s (%d files)", scenario, layer, version, len(files))
        return version

    @staticmethod
    def _copy_tree(
        src: Path, dst: Path, prefix: str, shared: Mapping[str, FileEntry]
    ) -> dict[str, tuple[str, int]]:
        """Copy ``src`` to ``dst``; a file whose content equals the one of the same name in
        ``shared`` (the layer's current version) is hard-linked to it instead of copied:
        versions share unchanged files, and only new content is written and synced."""
        files: dict[str, tuple[str, int]] = {}
        for dirpath, dirnames, filenames in os.walk(src):
            here = Path(dirpath)
            rel_dir = here.relative_to(src)
            for name in (*dirnames, *filenames):
                p = here / name
                if p.is_symlink():
                    raise TilingError(f"refusing to publish {p}: symbolic links are not allowed")
                if not SEGMENT_RE.fullmatch(name):
                    raise TilingError(f"refusing to publish {p}: the name cannot be served")
            (dst / rel_dir).mkdir(parents=True, exist_ok=True)
            for name in filenames:
                rel = (rel_dir / name).as_posix()
                old = shared.get(f"{prefix}/{rel}")
                if old is not None and (here / name).stat().st_size == old.size:
                    digest = _hash_file(here / name)
                    if digest == old.sha256:
                        try:
                            os.link(old.path, dst / rel)
                        except OSError:
                            pass  # gone or another file system: copy it
                        else:
                            files[f"{prefix}/{rel}"] = (digest, old.size)
                            continue
                digest_obj = hashlib.sha256()
                size = 0
                with open(here / name, "rb") as fin, open(dst / rel, "wb") as fout:
                    while chunk := fin.read(_CHUNK):
                        digest_obj.update(chunk)
                        fout.write(chunk)
                        size += len(chunk)
                    fout.flush()
                    os.fsync(fout.fileno())
                files[f"{prefix}/{rel}"] = (digest_obj.hexdigest(), size)
        return files

    @staticmethod
    def _write_files(
        files: Mapping[str, bytes], dst: Path, prefix: str, shared: Mapping[str, FileEntry]
    ) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        for rel, data in files.items():
            digest = hashlib.sha256(data).hexdigest()
            target = dst.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            out[f"{prefix}/{rel}"] = (digest, len(data))
            old = shared.get(f"{prefix}/{rel}")
            if old is not None and old.sha256 == digest and old.size == len(data):
                try:
                    os.link(old.path, target)
                except OSError:
                    pass  # gone or another file system: write it
                else:
                    continue
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        return out

    # ----------------------------------------------------------------- lookup
    def cached_index(self, scenario: str, version: str) -> dict[str, FileEntry] | None:
        """The index of a version if it is already in memory (no disk access)."""
        with self._lock:
            index = self._indexes.get((scenario, version))
            if index is not None:
                self._indexes.move_to_end((scenario, version))
            return index

    def load_index(self, scenario: str, version: str) -> dict[str, FileEntry] | None:
        """The files of a version (relative path -> entry), or None if there is no such version.

        Ids are checked before any disk access; the index is cached (versions are immutable).
        """
        if not (ID_RE.fullmatch(scenario) and VERSION_RE.fullmatch(version)):
            return None
        cached = self.cached_index(scenario, version)
        if cached is not None:
            return cached
        vdir = self.root / scenario / version
        try:
            doc = json.loads((vdir / INDEX_NAME).read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None
        root = self.root.resolve()
        index: dict[str, FileEntry] = {}
        for rel, meta in doc.get("files", {}).items():
            parts = rel.split("/")
            if not all(SEGMENT_RE.fullmatch(p) for p in parts):
                log.warning("index of %s/%s: skipping unsafe name %r", scenario, version, rel)
                continue
            index[rel] = FileEntry(
                path=vdir.joinpath(*parts), sha256=str(meta["sha256"]), size=int(meta["size"])
            )
        if not vdir.resolve().is_relative_to(root):
            log.warning("version %s/%s resolves outside the store: refused", scenario, version)
            return None
        with self._lock:
            self._indexes[(scenario, version)] = index
            while len(self._indexes) > self._index_cache:
                self._indexes.popitem(last=False)
        return index

    def lookup(self, scenario: str, version: str, rel: str) -> FileEntry | None:
        """One file of a version by its relative path, or None; see :meth:`load_index`."""
        index = self.load_index(scenario, version)
        return None if index is None else index.get(rel)


def _reopen(data_dir: Path, index_cache: int) -> TileStore:
    """A store on the same folder (what a pickled :class:`TileStore` becomes)."""
    return TileStore(data_dir, index_cache=index_cache)


def _empty_manifest() -> _Manifest:
    return {"format": FORMAT, "revision": 0, "time": default_time(), "layers": {}}
