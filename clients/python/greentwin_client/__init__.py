"""Reference client of the greentwin/1 live protocol (on the ``websockets`` package)."""

from greentwin_client.client import GreentwinClient, ServerError

__all__ = ["GreentwinClient", "ServerError"]
