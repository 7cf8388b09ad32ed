"""Run the aiohttp application until a signal: binding, logging off the event loop, shutdown.

``await serve(config)`` is what ``greentwin serve`` and ``greentwin demo`` run; tests call
it too, with ``stop`` and ``ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import queue
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from greentwin.core import ServerError

__all__ = ["AccessBatch", "AccessLog", "log_off_loop", "serve", "write_batch"]

log = logging.getLogger(__name__)


def _display_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


#: Access-log lines that share a timestamp: those of one slot of this many seconds.
_SLOT = 0.01
#: Stands for the message while a formatter formats a batch's head and tail.
_MARK = "\x00greentwin-access-line\x00"
#: Handlers whose ``emit`` is the standard one: a batch is written to their stream at once.
_STREAM_EMITS = (logging.StreamHandler.emit, logging.FileHandler.emit)
_DEFAULT_FORMATTER = logging.Formatter()  # what a handler without a formatter uses


class AccessBatch(logging.LogRecord):
    """Access-log lines, in order, carried as one log record.

    ``chunks`` holds ``(time, lines)`` pairs: the lines logged in one 10-ms slot and the
    time of the first of them; a line is a ``str`` or an object whose ``str()`` is the
    line (formatted when written). :func:`write_batch` writes each line as the record
    ``logger.info("%s", line)`` made at that time would have been written; a handler
    that meets the batch itself sees the lines joined by newlines as its message.
    """

    def __init__(self, name: str, chunks: list[tuple[float, list[object]]]) -> None:
        super().__init__(name, logging.INFO, __file__, 0, "", None, None, "flush")
        self.chunks = chunks
        _set_time(self, chunks[0][0])

    def getMessage(self) -> str:
        return "\n".join(str(line) for _, lines in self.chunks for line in lines)

    def records(self) -> Iterator[logging.LogRecord]:
        """One record per line, each with its slot's time (for other handlers)."""
        for t, lines in self.chunks:
            for line in lines:
                yield _line_record(self, "%s", (line,), t)


def _set_time(record: logging.LogRecord, t: float) -> None:
    record.relativeCreated += (t - record.created) * 1000.0
    record.created = t
    record.msecs = int((t - int(t)) * 1000) + 0.0  # as LogRecord computes it


def _line_record(
    batch: AccessBatch, msg: str, args: tuple[object, ...] | None, t: float
) -> logging.LogRecord:
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(batch.__dict__)
    del record.__dict__["chunks"]
    record.msg, record.args = msg, args
    _set_time(record, t)
    return record


def _batch_text(handler: logging.Handler, batch: AccessBatch) -> str | None:
    """The text a stream handler would write for the batch's lines, one record each;
    None for a handler this cannot tell for (filters, its own ``emit`` or formatter)."""
    if handler.filters or type(handler).emit not in _STREAM_EMITS:
        return None
    formatter = handler.formatter or _DEFAULT_FORMATTER
    if type(formatter) is not logging.Formatter:
        return None  # a subclass may change the message (escape it, say)
    assert isinstance(handler, logging.StreamHandler)
    end = handler.terminator
    template = _line_record(batch, _MARK, None, batch.created)
    parts = []
    for t, lines in batch.chunks:
        _set_time(template, t)
        head, mark, tail = formatter.format(template).partition(_MARK)
        if not mark or _MARK in tail:
            return None
        tail += end
        parts.append(head + (tail + head).join(map(str, lines)) + tail)
    return "".join(parts)


def write_batch(handler: logging.Handler, batch: AccessBatch) -> None:
    """Hand an access-log batch to one handler (its level already checked).

    A plain stream or file handler with a standard formatter gets the lines in one
    ``write`` (formatted as one record each would be, the time of a line being that of
    the first line of its 10-ms slot); the queue handler of :func:`log_off_loop` queues
    the batch whole; any other handler gets one record per line.
    """
    try:
        if getattr(handler, "takes_access_batches", False):
            handler.handle(batch)
            return
        text = None if getattr(handler, "stream", None) is None else _batch_text(handler, batch)
        if text is None:
            for record in batch.records():
                handler.handle(record)  # (a file handler with delay=True opens here)
            return
        assert isinstance(handler, logging.StreamHandler)
        handler.acquire()
        try:
            handler.stream.write(text)
            handler.flush()
        finally:
            handler.release()
    except RecursionError:
        raise
    except Exception:
        handler.handleError(batch)


class AccessLog:
    """The access log's lines, handed to the ``greentwin.access`` logger in batches.

    A record per request costs the event loop a ``LogRecord`` and a queue hand-off (and
    the logging thread a format, holding the GIL); here a line goes into a list, and
    the list goes to the logger's handlers as one :class:`AccessBatch` every
    ``interval`` seconds, or at once when it holds ``limit`` characters, or on
    :meth:`close` (as nginx does with ``access_log ... buffer=... flush=...``). The
    destination is the logger's (its handlers and its ancestors'): each line is
    written as the record of one line would be. Lines keep their order, also among the
    other records logged on the event loop's thread while :func:`log_off_loop` runs
    (such a record first hands on the lines logged before it). A crash loses at most
    the last ``interval`` seconds of lines; :meth:`close` loses nothing.

    Used on the event loop's thread only.

    Parameters
    ----------
    logger : where the lines go.
    interval : seconds a line waits at most.
    limit : characters (roughly) that are handed on at once.
    """

    def __init__(self, logger: logging.Logger, interval: float = 0.25, limit: int = 64 * 1024):
        self.logger = logger
        self.interval = interval
        self.limit = limit
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        _open_logs.add(self)
        self._chunks: list[tuple[float, list[object]]] = []
        self._lines: list[object] = []
        self._slot_end = 0.0
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def enabled(self) -> bool:
        """Whether lines are written (the logger's level allows INFO)."""
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, line: object) -> None:
        """Add one line: a ``str``, or an immutable object whose ``str()`` is the line
        (made when the line is written, by the logging thread)."""
        now = time.time()
        if now >= self._slot_end:
            self._lines = []
            self._chunks.append((now, self._lines))
            self._slot_end = (now // _SLOT + 1.0) * _SLOT
        self._lines.append(line)
        self._size += len(line) if type(line) is str else 160
        if self._size >= self.limit or self._closed:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Hand the lines written so far to the logger's handlers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        chunks = self._chunks
        if not chunks:
            return
        self._chunks, self._lines, self._slot_end, self._size = [], [], 0.0, 0
        logger = self.logger
        if logger.disabled or not logger.isEnabledFor(logging.INFO):
            return
        batch = AccessBatch(logger.name, chunks)
        if logger.filters:
            for record in batch.records():
                logger.handle(record)
            return
        node: logging.Logger | None = logger
        while node is not None:  # as Logger.callHandlers
            for handler in node.handlers:
                if batch.levelno >= handler.level:
                    write_batch(handler, batch)
            node = node.parent if node.propagate else None

    def close(self) -> None:
        """Hand on what is left; later lines are handed on one by one."""
        self._closed = True
        _open_logs.discard(self)
        self.flush()


#: The open access logs (flushed before another record logged on their thread).
_open_logs: weakref.WeakSet[AccessLog] = weakref.WeakSet()


def _flush_access_lines() -> None:
    """Hand on the access lines logged so far on this thread (so that a record logged
    after them is written after them)."""
    me = threading.get_ident()
    for access in list(_open_logs):
        if access._thread == me and access._chunks:
            access.flush()


#: Argument types a record may carry unformatted to the logging thread (immutable).
_FROZEN = (str, int, float, bool, type(None), bytes)


class _LateQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that leaves the formatting to the listener where that is safe.

    The standard one formats every record (and copies it) before queueing it, on the
    caller's thread; a record whose arguments are immutable (or marked
    ``frozen_log_arg``) and which carries no exception gives the same text when it is
    formatted later, so it is queued as it is. An :class:`AccessBatch` is queued whole;
    before another record, the access lines logged ahead of it on its thread are.
    """

    takes_access_batches = True

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record, AccessBatch):
            _flush_access_lines()
        super().emit(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        args = record.args
        if record.exc_info is None and (
            not args
            or (
                isinstance(args, tuple)
                and all(isinstance(a, _FROZEN) or getattr(a, "frozen_log_arg", False) for a in args)
            )
        ):
            return record
        prepared: logging.LogRecord = super().prepare(record)
        return prepared


class _Listener(logging.handlers.QueueListener):
    """A QueueListener that writes an :class:`AccessBatch` with :func:`write_batch`."""

    def handle(self, record: logging.LogRecord) -> None:
        if not isinstance(record, AccessBatch):
            super().handle(record)
            return
        for handler in self.handlers:
            if not self.respect_handler_level or record.levelno >= handler.level:
                write_batch(handler, record)


@contextlib.contextmanager
def log_off_loop() -> Iterator[logging.handlers.QueueListener | None]:
    """Move the root logger's handlers to a thread while the server runs.

    The root logger gets a :class:`logging.handlers.QueueHandler` instead (putting a
    record on a queue never blocks), and a :class:`logging.handlers.QueueListener`
    thread hands each record to the handlers that were there (a terminal, a file), so
    the event loop never waits for a write, and records with immutable arguments are
    also formatted there. An :class:`AccessBatch` (many access-log lines) is written
    with :func:`write_batch`: one write for a terminal or a file. On exit the listener
    writes what is queued and the handlers are put back.
    """
    root = logging.getLogger()
    handlers = [h for h in root.handlers if not isinstance(h, logging.handlers.QueueHandler)]
    if not handlers:
        yield None
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = _Listener(records, *handlers, respect_handler_level=True)
    front = _LateQueueHandler(records)
    for h in handlers:
        root.removeHandler(h)
    root.addHandler(front)
    listener.start()
    try:
        yield listener
    finally:
        root.removeHandler(front)
        listener.stop()  # writes what is still queued
        for h in handlers:
            root.addHandler(h)


async def serve(
    config: Any,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[int], object] | None = None,
    tile_shortcut: bool = True,
) -> None:
    """Run the server until SIGINT/SIGTERM (or ``stop``), then shut down gracefully.

    Log records are written by a thread (:func:`log_off_loop`), not on the event loop;
    access-log lines are handed to it in batches (:class:`AccessLog`).
    Cached immutable tiles are answered by :class:`~greentwin.server.fastpath.TileSite`
    before aiohttp sees the request (the same answers, several times faster).

    Parameters
    ----------
    config : the server configuration.
    stop : set it to stop the server (besides SIGINT/SIGTERM).
    ready : called with the bound port once the server listens.
    tile_shortcut : False sends every request through aiohttp (for comparisons).

    Raises
    ------
    ServerError
        The address cannot be bound or the data directory cannot be created.
    """
    with log_off_loop():
        await _serve(config, stop, ready, tile_shortcut)


async def _serve(
    config: Any,
    stop: asyncio.Event | None,
    ready: Callable[[int], object] | None,
    tile_shortcut: bool,
) -> None:
    from greentwin.server.app import AccessLogger, create_app
    from greentwin.server.auth import DEMO_ADMIN_TOKEN_FILE, DEMO_TOKEN_FILE
    from greentwin.server.fastpath import TileSite

    app = create_app(config)
    access_log = logging.getLogger("greentwin.access") if config.access_log else None
    # one buffer for both writers of access lines: the lines keep their order
    access = AccessLog(access_log) if access_log is not None else None
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger if access is None else AccessLogger.batched(access),
        access_log=access_log,
        shutdown_timeout=config.shutdown_timeout,
        handle_signals=False,
    )
    await runner.setup()
    try:
        site = (
            TileSite(runner, config.host, config.port, access_log=access)
            if tile_shortcut
            else web.TCPSite(runner, config.host, config.port)
        )
        try:
            await site.start()
        except OSError as exc:
            raise ServerError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            ) from exc
        port = config.port
        for addr in runner.addresses:
            if isinstance(addr, tuple):
                port = int(addr[1])
                break
        url = _display_url(config.host, port)
        sys.stdout.write(f"greentwin is running: open {url} in a browser (Ctrl-C stops it)\n")
        if config.demo and config.tokens_file is None:
            token_file = (config.data_dir / DEMO_TOKEN_FILE).absolute()
            sys.stdout.write(f"to edit scenarios, sign in with the planner token in {token_file}\n")
            admin_file = (config.data_dir / DEMO_ADMIN_TOKEN_FILE).absolute()
            sys.stdout.write(f"to moderate the hub, use the admin token in {admin_file}\n")
        sys.stdout.flush()
        log.info("serving %s from data directory %s", url, config.data_dir.absolute())
        if ready is not None:
            ready(port)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        try:
            await runner.cleanup()
        finally:
            if access is not None:
                access.close()  # the last lines, before the logging thread stops
