"""``greentwin demo``: build (first start) and serve the bundled Berlin district."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from greentwin.core import ExitCode

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``demo``."""
    from greentwin.server.cmd_serve import add_server_arguments

    parser = subparsers.add_parser(
        "demo",
        help="build (first start) and serve the demo district",
        description=(
            "Serve the bundled Berlin test area (LoD2 buildings, surveyed trees). "
            "The first start converts it (cached in the data directory); later starts "
            "are instant. Open the printed URL in a browser."
        ),
    )
    add_server_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``greentwin demo``."""
    from greentwin.server.cmd_serve import config_from_args, serve

    asyncio.run(serve(config_from_args(args, demo=True)))
    return int(ExitCode.OK)
