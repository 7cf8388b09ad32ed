"""Operator-configured role tokens for the live channel and the scenario API.

Tokens grant roles (``viewer < citizen < planner < admin``). They live in a file of
their own, never in the main configuration, the environment listing, a URL or a log:

    # role   token
    planner  3q8T0h...      (at least 16 characters)
    admin    Zp1x9...

The file is named by the configuration key ``tokens_file``. In demo mode without one,
a planner token and an admin token are generated once and kept in
``<data_dir>/planner-token`` and ``<data_dir>/admin-token`` (mode 0600), so whoever can
read the server's data directory can sign in as a planner or an admin (what each role may
do: :mod:`greentwin.server.access`); the server says where the files are, never what
they hold.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path
from typing import cast, get_args

from greentwin.core import ServerError
from greentwin.server.config import Config
from greentwin.server.ws import LiveConfig
from greentwin.twin.ops import WORLD, Extent
from greentwin.twin.protocol import Role

__all__ = [
    "DEMO_ADMIN_TOKEN_FILE",
    "DEMO_TOKEN_FILE",
    "demo_planner_token",
    "demo_token",
    "live_config_for",
    "load_tokens",
]

log = logging.getLogger(__name__)

#: File (in the data directory) holding the demo's generated planner token.
DEMO_TOKEN_FILE = "planner-token"
#: File (in the data directory) holding the demo's generated admin token (moderation).
DEMO_ADMIN_TOKEN_FILE = "admin-token"
MIN_TOKEN_LENGTH = 16
ROLES: tuple[str, ...] = get_args(Role)


def load_tokens(path: Path) -> dict[str, Role]:
    """Read a tokens file: one ``role token`` pair per line, ``#`` starts a comment.

    Raises
    ------
    ServerError
        The file cannot be read, a role is unknown, a token is too short or repeated.
        Messages name the line, never the token.
    """
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise ServerError(f"cannot read tokens file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("tokens file %s is readable by other users; chmod 600 it", path)
    tokens: dict[str, Role] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ServerError(f"{path}:{number}: expected 'role token'")
        role, token = parts
        if role not in ROLES:
            raise ServerError(f"{path}:{number}: unknown role {role!r}; use one of {ROLES}")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ServerError(f"{path}:{number}: token shorter than {MIN_TOKEN_LENGTH} characters")
        if token in tokens:
            raise ServerError(f"{path}:{number}: the same token is listed twice")
        tokens[token] = cast(Role, role)
    return tokens


def demo_planner_token(data_dir: Path) -> str:
    """The demo's planner token: read from ``data_dir/planner-token`` or created there (0600)."""
    return demo_token(data_dir, DEMO_TOKEN_FILE)


def demo_token(data_dir: Path, name: str) -> str:
    """A demo token: read from ``data_dir/name`` or created there (mode 0600)."""
    path = data_dir / name
    try:
        existing = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        existing = ""
    except OSError as exc:
        raise ServerError(f"cannot read {path}: {exc.strerror}") from exc
    if len(existing) >= MIN_TOKEN_LENGTH:
        return existing
    token = secrets.token_urlsafe(24)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    log.info("demo token written to %s (sign in with its contents)", path)
    return token


def live_config_for(config: Config) -> LiveConfig:
    """The live channel's settings from the server configuration.

    Tokens come from ``config.tokens_file`` (or, in demo mode when no file is configured,
    the generated planner and admin tokens). Edits must fall inside ``config.extent``
    (``"west,south,east,north"`` in degrees) or, in demo mode, inside the demo
    district's analysis grid; otherwise anywhere.
    """
    tokens: dict[str, Role] = {}
    if config.tokens_file is not None:
        tokens.update(load_tokens(config.tokens_file))
    elif config.demo:
        tokens[demo_planner_token(config.data_dir)] = "planner"
        tokens[demo_token(config.data_dir, DEMO_ADMIN_TOKEN_FILE)] = "admin"
    return LiveConfig(tokens=tokens, extent=_extent(config), hello_timeout_s=config.hello_timeout_s)


def _extent(config: Config) -> Extent:
    if config.extent:
        try:
            west, south, east, north = (float(v) for v in config.extent.split(","))
        except ValueError as exc:
            raise ServerError(
                f"configuration key 'extent': expected 'west,south,east,north', "
                f"got {config.extent!r}"
            ) from exc
        return Extent.bbox(west, south, east, north)
    if config.demo:
        from greentwin.twin.district import District

        return Extent.bbox(*District.load_demo(config.demo_inputs).bounds_lonlat())
    return WORLD
