"""The greentwin server: HTTP and WebSocket application, auth, storage implementations, wiring.

Only this package imports aiohttp. The twin it serves (projects, districts, scenario
state and ops, recompute, indicators, exports) is :mod:`greentwin.twin`; the command
line is :mod:`greentwin.cli`.
"""

from greentwin.core import __version__

__all__ = ["__version__"]
