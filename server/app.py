"""The aiohttp application: ``create_app(config)`` wires store, routes and background work.

Modules plug in by adding a ``RouteTableDef`` (``routes_*.py``) and, for long-lived
resources, a ``cleanup_ctx`` generator; typed state lives under the keys of
:mod:`greentwin.server.keys`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ClassVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from greentwin.core import GreentwinError, ScenarioError, ServerError
from greentwin.server import routes_api, routes_overlays, routes_tiles, routes_web
from greentwin.server.auth import live_config_for
from greentwin.server.config import Config
from greentwin.server.hub_setup import setup_hub
from greentwin.server.jsonio import (
    JsonError,
    JsonInputError,
    error_response,
    status_code,
)
from greentwin.server.keys import CONFIG, DEMO, FILES, IO_POOL, STARTED, STORE
from greentwin.server.live import LIVE_CONFIG_KEY
from greentwin.server.routes_green import setup_green
from greentwin.server.routes_hub import EFFECTS_KEY
from greentwin.server.routes_tiles import FileServer
from greentwin.server.routes_time import setup_time
from greentwin.server.store import TileStore

if TYPE_CHECKING:
    from greentwin.server.run import AccessLog

__all__ = ["AccessLogger", "create_app", "json_errors", "redact_query"]

log = logging.getLogger(__name__)

#: Query keys whose values never reach a log.
_SECRET_KEYS = re.compile(r"token|key|secret|pass|auth|sig|session|code", re.IGNORECASE)
#: Values that look like credentials (long runs of base64/hex-ish characters, JWTs).
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-+/=.~]{24,}")


def redact_query(query: list[tuple[str, str]]) -> str:
    """The query string for a log line, with every secret-looking value replaced by ``***``."""
    out = []
    for key, value in query:
        if _SECRET_KEYS.search(key) or (
            _TOKEN_LIKE.fullmatch(value) and any(c.isdigit() for c in value)
        ):
            value = "***"
        out.append(f"{key}={value}" if value else key)
    return "&".join(out)


class JsonLine:
    """A log argument that becomes one compact JSON line when the record is formatted.

    Building the text is left to whoever formats the record: while ``greentwin serve``
    runs, that is the logging thread (:func:`greentwin.server.run.log_off_loop`),
    not the event loop. The fields are not changed after the record is made.
    """

    __slots__ = ("fields",)

    #: Safe to format later, in another thread (read by the serve log queue).
    frozen_log_arg = True

    def __init__(self, fields: dict[str, object]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return json.dumps(self.fields, separators=(",", ":"))


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request on the ``greentwin.access`` logger.

    Fields: ``method``, ``path``, ``query`` (redacted), ``status``, ``bytes``, ``ms``,
    ``remote``. Headers are never logged (they may carry tokens). A class made by
    :meth:`batched` puts its lines in an :class:`~greentwin.server.run.AccessLog`
    (written in batches) instead of logging a record per request.
    """

    #: Where the lines go in batches; None: one record per line on ``self.logger``.
    lines: ClassVar[AccessLog | None] = None

    @classmethod
    def batched(cls, lines: AccessLog) -> type[AccessLogger]:
        """A subclass that puts its lines in ``lines`` (aiohttp makes one logger per
        connection from the class it is given)."""
        made: type[AccessLogger] = type(f"Batched{cls.__name__}", (cls,), {"lines": lines})
        return made

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write the line (called by aiohttp after each response)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        query = redact_query(list(request.rel_url.query.items()))
        record = {
            "method": request.method,
            "path": request.rel_url.raw_path,
            "status": response.status,
            "bytes": response.body_length,
            "ms": round(time * 1000.0, 2),
            "remote": request.remote,
        }
        if query:
            record["query"] = query
        if self.lines is not None:
            self.lines.write(JsonLine(record))
        else:
            self.logger.info("%s", JsonLine(record))

    @property
    def enabled(self) -> bool:
        """Skip building the line when nobody listens."""
        return self.logger.isEnabledFor(logging.INFO)


class _BadRequestLine(logging.Filter):
    """Shorten aiohttp's report of a request it could not parse (a bad request line, e.g.
    non-ASCII bytes, or a bad header): the client gets its 400, the log one short line at
    INFO instead of a traceback at ERROR. Other errors pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code == 400:
            detail = (exc.message or type(exc).__name__).strip().splitlines()[0][:120]
            record.args = (record.getMessage(), type(exc).__name__, detail.rstrip(":"))
            record.msg = "%s (%s: %s)"
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def _quiet_bad_requests() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _BadRequestLine) for f in server_log.filters):
        server_log.addFilter(_BadRequestLine())


def _error_body(status: int, message: str, code: str | None = None) -> web.Response:
    return error_response(status, code or status_code(status), message)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a JSON body ``{"error": {"status", "code", "message"}}``."""
    try:
        return await handler(request)
    except JsonError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.extra_headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        response = _error_body(exc.status, message or exc.reason)
        for name in ("Allow", "Location", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except JsonInputError as exc:
        return _error_body(400, str(exc), exc.code)
    except ScenarioError as exc:
        return _error_body(400, str(exc))
    except GreentwinError as exc:
        log.error("%s %s failed: %s", request.method, request.rel_url.raw_path, exc)
        return _error_body(500, str(exc))
    except Exception:
        log.exception("%s %s failed", request.method, request.rel_url.raw_path)
        return _error_body(500, "internal server error")


async def _io_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="greentwin-io")
    app[IO_POOL] = pool
    app[FILES] = FileServer(app[CONFIG].file_cache_bytes, pool)
    try:
        yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def _demo_ctx(app: web.Application) -> AsyncIterator[None]:
    from greentwin.twin.demo import DemoBuilder, recipes_for

    config = app[CONFIG]
    builder = DemoBuilder(
        app[STORE],
        config.demo_inputs,
        scenario=config.default_scenario,
        executor=app[IO_POOL],
        recipes=recipes_for(config.demo_inputs),  # a project manifest or the demo
        # the live channel's recompute computes the baseline maps: it publishes them
        delegated=frozenset({"overlays"}),
    )
    app[DEMO] = builder
    builder.start()
    try:
        yield
    finally:
        await builder.stop()


async def _demo_fallback(app: web.Application) -> None:
    """Without a district recompute (a live channel of its own), the demo builder builds
    its ``overlays`` layer itself."""
    builder = app.get(DEMO)
    if builder is not None:
        builder.hand_over(None)


def create_app(
    config: Config,
    *,
    extra_contexts: tuple[Callable[[web.Application], AsyncIterator[None]], ...] = (),
) -> web.Application:
    """Build the application.

    Parameters
    ----------
    config : the server configuration; ``config.demo`` builds and serves the demo district.
    extra_contexts : more ``cleanup_ctx`` generators (run after the built-in ones).

    Raises
    ------
    ServerError
        The data directory cannot be created.
    """
    store = TileStore(config.data_dir)
    try:
        store.ensure()
    except OSError as exc:
        raise ServerError(f"cannot create the data directory {config.data_dir}: {exc}") from exc
    _quiet_bad_requests()  # malformed request lines: one short line, not a traceback
    app = web.Application(middlewares=[json_errors], client_max_size=1024**2)
    app[CONFIG] = config
    app[STORE] = store
    app[STARTED] = time.monotonic()
    app.cleanup_ctx.append(_io_pool_ctx)
    if config.demo:
        app.cleanup_ctx.append(_demo_ctx)
        app.on_startup.append(_demo_fallback)  # runs after every cleanup context started
    for ctx in extra_contexts:
        app.cleanup_ctx.append(ctx)
    app.add_routes(routes_api.routes)
    app.add_routes(routes_tiles.routes)
    app.add_routes(routes_web.routes)
    app.add_routes(routes_overlays.routes)
    setup_green(app)  # trees, area totals, vegetation per date
    setup_time(app)  # the maps on a date, the indicators over the years
    app[LIVE_CONFIG_KEY] = live_config_for(config)  # role tokens, edit extent
    setup_hub(app)  # the citizens' planning hub (installs the live channel if missing)
    app[EFFECTS_KEY] = routes_overlays.effects_provider(app)  # hub before/after values
    return app
