"""``greentwin build PROJECT.toml``: build every layer of a project (see docs/projects.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from greentwin.core import ExitCode

__all__ = ["add_parser", "default_data_dir", "run"]


def default_data_dir(manifest: Path) -> Path:
    """Where a project's layers go by default: ``var/projects/<project name>``."""
    from greentwin.twin import load_manifest

    return Path("var") / "projects" / load_manifest(manifest).name


def add_parser(subparsers: Any) -> None:
    """Register ``build``."""
    parser = subparsers.add_parser(
        "build",
        help="build a project's layers (city tiles, vegetation, noise/air overlays)",
        description=(
            "Read a project manifest (docs/projects.md), then build its city tiles, "
            "vegetation and noise/air/heat overlays into the data directory. Layers whose "
            "inputs and code are unchanged are kept (a second build takes seconds)."
        ),
    )
    parser.add_argument("project", type=Path, metavar="PROJECT.toml", help="project manifest")
    parser.add_argument(
        "--data", type=Path, metavar="DIR", help="data directory (default var/projects/NAME)"
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        help=(
            "worker processes for the overlays' blocks (default: the manifest's "
            "[compute] jobs, else one per core)"
        ),
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=(
            "compute the overlays' blocks on this Dask scheduler's workers (needs "
            "greentwin[dask]); default: the manifest's [compute] scheduler, else the "
            "configuration's scheduler, else local processes"
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML configuration file; its scheduler key is used (see docs/deploy.md)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    """Entry point of ``greentwin build``."""
    from greentwin.server.store import TileStore
    from greentwin.twin.project import build_project

    data_dir = args.data or default_data_dir(args.project)

    def progress(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    scheduler = args.scheduler
    if not scheduler:
        from greentwin.server.config import load_config
        from greentwin.twin import load_manifest

        scheduler = load_manifest(args.project).scheduler or (
            load_config(args.config).scheduler or None
        )
    build_project(
        args.project,
        TileStore(data_dir),
        progress=progress,
        jobs=args.jobs,
        scheduler=scheduler,
    )
    progress(f"built into {data_dir}; serve it with: greentwin serve {args.project}")
    return int(ExitCode.OK)
