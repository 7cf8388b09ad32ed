"""A connection-level shortcut for the commonest request: a cached immutable tile.

aiohttp spends most of a small tile's time on work that such a request does not need
(building a request object, routing, middlewares, a task per request, a response
object). :class:`TileSite` listens like ``web.TCPSite`` but gives each connection a
small protocol first. It reads request heads itself and answers, on the spot and in
order, a ``GET``/``HEAD`` of ``/tiles/...`` or ``/overlays/...`` when every one of
these holds:

- the request line is ``HTTP/1.1``, the head is plain ASCII with well-formed header
  lines, and the request has no body, no ``Authorization``, ``Range``, ``If-Range``,
  ``Upgrade``, ``Expect``, query string or percent-escape;
- the path names a file in the in-memory index of a published version of the default
  scenario (always public) and, for anonymous callers, the server allows them;
- the answer is a 304 from the recorded content hash, or the file's bytes are already
  in the file cache (:class:`~greentwin.server.routes_tiles.FileServer`).

A request whose head (every byte of it) repeats one answered here before gets the
answer kept for that head, with the Date line of the current second: a dictionary look-up
instead of parsing the head and building the answer again (versions never change, so
neither do their answers). At most 4096 answers and 32 MiB are kept; when either bound is
reached, all are forgotten.

The answer is the one the aiohttp route gives (same status, headers, ETag, gzip choice,
access-log line; the line goes to the access log's buffer,
:class:`~greentwin.server.run.AccessLog`, written in batches). Any other request, every error included, goes to an aiohttp
``RequestHandler`` made for the connection, and so do the requests read while that
handler is busy: answers keep their order, pipelined or not, and every other rule stays
in one place. Once the handler waits for the next request again, answering here
resumes. A request with a body or an upgrade (a WebSocket) gives the connection to
aiohttp for good. On shutdown the connections idle here are closed; aiohttp lets the
ones it is answering on finish.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.tcp_helpers import tcp_nodelay
from greentwin.server.keys import CONFIG, FILES, LIVE_HUB, STORE
from greentwin.server.routes_overlays import INDICATOR_RE
from greentwin.server.routes_tiles import (
    _COMPRESSIBLE,
    IMMUTABLE,
    _etag_matches,
    accepts_gzip,
    content_type_for,
    split_segments,
)
from greentwin.server.run import AccessLog
from greentwin.server.store import ID_RE, VERSION_RE, FileEntry

__all__ = ["TileShortcut", "TileSite"]

log = logging.getLogger(__name__)
_time = time.time
_perf_counter = time.perf_counter

#: Largest request head read here; a longer one goes to aiohttp (which limits lines).
_MAX_HEAD = 8190
#: Headers that send a request to aiohttp.
_HAND_OVER = frozenset(
    {b"authorization", b"range", b"if-range", b"transfer-encoding", b"upgrade", b"expect"}
)
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Control characters other than tab (CR and LF are counted apart).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Common headers with no bearing on the answer (skipped without looking at the value).
_PLAIN = frozenset(
    {
        b"host",
        b"user-agent",
        b"accept",
        b"accept-language",
        b"referer",
        b"origin",
        b"cache-control",
        b"pragma",
        b"sec-fetch-mode",
        b"sec-fetch-site",
        b"sec-fetch-dest",
        b"dnt",
        b"cookie",
    }
)
_OVERLAY_MAX_Z = 24  # as routes_overlays
_SERVER = f"Server: {SERVER_SOFTWARE}\r\n".encode("ascii")
_OK = b"HTTP/1.1 200 OK\r\n"
_NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\n"


@dataclass(frozen=True, slots=True)
class _Target:
    """A request path checked once: where its file is looked up, and what its answers
    carry (the ETags, the start of the headers)."""

    scenario: str
    version: str
    name: str  # the key in the version's index
    overlay: str | None  # the indicator's ``meta.json`` key that must be in the index


@dataclass(slots=True)
class _Answer:
    """A whole answer kept for repeats of one request head: ``response``, made in
    ``second``, its Date line ``date_len`` bytes long from ``date_at``."""

    response: bytes
    second: int
    date_at: int
    date_len: int
    close: bool  # Connection: close
    log_start: str  # the access-log line up to the time taken


#: Bounds of the answers kept by request head.
_ANSWERS = 4096
_ANSWERS_BYTES = 32 * 1024 * 1024
_ANSWER_MAX = 256 * 1024
_Parsed = tuple[bool, str, bytes | None, bytes | None, bool]


def _ms_text(seconds: float) -> str:
    """The access log's ``ms`` value, as ``AccessLogger`` writes it."""
    ms = seconds * 1000.0
    return "0.0" if ms < 0.005 else repr(round(ms, 2))


class TileShortcut:
    """Answers for one application: request head in, response bytes out (or None).

    Parameters
    ----------
    app : the application (store, file cache, configuration).
    access_log : where access-log lines go, None when the access log is off.
    """

    def __init__(self, app: web.Application, access_log: AccessLog | None) -> None:
        self.app = app
        self.access_log = access_log
        self.scenario = app[CONFIG].default_scenario
        self._targets: dict[str, _Target | None] = {}
        self._heads: dict[tuple[str, str, bool, bool], bytes] = {}
        self._date = b""
        self._date_second = -1
        #: Answers by request head (the bytes before the blank line), for repeats.
        self.answers: dict[bytes, _Answer] = {}
        self._answers_size = 0
        #: Requests answered here (for tests and benchmarks).
        self.answered = 0

    def _date_line(self, now: int | None = None) -> bytes:
        if now is None:
            now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date = f"Date: {formatdate(now, usegmt=True)}\r\n".encode("ascii")
        return self._date

    def remember(self, head: bytes, parsed: _Parsed, status: int, response: bytes) -> None:
        """Keep an answer for the next request with the very same head (its Date line
        is put in afresh each second). Bounded: at most ``_ANSWERS`` answers and
        ``_ANSWERS_BYTES`` bytes, all forgotten when either is reached."""
        date = self._date
        at = response.find(date)
        if at < 0 or len(response) > _ANSWER_MAX:
            return
        size = len(head) + len(response) + 300
        if len(self.answers) >= _ANSWERS or self._answers_size + size > _ANSWERS_BYTES:
            self.answers.clear()
            self._answers_size = 0
        head_only, path, _, _, close = parsed
        method = "HEAD" if head_only else "GET"
        self.answers[head] = _Answer(
            response,
            self._date_second,
            at,
            len(date),
            close,
            f'{{"method":"{method}","path":"{path}","status":{status},'
            f'"bytes":{len(response)},"ms":',
        )
        self._answers_size += size

    def anonymous_allowed(self) -> bool:
        """Whether the server answers anonymous callers (else aiohttp says 401)."""
        hub = self.app.get(LIVE_HUB)
        return hub is None or bool(hub.config.allow_anonymous)

    def _target(self, path: str) -> _Target | None:
        """What a ``/tiles`` or ``/overlays`` path names, if it is answerable here
        (the default scenario, names the routes accept); remembered per path."""
        try:
            return self._targets[path]
        except KeyError:
            pass
        target = self._check(path)
        if len(self._targets) >= 20_000:
            self._targets.clear()
        self._targets[path] = target
        return target

    def _check(self, path: str) -> _Target | None:
        parts = path.split("/", 4)
        if parts[1] == "tiles":
            if len(parts) != 5 or parts[2] != self.scenario or not VERSION_RE.fullmatch(parts[3]):
                return None
            if not ID_RE.fullmatch(parts[2]) or split_segments(parts[4]) is None:
                return None
            return _Target(parts[2], parts[3], parts[4], None)
        parts = path.split("/")
        if len(parts) != 8 or not parts[7].endswith(".png"):
            return None
        _, _, indicator, scenario, version, zs, xs, ys = parts
        ys = ys[:-4]
        if scenario != self.scenario or not VERSION_RE.fullmatch(version):
            return None
        if not INDICATOR_RE.fullmatch(indicator) or not ID_RE.fullmatch(scenario):
            return None
        if not all(s.isdigit() and len(s) <= 9 for s in (zs, xs, ys)):
            return None
        z, x, y = int(zs), int(xs), int(ys)
        if z > _OVERLAY_MAX_Z or x >= 2**z or y >= 2**z:
            return None
        return _Target(scenario, version, f"{indicator}/{z}/{x}/{y}.png", f"{indicator}/meta.json")

    def _head(self, entry: FileEntry, gz: bool, fresh: bool, length: int) -> bytes:
        """The headers of an answer up to ``Content-Length`` (no Date, no Server)."""
        key = (str(entry.path), entry.sha256, gz, fresh)
        head = self._heads.get(key)
        if head is None:
            compress = entry.path.suffix.lower() in _COMPRESSIBLE
            lines = [f"Cache-Control: {IMMUTABLE}"]
            if not fresh:
                lines.append(f"Content-Type: {content_type_for(entry.path.name)}")
            lines += ["Access-Control-Allow-Origin: *", "Accept-Ranges: bytes"]
            if compress:
                lines.append("Vary: Accept-Encoding")
            lines.append(f'ETag: "{entry.sha256[:40]}{"-gz" if gz else ""}"')
            if not fresh:
                if gz:
                    lines.append("Content-Encoding: gzip")
                lines.append(f"Content-Length: {length}")
            head = ("\r\n".join(lines) + "\r\n").encode("ascii")
            if len(self._heads) >= 20_000:
                self._heads.clear()
            self._heads[key] = head
        return head

    def answer(
        self, head_only: bool, path: str, inm: bytes | None, accept: bytes | None, close: bool
    ) -> tuple[int, bytes] | None:
        """(status, response bytes) for a request that qualifies, else None."""
        target = self._target(path)
        if target is None:
            return None
        if not self.anonymous_allowed():
            return None  # 401 for anonymous callers: aiohttp says so
        index = self.app[STORE].cached_index(target.scenario, target.version)
        if index is None or (target.overlay is not None and target.overlay not in index):
            return None
        entry = index.get(target.name)
        if entry is None:
            return None
        gz = (
            accept is not None
            and entry.path.suffix.lower() in _COMPRESSIBLE
            and accepts_gzip(accept.decode("ascii"))
        )
        tail = self._date_line() + _SERVER + (b"Connection: close\r\n\r\n" if close else b"\r\n")
        inm_text = inm.decode("ascii") if inm is not None else None
        sha = entry.sha256[:40]
        if inm_text is not None and _etag_matches(inm_text, f'"{sha}-gz"' if gz else f'"{sha}"'):
            return 304, _NOT_MODIFIED + self._head(entry, gz, True, 0) + tail
        blob = self.app[FILES].cached_blob(entry.path, entry.size)
        if blob is None:
            return None  # first read (confinement check, size check): aiohttp does it
        body = blob.gz if gz and blob.gz is not None else blob.data
        gz = body is not blob.data
        if inm_text is not None and _etag_matches(inm_text, f'"{sha}-gz"' if gz else f'"{sha}"'):
            return 304, _NOT_MODIFIED + self._head(entry, gz, True, 0) + tail
        start = _OK + self._head(entry, gz, False, len(body)) + tail
        return 200, start if head_only else start + body


def _parse(head: bytes) -> _Parsed | None:
    """(HEAD?, path, If-None-Match, Accept-Encoding, close?) of a head this path takes."""
    lines = head.split(b"\r\n")
    n = len(lines) - 1
    if head.count(b"\n") != n or head.count(b"\r") != n or not head.isascii():
        return None
    if _CONTROL.search(head) is not None:
        return None
    request = lines[0]
    if request.startswith(b"GET "):
        head_only = False
        target, _, version = request[4:].partition(b" ")
    elif request.startswith(b"HEAD "):
        head_only = True
        target, _, version = request[5:].partition(b" ")
    else:
        return None
    if version != b"HTTP/1.1":
        return None
    if not (target.startswith(b"/tiles/") or target.startswith(b"/overlays/")):
        return None
    if b"?" in target or b"%" in target or b"#" in target:
        return None
    inm = accept = None
    close = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not (name.replace(b"-", b"").isalnum() or _TOKEN.fullmatch(name)):
            return None
        key = name.lower()
        if key in _HAND_OVER:
            return None
        if key in _PLAIN:
            continue
        value = value.strip(b" \t")
        if key == b"if-none-match":
            if inm is not None:
                return None
            inm = value
        elif key == b"accept-encoding":
            accept = value if accept is None else accept + b"," + value
        elif key == b"connection":
            tokens = [t.strip().lower() for t in value.split(b",")]
            if b"upgrade" in tokens:
                return None
            close = close or b"close" in tokens
        elif key == b"content-length" and value != b"0":
            return None
    return head_only, target.decode("ascii"), inm, accept, close


def _ends_at_head(head: bytes) -> bool:
    """Whether a request surely ends with its head (no body, no upgrade), so the next
    request starts right after it; anything unusual answers False."""
    lines = head.split(b"\r\n")
    if len(lines[0].split(b" ")) != 3 or lines[0].startswith(b"CONNECT "):
        return False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        key = name.strip().lower()
        if not sep or key in (b"transfer-encoding", b"upgrade"):
            return False
        if key == b"content-length" and value.strip(b" \t") != b"0":
            return False
    return True


def _idle(handler: Any) -> bool:
    """Whether aiohttp's handler has answered everything it was given and waits for
    the next request (its answers are all in the transport's buffer)."""
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done() and not getattr(handler, "_messages", True)


class _Connection(asyncio.Protocol):
    """One client connection: its requests are answered here or given to aiohttp.

    A request this path does not take goes to an aiohttp ``RequestHandler`` made for
    the connection (so do the requests after it, while that handler is busy); once the
    handler waits for the next request again, answering here resumes. A request whose
    end is not its head (a body, an upgrade) gives aiohttp the connection for good.
    """

    def __init__(self, site: TileSite) -> None:
        self.site = site
        self.shortcut = site.shortcut
        self.transport: asyncio.Transport | None = None
        self.handler: Any = None  # aiohttp's RequestHandler, made on first need
        self.buffer = b""
        self.remote = ""
        self.log_end = ',"remote":""}'  # the access-log line's end
        self.write_paused = False
        self.read_paused = False
        self.last = 0.0
        self.idle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        tcp_nodelay(transport, True)
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        self.log_end = f',"remote":"{self.remote}"}}'
        self.site.connections.add(self)
        loop = self.site.loop
        self.last = loop.time()
        self.idle = loop.call_at(self.last + self.site.keepalive_timeout, self._check_idle)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._forget()
        self.transport = None
        if self.handler is not None:
            self.handler.connection_lost(exc)

    def eof_received(self) -> bool | None:
        if self.handler is not None:
            result: bool | None = self.handler.eof_received()
            return result
        return None  # everything complete was answered: close

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.handler is not None:
            self.handler.resume_writing()
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()
            self.data_received(b"")

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        buffer = self.buffer + data if self.buffer else data
        shortcut = self.shortcut
        answers = shortcut.answers
        site = self.site
        pos = 0
        size = len(buffer)
        while pos < size and not self.write_paused:
            end = buffer.find(b"\r\n\r\n", pos, pos + _MAX_HEAD + 4)
            if end < 0:
                break
            handler = self.handler
            if handler is not None and (site.closing or not _idle(handler)):
                # aiohttp is still at work here: this request queues behind
                if site.closing or not _ends_at_head(buffer[pos:end]):
                    self._hand_over(buffer[pos:])
                    return
                self._to_aiohttp(buffer[pos : end + 4])
                pos = end + 4
                continue
            t0 = _perf_counter()
            head = buffer[pos:end]
            kept = answers.get(head)
            if kept is not None and shortcut.anonymous_allowed():
                # a repeat of a request answered before: the same answer, dated now
                now = int(_time())
                if kept.second != now:
                    date = shortcut._date_line(now)
                    old, at = kept.response, kept.date_at
                    kept.response = old[:at] + date + old[at + kept.date_len :]
                    kept.date_len = len(date)
                    kept.second = now
                response = kept.response
                transport.write(response)
                shortcut.answered += 1
                pos = end + 4
                access = shortcut.access_log
                if access is not None and access.enabled:
                    access.write(kept.log_start + _ms_text(_perf_counter() - t0) + self.log_end)
                if kept.close:
                    self._answered()
                    self.buffer = b""
                    transport.close()
                    return
                continue
            try:
                parsed = _parse(head)
                got = None if parsed is None else shortcut.answer(*parsed)
            except Exception:  # a bug here must not cost the request: aiohttp answers
                log.exception("tile shortcut failed; aiohttp answers")
                got = parsed = None
            if got is None:
                if site.closing or not _ends_at_head(head):
                    if pos:
                        self._answered()
                    self._hand_over(buffer[pos:])
                    return
                self._to_aiohttp(buffer[pos : end + 4])
                pos = end + 4
                continue
            assert parsed is not None
            status, response = got
            transport.write(response)
            shortcut.answered += 1
            shortcut.remember(head, parsed, status, response)
            pos = end + 4
            access = shortcut.access_log
            if access is not None and access.enabled:
                # the line AccessLogger writes, as text: the path passed the route's
                # name rules and the address is an IP, so neither needs JSON escapes
                access.write(
                    f'{{"method":"{"HEAD" if parsed[0] else "GET"}","path":"{parsed[1]}",'
                    f'"status":{status},"bytes":{len(response)},'
                    f'"ms":{_ms_text(_perf_counter() - t0)}{self.log_end}'
                )
            if parsed[4]:  # Connection: close
                self._answered()
                self.buffer = b""
                transport.close()
                return
        if pos:
            self._answered()
        rest = buffer[pos:] if pos else buffer
        if len(rest) > _MAX_HEAD + 4 and rest.find(b"\r\n\r\n", 0, _MAX_HEAD + 4) < 0:
            self._hand_over(rest)  # an over-long head: aiohttp answers it
            return
        self.buffer = rest
        if self.write_paused and rest and not self.read_paused:
            self.read_paused = True  # answers wait for the client to read: so does reading
            transport.pause_reading()

    # ------------------------------------------------------------ helpers
    def _answered(self) -> None:
        self.last = now = self.site.loop.time()
        if self.handler is not None and hasattr(self.handler, "_next_keepalive_close_time"):
            # aiohttp's own idle timer must not close a connection busy here
            self.handler._next_keepalive_close_time = now + self.site.keepalive_timeout

    def _check_idle(self) -> None:
        self.idle = None
        if self.transport is None:
            return
        due = self.last + self.site.keepalive_timeout
        if self.site.loop.time() >= due and (self.handler is None or _idle(self.handler)):
            self.transport.close()
        else:
            self.idle = self.site.loop.call_at(
                max(due, self.site.loop.time() + 1.0), self._check_idle
            )

    def _forget(self) -> None:
        self.site.connections.discard(self)
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def _aiohttp(self) -> Any:
        """The connection's aiohttp handler (made and connected on first use)."""
        if self.handler is None:
            transport = self.transport
            assert transport is not None
            handler = self.site.aiohttp_server()
            handler.connection_made(transport)
            if self.write_paused:
                handler.pause_writing()
            self.handler = handler
        return self.handler

    def _to_aiohttp(self, request: bytes) -> None:
        """One whole request (head, no body) for aiohttp; its answer comes in order."""
        self.last = self.site.loop.time()
        self._aiohttp().data_received(request)

    def _hand_over(self, rest: bytes) -> None:
        """Give the connection, and ``rest`` (unanswered bytes), to aiohttp for good."""
        transport = self.transport
        assert transport is not None
        handler = self._aiohttp()
        self._forget()
        self.transport = None
        self.buffer = b""
        transport.set_protocol(handler)
        if self.read_paused:
            transport.resume_reading()
        if rest:
            handler.data_received(rest)

    def close(self) -> None:
        """Close the connection unless aiohttp is answering on it (aiohttp's shutdown
        lets that answer finish, then closes it)."""
        if self.transport is not None and (self.handler is None or _idle(self.handler)):
            self.transport.close()


class TileSite(web.TCPSite):
    """``web.TCPSite`` whose connections answer cached immutable tiles themselves first.

    Parameters
    ----------
    runner : the set-up ``web.AppRunner``.
    host, port : where to listen.
    access_log : where access-log lines go (None: no access log); best the buffer the
        runner's access logger writes to too (:meth:`AccessLogger.batched
        <greentwin.server.app.AccessLogger.batched>`), so that lines keep their order. A
        ``logging.Logger`` gets a buffer of the site's own, emptied when it stops.
    keepalive_timeout : seconds an idle connection stays open (aiohttp's default).
    """

    def __init__(
        self,
        runner: web.AppRunner,
        host: str | None,
        port: int,
        *,
        access_log: AccessLog | logging.Logger | None,
        keepalive_timeout: float = 75.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.own_log: AccessLog | None = None
        if isinstance(access_log, logging.Logger):
            access_log = self.own_log = AccessLog(access_log)
        self.shortcut = TileShortcut(runner.app, access_log)
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[_Connection] = set()
        self.closing = False
        self.loop = asyncio.get_running_loop()

    def aiohttp_server(self) -> Any:
        """A new aiohttp ``RequestHandler`` (not yet connected)."""
        server = self._runner.server
        assert server is not None
        return server()

    async def start(self) -> None:
        """Listen; each connection starts with :class:`_Connection`."""
        await web.BaseSite.start(self)
        self._server = await self.loop.create_server(
            lambda: _Connection(self),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        if sockets:
            self._bound_port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close the connections idle here (answers of this path are
        written as soon as the request is read); aiohttp's shutdown closes the others
        once their answers are out."""
        self.closing = True
        await super().stop()
        for conn in list(self.connections):
            conn.close()
        if self.own_log is not None:
            self.own_log.close()
