"""Broadcast frames: built once per message, written at once to idle connections.

The frame bytes are checked against RFC 6455, section 5.2 (read back here field by
field) and against aiohttp's own frame writer; through a real server, a broadcast
reaches clients of every length class unchanged, is written before the event loop
runs again (no per-client queue or task), and still queues behind anything already
waiting on a connection, so the order on that connection is kept.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.writer import WebSocketWriter
from greentwin.server.fanout import text_frame
from gt_live import Checked, run_server

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

#: One text per payload length encoding: 7-bit, 16-bit and 64-bit (RFC 6455 5.2).
TEXTS = ["", "a" * 125, "ä" * 63, "x" * 65535, "y" * 65536, "{" + "z" * 70000 + "}"]


def _read_frame(frame: bytes) -> tuple[int, int, bool, bytes]:
    """(FIN bit, opcode, MASK bit, payload) of one frame, per RFC 6455 section 5.2."""
    fin, opcode = frame[0] >> 7, frame[0] & 0x0F
    masked, n = bool(frame[1] & 0x80), frame[1] & 0x7F
    at = 2
    if n == 126:
        (n,) = struct.unpack("!H", frame[2:4])
        at = 4
    elif n == 127:
        (n,) = struct.unpack("!Q", frame[2:10])
        at = 10
    assert len(frame) == at + n, "the frame holds exactly its payload"
    return fin, opcode, masked, frame[at:]


class _Collect:
    """A transport that keeps what is written (for aiohttp's writer)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> None:
        self.data += b

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: f"{len(t.encode())}B")
async def test_text_frame_is_an_rfc6455_server_frame(text: str) -> None:
    frame = text_frame(text)
    fin, opcode, masked, payload = _read_frame(frame)
    assert (fin, opcode, masked) == (1, 0x1, False)  # final, text, unmasked (server)
    assert payload.decode("utf-8") == text
    sink = _Collect()
    writer = WebSocketWriter(None, sink)  # type: ignore[arg-type]
    await writer.send_frame(text.encode("utf-8"), WSMsgType.TEXT)
    assert frame == bytes(sink.data)  # the bytes aiohttp's send_str would write


async def _subscribed(srv: Any, n: int) -> tuple[str, list[Checked]]:
    sid = str((await srv.hub.store.create("fan", author="planner")).id)
    clients = []
    for _ in range(n):
        c = await srv.connect()
        await c.hello("tok-planner")
        await c.send({"type": "subscribe", "scenario": sid})
        await c.expect("snapshot")
        clients.append(c)
    for _ in range(200):  # every writer back to idle
        if all(s.waiter is not None and not s.out for s in srv.hub.sessions):
            break
        await asyncio.sleep(0.01)
    return sid, clients


async def test_a_broadcast_is_written_at_once_and_arrives_unchanged(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        sid, clients = await _subscribed(srv, 8)
        for text in TEXTS[1:]:
            srv.hub.fanout(sid, text)
            # written to every socket before the loop ran again: nothing was queued
            assert [len(s.out) for s in srv.hub.sessions] == [0] * 8
            for c in clients:
                assert await asyncio.wait_for(c.ws.recv(), 5) == text


async def test_a_broadcast_queues_behind_what_a_connection_waits_to_send(
    tmp_path: Path, backend: dict[str, str]
) -> None:
    async with run_server(tmp_path / "s.sqlite", **backend) as srv:
        sid, (first, second) = await _subscribed(srv, 2)
        busy = next(iter(srv.hub.sessions))
        busy.send('{"reply":1}')  # a reply waits in this connection's queue
        srv.hub.fanout(sid, '{"broadcast":2}')
        assert list(busy.out) == ['{"reply":1}', '{"broadcast":2}']
        idle = next(s for s in srv.hub.sessions if s is not busy)
        assert not idle.out  # the other one was written at once
        got = {}
        for c in (first, second):
            got[c] = [await asyncio.wait_for(c.ws.recv(), 5)]
            if got[c] == ['{"reply":1}']:
                got[c].append(await asyncio.wait_for(c.ws.recv(), 5))
        assert sorted(got.values()) == [['{"broadcast":2}'], ['{"reply":1}', '{"broadcast":2}']]
