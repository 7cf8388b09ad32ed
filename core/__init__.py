"""Shared foundations of greentwin: the exception hierarchy and exit codes.

Every area of the project raises a subclass of :class:`GreentwinError`, so a caller
can catch everything greentwin raises with one ``except`` clause, and the CLI maps
each subclass to a documented exit code.
"""

from importlib.metadata import PackageNotFoundError, version

from greentwin.core.errors import (
    CityGMLError,
    CRSError,
    ExitCode,
    GreenModelError,
    GreentwinError,
    GreentwinWarning,
    InputFileError,
    KernelError,
    ProtocolError,
    ScenarioError,
    ServerError,
    TilingError,
    UnsafeInputError,
)

try:
    __version__ = version("greentwin")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "CRSError",
    "CityGMLError",
    "ExitCode",
    "GreenModelError",
    "GreentwinError",
    "GreentwinWarning",
    "InputFileError",
    "KernelError",
    "ProtocolError",
    "ScenarioError",
    "ServerError",
    "TilingError",
    "UnsafeInputError",
    "__version__",
]
