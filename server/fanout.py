"""Live messages between server processes: Redis pub/sub (``redis_url``).

Every process publishes each update it broadcasts (and each shared ``time`` change)
on one Redis channel and hands what the others publish to its own hub
(:meth:`greentwin.server.ws.LiveHub.receive`), which delivers updates to its subscribers
in seq order, once each. Pub/sub is fire-and-forget: a message published while a
process was disconnected from Redis is not replayed by Redis; the hub fills such a gap
from the scenario log in the shared database (each update is stored there right after
it is published; a gap is read from it after a wait), or sends its subscribers a fresh
snapshot. Resume therefore works from
any process: the log is the one truth, Redis only makes it arrive quickly.

Without ``redis_url`` there is no bus and fan-out stays inside the process.
redis-py (``redis.asyncio``) is imported only when a bus is made (the ``scale`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from greentwin.core import ServerError

__all__ = ["CHANNEL", "Receiver", "RedisBus", "live_bus", "text_frame"]

log = logging.getLogger(__name__)

#: The Redis channel every server process publishes on and listens to.
CHANNEL = "greentwin:live"

#: ``(scenario, seq or None, text)``: what a process does with another's message.
Receiver = Callable[[str, int | None, str], Awaitable[None]]


def text_frame(text: str) -> bytes:
    """``text`` as one complete, unmasked WebSocket text frame, ready for the socket.

    RFC 6455, section 5.2: FIN set and opcode 0x1 (``0x81``), then the payload length
    in 7 bits, or 126 and a 16-bit length, or 127 and a 64-bit length (network byte
    order); a server never masks. The hub builds each broadcast's frame once and writes
    the same bytes to every subscriber whose connection is idle.
    """
    data = text.encode("utf-8")
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + data


class RedisBus:
    """Publish to and listen on :data:`CHANNEL` of the Redis server at ``url``.

    Messages of this process (its random ``origin``) are skipped when they come back.
    A lost connection is retried every ``retry_s`` seconds.
    """

    def __init__(self, url: str, *, channel: str = CHANNEL, retry_s: float = 0.5) -> None:
        self.url = url
        self.channel = channel
        self.retry_s = retry_s
        self.origin = secrets.token_hex(8)
        self._redis: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self, receive: Receiver) -> None:
        """Connect, subscribe and hand every other process's message to ``receive``."""
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ServerError(
                "redis_url is set but redis-py is missing: pip install 'greentwin[scale]'"
            ) from exc
        self._redis = aioredis.from_url(self.url)
        try:
            await self._redis.ping()
        except (OSError, aioredis.RedisError) as exc:
            await self._redis.aclose()
            raise ServerError(f"cannot reach Redis at redis_url: {exc}") from exc
        self._task = asyncio.create_task(self._listen(receive), name="redis-live-listener")
        await asyncio.wait_for(self._ready.wait(), 10.0)

    async def _listen(self, receive: Receiver) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    env = json.loads(msg["data"])
                    if env["o"] == self.origin:
                        continue
                    try:
                        await receive(env["s"], env["q"], env["t"])
                    except Exception:
                        log.exception("live message from another process not delivered")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis live channel: %s; reconnecting in %g s", exc, self.retry_s)
                await asyncio.sleep(self.retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def publish(self, scenario: str, seq: int | None, text: str) -> None:
        """Send one encoded message to the other processes (``seq`` None: not an update)."""
        env = json.dumps({"o": self.origin, "s": scenario, "q": seq, "t": text})
        await self._redis.publish(self.channel, env)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def live_bus(redis_url: str) -> RedisBus | None:
    """The bus ``redis_url`` names, or ``None`` (fan-out inside this process)."""
    return RedisBus(redis_url) if redis_url else None
