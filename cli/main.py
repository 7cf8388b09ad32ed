"""The ``greentwin`` command: one entry point, one subcommand per module.

Each subcommand lives in its own module (``greentwin.cli.cmd_<name>``) that
defines ``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports stay
inside ``run`` so ``greentwin --help`` is instant. Exceptions map to the exit
codes of :class:`greentwin.core.ExitCode`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from greentwin.core import ExitCode, GreentwinError, __version__

log = logging.getLogger(__name__)

#: subcommand name -> module; the order is the order of ``--help``.
COMMANDS: dict[str, str] = {
    "convert": "greentwin.cli.cmd_convert",
    "serve": "greentwin.cli.cmd_serve",
    "demo": "greentwin.cli.cmd_demo",
    "build": "greentwin.cli.cmd_build",
}

EPILOG = """exit codes:
  0 success; 1 internal error; 2 usage; 3 bad or truncated input file;
  4 unsafe input refused (DTD/entities); 5 missing or unknown CRS (use --crs);
  6 output could not be written (or OUT_DIR holds other files: --overwrite);
  7 kernel/backend failure; 8 server could not start; 130 interrupted"""


def _command_modules() -> dict[str, ModuleType]:
    return {name: importlib.import_module(mod) for name, mod in COMMANDS.items()}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="greentwin",
        description="City digital twin with a living green layer.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"greentwin {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = _command_modules()
    for module in modules.values():
        module.add_parser(sub)
    return parser, modules


def configure_logging(verbose: int, quiet: bool) -> None:
    """Logging is configured here and nowhere else (library code only logs)."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    module = modules[args.command]
    try:
        code: int = module.run(args)
    except GreentwinError as exc:
        log.error("%s", exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        log.warning("interrupted")
        return int(ExitCode.INTERRUPTED)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
