"""The live hub: the ``/ws`` endpoint of the ``greentwin/1`` protocol and the fan-out.

Each connection is a :class:`Session` with a reader (this module's handler loop,
one message at a time, in order) and a writer task that drains the session's own
send queue, so a slow client only ever blocks its own writer. Broadcasts encode a
message once and append it to every subscriber's queue; a subscriber whose queue
is longer than ``LiveConfig.send_queue`` has fallen too far behind: its queue is
dropped and it gets ``error{code: "resync"}`` followed by a fresh ``snapshot``.

Robustness: every inbound frame goes through a token bucket (``rate_per_s``,
``burst``), a size check (``max_frame_bytes``: ``error{too_large}``, the
connection stays), JSON decoding and schema validation. Frames beyond
``hard_frame_bytes`` are refused by aiohttp itself while reading, which closes the
connection with 1009 (message too big): the frame is never buffered. A client
that keeps sending after being rate limited (more than ``abuse_limit`` refused
frames in a row) gets an error frame and is closed with 1008 (policy violation).
aiohttp's ``heartbeat`` pings every ``heartbeat_s`` and closes silent peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import secrets
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import WSCloseCode, WSMsgType, web
from greentwin.core import GreentwinError, __version__
from greentwin.server.access import may_read_status, shown_parent
from greentwin.server.fanout import RedisBus, text_frame
from greentwin.server.jsonio import JsonInputError, loads
from greentwin.twin.glb import GlbProducer, default_glb_producer
from greentwin.twin.ops import WORLD, AddBuilding, Extent, OpError, op_digest, parse_op
from greentwin.twin.protocol import (
    PROTOCOL,
    ROLES,
    AckMsg,
    ErrorCode,
    GlbHeader,
    Limits,
    MessageError,
    Role,
    ScenarioTime,
    encode_glb_frame,
    error_msg,
    role_at_least,
    validate_message,
)
from greentwin.twin.recompute import LayerChanges, Recompute
from greentwin.twin.scenarios import (
    BASELINE,
    Appended,
    ScenarioInfo,
    ScenarioLog,
    UnknownScenarioError,
)

__all__ = ["LiveConfig", "LiveHub", "Session", "dumps"]

log = logging.getLogger(__name__)

_RESYNC: Final = object()
_CLOSE: Final = object()
_CLOSE_NO_HELLO: Final = object()
#: Text frames read but not handled yet, per session; a fuller inbox stops the reading
#: (the rate limit refuses frames beyond ``burst`` long before that).
_INBOX_FRAMES: Final = 64


def dumps(msg: Mapping[str, Any]) -> str:
    """Compact JSON for the wire."""
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """Settings of the live channel (the application's configuration fills them in).

    ``tokens`` maps bearer tokens to roles; they are compared in constant time and
    never logged. Without a token a client is a ``viewer`` (if ``allow_anonymous``).
    """

    tokens: Mapping[str, Role] = field(default_factory=dict)
    allow_anonymous: bool = True
    max_frame_bytes: int = 64 * 1024
    hard_frame_bytes: int = 1024 * 1024
    rate_per_s: float = 20.0
    burst: int = 40
    abuse_limit: int = 200
    send_queue: int = 256
    heartbeat_s: float = 20.0
    #: Seconds a connection may stay without a successful ``hello`` before it is closed.
    hello_timeout_s: float = 10.0
    retain: int = 1000
    extent: Extent = WORLD
    #: ``(lon, lat, height)`` (degrees, metres above the WGS 84 ellipsoid) engines put
    #: their local origin at; ``None``: the centre of ``extent`` at height 0.
    origin: tuple[float, float, float] | None = None
    #: Per-client write buffering (bytes): the socket's SO_SNDBUF and the transport's
    #: high-water mark. Past it a client's writer waits and its queue grows until the
    #: resync. ``None`` keeps the defaults (kernel autotuning, 64 KiB in user space).
    send_buffer_bytes: int | None = None
    #: Seconds between freezes of the objects alive (``gc.freeze``), so the collector's
    #: automatic passes skip the connections' long-lived objects; ``0``: the collector's
    #: own schedule (see :meth:`LiveHub.steady_gc`).
    gc_freeze_s: float = 30.0
    #: At most this many seconds between full collections of everything frozen, which
    #: reclaim the reference cycles closed connections leave.
    gc_full_s: float = 1800.0

    def role_for_token(self, token: str) -> Role | None:
        """The role a token grants, or ``None`` for an unknown token."""
        found: Role | None = None
        given = token.encode()
        for known, role in self.tokens.items():
            if hmac.compare_digest(known.encode(), given):
                found = role
        return found

    def place(self) -> dict[str, Any]:
        """The welcome's ``extent`` (bounds, degrees) and ``origin``: where the city is."""
        west, south, east, north = self.extent.bounds()
        lon, lat, height = self.origin or ((west + east) / 2, (south + north) / 2, 0.0)
        return {
            "extent": {"west": west, "south": south, "east": east, "north": north},
            "origin": {"lon": lon, "lat": lat, "height": height},
        }

    def limits(self) -> Limits:
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "hard_frame_bytes": self.hard_frame_bytes,
            "rate_per_s": self.rate_per_s,
            "burst": self.burst,
            "send_queue": self.send_queue,
            "heartbeat_s": self.heartbeat_s,
            "hello_timeout_s": self.hello_timeout_s,
            "retain": self.retain,
        }


class TokenBucket:
    """Token bucket: ``rate`` tokens per second, at most ``burst`` stored."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Session:
    """One WebSocket connection: its role, subscriptions and send queue."""

    def __init__(self, ws: web.WebSocketResponse, config: LiveConfig) -> None:
        self.id = secrets.token_hex(8)
        self.ws = ws
        self.role: Role | None = None
        self.subs: set[str] = set()
        self.lagging: set[str] = set()
        self.pending_resync: set[str] = set()
        self.out: deque[object] = deque()
        self.waiter: asyncio.Future[None] | None = None  # set while the writer is idle
        #: The connection's transport, for broadcasts written without the writer task.
        self.transport: asyncio.BaseTransport | None = None
        self.limit = config.send_queue
        self.bucket = TokenBucket(config.rate_per_s, config.burst)
        self.strikes = 0
        self.time: ScenarioTime | None = None
        self.closing = False
        self.deadline: asyncio.Future[None] | None = None  # closes it without a hello
        #: Per scenario, the seq this client has (its snapshot's or last update's): an
        #: update up to it that reaches the hub later is not sent again.
        self.after: dict[str, int] = {}

    @property
    def author(self) -> str:
        return f"{self.role}#{self.id[:8]}"

    def send(self, item: object) -> None:
        """Queue a direct reply (not bounded: replies are one per inbound frame)."""
        self.out.append(item)
        self._wake()

    def offer(self, scenario: str, text: str, frame: bytes | None = None) -> None:
        """Queue a broadcast; past the queue limit, switch to resync. ``frame``: the
        same message as a complete WebSocket frame, written at once when nothing is
        waiting before it (:meth:`write_now`)."""
        if scenario in self.lagging:
            return
        if frame is not None and self.write_now(frame):
            return
        if len(self.out) >= self.limit:
            log.info("session %s fell behind on %s: resync", self.id, scenario)
            self.out.clear()
            self.lagging |= self.subs
            self.pending_resync |= self.subs
            self.out.append(_RESYNC)
        else:
            self.out.append(text)
        self._wake()

    def write_now(self, frame: bytes) -> bool:
        """Write a ready frame straight to the socket if the writer task is idle, its
        queue empty and the transport's buffer empty; ``False`` otherwise (queue it).

        This spares a broadcast the per-client task switch and encoding. A client that
        does not read fills its socket buffer, then the transport's: from then on its
        broadcasts go to the bounded queue and the resync path as before.
        """
        t = self.transport
        w = self.waiter
        if (
            not isinstance(t, asyncio.WriteTransport)
            or self.out
            or w is None
            or w.done()
            or self.closing
            or self.ws.closed
            or t.is_closing()
            or t.get_write_buffer_size()
        ):
            return False
        t.write(frame)
        return True

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


class LiveHub:
    """Sessions, subscriptions, the edit path and the fan-out.

    Parameters
    ----------
    store : ScenarioLog
        The open scenario store (SQLite or PostgreSQL).
    recompute : Recompute
        Publishes new layer versions after each edit.
    config : LiveConfig
        Limits, tokens, extent.
    glb_producer : GlbProducer
        Builds the glb for ``request_glb``.
    bus : RedisBus, optional
        Shares updates with the other server processes (``redis_url``); ``None``: this
        process is alone. With a bus, updates from any process reach the subscribers in
        seq order, once each: one that comes early is held until the ones before it
        arrive, or after ``gap_wait_s`` are read from the store's log (each process
        stores its updates there right after publishing them; if the log lacks them,
        because the process that made them died first, the subscribers get a fresh
        snapshot).
    """

    #: Seconds an early update waits for the ones before it (bus only).
    gap_wait_s: float = 1.0

    def __init__(
        self,
        store: ScenarioLog,
        recompute: Recompute,
        config: LiveConfig,
        glb_producer: GlbProducer = default_glb_producer,
        bus: RedisBus | None = None,
    ) -> None:
        self.store = store
        self.recompute = recompute
        self.config = config
        self.glb_producer = glb_producer
        self.sessions: set[Session] = set()
        self.subscribers: dict[str, set[Session]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._ring: dict[str, deque[tuple[int, str]]] = {}
        self.bus = bus
        self._last: dict[str, int] = {}  # per scenario, the last update delivered
        self._held: dict[str, dict[int, str]] = {}  # early updates (bus only)
        self._gaps: dict[str, asyncio.Task[None]] = {}
        self.closed_sessions = 0  # sessions ended since the hub started

    def lock(self, scenario: str) -> asyncio.Lock:
        lk = self._locks.get(scenario)
        if lk is None:
            lk = self._locks[scenario] = asyncio.Lock()
        return lk

    # --- the edit path (shared by WebSocket and HTTP) ------------------------------------

    async def apply_edit(
        self,
        scenario: str,
        raw_op: Any,
        *,
        role: str,
        author: str,
        ref: str = "http",
        base_seq: int | None = None,
        key: str | None = None,
        session: Session | None = None,
    ) -> AckMsg:
        """Validate, append durably, acknowledge, recompute and broadcast one edit.

        ``key`` is the client's idempotency key: an edit whose key the scenario has
        logged already is answered with that edit's ack (``duplicate: true``) and
        changes nothing (see ``docs/protocol.md``).

        Raises
        ------
        MessageError
            ``forbidden`` below the planner role.
        OpError, UnknownScenarioError
            From validation and the store.
        """
        if not role_at_least(role, "planner"):
            raise MessageError("forbidden", f"editing needs the planner role (you are {role})")
        async with self.lock(scenario):
            info = await self.store.get(scenario)
            op = parse_op(raw_op, info.extent)
            appended = await self.store.append(
                scenario,
                op,
                author=author,
                base_seq=base_seq,
                key=key,
                digest=op_digest(raw_op) if key is not None else "",
            )
            return await self._acked(appended, ref, session)

    async def apply_undo(
        self,
        scenario: str,
        kind: str,
        *,
        role: str,
        author: str,
        ref: str = "http",
        session: Session | None = None,
    ) -> AckMsg:
        """Undo or redo (``kind``) the scenario's latest edit; same flow as an edit."""
        if not role_at_least(role, "planner"):
            raise MessageError("forbidden", f"{kind} needs the planner role (you are {role})")
        async with self.lock(scenario):
            if kind == "undo":
                appended = await self.store.undo(scenario, author=author)
            else:
                appended = await self.store.redo(scenario, author=author)
            return await self._acked(appended, ref, session)

    async def _acked(self, appended: Appended, ref: str, session: Session | None) -> AckMsg:
        ack: AckMsg = {
            "type": "ack",
            "ref": ref,
            "scenario": appended.scenario,
            "seq": appended.seq,
        }
        if appended.duplicate:
            ack["duplicate"] = True
        if session is not None:
            session.send(dumps(ack))  # the commit is durable at this point
        if not appended.duplicate:  # a resent edit was broadcast the first time
            await self._publish(appended)
        return ack

    async def _publish(self, a: Appended) -> None:
        try:
            result: LayerChanges = await self.recompute.apply(a.scenario, a.seq, a.ops, a.state)
        except Exception as exc:
            log.exception("recompute failed for %s seq %d", a.scenario, a.seq)
            failure: dict[str, str] | None = {
                "code": "recompute_failed",
                "message": f"the layers could not be recomputed after seq {a.seq} "
                f"({type(exc).__name__}): the maps still show an earlier state",
            }
            result = {
                "layers": {},
                "changes": [
                    {"op": op.op, "id": op.id, "affected": {}, "error": type(exc).__name__}
                    for op in a.ops
                ],
            }
        else:
            failure = None
        changes = list(result["changes"])
        if a.kind == "undo":
            for c in changes:
                c["undone"] = True
        update = {
            "type": "update",
            "scenario": a.scenario,
            "seq": a.seq,
            "kind": a.kind,
            "author": a.author,
            "changes": changes,
            "layers": result["layers"],
        }
        if failure is not None:
            update["error"] = failure
        text = dumps(update)
        if self.bus is not None:  # before the local fan-out: the processes work in parallel
            try:
                await self.bus.publish(a.scenario, a.seq, text)
            except Exception:
                log.exception("could not publish update %s seq %d", a.scenario, a.seq)
        self.deliver(a.scenario, a.seq, text)
        try:
            await self.store.set_update(a.scenario, a.seq, text)
        except Exception:
            log.exception("could not keep update %s seq %d for resumes", a.scenario, a.seq)

    def deliver(self, scenario: str, seq: int, text: str) -> None:
        """Keep an update for resumes and queue it for the subscribers, in seq order.

        Called with the scenario's lock held. Without a bus updates come in order (the
        lock serialises them); with one, an early update is held (see the class).
        """
        last = self._last.get(scenario)
        if last is not None and seq <= last:
            return  # delivered before (or covered by a snapshot after a gap)
        if self.bus is not None and last is not None and seq > last + 1:
            self._held.setdefault(scenario, {})[seq] = text
            if scenario not in self._gaps:
                self._gaps[scenario] = asyncio.create_task(self._fill_gap(scenario))
            return
        self._emit(scenario, seq, text)
        held = self._held.get(scenario)
        while held and seq + 1 in held:
            seq += 1
            self._emit(scenario, seq, held.pop(seq))
        if held is not None and not held:
            del self._held[scenario]

    def _emit(self, scenario: str, seq: int, text: str) -> None:
        self._last[scenario] = seq
        ring = self._ring.setdefault(scenario, deque(maxlen=self.config.retain))
        ring.append((seq, text))
        subs = self.subscribers.get(scenario)
        if not subs:
            return
        frame = text_frame(text)  # encoded once, the same bytes for every subscriber
        for s in subs:
            if s.after.get(scenario, -1) < seq:
                s.after[scenario] = seq
                s.offer(scenario, text, frame)

    async def _fill_gap(self, scenario: str) -> None:
        """Deliver the updates missing before held ones from the log, or resync."""
        try:
            await asyncio.sleep(self.gap_wait_s)
            async with self.lock(scenario):
                held = self._held.get(scenario)
                last = self._last.get(scenario, 0)
                if not held or min(held) == last + 1:
                    return
                msgs = await self.store.updates_after(scenario, last, self.config.retain)
                if msgs is not None:
                    for i, text in enumerate(msgs):
                        self.deliver(scenario, last + 1 + i, text)
                    return
                log.warning("%s: updates after seq %d are not in the log: resync", scenario, last)
                info = await self.store.get(scenario)
                self._held.pop(scenario, None)
                self._last[scenario] = info.seq
                for s in self.subscribers.get(scenario, ()):
                    s.lagging.add(scenario)
                    s.pending_resync.add(scenario)
                    s.send(_RESYNC)
        except Exception:
            log.exception("%s: could not fill a gap in the updates", scenario)
        finally:
            self._gaps.pop(scenario, None)

    async def receive(self, scenario: str, seq: int | None, text: str) -> None:
        """A message another process published (the bus calls this)."""
        async with self.lock(scenario):
            if seq is None:
                self.fanout(scenario, text)
            else:
                self.deliver(scenario, seq, text)

    def fanout(self, scenario: str, text: str) -> None:
        """Queue one encoded message for every subscriber of ``scenario``."""
        subs = self.subscribers.get(scenario)
        if not subs:
            return
        frame = text_frame(text)
        for s in subs:
            s.offer(scenario, text, frame)

    # --- snapshots, subscriptions, resume ------------------------------------------------

    def _visible(self, role: str, info: ScenarioInfo) -> bool:
        return may_read_status(role, info.status)

    async def _readable(self, s: Session, scenario: str) -> ScenarioInfo:
        """The scenario if the session may read it; a draft it may not read raises
        exactly what a missing scenario raises (its existence and seq never show)."""
        info = await self.store.get(scenario)
        if not self._visible(s.role or "viewer", info):
            raise UnknownScenarioError(scenario)
        return info

    async def _snapshot_text(self, info: ScenarioInfo, ref: str | None, s: Session) -> str:
        layers = await self.recompute.snapshot(info.id, info.seq)
        parent = await shown_parent(self.store, s.role or "viewer", info.parent)
        snap: dict[str, Any] = {
            "type": "snapshot",
            "scenario": info.id,
            "seq": info.seq,
            "epoch": self.store.epoch,
            "name": info.name,
            "status": info.status,
            "parent": parent,
            "time": info.time,
            "layers": layers,
        }
        if ref is not None:
            snap["ref"] = ref
        return dumps(snap)

    async def subscribe(self, s: Session, scenario: str, ref: str | None = None) -> None:
        async with self.lock(scenario):
            info = await self._readable(s, scenario)
            text = await self._snapshot_text(info, ref, s)
            self._add(s, scenario, info.seq)
            s.send(text)

    async def refresh(self) -> None:
        """Send every subscriber a fresh snapshot of each scenario it follows.

        For layers that became ready without an edit (the server's first build, the
        baseline maps): a subscribe answers at once with what is published, and this
        brings the rest. Failures are logged; the subscription stays.
        """
        for scenario in list(self.subscribers):
            try:
                async with self.lock(scenario):
                    info = await self.store.get(scenario)
                    for s in list(self.subscribers.get(scenario, ())):
                        text = await self._snapshot_text(info, None, s)
                        s.after[scenario] = info.seq
                        s.send(text)
            except Exception:
                log.exception("%s: could not send a fresh snapshot", scenario)

    def _add(self, s: Session, scenario: str, seq: int) -> None:
        s.after[scenario] = seq
        if self.bus is not None:
            self._last.setdefault(scenario, seq)
        s.subs.add(scenario)
        s.lagging.discard(scenario)
        s.pending_resync.discard(scenario)
        self.subscribers.setdefault(scenario, set()).add(s)

    def _remove(self, s: Session, scenario: str) -> None:
        s.subs.discard(scenario)
        subs = self.subscribers.get(scenario)
        if subs is not None:
            subs.discard(s)
            if not subs:
                del self.subscribers[scenario]

    async def resume(self, s: Session, scenario: str, epoch: str, seq: int) -> None:
        """Replay the updates after ``seq``, or send a snapshot when that is impossible."""
        async with self.lock(scenario):
            info = await self._readable(s, scenario)
            msgs: list[str] | None = None
            if epoch == self.store.epoch and seq <= info.seq:
                ring = self._ring.get(scenario)
                if ring and ring[0][0] <= seq + 1 and ring[-1][0] == info.seq:
                    msgs = [t for q, t in ring if q > seq]
                else:
                    msgs = await self.store.updates_after(scenario, seq, self.config.retain)
            if msgs is None:
                text = await self._snapshot_text(info, None, s)
                self._add(s, scenario, info.seq)
                s.send(text)
                return
            self._add(s, scenario, seq + len(msgs))
            for t in msgs:
                s.send(t)

    async def _resync(self, s: Session) -> None:
        while s.pending_resync:
            scenario = s.pending_resync.pop()
            if scenario not in s.subs:
                continue
            err = error_msg("resync", "you fell behind: a fresh snapshot follows", None, scenario)
            await s.ws.send_str(dumps(err))
            async with self.lock(scenario):
                info = await self.store.get(scenario)
                text = await self._snapshot_text(info, None, s)
                s.lagging.discard(scenario)
                s.after[scenario] = info.seq
            await s.ws.send_str(text)

    # --- the connection ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws``: upgrade and serve one session until it closes."""
        cfg = self.config
        extra: dict[str, Any] = {}
        if cfg.send_buffer_bytes is not None:
            extra["writer_limit"] = cfg.send_buffer_bytes
        ws = web.WebSocketResponse(
            heartbeat=cfg.heartbeat_s, max_msg_size=cfg.hard_frame_bytes, compress=False, **extra
        )
        await ws.prepare(request)
        if cfg.send_buffer_bytes is not None and request.transport is not None:
            # bound what one client may hold in kernel and user-space buffers
            request.transport.set_write_buffer_limits(high=cfg.send_buffer_bytes)
            sock = request.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.send_buffer_bytes)
        s = Session(ws, cfg)
        s.transport = request.transport
        self.sessions.add(s)
        writer = asyncio.create_task(self._writer(s), name=f"ws-writer-{s.id}")
        # Frames are read here and handled in order by another task, so the connection
        # keeps reading (and answering the WebSocket's pings) while an edit recomputes.
        inbox: asyncio.Queue[str | None] = asyncio.Queue(_INBOX_FRAMES)
        handler = asyncio.create_task(self._handle_frames(s, inbox), name=f"ws-frames-{s.id}")
        no_hello = asyncio.get_running_loop().call_later(cfg.hello_timeout_s, self._no_hello, s)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await inbox.put(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._error(s, "schema", "binary frames go from server to client only")
                if s.closing or handler.done():
                    break
            if not handler.done():  # what arrived before the client closed is still handled
                await inbox.put(None)
                await handler
            if s.closing:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(writer), 2.0)
        finally:
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handler
            no_hello.cancel()
            for scenario in list(s.subs):
                self._remove(s, scenario)
            self.sessions.discard(s)
            self.closed_sessions += 1
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if not ws.closed:
                await ws.close()
        return ws

    async def _handle_frames(self, s: Session, inbox: asyncio.Queue[str | None]) -> None:
        """Handle a session's text frames one after another, in arrival order, until
        ``None`` or the session closes."""
        try:
            while not s.closing:
                data = await inbox.get()
                if data is None:
                    return
                await self._on_text(s, data)
        finally:
            while not inbox.empty():  # a reader waiting to queue a frame goes on
                inbox.get_nowait()

    async def _writer(self, s: Session) -> None:
        ws = s.ws
        try:
            while True:
                if not s.out:
                    s.waiter = asyncio.get_running_loop().create_future()
                    try:
                        await s.waiter
                    finally:
                        s.waiter = None
                    continue
                item = s.out.popleft()
                if isinstance(item, str):
                    await ws.send_str(item)
                elif isinstance(item, bytes):
                    await ws.send_bytes(item)
                elif item is _RESYNC:
                    await self._resync(s)
                elif item is _CLOSE:
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"rate limit abuse")
                    return
                elif item is _CLOSE_NO_HELLO:
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no hello")
                    return
        except (ConnectionError, RuntimeError) as exc:
            log.debug("session %s writer stopped: %s", s.id, exc)

    def _no_hello(self, s: Session) -> None:
        """Close a connection that has not said ``hello`` within ``hello_timeout_s``."""
        if s.role is None and not s.closing:
            s.deadline = asyncio.ensure_future(self._close_without_hello(s))

    async def _close_without_hello(self, s: Session) -> None:
        # A hello that arrived while the loop was busy past the deadline is read in the
        # next iterations: give it that chance before closing.
        await asyncio.sleep(0.05)
        if s.role is not None or s.closing:
            return
        log.info("session %s: no hello within %g s: closing", s.id, self.config.hello_timeout_s)
        self._error(s, "forbidden", f"no hello within {self.config.hello_timeout_s:g} s: closing")
        s.send(_CLOSE_NO_HELLO)
        s.closing = True

    def _error(self, s: Session, code: ErrorCode, message: str, ref: str | None = None) -> None:
        s.send(dumps(error_msg(code, message, ref)))

    async def _on_text(self, s: Session, data: str) -> None:
        cfg = self.config
        if not s.bucket.take():
            s.strikes += 1
            if s.strikes > cfg.abuse_limit:
                self._error(s, "rate_limited", "rate limit exceeded persistently: closing (1008)")
                s.send(_CLOSE)
                s.closing = True
            elif s.strikes == 1 or s.strikes % 10 == 0:
                # one error frame per burst of refusals, not one per refused frame
                self._error(
                    s, "rate_limited", f"more than {cfg.rate_per_s:g} messages/s: frame dropped"
                )
            return
        s.strikes = 0
        if len(data) > cfg.max_frame_bytes or len(data.encode()) > cfg.max_frame_bytes:
            self._error(s, "too_large", f"frame larger than {cfg.max_frame_bytes} bytes")
            return
        try:
            msg = loads(data)
        except JsonInputError as exc:
            self._error(s, exc.code, str(exc))
            return
        ref = msg.get("ref") if isinstance(msg, dict) and isinstance(msg.get("ref"), str) else None
        try:
            validate_message(msg, "client")
            await self._dispatch(s, msg)
        except MessageError as exc:
            self._error(s, exc.code, str(exc), exc.ref or ref)
        except OpError as exc:
            self._error(s, exc.code, str(exc), ref)
        except UnknownScenarioError as exc:
            self._error(s, "unknown_scenario", str(exc), ref)
        except Exception:
            log.exception("session %s: internal error on %s", s.id, msg.get("type"))
            self._error(s, "internal", "internal server error", ref)

    async def _dispatch(self, s: Session, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        ref: str | None = msg.get("ref")
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong", "ts": time.time()}
            if ref is not None:
                pong["ref"] = ref
            s.send(dumps(pong))
            return
        if kind == "hello":
            await self._hello(s, msg)
            return
        if s.role is None:
            raise MessageError("forbidden", "send hello first", ref)
        role: Role = s.role
        if kind == "subscribe":
            await self.subscribe(s, msg["scenario"], ref)
        elif kind == "unsubscribe":
            scenario = msg["scenario"]
            self._remove(s, scenario)
            info = await self._readable(s, scenario)
            out: dict[str, Any] = {"type": "unsubscribed", "scenario": scenario, "seq": info.seq}
            if ref is not None:
                out["ref"] = ref
            s.send(dumps(out))
        elif kind == "edit":
            await self.apply_edit(
                msg["scenario"],
                msg["op"],
                role=role,
                author=s.author,
                ref=msg["ref"],
                base_seq=msg.get("base_seq"),
                key=msg.get("key"),
                session=s,
            )
        elif kind in ("undo", "redo"):
            await self.apply_undo(
                msg["scenario"], kind, role=role, author=s.author, ref=msg["ref"], session=s
            )
        elif kind == "set_time":
            await self._set_time(s, msg)
        elif kind == "request_glb":
            await self._glb(s, msg)

    async def _hello(self, s: Session, msg: dict[str, Any]) -> None:
        cfg = self.config
        wanted: Role | None = msg.get("role")
        token: str | None = msg.get("token")
        if token is not None:
            granted = cfg.role_for_token(token)
            if granted is None:
                raise MessageError("forbidden", "unknown token")
        elif cfg.allow_anonymous:
            granted = "viewer"
        else:
            raise MessageError("forbidden", "this server needs a token")
        if wanted is not None and ROLES.index(wanted) > ROLES.index(granted):
            raise MessageError("forbidden", f"role {wanted} needs a token granting it")
        s.role = wanted or granted
        for scenario in list(s.subs):  # a lower role keeps only what it may still read
            try:
                await self._readable(s, scenario)
            except UnknownScenarioError:
                self._remove(s, scenario)
        welcome = {
            "type": "welcome",
            "protocol": PROTOCOL,
            "session": s.id,
            "epoch": self.store.epoch,
            "role": s.role,
            "server_version": __version__,
            "limits": cfg.limits(),
            **cfg.place(),
        }
        s.send(dumps(welcome))
        resume = msg.get("resume")
        if resume is not None:
            await self.resume(s, resume["scenario"], resume["epoch"], resume["seq"])

    async def _set_time(self, s: Session, msg: dict[str, Any]) -> None:
        value: ScenarioTime = msg["time"]
        ref = msg.get("ref")
        scenario = msg.get("scenario")
        if scenario is None:
            s.time = value
            out: dict[str, Any] = {"type": "time", "time": value}
            if ref is not None:
                out["ref"] = ref
            s.send(dumps(out))
            return
        if not role_at_least(s.role or "viewer", "planner"):
            raise MessageError("forbidden", "a scenario's shared time needs the planner role", ref)
        if scenario == BASELINE:
            raise OpError("conflict", "the baseline's time is fixed; set your own (no scenario)")
        async with self.lock(scenario):
            info = await self.store.set_time(scenario, value)
            out = {"type": "time", "scenario": scenario, "seq": info.seq, "time": value}
            self.fanout(scenario, dumps(out))
            if self.bus is not None:
                await self.bus.publish(scenario, None, dumps(out))
            if scenario not in s.subs:
                s.send(dumps(out))

    async def _glb(self, s: Session, msg: dict[str, Any]) -> None:
        obj = msg["object"]
        lod = int(msg["lod"])
        if obj["kind"] == "building":
            # the footprint follows the add_building op's rules (a simple polygon, no
            # repeated vertices left, inside the extent); the producer gets the cleaned ring
            building = parse_op(
                {"op": "add_building", "footprint": obj["footprint"], "height_m": obj["height_m"]},
                self.config.extent,
            )
            assert isinstance(building, AddBuilding)
            obj = {**obj, "footprint": [list(p) for p in building.footprint]}
        try:
            glb = await self.glb_producer(obj, lod)
        except GreentwinError as exc:  # a model this producer cannot build from the object
            raise MessageError("invalid_op", f"request_glb: {exc}", msg["ref"]) from None
        header: GlbHeader = {
            "type": "glb",
            "ref": msg["ref"],
            "kind": obj["kind"],
            "lod": lod,
            "byte_length": len(glb),
        }
        s.send(encode_glb_frame(header, glb))

    async def steady_gc(self) -> None:
        """Keep the cyclic garbage collector from stalling the fan-out; runs until
        cancelled (the hub's owner starts it, one per process).

        Every connection holds some hundred objects the collector tracks (session,
        aiohttp's request, response, protocol, timers, ...). Python starts a full
        collection whenever the objects promoted to its oldest generation since the
        last one reach a quarter of that generation, and heartbeats promote timers and
        futures all the time: with 5,000 connections per process a full pass over half
        a million objects came every minute or so and held the event loop for 0.1 to
        0.7 s (the p99 of a fan-out to 10,000 clients was such a stall). So every
        ``gc_freeze_s`` the objects alive are frozen (``gc.freeze``) after a collection
        of the young generations: the automatic passes then look only at what is newer.
        Frozen objects that become garbage are freed by reference counting; the ones in
        reference cycles (about fifty per closed connection) wait for a full collection
        of everything, done here when the sessions closed since the last one reach a
        quarter of those open then (at least 100), and at least every ``gc_full_s``.
        """
        cfg = self.config
        if cfg.gc_freeze_s <= 0:
            return
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        closed_then = self.closed_sessions
        open_then = len(self.sessions)
        try:
            while True:
                await asyncio.sleep(cfg.gc_freeze_s)
                closed = self.closed_sessions - closed_then
                if closed >= max(100, open_then // 4) or loop.time() - last_full >= cfg.gc_full_s:
                    gc.unfreeze()
                    gc.collect()
                    last_full = loop.time()
                    closed_then = self.closed_sessions
                    open_then = len(self.sessions)
                else:
                    gc.collect(1)
                gc.freeze()
        finally:
            gc.unfreeze()

    async def close_all(self) -> None:
        """Close every session with 1001 (going away), e.g. on shutdown."""
        for task in list(self._gaps.values()):
            task.cancel()
        for s in list(self.sessions):
            with contextlib.suppress(Exception):
                await s.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
