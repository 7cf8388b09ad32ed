"""Several server processes: WebSocket fan-out over Redis, and PostgreSQL's edit rate.

fan-out
    Starts Redis and PostgreSQL on loopback (temporary folders), two ``greentwin serve``
    processes on them, and ``--clients`` WebSocket clients spread evenly over both
    (``--workers`` client processes, the editor in this one). Each edit goes to server A;
    for every client the time from sending the edit to receiving its ``update`` is
    recorded (``time.monotonic_ns``, one clock for every process on Linux). Reported:
    p50/p99/max over all (client, edit) pairs, for the clients on A (local fan-out) and
    on B (through Redis) apart, each edit's ack time and its p50/max, the part after the
    ack (the fan-out alone), whether any client saw an update out of order, and the CPU
    time of the servers and of the client processes. The open-file limit is raised to
    its hard limit first.

    The clients share the machine with the servers, so what they spend reading is taken
    from the servers: by default (``--client raw``) each is a few protocol callbacks
    (hello, subscribe, pongs to the server's pings) and, during the edits, one ``epoll``
    per client process reads the sockets and finds each update's seq without decoding
    its JSON; the client processes run as ``SCHED_BATCH`` (``--client-sched``), so one
    woken by a server's write does not preempt that server in the middle of a fan-out.
    ``--client aiohttp`` is aiohttp's client with a task per connection and
    ``json.loads`` per update (about four times the CPU per update received).

postgres
    Appends edits with durability on (``fsync`` and ``synchronous_commit`` as
    PostgreSQL ships them: on; each append waits for its commit to be flushed) with
    ``W`` concurrent writers, each on its own scenario, then all on one scenario (the
    row lock serialises them), for ``--seconds`` each; edits/s and p50/p99 per append.

Usage: ``python bench/cluster.py [--clients 10000] [--edits 20] [--workers 2] [--client raw]``
       ``python bench/cluster.py --only postgres [--writers 1,4,16] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import glob
import json
import multiprocessing as mp
import os
import pwd
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOKEN = "bench-cluster-planner-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def pg_bin(name: str) -> str:
    found = (
        shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [""])[-1]
    )
    if not found:
        sys.exit(f"{name} not found: install PostgreSQL (scripts/system-deps.sh)")
    return found


@contextmanager
def services(root: Path) -> Iterator[tuple[str, str]]:
    """Redis and PostgreSQL on loopback; yields (database_url, redis_url)."""
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        sys.exit("redis-server not found: install it (scripts/system-deps.sh)")
    rport, pport = free_port(), free_port()
    redis = subprocess.Popen(
        [redis_bin, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    prefix: list[str] = []
    pg_root = root / "pg"
    pg_root.mkdir()
    root.chmod(0o755)  # the postgres user must reach its folder
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(pg_root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = pg_root / "data"
    subprocess.run(
        [*prefix, pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={pport} -c unix_socket_directories={pg_root}"
        " -c max_connections=200"
    )
    subprocess.run(
        [*prefix, pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(pg_root / "log"),
         "-w", "start"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        wait_port(rport)
        yield f"postgresql://postgres@127.0.0.1:{pport}/postgres", f"redis://127.0.0.1:{rport}/0"
    finally:
        subprocess.run(
            [*prefix, pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
        redis.terminate()
        redis.wait(10)


def cpu_s(pid: int, kernel: bool = False) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``); with
    ``kernel``, the system part alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[12]) + (0 if kernel else int(fields[11]))) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(ms: list[float]) -> str:
    if not ms:
        return "no samples"
    return (
        f"p50 {pct(ms, 0.5):7.1f} ms  p99 {pct(ms, 0.99):7.1f} ms  max {max(ms):7.1f} ms"
        f"  (n={len(ms)})"
    )


# --- fan-out ------------------------------------------------------------------------------


def client_worker(
    urls: list[str], first: int, count: int, sid: str, edits: int, conn: Any, kind: str,
    batch: bool,
) -> None:  # fmt: skip
    """``count`` clients (client k on ``urls[k % 2]``); sends back receive times.

    ``batch``: the process runs as ``SCHED_BATCH`` (Linux), so a client woken by a
    server's write waits for the scheduler tick instead of preempting that server in the
    middle of its fan-out, as clients on other machines would not.
    """
    if batch:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    run = _raw_clients if kind == "raw" else _clients
    asyncio.run(run(urls, first, count, sid, edits, conn))


async def _clients(
    urls: list[str], first: int, count: int, sid: str, edits: int, conn: Any
) -> None:
    """aiohttp's client: one task per connection, each update decoded with ``json``."""
    import aiohttp

    got: list[tuple[int, int, int]] = []  # (server index, seq, monotonic ns)
    disorder = [0]  # updates that came after a later one, or twice
    ready = 0
    gate = asyncio.Semaphore(64)
    all_ready = asyncio.Event()
    bye = asyncio.Event()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def one(k: int) -> None:
        nonlocal ready
        idx = k % 2
        async with gate:
            for attempt in range(5):
                try:
                    ws = await session.ws_connect(urls[idx], autoping=True)
                    break
                except (aiohttp.ClientError, OSError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            else:
                return
            await ws.send_str(
                json.dumps({"type": "hello", "protocol": "greentwin/1", "token": TOKEN})
            )
            await ws.receive()  # welcome
            await ws.send_str(json.dumps({"type": "subscribe", "scenario": sid}))
            await ws.receive()  # snapshot
        ready += 1
        if ready == count:
            all_ready.set()
        n, last = 0, -1
        while n < edits:
            msg = await ws.receive()
            t = time.monotonic_ns()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            if msg.data.startswith('{"type":"update"'):
                seq = json.loads(msg.data)["seq"]
                got.append((idx, seq, t))
                disorder[0] += seq <= last
                last = seq
                n += 1
        await bye.wait()  # close after the servers' CPU time is read
        await ws.close()

    tasks = [asyncio.create_task(one(first + i)) for i in range(count)]
    try:
        await asyncio.wait_for(all_ready.wait(), 600)
    except TimeoutError:
        pass
    conn.send(("ready", ready))
    conn.recv()  # "go": nothing to do but wait for updates
    await _until(lambda: len(got) >= ready * edits, 120 + 2 * edits)
    conn.send(("times", got, disorder[0]))
    conn.recv()  # "bye"
    bye.set()
    await asyncio.wait(tasks, timeout=30)
    for t in tasks:
        t.cancel()
    await session.close()


async def _until(done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def masked(opcode: int, payload: bytes) -> bytes:
    """One client frame (RFC 6455, section 5.2: FIN, ``opcode``, masked payload)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    body = bytes(c ^ key[i & 3] for i, c in enumerate(payload))  # small frames only
    return head + key + body


_SEQ = re.compile(rb'"seq":(\d+)')


class RawClient(asyncio.Protocol):
    """A lean WebSocket client on the bare event loop: no task, no JSON per update.

    It says hello and subscribes, answers pings with pongs (the server's heartbeat)
    and records, for each ``update`` frame, the clock when the bytes holding its end
    were handed to the process (``data_received``) and the seq read from its start.
    """

    def __init__(self, idx: int, host: str, sid: str, got: list[tuple[int, int, int]]) -> None:
        self.idx, self.host, self.sid, self.got = idx, host, sid, got
        self.last = -1  # the seq of the last update
        self.disorder = 0  # updates that came after a later one, or twice
        self.buf = bytearray()
        self.state = "upgrade"
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def _send(self, msg: dict[str, Any]) -> None:
        assert self.transport is not None
        self.transport.write(masked(0x1, json.dumps(msg).encode()))

    def data_received(self, data: bytes) -> None:
        t = time.monotonic_ns()
        buf = self.buf
        buf += data
        if self.state == "upgrade":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(f"upgrade refused: {bytes(buf[:60])!r}")
                return
            del buf[: end + 4]
            self.state = "welcome"
            self._send({"type": "hello", "protocol": "greentwin/1", "token": TOKEN})
        at = 0
        size = len(buf)
        while size - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if size - at < 4:
                    break
                n, head = int.from_bytes(buf[at + 2 : at + 4], "big"), 4
            elif n == 127:
                if size - at < 10:
                    break
                n, head = int.from_bytes(buf[at + 2 : at + 10], "big"), 10
            if size - at < head + n:
                break
            start = at + head
            at = start + n
            opcode = b0 & 0x0F
            if opcode == 0x1:
                if self.state == "updates":
                    if buf.startswith(b'{"type":"update"', start):
                        m = _SEQ.search(buf, start, at)
                        if m is not None:
                            seq = int(m.group(1))
                            self.got.append((self.idx, seq, t))
                            self.disorder += seq <= self.last
                            self.last = seq
                elif self.state == "welcome":
                    self.state = "snapshot"
                    self._send({"type": "subscribe", "scenario": self.sid})
                elif buf.startswith(b'{"type":"snapshot"', start):
                    self.state = "updates"
                    self.ready.set_result(None)
            elif opcode == 0x9 and self.transport is not None:  # ping: pong, same payload
                self.transport.write(masked(0xA, bytes(buf[start:at])))
            elif opcode == 0x8:
                self._fail("closed by the server")
                return
        del buf[:at]

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(str(exc)))
        if not self.done.done():
            self.done.set_result(None)


def _read_updates(clients: list[RawClient], want: int, timeout: float) -> None:
    """Read every client's socket with one ``epoll`` until ``want`` updates came.

    The connections leave asyncio's selector for this (``pause_reading``): a ready
    socket costs one ``os.read`` and the frame parsing, without the event loop's
    handle, callback and transport layers for each, so 5,000 connections a process
    are read about as fast as the servers write them. Pongs are still written through
    the transports.
    """
    by_fd: dict[int, RawClient] = {}
    ep = select.epoll()
    for c in clients:
        assert c.transport is not None
        c.transport.pause_reading()
        fd = c.transport.get_extra_info("socket").fileno()
        by_fd[fd] = c
        ep.register(fd, select.EPOLLIN)
    got = clients[0].got if clients else []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < deadline:
            for fd, _ in ep.poll(0.2):
                try:
                    data = os.read(fd, 1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    by_fd[fd].data_received(data)
                else:
                    ep.unregister(fd)
    finally:
        ep.close()


async def _raw_clients(
    urls: list[str], first: int, count: int, sid: str, edits: int, conn: Any
) -> None:
    """:class:`RawClient` connections; the same protocol exchange as :func:`_clients`."""
    loop = asyncio.get_running_loop()
    got: list[tuple[int, int, int]] = []
    gate = asyncio.Semaphore(64)
    clients: list[RawClient] = []

    async def one(k: int) -> None:
        idx = k % 2
        host, port = urls[idx].split("/")[2].split(":")
        async with gate:
            for attempt in range(5):
                try:
                    _, proto = await loop.create_connection(
                        lambda: RawClient(idx, f"{host}:{port}", sid, got), host, int(port)
                    )
                    await asyncio.wait_for(proto.ready, 60)
                    clients.append(proto)
                    return
                except (OSError, ConnectionError, TimeoutError):
                    await asyncio.sleep(0.5 * (attempt + 1))

    await asyncio.wait([asyncio.create_task(one(first + i)) for i in range(count)], timeout=600)
    conn.send(("ready", len(clients)))
    conn.recv()  # "go"
    _read_updates(clients, len(clients) * edits, 120 + 2 * edits)
    conn.send(("times", got, sum(c.disorder for c in clients)))
    conn.recv()  # "bye": close after the servers' CPU time is read
    for c in clients:
        if c.transport is not None:
            c.transport.write(masked(0x8, (1000).to_bytes(2, "big")))
            c.transport.close()


def spawn_server(data: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "greentwin.cli", "serve", "--port", str(port), "--data", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data.parent / f"serve-{port}.log", "wb"),
    )  # fmt: skip


def post(port: int, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def fanout(args: argparse.Namespace, db_url: str, redis_url: str, root: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = args.clients // args.workers + 200
    print(f"open files: soft {soft} -> {hard} (hard); a client process needs ~{need}")
    if need > hard:
        print(f"the hard limit {hard} is too low for {args.clients} clients")
    tokens = root / "tokens"
    tokens.write_text(f"planner {TOKEN}\n")
    env = {
        **os.environ,
        "GREENTWIN_DATABASE_URL": db_url,
        "GREENTWIN_REDIS_URL": redis_url,
        "GREENTWIN_TOKENS_FILE": str(tokens),
        "GREENTWIN_ACCESS_LOG": "false",
        "GREENTWIN_HELLO_TIMEOUT_S": "120",
    }
    ports = [free_port(), free_port()]
    procs = []
    for i, port in enumerate(ports):
        (root / f"s{i}").mkdir()
        procs.append(spawn_server(root / f"s{i}" / "data", port, env))
    try:
        for port in ports:
            wait_port(port, 60)
        sid = post(ports[0], "/api/scenarios", {"name": "bench"})["id"]
        urls = [f"ws://127.0.0.1:{p}/ws" for p in ports]
        ctx = mp.get_context("spawn")
        pipes, workers = [], []
        per = args.clients // args.workers
        t0 = time.monotonic()
        for w in range(args.workers):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(
                target=client_worker,
                args=(
                    urls,
                    w * per,
                    per,
                    sid,
                    args.edits,
                    theirs,
                    args.client,
                    args.client_sched == "batch",
                ),
            )
            p.start()
            pipes.append(mine)
            workers.append(p)
        ready = sum(pipe.recv()[1] for pipe in pipes)
        print(f"{ready} of {args.clients} clients connected and subscribed in "
              f"{time.monotonic() - t0:.0f} s")  # fmt: skip
        for pipe in pipes:
            pipe.send("go")
        idle0 = [cpu_s(server.pid) for server in procs]
        time.sleep(args.idle)
        idle = [
            (cpu_s(server.pid) - c) * 1e3 / args.idle
            for server, c in zip(procs, idle0, strict=True)
        ]
        cpu0 = [cpu_s(server.pid) for server in procs]
        sys0 = [cpu_s(server.pid, kernel=True) for server in procs]
        wcpu0 = [cpu_s(p.pid or 0) for p in workers]
        acked: dict[int, int] = {}
        sent = asyncio.run(_edit(urls[0], sid, args.edits, args.gap, acked))
        cpu = [
            (cpu_s(server.pid) - c) * 1e3 / args.edits
            for server, c in zip(procs, cpu0, strict=True)
        ]
        ksys = [
            (cpu_s(server.pid, kernel=True) - c) * 1e3 / args.edits
            for server, c in zip(procs, sys0, strict=True)
        ]
        wcpu = sum(cpu_s(p.pid or 0) - c for p, c in zip(workers, wcpu0, strict=True))
        times: list[tuple[int, int, int]] = []
        disorder = 0
        for pipe in pipes:
            _, got, bad = pipe.recv()
            times += got
            disorder += bad
        for pipe in pipes:
            pipe.send("bye")
        for p in workers:
            p.join(30)
        lat: dict[int, list[float]] = {0: [], 1: []}
        for idx, seq, t in times:
            if seq in sent:
                lat[idx].append((t - sent[seq]) / 1e6)
        delivered = len(times)
        print(f"updates delivered: {delivered} of {ready * args.edits}; out of order: {disorder}")
        print(f"edit -> update, all clients:         {summary(lat[0] + lat[1])}")
        print(f"  clients on server A (the editor's): {summary(lat[0])}")
        print(f"  clients on server B (via Redis):    {summary(lat[1])}")
        per_seq: dict[int, list[float]] = {}
        for _idx, seq, t in times:
            if seq in sent:
                per_seq.setdefault(seq, []).append((t - sent[seq]) / 1e6)
        print("per edit, ack and p50/max ms: " + ", ".join(
            f"{(acked[q] - sent[q]) / 1e6:.0f} {pct(v, 0.5):.0f}/{max(v):.0f}"
            for q, v in sorted(per_seq.items())))  # fmt: skip
        after_ack = [(t - acked[seq]) / 1e6 for _idx, seq, t in times if seq in acked]
        print(f"ack -> update (the fan-out alone):   {summary(after_ack)}")
        print(f"server CPU per edit (edit phase, heartbeats included): A {cpu[0]:.0f} ms "
              f"({ksys[0]:.0f} in the kernel), B {cpu[1]:.0f} ms ({ksys[1]:.0f}); "
              f"client processes together {wcpu * 1e3 / args.edits:.0f} ms")  # fmt: skip
        print(f"server CPU per second before the edits (heartbeats): A {idle[0]:.0f} ms, "
              f"B {idle[1]:.0f} ms")  # fmt: skip
    finally:
        for server in procs:
            server.send_signal(signal.SIGTERM)
        for server in procs:
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


async def _edit(
    url: str, sid: str, edits: int, gap: float, acked: dict[int, int]
) -> dict[int, int]:
    """Send the edits; seq -> monotonic ns when each was sent (``acked``: when the ack,
    sent once the edit is durably stored, came back)."""
    import aiohttp

    sent: dict[int, int] = {}
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"type": "hello", "protocol": "greentwin/1", "token": TOKEN}))
        await ws.receive()
        for i in range(edits):
            op = {"op": "plant_tree", "id": f"b{i}", "species": "tilia-cordata",
                  "position": [24.93 + i * 1e-4, 60.16], "age_years": 8}  # fmt: skip
            t = time.monotonic_ns()
            await ws.send_str(
                json.dumps({"type": "edit", "ref": f"e{i}", "scenario": sid, "op": op})
            )
            while True:
                msg = json.loads((await ws.receive()).data)
                if msg["type"] == "ack":
                    sent[int(msg["seq"])] = t
                    acked[int(msg["seq"])] = time.monotonic_ns()
                    break
                if msg["type"] == "error":
                    raise RuntimeError(msg)
            await asyncio.sleep(gap)
    return sent


# --- PostgreSQL edits/s ----------------------------------------------------------------------


async def pg_rate(url: str, writers: list[int], seconds: float) -> None:
    from greentwin.server.pg_scenarios import PgScenarioStore
    from greentwin.twin.ops import parse_op

    store = PgScenarioStore(url, pool_size=max(writers) + 2)
    await store.open()
    try:
        async with store.pool.acquire() as c:
            fsync = await c.fetchval("SHOW fsync")
            sync = await c.fetchval("SHOW synchronous_commit")
        print(f"PostgreSQL fsync={fsync} synchronous_commit={sync}")
        for shared in (False, True):
            for w in writers:
                sids = [(await store.create(f"w{w}-{k}", author="bench")).id for k in range(w)]
                if shared:
                    sids = [sids[0]] * w
                lat: list[float] = []
                stop = time.monotonic() + seconds
                counter = iter(range(10**9))

                async def writer(
                    sid: str, stop: float = stop, counter: Iterator[int] = counter,
                    lat: list[float] = lat,
                ) -> None:  # fmt: skip
                    while time.monotonic() < stop:
                        i = next(counter)
                        op = parse_op(
                            {"op": "plant_tree", "id": f"t{i}", "species": "tilia-cordata",
                             "position": [24.9 + (i % 1000) * 1e-5, 60.16], "age_years": 5},
                            store.extent,
                        )  # fmt: skip
                        t = time.perf_counter()
                        await store.append(sid, op, author="bench")
                        lat.append((time.perf_counter() - t) * 1e3)

                t0 = time.perf_counter()
                await asyncio.gather(*(writer(s) for s in sids))
                dt = time.perf_counter() - t0
                where = "one scenario" if shared else "own scenarios"
                print(
                    f"  {w:3d} writers, {where:13s}: {len(lat) / dt:7.0f} edits/s  {summary(lat)}"
                )
    finally:
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["fanout", "postgres"])
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between edits")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds measured before the edits")
    ap.add_argument("--workers", type=int, default=2, help="client processes")
    ap.add_argument(
        "--client",
        choices=["raw", "aiohttp"],
        default="raw",
        help="raw: lean protocol callbacks; aiohttp: a task and json.loads per client",
    )
    ap.add_argument(
        "--client-sched",
        choices=["batch", "normal"],
        default="batch",
        help="scheduling policy of the client processes (batch: they do not preempt servers)",
    )
    ap.add_argument("--writers", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="greentwin-cluster-") as tmp:
        root = Path(tmp)
        with services(root) as (db_url, redis_url):
            if args.only != "fanout":
                writers = [int(w) for w in args.writers.split(",")]
                asyncio.run(pg_rate(db_url, writers, args.seconds))
            if args.only != "postgres":
                fanout(args, db_url, redis_url, root)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
