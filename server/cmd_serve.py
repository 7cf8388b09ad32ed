"""``greentwin serve``: run the HTTP server (tiles, web viewer, JSON API)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.handlers
import queue
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from greentwin.core import ExitCode, ServerError

__all__ = ["add_parser", "add_server_arguments", "config_from_args", "log_off_loop", "run", "serve"]

log = logging.getLogger(__name__)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``serve`` and ``demo`` share."""
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8765; 0 picks a free one)")
    parser.add_argument("--data", type=Path, metavar="DIR", help="data directory (default ./var)")
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML configuration file (see docs/server.md)"
    )


def add_parser(subparsers: Any) -> None:
    """Register ``serve``."""
    parser = subparsers.add_parser(
        "serve",
        help="serve tiles, the web viewer and the JSON API",
        description="Serve the city's 3D Tiles, the planners' viewer and the JSON API.",
    )
    add_server_arguments(parser)
    parser.add_argument(
        "project",
        nargs="?",
        type=Path,
        metavar="PROJECT.toml",
        help="build (first start) and serve this project (docs/projects.md)",
    )
    parser.add_argument(
        "--demo", action="store_true", default=None, help="also build and serve the demo district"
    )
    parser.set_defaults(demo=None)


def config_from_args(args: argparse.Namespace, **extra: object) -> Any:
    """The configuration: defaults < TOML file < ``GREENTWIN_*`` < command line."""
    from greentwin.server.config import load_config

    overrides: dict[str, object] = {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data,
        **extra,
    }
    return load_config(args.config, overrides=overrides)


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
) -> None:
    """Run the server until SIGINT/SIGTERM (or ``stop``), then shut down gracefully.

    Log records are written by a thread (:func:`log_off_loop`), not on the event loop.

    Parameters
    ----------
    config : the server configuration.
    stop : set it to stop the server (besides SIGINT/SIGTERM).
    ready : called with the bound port once the server listens.

    Raises
    ------
    ServerError
        The address cannot be bound or the data directory cannot be created.
    """
    with log_off_loop():
        await _serve(config, stop, ready)


async def _serve(
    config: Any, stop: asyncio.Event | None, ready: Callable[[int], object] | None
) -> None:
    from aiohttp import web
    from greentwin.server.app import AccessLogger, create_app
    from greentwin.server.auth import DEMO_ADMIN_TOKEN_FILE, DEMO_TOKEN_FILE

    app = create_app(config)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("greentwin.access") if config.access_log else None,
        shutdown_timeout=config.shutdown_timeout,
        handle_signals=False,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
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


def run(args: argparse.Namespace) -> int:
    """Entry point of ``greentwin serve``."""
    if getattr(args, "project", None) is not None:
        from greentwin.server.cmd_build import default_data_dir

        manifest = args.project.resolve()
        data = args.data or default_data_dir(manifest)
        config = config_from_args(
            args, demo=True, demo_inputs=manifest, demo_example=False, data_dir=data
        )
    else:
        config = config_from_args(args, demo=args.demo)
    asyncio.run(serve(config))
    return int(ExitCode.OK)
