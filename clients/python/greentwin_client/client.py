"""An asyncio client for ``greentwin/1``: hello, subscribe, edit, follow updates, resume.

The client keeps, per subscribed scenario, the last ``seq`` it applied and the
server's ``epoch``; :meth:`GreentwinClient.reconnect` says hello again with
``resume`` so the server replays exactly the missed updates (or sends a fresh
snapshot). Updates are delivered in order through :meth:`next_event`, never twice:
anything at or below the last applied seq is dropped, and a gap triggers a
re-subscription (snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import struct
import uuid
from typing import Any

import websockets

log = logging.getLogger(__name__)

PROTOCOL = "greentwin/1"


class ServerError(Exception):
    """The server answered with an ``error`` frame."""

    def __init__(self, msg: dict[str, Any]) -> None:
        super().__init__(f"{msg.get('code')}: {msg.get('message')}")
        self.code: str = msg.get("code", "")
        self.msg = msg


def decode_glb_frame(frame: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a binary frame: b'GTB1', uint32 LE header length, JSON header, glb."""
    if frame[:4] != b"GTB1":
        raise ValueError("not a greentwin/1 binary frame")
    (n,) = struct.unpack_from("<I", frame, 4)
    header: dict[str, Any] = json.loads(frame[8 : 8 + n])
    return header, frame[8 + n :]


class GreentwinClient:
    """One connection to ``/ws``; use ``async with GreentwinClient(url, token=...)``."""

    def __init__(
        self, url: str, *, token: str | None = None, role: str | None = None, timeout: float = 10.0
    ) -> None:
        self.url = url
        self.token = token
        self.role = role
        self.timeout = timeout
        self.epoch: str | None = None
        self.session: str | None = None
        self.seq: dict[str, int] = {}
        self.layers: dict[str, dict[str, Any]] = {}
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._refs = itertools.count(1)
        self._tasks: set[asyncio.Future[None]] = set()
        #: The last edit's ``ack`` (``duplicate: true`` when a resend met a committed edit).
        self.last_ack: dict[str, Any] | None = None

    async def __aenter__(self) -> GreentwinClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connection ----------------------------------------------------------------

    async def connect(self, resume: str | None = None) -> dict[str, Any]:
        """Open the socket and say hello (resuming ``resume`` if given)."""
        self._ws = await asyncio.wait_for(
            websockets.connect(self.url, max_size=2**24), self.timeout
        )
        welcome_fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending["__welcome__"] = welcome_fut
        self._reader = asyncio.create_task(self._read_loop())
        hello: dict[str, Any] = {"type": "hello", "protocol": PROTOCOL}
        if self.token:
            hello["token"] = self.token
        if self.role:
            hello["role"] = self.role
        if resume is not None and self.epoch is not None and resume in self.seq:
            hello["resume"] = {"scenario": resume, "epoch": self.epoch, "seq": self.seq[resume]}
        await self._send(hello)
        welcome: dict[str, Any] = await asyncio.wait_for(welcome_fut, self.timeout)
        self.epoch = welcome["epoch"]
        self.session = welcome["session"]
        return welcome

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._ws = None

    async def drop(self) -> None:
        """Abruptly lose the connection (no close handshake), as a network cut would."""
        if self._ws is not None:
            self._ws.transport.abort()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._ws = None

    async def reconnect(self) -> dict[str, Any]:
        """Connect again, resume the first subscription, re-subscribe the others."""
        subs = list(self.seq)
        welcome = await self.connect(resume=subs[0] if subs else None)
        for scenario in subs[1:]:
            await self.subscribe(scenario)
        return welcome

    # --- requests ------------------------------------------------------------------

    async def _send(self, msg: dict[str, Any]) -> None:
        if self._ws is None:
            raise ConnectionError("not connected")
        await self._ws.send(json.dumps(msg, allow_nan=False))

    async def _request(self, msg: dict[str, Any]) -> Any:
        ref = msg.setdefault("ref", f"r{next(self._refs)}")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ref] = fut
        await self._send(msg)
        try:
            return await asyncio.wait_for(fut, self.timeout)
        finally:
            self._pending.pop(ref, None)

    async def subscribe(self, scenario: str) -> dict[str, Any]:
        """Subscribe; returns the snapshot (and resets the scenario's seq to it)."""
        snap: dict[str, Any] = await self._request({"type": "subscribe", "scenario": scenario})
        return snap

    async def unsubscribe(self, scenario: str) -> dict[str, Any]:
        self.seq.pop(scenario, None)
        res: dict[str, Any] = await self._request({"type": "unsubscribe", "scenario": scenario})
        return res

    async def edit(
        self,
        scenario: str,
        op: dict[str, Any],
        base_seq: int | None = None,
        *,
        key: str | None = None,
        resend: bool = True,
    ) -> int:
        """Send an edit; returns its seq once the server acknowledged it (durable).

        Every edit carries an idempotency ``key`` (a fresh UUID unless one is given). When
        the connection is lost before the ack arrives and ``resend`` is true, the client
        reconnects and sends the same edit with the same key once more: if the first one
        was committed the server answers its original ack (``duplicate: true``, kept in
        :attr:`last_ack`), so the edit is never applied twice.
        """
        msg: dict[str, Any] = {
            "type": "edit",
            "scenario": scenario,
            "op": op,
            "key": key or uuid.uuid4().hex,
        }
        if base_seq is not None:
            msg["base_seq"] = base_seq
        try:
            ack = await self._request(dict(msg))
        except (ConnectionError, websockets.ConnectionClosed) as exc:
            if not resend:
                raise
            log.info("connection lost before the ack of edit %s (%s): resending", msg["key"], exc)
            await self.reconnect()
            ack = await self._request(dict(msg))
        self.last_ack = ack
        return int(ack["seq"])

    async def undo(self, scenario: str) -> int:
        return int((await self._request({"type": "undo", "scenario": scenario}))["seq"])

    async def redo(self, scenario: str) -> int:
        return int((await self._request({"type": "redo", "scenario": scenario}))["seq"])

    async def set_time(self, year: int, date: str, scenario: str | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "set_time", "time": {"year": year, "date": date}}
        if scenario is not None:
            msg["scenario"] = scenario
        res: dict[str, Any] = await self._request(msg)
        return res

    async def ping(self) -> float:
        """Round trip time in seconds."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await self._request({"type": "ping"})
        return loop.time() - t0

    async def request_glb(self, obj: dict[str, Any], lod: int = 1) -> tuple[dict[str, Any], bytes]:
        """Ask for a small glb model; returns (header, glb bytes)."""
        result: tuple[dict[str, Any], bytes] = await self._request(
            {"type": "request_glb", "object": obj, "lod": lod}
        )
        return result

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next update, snapshot (after a resync) or shared time message, in order."""
        return await asyncio.wait_for(self._events.get(), timeout or self.timeout)

    # --- the reader ------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                if isinstance(raw, bytes):
                    header, body = decode_glb_frame(raw)
                    self._resolve(header.get("ref"), (header, body))
                    continue
                self._dispatch(json.loads(raw))
        finally:  # the connection is gone: nothing pending will be answered on it
            lost = ConnectionError("connection lost before the answer")
            for fut in list(self._pending.values()):
                if not fut.done():
                    fut.set_exception(lost)

    def _resolve(self, ref: Any, value: Any, error: bool = False) -> bool:
        fut = self._pending.get(ref) if isinstance(ref, str) else None
        if fut is None or fut.done():
            return False
        if error:
            fut.set_exception(ServerError(value))
        else:
            fut.set_result(value)
        return True

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "welcome":
            self._resolve("__welcome__", msg)
        elif kind == "snapshot":
            self.seq[msg["scenario"]] = msg["seq"]
            self.layers[msg["scenario"]] = dict(msg["layers"])
            if not self._resolve(msg.get("ref"), msg):
                self._events.put_nowait(msg)  # resume fallback or resync
        elif kind == "update":
            scenario, seq = msg["scenario"], msg["seq"]
            last = self.seq.get(scenario)
            if last is None or seq <= last:
                return  # not subscribed, or already applied
            if seq != last + 1:
                log.warning("gap in %s: %d after %d; re-subscribing", scenario, seq, last)
                self.seq.pop(scenario)
                task = asyncio.ensure_future(
                    self._send({"type": "subscribe", "scenario": scenario})
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            self.seq[scenario] = seq
            self.layers.setdefault(scenario, {}).update(msg["layers"])
            self._events.put_nowait(msg)
        elif kind == "error":
            if not self._resolve(msg.get("ref"), msg, error=True):
                if msg.get("code") != "resync":
                    log.warning("server error: %s", msg.get("message"))
        elif kind in ("ack", "pong", "unsubscribed"):
            self._resolve(msg.get("ref"), msg)
        elif kind == "time":
            if not self._resolve(msg.get("ref"), msg):
                self._events.put_nowait(msg)
