"""``greentwin convert``: CityGML files to a 3D Tiles 1.1 tileset (see docs/convert.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from greentwin.core import ExitCode

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _lod(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 4:
        raise argparse.ArgumentTypeError(f"LoD is 0..4, not {value}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register ``convert``."""
    parser = subparsers.add_parser(
        "convert",
        help="convert CityGML to a 3D Tiles 1.1 tileset",
        description=(
            "Convert CityGML 1.0/2.0/3.0 files into one 3D Tiles 1.1 tileset (glb content "
            "with EXT_mesh_features and EXT_structural_metadata) for CesiumJS, Cesium for "
            "Unity and Cesium for Unreal. The output folder is replaced only when the "
            "conversion succeeds, and only if it is empty or an earlier output (else "
            "--overwrite)."
        ),
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="CITY.gml", help="input file(s)")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="output folder")
    parser.add_argument(
        "--lod",
        type=_lod,
        help="LoD to convert (default: the highest per feature; missing: nearest lower, then higher)",
    )
    parser.add_argument(
        "--crs", help="CRS of the input, overriding the file's (e.g. EPSG:25833+7837)"
    )
    parser.add_argument(
        "--vertical-crs",
        metavar="EPSG:CODE",
        help=(
            "vertical CRS of the heights when the input's CRS names none or the wrong one "
            "(e.g. EPSG:3900 for Finnish N2000, EPSG:7837 for DHHN2016); converted with "
            "PROJ's geoid grid where installed"
        ),
    )
    parser.add_argument(
        "--height-mode",
        choices=("crs", "ground"),
        default="crs",
        help="crs: heights as the CRS says (default); ground: lowest ground point on the ellipsoid",
    )
    parser.add_argument("--jobs", type=_positive, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=(
            "run the byte ranges and tiles on this Dask scheduler's workers instead of "
            "local processes (needs greentwin[dask]; inputs and output on a filesystem "
            "the workers share, see docs/deploy.md); default: the configuration's "
            "scheduler, else local"
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML configuration file; its scheduler key is used (see docs/deploy.md)",
    )
    parser.add_argument("--appearance-theme", help="appearance theme (default: the first one)")
    parser.add_argument(
        "--max-features", type=_positive, default=500, help="features per leaf tile (default 500)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace OUT_DIR even if it holds other files than an earlier greentwin output",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--summary-json", type=Path, metavar="FILE", help="also write the summary as JSON"
    )


def run(args: argparse.Namespace) -> int:
    """Convert; errors propagate as GreentwinError subclasses (mapped to exit codes)."""
    from greentwin.tiles.convert import convert

    for path in args.inputs:
        if not path.is_file():
            from greentwin.core import InputFileError

            raise InputFileError(f"input file {path} does not exist or is not a file")
    scheduler = args.scheduler
    if not scheduler:
        from greentwin.server.config import load_config

        scheduler = load_config(args.config).scheduler or None
    summary = convert(
        args.inputs,
        args.out_dir,
        lod=args.lod,
        crs=args.crs,
        jobs=args.jobs,
        height_mode=args.height_mode,
        progress=not args.no_progress and sys.stderr.isatty(),
        appearance_theme=args.appearance_theme,
        max_features_per_tile=args.max_features,
        overwrite=args.overwrite,
        vertical_crs=args.vertical_crs,
        scheduler=scheduler,
    )
    rate = summary.features / max(summary.seconds, 1e-9)
    lines = [
        f"features converted: {summary.features} ({summary.objects} city objects)",
        f"LoDs used: {', '.join(f'LoD{k}: {v}' for k, v in sorted(summary.lods_used.items()))}"
        + (f" ({summary.fallbacks} fell back from --lod)" if summary.fallbacks else ""),
        f"skipped: {len(summary.skipped)}"
        + "".join(f"\n  {n} x {reason}" for reason, n in summary.skipped_by_reason().items()),
        f"tiles: {summary.tiles}, {summary.bytes / 1e6:.2f} MB",
        f"time: {summary.seconds:.2f} s ({rate:.0f} features/s)",
        f"tileset: {summary.tileset}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.to_dict(), indent=1), encoding="utf-8")
    return int(ExitCode.OK)
