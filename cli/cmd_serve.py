"""``greentwin serve``: run the HTTP server (tiles, web viewer, JSON API)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
from pathlib import Path
from typing import Any

from greentwin.core import ExitCode

__all__ = ["add_parser", "add_server_arguments", "config_from_args", "run"]

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


def run(args: argparse.Namespace) -> int:
    """Entry point of ``greentwin serve``."""
    if getattr(args, "project", None) is not None:
        from greentwin.cli.cmd_build import default_data_dir

        manifest = args.project.resolve()
        data = args.data or default_data_dir(manifest)
        config = config_from_args(
            args, demo=True, demo_inputs=manifest, demo_example=False, data_dir=data
        )
    else:
        config = config_from_args(args, demo=args.demo)
    from greentwin.server.run import serve

    asyncio.run(serve(config))
    return int(ExitCode.OK)
