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
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from greentwin.core import ServerError

__all__ = ["log_off_loop", "serve"]

log = logging.getLogger(__name__)


def _display_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


#: Argument types a record may carry unformatted to the logging thread (immutable).
_FROZEN = (str, int, float, bool, type(None), bytes)


class _LateQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that leaves the formatting to the listener where that is safe.

    The standard one formats every record (and copies it) before queueing it, on the
    caller's thread; a record whose arguments are immutable (or marked
    ``frozen_log_arg``) and which carries no exception gives the same text when it is
    formatted later, so it is queued as it is.
    """

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


@contextlib.contextmanager
def log_off_loop() -> Iterator[logging.handlers.QueueListener | None]:
    """Move the root logger's handlers to a thread while the server runs.

    The root logger gets a :class:`logging.handlers.QueueHandler` instead (putting a
    record on a queue never blocks), and a :class:`logging.handlers.QueueListener`
    thread hands each record to the handlers that were there (a terminal, a file), so
    the event loop never waits for a write, and records with immutable arguments (the
    access log's) are also formatted there: the per-request access log stays cheap. On
    exit the listener writes what is queued and the handlers are put back.
    """
    root = logging.getLogger()
    handlers = [h for h in root.handlers if not isinstance(h, logging.handlers.QueueHandler)]
    if not handlers:
        yield None
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
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

    Log records are written by a thread (:func:`log_off_loop`), not on the event loop.
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
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=access_log,
        shutdown_timeout=config.shutdown_timeout,
        handle_signals=False,
    )
    await runner.setup()
    try:
        site = (
            TileSite(runner, config.host, config.port, access_log=access_log)
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
        await runner.cleanup()
