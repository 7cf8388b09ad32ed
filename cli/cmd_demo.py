"""``greentwin demo``: build (first start) and serve the bundled Berlin project.

The demo is the project ``data/projects/berlin/project.toml`` (docs/projects.md), served as
``greentwin serve PROJECT.toml`` serves any project, with the demo's example proposal.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from greentwin.core import ExitCode

__all__ = ["add_parser", "demo_config", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``demo``."""
    from greentwin.cli.cmd_serve import add_server_arguments

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


def demo_config(args: argparse.Namespace) -> Any:
    """The demo's configuration: the bundled Berlin project (``data/projects/berlin``)."""
    from greentwin.cli.cmd_serve import config_from_args
    from greentwin.server.config import REPO_ROOT

    manifest = REPO_ROOT / "data" / "projects" / "berlin" / "project.toml"
    return config_from_args(args, demo=True, demo_inputs=manifest)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``greentwin demo``."""
    from greentwin.server.run import serve

    asyncio.run(serve(demo_config(args)))
    return int(ExitCode.OK)
