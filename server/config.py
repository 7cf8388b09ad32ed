"""Server configuration: defaults, then a TOML file, then ``GREENTWIN_*`` environment variables.

Precedence (later wins): built-in defaults < TOML file < environment < command line.
Every key is documented in ``docs/server.md``.

Example TOML::

    host = "0.0.0.0"
    port = 8080
    data_dir = "/srv/greentwin"
    demo = true
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greentwin.core import ServerError

__all__ = ["ENV_PREFIX", "REPO_ROOT", "Config", "load_config"]

#: The repository root (the folder holding ``web/`` and ``node_modules/``).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Environment variables are ``GREENTWIN_<KEY in upper case>``.
ENV_PREFIX = "GREENTWIN_"


@dataclass(frozen=True, slots=True)
class Config:
    """The server's configuration (immutable once loaded).

    Attributes
    ----------
    host : interface to bind; loopback by default, so nothing is exposed by accident.
    port : TCP port.
    data_dir : root of everything the server writes (tile store, manifests, caches).
    web_dir : folder of the static web apps (``web/``).
    cesium_dir : CesiumJS build folder served under ``/cesium/``
        (``node_modules/cesium/Build/Cesium``).
    demo : build (first start) and serve the bundled demo district.
    demo_inputs : folder holding the demo district's CityGML files.
    demo_example : in demo mode, build and publish the example proposal on the first start
        (:mod:`greentwin.twin.demo_example`).
    default_scenario : scenario shown when a request names none.
    access_log : write one structured line per request to the ``greentwin.access`` logger.
    shutdown_timeout : seconds that open requests get to finish on shutdown.
    file_cache_bytes : memory budget of the in-process cache of immutable tile files (bytes).
    tokens_file : file of ``role token`` lines granting roles (see :mod:`greentwin.server.auth`);
        in demo mode without one, a planner token is generated in ``data_dir/planner-token``.
    extent : ``"west,south,east,north"`` (degrees) that edits must fall inside; empty means
        the demo district's extent in demo mode, else anywhere.
    hello_timeout_s : seconds a WebSocket connection may stay without a ``hello``.
    vegetation_cache_size : vegetation tilesets (dates, variants, states) kept on disk per
        scenario; the least recently requested one beyond it is deleted.
    scheduler : a Dask scheduler address (``tcp://host:8786``) that ``greentwin convert``
        sends its jobs to; empty means local processes (see docs/deploy.md).
    database_url : ``postgresql://...``: keep scenarios, their event logs and the hub's
        comments and votes in PostgreSQL (shared by several server processes); empty means
        the embedded SQLite files under ``data_dir``.
    redis_url : ``redis://...``: fan live updates out to every server process through
        Redis, so a client may connect to (and resume on) any of them; empty means fan-out
        inside this process.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = field(default_factory=lambda: Path("var"))
    web_dir: Path = field(default_factory=lambda: REPO_ROOT / "web")
    cesium_dir: Path = field(
        default_factory=lambda: REPO_ROOT / "node_modules" / "cesium" / "Build" / "Cesium"
    )
    demo: bool = False
    demo_inputs: Path = field(default_factory=lambda: REPO_ROOT / "data" / "citygml")
    demo_example: bool = True
    default_scenario: str = "baseline"
    access_log: bool = True
    shutdown_timeout: float = 10.0
    file_cache_bytes: int = 64 * 1024 * 1024
    tokens_file: Path | None = None
    extent: str = ""
    hello_timeout_s: float = 10.0
    vegetation_cache_size: int = 32
    scheduler: str = ""
    database_url: str = ""
    redis_url: str = ""

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (values are coerced and checked like file values)."""
        merged = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if value is not None:
                merged[key] = _coerce(key, value)
        return Config(**merged)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServerError(f"port {self.port} is out of range 0..65535")
        if self.shutdown_timeout < 0 or self.file_cache_bytes < 0:
            raise ServerError("shutdown_timeout and file_cache_bytes must not be negative")
        if not self.hello_timeout_s > 0 or self.vegetation_cache_size < 1:
            raise ServerError("hello_timeout_s must be positive, vegetation_cache_size >= 1")


_FIELDS: dict[str, type] = {
    "host": str,
    "port": int,
    "data_dir": Path,
    "web_dir": Path,
    "cesium_dir": Path,
    "demo": bool,
    "demo_inputs": Path,
    "demo_example": bool,
    "default_scenario": str,
    "access_log": bool,
    "shutdown_timeout": float,
    "file_cache_bytes": int,
    "tokens_file": Path,
    "extent": str,
    "hello_timeout_s": float,
    "vegetation_cache_size": int,
    "scheduler": str,
    "database_url": str,
    "redis_url": str,
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(key: str, value: object) -> Any:
    kind = _FIELDS.get(key)
    if kind is None:
        raise ServerError(f"unknown configuration key {key!r}; known keys: {sorted(_FIELDS)}")
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if kind is Path:
            if not isinstance(value, str | os.PathLike):
                raise TypeError(value)
            return Path(value).expanduser()
        if kind is int and isinstance(value, bool | float):
            raise TypeError(value)
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ServerError(
            f"configuration key {key!r}: cannot read {value!r} as {kind.__name__}"
        ) from exc


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Load the configuration.

    Parameters
    ----------
    path : a TOML file (keys as in :class:`Config`, optionally under a ``[server]`` table),
        or None for none. ``GREENTWIN_CONFIG`` names one when ``path`` is None.
    env : environment to read ``GREENTWIN_*`` from; ``os.environ`` by default.
    overrides : values from the command line; None values are ignored.

    Raises
    ------
    ServerError
        The file is missing or not valid TOML, a key is unknown or a value has the wrong type.
    """
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = Path(environ[ENV_PREFIX + "CONFIG"])
    if path is not None:
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except OSError as exc:
            raise ServerError(f"cannot read configuration file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ServerError(f"configuration file {path} is not valid TOML: {exc}") from exc
        table = doc.get("server", doc)
        if not isinstance(table, dict):
            raise ServerError(f"configuration file {path}: [server] must be a table")
        base = path.parent
        for key, value in table.items():
            coerced = _coerce(key, value)
            if isinstance(coerced, Path) and not coerced.is_absolute():
                coerced = base / coerced  # relative paths are relative to the file
            values[key] = coerced
    for key in _FIELDS:
        raw = environ.get(ENV_PREFIX + key.upper())
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return Config(**values)
