"""``GET /tiles/{scenario}/{version}/{path}``: immutable tile files, and the file-serving core.

Tile URLs are versioned and never change content, so responses carry
``Cache-Control: public, max-age=31536000, immutable`` and a strong ETag (the content's
SHA-256, recorded when the version was published). ``If-None-Match`` is answered with 304
from that recorded hash alone, before the file or the file cache is touched. One byte
range (``Range: bytes=a-b``, ``a-``, ``-n``) is answered with 206 and ``Content-Range``,
an unsatisfiable one with 416; several ranges in one request get the whole file (200),
which RFC 9110 §14.2 allows. JSON (``tileset.json``) is gzip-compressed when the client
accepts it and asks for no range. Small files are kept in a bounded in-memory cache;
larger ones are streamed.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import mimetypes
import os
import threading
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web
from greentwin.server.access import readable
from greentwin.server.keys import FILES, IO_POOL, STORE
from greentwin.server.store import ID_RE, SEGMENT_RE, VERSION_RE, FileEntry

__all__ = [
    "IMMUTABLE",
    "FileServer",
    "accepts_gzip",
    "content_type_for",
    "routes",
    "send_entry",
    "split_segments",
    "version_index",
]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

#: Cache policy of versioned, immutable URLs.
IMMUTABLE = "public, max-age=31536000, immutable"

_TYPES: dict[str, str] = {
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".b3dm": "application/octet-stream",
    ".i3dm": "application/octet-stream",
    ".pnts": "application/octet-stream",
    ".cmpt": "application/octet-stream",
    ".subtree": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ktx2": "image/ktx2",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}

#: Suffixes worth compressing (text and wasm; glb and images are left alone).
_COMPRESSIBLE = frozenset(
    {".json", ".geojson", ".gltf", ".map", ".html", ".css", ".js", ".mjs", ".svg", ".xml"}
    | {".txt", ".md", ".wasm"}
)

_STREAM_CHUNK = 256 * 1024


def content_type_for(name: str) -> str:
    """The Content-Type to send for a file name."""
    suffix = os.path.splitext(name)[1].lower()
    known = _TYPES.get(suffix)
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def split_segments(tail: str) -> list[str] | None:
    """Split a URL tail into path segments, or None if any segment is not a plain name.

    Rejects empty segments, ``.``/``..``, hidden names, backslashes, NUL bytes, and
    anything outside ``SEGMENT_RE``.
    """
    parts = tail.split("/")
    if not parts or not all(SEGMENT_RE.fullmatch(p) for p in parts):
        return None
    return parts


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.2 ``If-None-Match``: weak comparison over a list of tags or ``*``."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    for tag in header.split(","):
        if tag.strip().removeprefix("W/") == bare:
            return True
    return False


def _accepts_gzip(request: web.BaseRequest) -> bool:
    return accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value lets gzip through (``gzip`` or ``*``, q > 0)."""
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip().replace(" ", "")
            return q not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _byte_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """One range of RFC 9110 §14.1.2 ``Range: bytes=...`` over ``size`` bytes.

    Returns ``(start, end)`` with ``end`` exclusive for one satisfiable range; False when
    the range cannot be satisfied (416); None when the header is to be ignored (another
    unit, bad syntax, or several ranges: the whole file is sent).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        n = int(last)  # suffix range: the last n bytes
        if n == 0:
            return False
        return max(size - n, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        return False
    return start, end


def _if_range_allows(request: web.BaseRequest, etag: str) -> bool:
    """``If-Range`` (RFC 9110 §13.1.5): a range only if the strong tag still matches."""
    value = request.headers.get(hdrs.IF_RANGE)
    return value is None or value.strip() == etag


@dataclass(frozen=True, slots=True)
class _Blob:
    data: bytes
    gz: bytes | None


class FileServer:
    """Serve files with strong ETags, conditional GET, gzip and a bounded memory cache.

    Parameters
    ----------
    budget : bytes of file content (plain plus compressed) kept in memory.
    executor : where blocking reads, hashing and compression run.
    """

    def __init__(self, budget: int, executor: Executor | None = None) -> None:
        self.budget = budget
        self.max_entry = max(budget // 8, 0)
        self.executor = executor
        self._blobs: OrderedDict[tuple[str, int, int], _Blob] = OrderedDict()
        self._used = 0
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- caching
    def _get(self, key: tuple[str, int, int]) -> _Blob | None:
        with self._lock:
            blob = self._blobs.get(key)
            if blob is not None:
                self._blobs.move_to_end(key)
            return blob

    def cached_blob(self, path: Path, size: int) -> _Blob | None:
        """The cached content of an immutable file (known hash and size), or None.

        Only what :meth:`respond` has read already (after its confinement and size
        checks) is found here; no disk access.
        """
        return self._get((str(path), 0, size))

    def _put(self, key: tuple[str, int, int], blob: _Blob) -> None:
        cost = len(blob.data) + (len(blob.gz) if blob.gz is not None else 0)
        if cost > self.max_entry:
            return
        with self._lock:
            old = self._blobs.pop(key, None)
            if old is not None:
                self._used -= len(old.data) + (len(old.gz) if old.gz is not None else 0)
            self._blobs[key] = blob
            self._used += cost
            while self._used > self.budget and self._blobs:
                _, gone = self._blobs.popitem(last=False)
                self._used -= len(gone.data) + (len(gone.gz) if gone.gz is not None else 0)

    @staticmethod
    def _load(path: Path, compress: bool) -> _Blob:
        data = path.read_bytes()
        gz = gzip.compress(data, compresslevel=6, mtime=0) if compress else None
        if gz is not None and len(gz) >= len(data):
            gz = None
        return _Blob(data, gz)

    def _hash(self, key: tuple[str, int, int], path: Path) -> str:
        with self._lock:
            known = self._hashes.get(key)
        if known is not None:
            return known
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        value = digest.hexdigest()
        with self._lock:
            if len(self._hashes) > 100_000:
                self._hashes.clear()
            self._hashes[key] = value
        return value

    # ---------------------------------------------------------------- serving
    async def respond(
        self,
        request: web.Request,
        path: Path,
        *,
        root: Path,
        cache_control: str,
        sha256: str | None = None,
        size: int | None = None,
    ) -> web.StreamResponse:
        """Answer a GET/HEAD for one file.

        Parameters
        ----------
        path : the file; must resolve inside ``root`` (symbolic links escaping it are refused).
        root : the directory the file must stay in.
        cache_control : the ``Cache-Control`` value.
        sha256 : the content hash when known (immutable tiles); else computed and cached by
            (path, mtime, size).
        size : the expected size when known; a mismatch means the file was tampered with.

        Raises
        ------
        web.HTTPNotFound
            The file does not exist, is not a regular file or lies outside ``root``.
        """
        inm = request.headers.get(hdrs.IF_NONE_MATCH)
        if inm is not None and sha256 is not None:
            fast = self._not_modified(request, path, inm, sha256, cache_control)
            if fast is not None:
                return fast  # answered from the recorded hash: no stat, no cache, no read
        loop = asyncio.get_running_loop()
        try:
            st = path.stat() if sha256 is None else None
        except OSError:
            raise web.HTTPNotFound(text="no such file") from None
        key = (str(path), st.st_mtime_ns if st else 0, st.st_size if st else (size or 0))
        blob = self._get(key)
        if blob is None:
            # Confinement check before the first read of this (immutable or re-stat'ed) file.
            try:
                real = await loop.run_in_executor(self.executor, path.resolve, True)
            except OSError:
                raise web.HTTPNotFound(text="no such file") from None
            if not real.is_relative_to(root.resolve()) or not real.is_file():
                log.warning("refused %s: outside %s or not a regular file", path, root)
                raise web.HTTPNotFound(text="no such file")
        if sha256 is None:
            sha256 = await loop.run_in_executor(self.executor, self._hash, key, path)
        suffix = path.suffix.lower()
        compress = suffix in _COMPRESSIBLE
        ranged = request.headers.get(hdrs.RANGE)
        use_gz = compress and ranged is None and _accepts_gzip(request)
        headers: dict[str, str] = {
            hdrs.CACHE_CONTROL: cache_control,
            hdrs.CONTENT_TYPE: content_type_for(path.name),
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
            hdrs.ACCEPT_RANGES: "bytes",
        }
        if compress:
            headers[hdrs.VARY] = "Accept-Encoding"
        etag = f'"{sha256[:40]}"'
        etag_gz = f'"{sha256[:40]}-gz"'
        file_size = st.st_size if st else size
        if blob is None and file_size is not None and file_size <= self.max_entry:
            blob = await loop.run_in_executor(self.executor, self._load, path, compress)
            if size is not None and len(blob.data) != size:
                log.error("%s: size %d differs from its index (%d)", path, len(blob.data), size)
                raise web.HTTPNotFound(text="no such file")
            self._put(key, blob)
        if use_gz and (blob is None or blob.gz is None):
            use_gz = False
        headers[hdrs.ETAG] = etag_gz if use_gz else etag
        if inm is not None and _etag_matches(inm, headers[hdrs.ETAG]):
            del headers[hdrs.CONTENT_TYPE]
            return web.Response(status=304, headers=headers)
        if ranged is not None and _if_range_allows(request, etag):
            total = len(blob.data) if blob is not None else file_size
            if total is None:
                total = (await loop.run_in_executor(self.executor, path.stat)).st_size
            want = _byte_range(ranged, total)
            if want is False:
                return web.Response(
                    status=416,
                    headers={
                        hdrs.CONTENT_RANGE: f"bytes */{total}",
                        hdrs.CACHE_CONTROL: cache_control,
                        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
                    },
                )
            if isinstance(want, tuple):
                start, end = want
                headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{end - 1}/{total}"
                if blob is not None:
                    return web.Response(status=206, body=blob.data[start:end], headers=headers)
                return await self._stream(request, path, headers, start, end)
        if blob is not None:
            if use_gz and blob.gz is not None:
                headers[hdrs.CONTENT_ENCODING] = "gzip"
                return web.Response(body=blob.gz, headers=headers)
            return web.Response(body=blob.data, headers=headers)
        return await self._stream(request, path, headers)

    def _not_modified(
        self, request: web.Request, path: Path, inm: str, sha256: str, cache_control: str
    ) -> web.Response | None:
        """304 for a matching ``If-None-Match`` of a file whose hash is recorded, else None.

        The tag compared is the one a full answer would carry (``-gz`` for a compressed
        one); when that depends on whether compression pays (only known from the content),
        None lets the full path decide.
        """
        compress = path.suffix.lower() in _COMPRESSIBLE
        gz = compress and request.headers.get(hdrs.RANGE) is None and _accepts_gzip(request)
        tag = f'"{sha256[:40]}-gz"' if gz else f'"{sha256[:40]}"'
        if not _etag_matches(inm, tag):
            return None
        headers = {
            hdrs.CACHE_CONTROL: cache_control,
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
            hdrs.ACCEPT_RANGES: "bytes",
            hdrs.ETAG: tag,
        }
        if compress:
            headers[hdrs.VARY] = "Accept-Encoding"
        return web.Response(status=304, headers=headers)

    async def _stream(
        self,
        request: web.Request,
        path: Path,
        headers: dict[str, str],
        start: int = 0,
        end: int | None = None,
    ) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        try:
            fh = await loop.run_in_executor(self.executor, open, path, "rb")
        except OSError:
            raise web.HTTPNotFound(text="no such file") from None
        try:
            size = os.fstat(fh.fileno()).st_size
            stop = size if end is None else min(end, size)
            resp = web.StreamResponse(status=206 if hdrs.CONTENT_RANGE in headers else 200)
            resp.headers.update(headers)
            resp.content_length = max(stop - start, 0)
            await resp.prepare(request)
            if request.method != hdrs.METH_HEAD:
                if start:
                    await loop.run_in_executor(self.executor, fh.seek, start)
                left = stop - start
                while left > 0:
                    chunk = await loop.run_in_executor(
                        self.executor, fh.read, min(_STREAM_CHUNK, left)
                    )
                    if not chunk:
                        break
                    left -= len(chunk)
                    await resp.write(chunk)
            await resp.write_eof()
            return resp
        finally:
            fh.close()


@routes.get("/tiles/{scenario}/{version}/{tail:.*}", name="tiles")
async def tile(request: web.Request) -> web.StreamResponse:
    """One file of a published version; 404 for anything not in the version's index."""
    scenario = request.match_info["scenario"]
    version = request.match_info["version"]
    tail = request.match_info["tail"]
    if not ID_RE.fullmatch(scenario):
        raise web.HTTPBadRequest(text=f"invalid scenario id {scenario[:64]!r}")
    if not VERSION_RE.fullmatch(version):
        raise web.HTTPNotFound(text="no such version")
    if split_segments(tail) is None:
        raise web.HTTPBadRequest(text="invalid file path")
    index = await version_index(request.app, scenario, version)
    if index is None or not await readable(request, scenario):
        raise web.HTTPNotFound(text=f"no version {version} in scenario {scenario}")
    entry = index.get(tail)
    if entry is None:
        raise web.HTTPNotFound(text="no such file in this version")
    return await send_entry(request, entry)


async def version_index(
    app: web.Application, scenario: str, version: str
) -> dict[str, FileEntry] | None:
    """A published version's file index: from memory, else read in the I/O pool."""
    store = app[STORE]
    index = store.cached_index(scenario, version)
    if index is None:
        loop = asyncio.get_running_loop()
        index = await loop.run_in_executor(app[IO_POOL], store.load_index, scenario, version)
    return index


async def send_entry(request: web.Request, entry: FileEntry) -> web.StreamResponse:
    """One file of a published version, as an immutable response (ETag, ranges, gzip)."""
    app = request.app
    return await app[FILES].respond(
        request,
        entry.path,
        root=app[STORE].root,
        cache_control=IMMUTABLE,
        sha256=entry.sha256,
        size=entry.size,
    )
