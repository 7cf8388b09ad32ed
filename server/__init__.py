"""The greentwin server: HTTP and WebSocket application, command line, scenario store.

Only this package imports aiohttp; nothing else in greentwin imports it.
"""

from greentwin.core import __version__

__all__ = ["__version__"]
