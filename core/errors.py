"""The exception hierarchy: one root, one subclass per area, each with an exit code.

The exit codes are part of the command line's documented interface (README,
``greentwin --help``); scripts may rely on them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``greentwin`` command."""

    OK = 0
    #: An unexpected internal error (a bug): please report it.
    INTERNAL = 1
    #: Wrong command-line usage (argparse's own code).
    USAGE = 2
    #: The input file is unreadable, truncated or not CityGML.
    INPUT = 3
    #: The input was refused as unsafe (DTD, external entities, entity expansion).
    UNSAFE_INPUT = 4
    #: The coordinate reference system is missing or unknown; pass ``--crs``.
    CRS = 5
    #: Tiling or writing the output failed; the previous output is left untouched.
    OUTPUT = 6
    #: A numeric kernel failed (e.g. the GPU backend was requested but is missing).
    KERNEL = 7
    #: The server could not start (port taken, bad configuration, data directory).
    SERVER = 8
    #: Interrupted by the user (Ctrl-C).
    INTERRUPTED = 130


class GreentwinError(Exception):
    """Root of every error greentwin raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class GreentwinWarning(UserWarning):
    """Root of greentwin's warnings: recoverable problems worth telling the user."""


class CityGMLError(GreentwinError):
    """A CityGML document could not be read."""

    exit_code = ExitCode.INPUT


class InputFileError(CityGMLError, OSError):
    """An input file is missing, unreadable, truncated or of the wrong kind."""

    exit_code = ExitCode.INPUT


class UnsafeInputError(CityGMLError, ValueError):
    """An XML document was refused as unsafe: DTD, external entity or entity expansion."""

    exit_code = ExitCode.UNSAFE_INPUT


class CRSError(GreentwinError, ValueError):
    """A coordinate reference system is missing, unknown or cannot be transformed."""

    exit_code = ExitCode.CRS


class TilingError(GreentwinError):
    """Geometry could not be encoded or a tileset could not be written."""

    exit_code = ExitCode.OUTPUT


class GreenModelError(GreentwinError, ValueError):
    """The green model was asked for something outside its library or ranges."""


class KernelError(GreentwinError):
    """A numeric kernel failed or its backend is unavailable."""

    exit_code = ExitCode.KERNEL


class ServerError(GreentwinError):
    """The server could not start or a request could not be served."""

    exit_code = ExitCode.SERVER


class ScenarioError(GreentwinError, ValueError):
    """A scenario edit was invalid or a scenario could not be found."""


class ProtocolError(GreentwinError, ValueError):
    """A WebSocket message broke the ``greentwin/1`` protocol."""
